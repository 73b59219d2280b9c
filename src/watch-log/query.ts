import type { SQLInputValue } from 'node:sqlite';
import type { WatchEntry } from '../types.ts';
import type { SessionKind } from './playback.ts';
import { parsePlayedRanges, type PlayedRange } from './played-ranges.ts';

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

/** Sort keys accepted by {@link WatchLog.requests}, mapped to columns. */
export const REQUEST_SORTS: Readonly<Record<string, string>> = Object.freeze({
  startedAt: 'started_at',
  path: 'path',
  userId: 'user_id',
  ip: 'ip',
  status: 'status',
  bytesSent: 'bytes_sent',
  size: 'size',
  durationMs: 'duration_ms',
});

/** Sort keys accepted by {@link WatchLog.sessions}, mapped to columns. */
export const SESSION_SORTS: Readonly<Record<string, string>> = Object.freeze({
  firstSeen: 'first_seen',
  lastSeen: 'last_seen',
  path: 'path',
  userId: 'user_id',
  ip: 'ip',
  requests: 'requests',
  bytesSent: 'bytes_sent',
  size: 'size',
  coveredBytes: 'covered_bytes',
  coverage: 'coverage',
  watchedSeconds: 'watched_seconds',
  position: 'position_seconds',
});

/** Sort keys accepted by {@link WatchLog.videos}, mapped to result columns. */
export const VIDEO_SORTS: Readonly<Record<string, string>> = Object.freeze({
  lastSeen: 'lastSeen',
  path: 'path',
  sessions: 'sessions',
  viewers: 'viewers',
  requests: 'requests',
  bytesSent: 'bytesSent',
  avgCoverage: 'avgCoverage',
  avgWatchedPercent: 'avgWatchedPercent',
  watchedSeconds: 'watchedSeconds',
});

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;

const LIKE_SPECIAL = /[\\%_]/g;

export type Row = Record<string, unknown>;

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
  return {
    ...viewerFields(r),
    status: Number(r['status']),
    range: (r['range'] as string | null) ?? null,
    bytesSent: Number(r['bytesSent']),
    aborted: r['aborted'] === 1,
    size: Number(r['size']),
    startedAt: Number(r['startedAt']),
    durationMs: Number(r['durationMs']),
    sessionId: Number(r['sessionId']),
  };
}

// The columns requests and sessions share: which file, and who watched it.
export function viewerFields(r: Row): Pick<RequestRow, 'id' | 'path' | 'userId' | 'isAuthenticated' | 'ip' | 'userAgent'> {
  return {
    id: Number(r['id']),
    path: String(r['path']),
    userId: (r['userId'] as string | null) ?? null,
    isAuthenticated: r['isAuthenticated'] === 1,
    ip: String(r['ip']),
    userAgent: (r['userAgent'] as string | null) ?? null,
  };
}

export function toSessionRow(r: Row): SessionRow {
  return {
    ...viewerFields(r),
    firstSeen: Number(r['firstSeen']),
    lastSeen: Number(r['lastSeen']),
    requests: Number(r['requests']),
    bytesSent: Number(r['bytesSent']),
    size: Number(r['size']),
    coveredBytes: Number(r['coveredBytes']),
    coverage: Number(r['coverage']),
    ...playbackFields(r),
  };
}

function playbackFields(r: Row): Omit<SessionRow, keyof ReturnType<typeof viewerFields> | 'firstSeen' | 'lastSeen' | 'requests' | 'bytesSent' | 'size' | 'coveredBytes' | 'coverage'> {
  const kind = String(r['kind']) as SessionKind;
  const duration = nullableNumber(r['durationSeconds']);
  const watchedSeconds = Number(r['watchedSeconds'] ?? 0);
  const reports = Number(r['reports'] ?? 0);
  let events: Record<string, number> = {};
  try {
    events = JSON.parse(String(r['events'] ?? '{}')) as Record<string, number>;
  } catch {
    // A damaged row shows no events.
  }
  return {
    kind,
    deliveredPercent: kind === 'stream' ? null : round1(Number(r['coverage']) * 100),
    playedRanges: parsePlayedRanges(r['playedRanges']),
    watchedSeconds,
    watchedPercent: reports > 0 && duration !== null && duration > 0 ? round1(Math.min(100, (watchedSeconds * 100) / duration)) : null,
    durationSeconds: duration,
    position: nullableNumber(r['position']),
    rebufferSeconds: Number(r['rebufferSeconds'] ?? 0),
    reports,
    events,
  };
}

function nullableNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

export function toVideoTotalRow(r: Row): VideoTotalRow {
  return {
    path: String(r['path']),
    sessions: Number(r['sessions']),
    viewers: Number(r['viewers']),
    requests: Number(r['requests']),
    bytesSent: Number(r['bytesSent']),
    avgCoverage: Number(r['avgCoverage'] ?? 0),
    lastSeen: Number(r['lastSeen']),
    durationSeconds: nullableNumber(r['durationSeconds']),
    watchedSeconds: Number(r['watchedSeconds'] ?? 0),
    avgWatchedPercent: r['avgWatchedPercent'] === null || r['avgWatchedPercent'] === undefined ? null : round1(Number(r['avgWatchedPercent'])),
    reportedSessions: Number(r['reportedSessions'] ?? 0),
  };
}
