import type { DatabaseSync } from 'node:sqlite';
import type { ByteRange, WatchEntry } from '../types.ts';
import type { Row } from './query.ts';
import { migratePlayback } from './playback.ts';

/** The schema version this release writes, kept in `PRAGMA user_version`. */
export const WATCH_LOG_SCHEMA_VERSION: number = 3;

type Migration = (db: DatabaseSync) => void;

// MIGRATIONS[n] takes a database from user_version n to n + 1; a later release appends to it.
const MIGRATIONS: readonly Migration[] = [
  (db) =>
    db.exec(`
      CREATE TABLE watch_session (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        viewer TEXT NOT NULL,
        user_id TEXT,
        is_authenticated INTEGER NOT NULL,
        ip TEXT NOT NULL,
        user_agent TEXT,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        requests INTEGER NOT NULL,
        bytes_sent INTEGER NOT NULL,
        size INTEGER NOT NULL,
        block_size INTEGER NOT NULL,
        coverage_map BLOB NOT NULL,
        covered_bytes INTEGER NOT NULL
      );
      CREATE INDEX watch_session_match ON watch_session (path, viewer, last_seen);
      CREATE INDEX watch_session_first_seen ON watch_session (first_seen);
      CREATE INDEX watch_session_last_seen ON watch_session (last_seen);
      CREATE INDEX watch_session_user ON watch_session (user_id, first_seen);
      CREATE INDEX watch_session_ip ON watch_session (ip, first_seen);
      CREATE TABLE watch_request (
        id INTEGER PRIMARY KEY,
        session_id INTEGER NOT NULL REFERENCES watch_session (id) ON DELETE CASCADE,
        path TEXT NOT NULL,
        user_id TEXT,
        is_authenticated INTEGER NOT NULL,
        ip TEXT NOT NULL,
        user_agent TEXT,
        status INTEGER NOT NULL,
        range_header TEXT,
        bytes_sent INTEGER NOT NULL,
        aborted INTEGER NOT NULL,
        size INTEGER NOT NULL,
        started_at INTEGER NOT NULL,
        duration_ms INTEGER NOT NULL
      );
      CREATE INDEX watch_request_started_at ON watch_request (started_at);
      CREATE INDEX watch_request_path ON watch_request (path, started_at);
      CREATE INDEX watch_request_user ON watch_request (user_id, started_at);
      CREATE INDEX watch_request_ip ON watch_request (ip, started_at);
      CREATE INDEX watch_request_session ON watch_request (session_id);
    `),
  // v2: coverage maps are stored trimmed to their set bytes (coverage_offset says where they
  // start), and anonymous sessions are capped per (ip, path), which the new index finds.
  (db) =>
    db.exec(`
      ALTER TABLE watch_session ADD COLUMN coverage_offset INTEGER NOT NULL DEFAULT 0;
      CREATE INDEX watch_session_client ON watch_session (ip, path, last_seen);
    `),
  // v3: what players reported (the beacon), and what kind of file a session is.
  migratePlayback,
];

const COVERAGE_SQL = 'CASE WHEN size > 0 THEN CAST(covered_bytes AS REAL) / size ELSE 0 END';

export const REQUEST_COLUMNS: string = `id, path, user_id AS userId, is_authenticated AS isAuthenticated, ip, user_agent AS userAgent,
  status, range_header AS range, bytes_sent AS bytesSent, aborted, size, started_at AS startedAt,
  duration_ms AS durationMs, session_id AS sessionId`;

export const SESSION_COLUMNS: string = `id, path, user_id AS userId, is_authenticated AS isAuthenticated, ip, user_agent AS userAgent,
  first_seen AS firstSeen, last_seen AS lastSeen, requests, bytes_sent AS bytesSent, size,
  covered_bytes AS coveredBytes, ${COVERAGE_SQL} AS coverage, kind, played_ranges AS playedRanges,
  watched_seconds AS watchedSeconds, duration_seconds AS durationSeconds, position_seconds AS position,
  rebuffer_seconds AS rebufferSeconds, reports, events`;

export const VIDEO_COLUMNS: string = `path, count(*) AS sessions,
  count(DISTINCT CASE WHEN is_authenticated = 1 AND user_id IS NOT NULL THEN 'u:' || user_id ELSE 'a:' || ip END) AS viewers,
  sum(requests) AS requests, sum(bytes_sent) AS bytesSent, avg(CASE WHEN kind = 'video' THEN ${COVERAGE_SQL} END) AS avgCoverage,
  max(last_seen) AS lastSeen, max(duration_seconds) AS durationSeconds, sum(watched_seconds) AS watchedSeconds,
  avg(CASE WHEN reports > 0 AND duration_seconds > 0 THEN watched_seconds * 100.0 / duration_seconds END) AS avgWatchedPercent,
  sum(CASE WHEN reports > 0 THEN 1 ELSE 0 END) AS reportedSessions`;

export function migrate(db: DatabaseSync): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes opening a new
  // file at once cannot both create the tables; the loser sees version 1 and does nothing.
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = Number((db.prepare('PRAGMA user_version').get() as Row | undefined)?.['user_version'] ?? 0);
    if (version > MIGRATIONS.length) {
      throw new Error(`watch log schema version ${version} is newer than this release supports (${MIGRATIONS.length})`);
    }
    for (let v = version; v < MIGRATIONS.length; v++) MIGRATIONS[v]?.(db);
    if (version !== MIGRATIONS.length) db.exec(`PRAGMA user_version = ${MIGRATIONS.length}`);
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

const MAX_RANGE_HEADER = 200;
/** User agents are stored, and queued, cut to this many characters. */
export const MAX_USER_AGENT = 512;
// What an entry costs in the queue besides its strings: the object, its numbers, the ranges array.
const ENTRY_OVERHEAD_BYTES = 200;
const RANGE_BYTES = 48;

/**
 * The entry as it waits in the queue, with its long strings cut to what is stored (a raw
 * 16 KB User-Agent per request once grew a queue of 10,000 to hundreds of MB), and what it
 * costs there, so the queue can be bounded in bytes as well as entries.
 */
export function queuedEntry(e: WatchEntry): { readonly entry: WatchEntry; readonly bytes: number } {
  const userAgent = typeof e.userAgent === 'string' && e.userAgent.length > MAX_USER_AGENT ? cut(e.userAgent, MAX_USER_AGENT) : e.userAgent;
  const range = typeof e.range === 'string' && e.range.length > MAX_RANGE_HEADER ? cut(e.range, MAX_RANGE_HEADER) : e.range;
  const entry = userAgent === e.userAgent && range === e.range ? e : { ...e, userAgent, range };
  const text = textLength(entry.path) + textLength(entry.userId) + textLength(entry.ip) + textLength(userAgent) + textLength(range);
  const ranges = Array.isArray(entry.ranges) ? entry.ranges.length : 0;
  return { entry, bytes: ENTRY_OVERHEAD_BYTES + 2 * text + RANGE_BYTES * ranges };
}

// The first `max` characters as a string of their own: V8's slice() keeps a reference to the whole
// original (a "sliced string"), so a queue of cut 16 KB headers would still hold 16 KB each.
function cut(text: string, max: number): string {
  return Buffer.from(text.slice(0, max), 'utf16le').toString('utf16le');
}

function textLength(value: unknown): number {
  return typeof value === 'string' ? value.length : 0;
}

// A WatchEntry as stored: with its viewer key, and booleans as SQLite integers.
export type Normalized = Omit<WatchEntry, 'isAuthenticated' | 'aborted'> & {
  readonly viewer: string;
  readonly isAuthenticated: 0 | 1;
  readonly aborted: 0 | 1;
};

// Coerces whatever a JavaScript caller passed into values SQLite's NOT NULL columns accept, so one
// malformed entry cannot fail the whole batch forever.
export function normalizeEntry(e: WatchEntry, now: number): Normalized {
  const userId = optionalText(e.userId, Infinity);
  const isAuthenticated = e.isAuthenticated === true;
  const ip = String(e.ip ?? '');
  const userAgent = optionalText(e.userAgent, MAX_USER_AGENT);
  const size = nonNegative(e.size);
  const status = nonNegative(e.status);
  let ranges: readonly ByteRange[] = Array.isArray(e.ranges) ? e.ranges : [];
  // A 200 logged without its range still served the whole file.
  if (ranges.length === 0 && status === 200 && size > 0) ranges = [{ start: 0, end: size - 1 }];
  return {
    path: String(e.path ?? ''),
    viewer: isAuthenticated && userId !== null ? `u:${userId}` : `a:${JSON.stringify([ip, userAgent])}`,
    userId,
    isAuthenticated: isAuthenticated ? 1 : 0,
    ip,
    userAgent,
    status,
    range: optionalText(e.range, MAX_RANGE_HEADER),
    ranges,
    bytesSent: nonNegative(e.bytesSent),
    aborted: e.aborted === true ? 1 : 0,
    size,
    startedAt: Number.isFinite(e.startedAt) ? Math.trunc(e.startedAt) : now,
    durationMs: nonNegative(e.durationMs),
  };
}

function optionalText(value: unknown, max: number): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value);
  return text.length > max ? text.slice(0, max) : text;
}

function nonNegative(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.trunc(value) : 0;
}
