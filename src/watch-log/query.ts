import type { SQLInputValue } from 'node:sqlite';
import type { WatchEntry } from '../types.ts';
import type { SessionKind } from './playback.ts';
import type { PlayedRange } from './played-ranges.ts';
import {
  COVERAGE_SQL,
  optionalNumber,
  readRow,
  round1,
  selectList,
  sortKeys,
  WATCH_REQUEST,
  WATCH_SESSION,
  type ComputedColumn,
  type Row,
} from './schema.ts';

/** Filters, sorting and paging for {@link WatchLog.requests}, {@link WatchLog.sessions} and {@link WatchLog.videos}. */
export type WatchQuery = {
  readonly path?: string;
  readonly userId?: string;
  readonly ip?: string;
  readonly authenticated?: boolean;
  /** Epoch ms, inclusive, on startedAt (requests) or firstSeen (sessions, videos). */
  readonly from?: number;
  /** Epoch ms, exclusive, on startedAt (requests) or firstSeen (sessions, videos). */
  readonly to?: number;
  /** Case-insensitive (ASCII) substring of path, user, ip or user agent; `%` and `_` match literally. */
  readonly search?: string;
  /** A key from the view's whitelist ({@link REQUEST_SORTS}, {@link SESSION_SORTS}, {@link VIDEO_SORTS}); anything else → newest first. */
  readonly sort?: string;
  readonly order?: 'asc' | 'desc';
  /** Default 50, clamped to [1, 500]. */
  readonly limit?: number;
  readonly offset?: number;
};

/**
 * One stored request: the {@link WatchEntry} as recorded, without its ranges (the session keeps
 * those as coverage), with its row id and the session it joined.
 */
export type RequestRow = Omit<WatchEntry, 'ranges'> & {
  readonly id: number;
  readonly sessionId: number;
};

/** One playback session: a viewer's requests for one file with no gap longer than sessionIdleMs. */
export type SessionRow = {
  readonly id: number;
  readonly path: string;
  readonly userId: string | null;
  readonly isAuthenticated: boolean;
  /** The ip and user agent of the session's first request. */
  readonly ip: string;
  readonly userAgent: string | null;
  readonly firstSeen: number;
  /** When the latest request ended (startedAt + durationMs). */
  readonly lastSeen: number;
  readonly requests: number;
  readonly bytesSent: number;
  readonly size: number;
  /** Bytes of the file in blocks that were at least partly served (see {@link COVERAGE_BLOCK_SIZE}). */
  readonly coveredBytes: number;
  /** coveredBytes / size, 0..1 (0 for an empty file). */
  readonly coverage: number;
  /** 'video', 'stream' (an HLS/DASH manifest, its segments joined) or 'asset' (not listed by default). */
  readonly kind: SessionKind;
  /** Share of the file's bytes sent, 0…100; null for a stream, whose bytes are in its segments. */
  readonly deliveredPercent: number | null;
  /** The union of what the player reported as played, [start, end] seconds; empty without a beacon. */
  readonly playedRanges: readonly PlayedRange[];
  /** Length of playedRanges, seconds. */
  readonly watchedSeconds: number;
  /** watchedSeconds / durationSeconds × 100; null without a beacon report. */
  readonly watchedPercent: number | null;
  /** The media's duration as the player reported it; null without a beacon report. */
  readonly durationSeconds: number | null;
  /** The last reported playback position, seconds; null without a beacon report. */
  readonly position: number | null;
  readonly rebufferSeconds: number;
  /** Beacon reports stored for this session. */
  readonly reports: number;
  /** Event totals reported by the beacon (play, pause, seek, ended, stall, hidden). */
  readonly events: Readonly<Record<string, number>>;
};

/** Totals for one path over its sessions. */
export type VideoTotalRow = {
  readonly path: string;
  readonly sessions: number;
  /** Distinct viewers: the user when authenticated, else the ip. */
  readonly viewers: number;
  readonly requests: number;
  readonly bytesSent: number;
  /** Mean session coverage, 0..1 (byte coverage: what was delivered, not watched). */
  readonly avgCoverage: number;
  readonly lastSeen: number;
  /** Longest duration a player reported; null when no session had a beacon. */
  readonly durationSeconds: number | null;
  /** Played seconds summed over sessions. */
  readonly watchedSeconds: number;
  /** Mean watchedPercent over sessions with a beacon report; null when there were none. */
  readonly avgWatchedPercent: number | null;
  /** Sessions with at least one beacon report. */
  readonly reportedSessions: number;
};

/** Result of {@link WatchLog.requests} and {@link WatchLog.sessions}: one page and the count of all matches. */
export type WatchPage<Row> = { readonly rows: Row[]; readonly total: number };

/** Rows deleted by {@link WatchLog.prune}. */
export type PruneResult = { readonly requests: number; readonly sessions: number };

/** Per-path totals over sessions, in {@link VideoTotalRow} order (the query groups by path). */
const VIDEO_TOTALS: readonly ComputedColumn[] = [
  { sql: 'path', field: 'path', read: String, sort: true },
  { sql: 'count(*)', field: 'sessions', read: Number, sort: true },
  {
    sql: "count(DISTINCT CASE WHEN is_authenticated = 1 AND user_id IS NOT NULL THEN 'u:' || user_id ELSE 'a:' || ip END)",
    field: 'viewers',
    read: Number,
    sort: true,
  },
  { sql: 'sum(requests)', field: 'requests', read: Number, sort: true },
  { sql: 'sum(bytes_sent)', field: 'bytesSent', read: Number, sort: true },
  { sql: `avg(CASE WHEN kind = 'video' THEN ${COVERAGE_SQL} END)`, field: 'avgCoverage', read: Number, sort: true },
  { sql: 'max(last_seen)', field: 'lastSeen', read: Number, sort: true },
  { sql: 'max(duration_seconds)', field: 'durationSeconds', read: optionalNumber },
  { sql: 'sum(watched_seconds)', field: 'watchedSeconds', read: Number, sort: true },
  {
    sql: 'avg(CASE WHEN reports > 0 AND duration_seconds > 0 THEN watched_seconds * 100.0 / duration_seconds END)',
    field: 'avgWatchedPercent',
    read: (value) => (value === null || value === undefined ? null : round1(Number(value))),
    sort: true,
  },
  { sql: 'sum(CASE WHEN reports > 0 THEN 1 ELSE 0 END)', field: 'reportedSessions', read: Number },
];

/** Sort keys accepted by {@link WatchLog.requests}, mapped to columns. */
export const REQUEST_SORTS: Readonly<Record<string, string>> = sortKeys(WATCH_REQUEST.columns);

/** Sort keys accepted by {@link WatchLog.sessions}, mapped to columns. */
export const SESSION_SORTS: Readonly<Record<string, string>> = sortKeys(WATCH_SESSION.columns);

/** Sort keys accepted by {@link WatchLog.videos}, mapped to result columns. */
export const VIDEO_SORTS: Readonly<Record<string, string>> = sortKeys(VIDEO_TOTALS);

/** What {@link WatchLog.requests} selects from watch_request. */
export const REQUEST_SELECT: string = selectList(WATCH_REQUEST.columns);

/** What {@link WatchLog.sessions} selects from watch_session. */
export const SESSION_SELECT: string = selectList(WATCH_SESSION.columns);

/** What {@link WatchLog.videos} selects from watch_session, grouped by path. */
export const VIDEO_SELECT: string = selectList(VIDEO_TOTALS);

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

const LIKE_SPECIAL = /[\\%_]/g;

export type Where = { readonly sql: string; readonly params: SQLInputValue[] };

export function buildWhere(query: WatchQuery, timeColumn: string): Where {
  const clauses: string[] = [];
  const params: SQLInputValue[] = [];
  const equal = (column: string, value: unknown): void => {
    if (typeof value !== 'string') return;
    clauses.push(`${column} = ?`);
    params.push(value);
  };
  equal('path', query.path);
  equal('user_id', query.userId);
  equal('ip', query.ip);
  if (typeof query.authenticated === 'boolean') {
    clauses.push('is_authenticated = ?');
    params.push(query.authenticated ? 1 : 0);
  }
  if (typeof query.from === 'number' && Number.isFinite(query.from)) {
    clauses.push(`${timeColumn} >= ?`);
    params.push(query.from);
  }
  if (typeof query.to === 'number' && Number.isFinite(query.to)) {
    clauses.push(`${timeColumn} < ?`);
    params.push(query.to);
  }
  if (typeof query.search === 'string' && query.search !== '') {
    const pattern = `%${query.search.replace(LIKE_SPECIAL, '\\$&')}%`;
    clauses.push(
      "(path LIKE ? ESCAPE '\\' OR user_id LIKE ? ESCAPE '\\' OR ip LIKE ? ESCAPE '\\' OR user_agent LIKE ? ESCAPE '\\')",
    );
    params.push(pattern, pattern, pattern, pattern);
  }
  return { sql: clauses.length === 0 ? '' : ` WHERE ${clauses.join(' AND ')}`, params };
}

export function buildPage(
  query: WatchQuery,
  sorts: Readonly<Record<string, string>>,
  defaultColumn: string,
  tieBreak: string,
): Where {
  // Only whitelisted keys reach the SQL text; Object.hasOwn keeps 'constructor' and friends out.
  const known = typeof query.sort === 'string' && Object.hasOwn(sorts, query.sort);
  const column = known ? (sorts[query.sort as string] ?? defaultColumn) : defaultColumn;
  const direction = known && query.order === 'asc' ? 'ASC' : 'DESC';
  const limit =
    typeof query.limit === 'number' && Number.isFinite(query.limit)
      ? Math.min(MAX_LIMIT, Math.max(1, Math.trunc(query.limit)))
      : DEFAULT_LIMIT;
  const offset = typeof query.offset === 'number' && Number.isFinite(query.offset) ? Math.max(0, Math.trunc(query.offset)) : 0;
  return { sql: ` ORDER BY ${column} ${direction}, ${tieBreak} ${direction} LIMIT ? OFFSET ?`, params: [limit, offset] };
}

export function toRequestRow(r: Row): RequestRow {
  // sessionId comes last, where rows (and so export columns) have always had it.
  const { sessionId, ...row } = readRow(WATCH_REQUEST.columns, r);
  return { ...row, sessionId } as RequestRow;
}

export function toSessionRow(r: Row): SessionRow {
  return readRow(WATCH_SESSION.columns, r) as SessionRow;
}

export function toVideoTotalRow(r: Row): VideoTotalRow {
  return readRow(VIDEO_TOTALS, r) as VideoTotalRow;
}
