import type { DatabaseSync } from 'node:sqlite';
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
