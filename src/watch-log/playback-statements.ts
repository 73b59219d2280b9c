import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { PlaybackReport } from '../types.ts';
import { folderOf, kindOf, mergeReport, type StoredPlayback } from './playback.ts';
import { coverageCounts, parsePlayedRanges } from './played-ranges.ts';
import { selectList, TableInsert, WATCH_SESSION, type Row } from './schema.ts';
import { normalizeEntry } from './stored-entry.ts';

/** How {@link WatchLog.position} names the viewer: a user id, or the ip and user agent of an anonymous one. */
export type PositionQuery = {
  readonly path: string;
  readonly user?: string | undefined;
  readonly viewer?: { readonly ip: string; readonly userAgent: string | null } | undefined;
};

/** How many sessions played each slice of a video's timeline: what {@link WatchLog.heat} returns. */
export type HeatStrip = {
  readonly path: string;
  readonly durationSeconds: number | null;
  /** Sessions with a beacon report that were counted. */
  readonly sessions: number;
  /** One count per slice of [0, durationSeconds), in order. */
  readonly counts: readonly number[];
};

/** Sessions the heat strip reads at most per video (the latest). */
export const HEAT_SESSION_LIMIT = 5000;

/** The statements beacon reports are written with. */
export type PlaybackStatements = {
  readonly findPlayback: StatementSync;
  readonly updatePlayback: StatementSync;
  readonly insertPlaybackSession: TableInsert;
};

const NO_COVERAGE = new Uint8Array(0);

/** Prepares {@link PlaybackStatements} once, with the log's own. */
export function preparePlaybackStatements(db: DatabaseSync): PlaybackStatements {
  return {
    findPlayback: db.prepare(
      `SELECT ${selectList(WATCH_SESSION.columns, ['id', 'playedRanges', 'rebufferSeconds', 'events'])}
       FROM watch_session WHERE path = ? AND viewer = ? AND last_seen >= ? ORDER BY last_seen DESC LIMIT 1`,
    ),
    updatePlayback: db.prepare(
      `UPDATE watch_session SET played_ranges = ?, watched_seconds = ?, duration_seconds = ?, position_seconds = ?,
         rebuffer_seconds = ?, events = ?, reports = reports + 1, last_seen = max(last_seen, ?) WHERE id = ?`,
    ),
    insertPlaybackSession: new TableInsert(db, WATCH_SESSION),
  };
}

const POSITION = selectList(WATCH_SESSION.columns, ['position']);

/** The SQL and parameters of {@link WatchLog.position}'s lookup. */
export function positionSql(query: PositionQuery): { sql: string; params: (string | null)[] } {
  const { path, user, viewer } = query;
  if (typeof user === 'string') {
    return {
      sql: `SELECT ${POSITION} FROM watch_session WHERE path = ? AND user_id = ? AND is_authenticated = 1
              AND position_seconds IS NOT NULL ORDER BY last_seen DESC LIMIT 1`,
      params: [path, user],
    };
  }
  if (viewer === undefined) throw new TypeError('query.user or query.viewer must be given');
  // The key the stream requests of that viewer were stored under.
  const key = normalizeEntry({ path, userId: null, isAuthenticated: false, ip: viewer.ip, userAgent: viewer.userAgent } as never, 0).viewer;
  return {
    sql: `SELECT ${POSITION} FROM watch_session WHERE path = ? AND viewer = ?
            AND position_seconds IS NOT NULL ORDER BY last_seen DESC LIMIT 1`,
    params: [path, key],
  };
}

/** The sessions {@link heatFrom} reads: the latest 5000 of a path that had a beacon report. */
export const HEAT_SQL: string = `SELECT ${selectList(WATCH_SESSION.columns, ['playedRanges', 'durationSeconds'])} FROM watch_session
  WHERE path = ? AND reports > 0 ORDER BY last_seen DESC LIMIT ${HEAT_SESSION_LIMIT}`;

/** Counts, per slice of the longest reported duration, the sessions that played it. */
export function heatFrom(path: string, rows: readonly Row[], buckets: number): HeatStrip {
  let duration = 0;
  for (const row of rows) duration = Math.max(duration, Number(row['durationSeconds'] ?? 0));
  const sessions = rows.map((row) => parsePlayedRanges(row['playedRanges']));
  return { path, durationSeconds: duration > 0 ? duration : null, sessions: rows.length, counts: coverageCounts(sessions, duration, buckets) };
}

/**
 * Folds one report into the viewer's latest session of its path within `idleMs`, keeping the
 * session alive, or starts a session the stream requests then join (see WatchLog.recordPlayback).
 */
export function insertPlayback(s: PlaybackStatements, report: PlaybackReport, idleMs: number, now: number): void {
  const at = Number.isFinite(report.receivedAt) ? Math.trunc(report.receivedAt) : now;
  // The same viewer key, user id and truncation as the stream requests get.
  const e = normalizeEntry({ ...report, status: 0, range: null, ranges: [], bytesSent: 0, aborted: false, size: 0, startedAt: at, durationMs: 0 }, now);
  const found = s.findPlayback.get(e.path, e.viewer, at - idleMs) as
    | (Row & StoredPlayback)
    | undefined;
  const merged = mergeReport(found, report);
  if (found !== undefined) {
    s.updatePlayback.run(
      merged.playedRanges, merged.watchedSeconds, merged.durationSeconds, merged.position,
      merged.rebufferSeconds, merged.events, at, Number(found['id']),
    );
    return;
  }
  // The viewer's path, user, ip and user agent from the entry; no bytes until its first request (which adopts it).
  s.insertPlaybackSession.run(e, {
    firstSeen: at, lastSeen: at, requests: 0, blockSize: 0, coverageMap: NO_COVERAGE, coveredBytes: 0,
    kind: kindOf(e.path), folder: folderOf(e.path), ...merged, reports: 1,
  });
}
