import type { SQLInputValue } from 'node:sqlite';

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

/** One stored request. */
export type RequestRow = {
  readonly id: number;
  readonly path: string;
  readonly userId: string | null;
  readonly isAuthenticated: boolean;
  readonly ip: string;
  readonly userAgent: string | null;
  readonly status: number;
  readonly range: string | null;
  readonly bytesSent: number;
  readonly aborted: boolean;
  readonly size: number;
  readonly startedAt: number;
  readonly durationMs: number;
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
};

/** Totals for one path over its sessions. */
export type VideoTotalRow = {
  readonly path: string;
  readonly sessions: number;
  /** Distinct viewers: the user when authenticated, else the ip. */
  readonly viewers: number;
  readonly requests: number;
  readonly bytesSent: number;
  /** Mean session coverage, 0..1. */
  readonly avgCoverage: number;
  readonly lastSeen: number;
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
  };
}

export function toVideoTotalRow(r: Row): VideoTotalRow {
  return {
    path: String(r['path']),
    sessions: Number(r['sessions']),
    viewers: Number(r['viewers']),
    requests: Number(r['requests']),
    bytesSent: Number(r['bytesSent']),
    avgCoverage: Number(r['avgCoverage']),
    lastSeen: Number(r['lastSeen']),
  };
}
