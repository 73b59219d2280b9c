import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import type { ByteRange, WatchEntry } from '../types.ts';

export type { WatchEntry };

/** Options for {@link WatchLog.open}. */
export type WatchLogOptions = {
  /** A gap longer than this between a viewer's requests for a file starts a new session (default 30 min). */
  readonly sessionIdleMs?: number;
  /** How long entries wait in memory before they are written (default 1000). */
  readonly flushIntervalMs?: number;
  /** Write early once this many entries are queued (default 500). */
  readonly maxBatch?: number;
  /** Entries held in memory at most, waiting or retrying; more are dropped and counted (default 10 000). */
  readonly maxQueue?: number;
  /** Receives database failures, which never throw out of record(), flush() or close(). */
  readonly onError?: (err: unknown) => void;
};

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

/** The schema version this release writes, kept in `PRAGMA user_version`. */
export const WATCH_LOG_SCHEMA_VERSION: number = 1;

/** Coverage is tracked per block of this many bytes (scaled up by powers of two for files over 8 GiB). */
export const COVERAGE_BLOCK_SIZE: number = 64 * 1024;

/** Largest coverage bitmap per session: 16 KiB of bits, so 8 GiB at the base block size. */
export const MAX_COVERAGE_BITMAP: number = 16 * 1024;

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

const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_MAX_BATCH = 500;
const DEFAULT_MAX_QUEUE = 10_000;
const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 500;
const MAX_RANGE_HEADER = 200;
const MAX_USER_AGENT = 512;
const MAX_BITMAP_BLOCKS = MAX_COVERAGE_BITMAP * 8;
// Opening migrates the schema once, so it may wait for other writers as long as a caller would.
const OPEN_BUSY_TIMEOUT_MS = 5000;
// Flushes run on the event loop: SQLite's busy handler sleeps the thread, so a long timeout would
// stall every request in flight while another process holds the write lock. 200 ms covers a
// normal batch by another writer; past that the batch stays queued and the next timer tick retries.
const FLUSH_BUSY_TIMEOUT_MS = 200;
// There is no next tick after close(), so its last flush waits longer, but still a bounded time.
const CLOSE_BUSY_TIMEOUT_MS = 1000;

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
];

const COVERAGE_SQL = 'CASE WHEN size > 0 THEN CAST(covered_bytes AS REAL) / size ELSE 0 END';

const REQUEST_COLUMNS = `id, path, user_id AS userId, is_authenticated AS isAuthenticated, ip, user_agent AS userAgent,
  status, range_header AS range, bytes_sent AS bytesSent, aborted, size, started_at AS startedAt,
  duration_ms AS durationMs, session_id AS sessionId`;

const SESSION_COLUMNS = `id, path, user_id AS userId, is_authenticated AS isAuthenticated, ip, user_agent AS userAgent,
  first_seen AS firstSeen, last_seen AS lastSeen, requests, bytes_sent AS bytesSent, size,
  covered_bytes AS coveredBytes, ${COVERAGE_SQL} AS coverage`;

const VIDEO_COLUMNS = `path, count(*) AS sessions,
  count(DISTINCT CASE WHEN is_authenticated = 1 AND user_id IS NOT NULL THEN 'u:' || user_id ELSE 'a:' || ip END) AS viewers,
  sum(requests) AS requests, sum(bytes_sent) AS bytesSent, avg(${COVERAGE_SQL}) AS avgCoverage, max(last_seen) AS lastSeen`;

const LIKE_SPECIAL = /[\\%_]/g;

type Resolved = {
  readonly sessionIdleMs: number;
  readonly flushIntervalMs: number;
  readonly maxBatch: number;
  readonly maxQueue: number;
  readonly onError: (err: unknown) => void;
};

type Statements = {
  readonly findSession: StatementSync;
  readonly insertSession: StatementSync;
  readonly updateSession: StatementSync;
  readonly insertRequest: StatementSync;
  readonly pruneRequests: StatementSync;
  readonly pruneSessions: StatementSync;
};

type Row = Record<string, unknown>;

/**
 * Records streamed requests in SQLite (`node:sqlite`) and groups them into playback sessions.
 *
 * record() only queues: a timer (unref'd, so it never keeps the process alive) writes the queue in
 * one transaction every flushIntervalMs, or as soon as maxBatch entries wait. Each entry extends
 * the latest session of the same path, file size and viewer (the user when authenticated, else
 * ip + user agent) whose lastSeen is within sessionIdleMs of its start, or starts a new one. A
 * session keeps a bitmap of the 64 KiB blocks that were served, so how much of a video viewers
 * watched is one query. Database failures (locked, read-only, full) go to onError and the batch
 * stays queued for the next tick, up to maxQueue entries; beyond that entries are dropped and
 * counted in `dropped`. Several processes may share one file (WAL, busy timeout, BEGIN IMMEDIATE).
 * Call close() on shutdown: entries still queued when the process exits are lost.
 *
 * @example
 * const log = await WatchLog.open('watch.db', { onError: (err) => console.error(err) });
 * log.record({ path: 'movies/a.mp4', userId: null, isAuthenticated: false, ip: '10.0.0.7',
 *   userAgent: 'VLC/3.0', status: 206, range: 'bytes=0-', ranges: [{ start: 0, end: 999 }],
 *   bytesSent: 1000, aborted: false, size: 5000, startedAt: Date.now(), durationMs: 12 });
 * log.flush();
 * log.videos({ sort: 'avgCoverage' }); // [{ path: 'movies/a.mp4', sessions: 1, avgCoverage: 1, … }]
 * log.close();
 */
export class WatchLog {
  readonly #db: DatabaseSync;
  readonly #statements: Statements;
  readonly #options: Resolved;
  readonly #queries = new Map<string, StatementSync>();
  #queue: WatchEntry[] = [];
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #dropped = 0;
  #failing = false;
  #closed = false;

  /** Use {@link WatchLog.open}. */
  private constructor(db: DatabaseSync, options: Resolved) {
    this.#db = db;
    this.#options = options;
    this.#statements = {
      findSession: db.prepare(
        `SELECT id, block_size AS blockSize, coverage_map AS coverageMap, covered_bytes AS coveredBytes
         FROM watch_session WHERE path = ? AND viewer = ? AND size = ? AND last_seen >= ? AND first_seen <= ?
         ORDER BY last_seen DESC LIMIT 1`,
      ),
      insertSession: db.prepare(
        `INSERT INTO watch_session (path, viewer, user_id, is_authenticated, ip, user_agent, first_seen, last_seen,
           requests, bytes_sent, size, block_size, coverage_map, covered_bytes)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?)`,
      ),
      updateSession: db.prepare(
        `UPDATE watch_session SET first_seen = min(first_seen, ?), last_seen = max(last_seen, ?),
           requests = requests + 1, bytes_sent = bytes_sent + ?, coverage_map = ?, covered_bytes = ?
         WHERE id = ?`,
      ),
      insertRequest: db.prepare(
        `INSERT INTO watch_request (session_id, path, user_id, is_authenticated, ip, user_agent, status, range_header,
           bytes_sent, aborted, size, started_at, duration_ms)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ),
      pruneRequests: db.prepare('DELETE FROM watch_request WHERE started_at < ?'),
      pruneSessions: db.prepare('DELETE FROM watch_session WHERE last_seen < ?'),
    };
  }

  /**
   * Opens (creating if needed) the database at `path` and brings its schema to the current version.
   *
   * `node:sqlite` is imported here, so code that never logs never loads it. `':memory:'` works
   * (no WAL there). Rejects on bad options (TypeError naming the option), a file that cannot be
   * opened, or a schema newer than this release.
   *
   * @example
   * const log = await WatchLog.open(':memory:', { sessionIdleMs: 10 * 60_000 });
   */
  static async open(path: string, options: WatchLogOptions = {}): Promise<WatchLog> {
    const resolved = resolveWatchLogOptions(options);
    const { DatabaseSync } = await import('node:sqlite');
    const db = new DatabaseSync(path);
    try {
      db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
      const deadline = Date.now() + OPEN_BUSY_TIMEOUT_MS;
      for (;;) {
        try {
          db.exec('PRAGMA journal_mode = WAL');
          migrate(db);
          break;
        } catch (err) {
          // Switching a new file to WAL while another process does the same can fail with
          // SQLITE_BUSY at once, without the busy handler (pinned by "two processes creating the
          // same new file at once"); open() is async, so wait without blocking and try again.
          if (!isBusy(err) || Date.now() > deadline) throw err;
          await delay(10 + Math.random() * 20);
        }
      }
      db.exec('PRAGMA synchronous = NORMAL');
      db.exec(`PRAGMA busy_timeout = ${FLUSH_BUSY_TIMEOUT_MS}`);
      return new WatchLog(db, resolved);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Entries dropped because the queue was full or the database failed at close(). */
  get dropped(): number {
    return this.#dropped;
  }

  /** Entries queued in memory, not yet written (they include batches waiting for a retry). */
  get pending(): number {
    return this.#queue.length;
  }

  /**
   * Queues one entry. O(1); never throws and never touches the database: the timer writes it.
   * Ignored after close(); counted in `dropped` when maxQueue entries already wait.
   */
  record(entry: WatchEntry): void {
    if (this.#closed) return;
    if (this.#queue.length >= this.#options.maxQueue) {
      this.#dropped++;
      return;
    }
    this.#queue.push(entry);
    this.#schedule();
  }

  /**
   * Writes every queued entry now, in one transaction, synchronously.
   *
   * Never throws: a failure (SQLITE_BUSY after a short wait, a read-only or full disk) goes to
   * onError and leaves the entries queued for the next timer tick.
   */
  flush(): void {
    if (!this.#closed) this.#write();
  }

  /**
   * Flushes what it can and closes the database; idempotent, never throws.
   *
   * The last flush waits at most 1 s for another writer's lock; entries it cannot write are
   * counted in `dropped` and the error goes to onError.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    try {
      this.#db.exec(`PRAGMA busy_timeout = ${CLOSE_BUSY_TIMEOUT_MS}`);
    } catch {
      // The flush below reports whatever is wrong with the database.
    }
    if (!this.#write()) {
      this.#dropped += this.#queue.length;
      this.#queue = [];
    }
    try {
      this.#db.close();
    } catch (err) {
      this.#report(err);
    }
  }

  /**
   * One page of stored requests, newest first unless `query.sort` names a key of
   * {@link REQUEST_SORTS}, and the number of all matching rows. Queued entries appear after a
   * flush. Throws after close() or when the database cannot be read.
   */
  requests(query: WatchQuery = {}): WatchPage<RequestRow> {
    const where = buildWhere(query, 'started_at');
    const page = buildPage(query, REQUEST_SORTS, 'started_at', 'id');
    const rows = this.#query(`SELECT ${REQUEST_COLUMNS} FROM watch_request${where.sql}${page.sql}`, [
      ...where.params,
      ...page.params,
    ]).map(toRequestRow);
    return { rows, total: this.#count('watch_request', where) };
  }

  /**
   * One page of sessions, newest first (by firstSeen) unless `query.sort` names a key of
   * {@link SESSION_SORTS}, and the number of all matching sessions. Throws after close().
   */
  sessions(query: WatchQuery = {}): WatchPage<SessionRow> {
    const where = buildWhere(query, 'first_seen');
    const page = buildPage(query, SESSION_SORTS, 'first_seen', 'id');
    const rows = this.#query(`SELECT ${SESSION_COLUMNS} FROM watch_session${where.sql}${page.sql}`, [
      ...where.params,
      ...page.params,
    ]).map(toSessionRow);
    return { rows, total: this.#count('watch_session', where) };
  }

  /**
   * Per-path totals over the sessions matching `query` (filters apply to sessions, `from`/`to`
   * to firstSeen), most recently watched first unless `query.sort` names a key of
   * {@link VIDEO_SORTS}. Throws after close().
   */
  videos(query: WatchQuery = {}): VideoTotalRow[] {
    const where = buildWhere(query, 'first_seen');
    const page = buildPage(query, VIDEO_SORTS, 'lastSeen', 'path');
    return this.#query(`SELECT ${VIDEO_COLUMNS} FROM watch_session${where.sql} GROUP BY path${page.sql}`, [
      ...where.params,
      ...page.params,
    ]).map(toVideoTotalRow);
  }

  /**
   * Deletes requests that started, and sessions last seen, before `olderThan`, in one
   * transaction; returns how many rows went. A session still active at the cutoff keeps its
   * totals even when its older requests go. Throws on an invalid date, after close(), or when the
   * database cannot be written.
   */
  prune(options: { readonly olderThan: number | Date }): PruneResult {
    const cutoff = options.olderThan instanceof Date ? options.olderThan.getTime() : options.olderThan;
    if (typeof cutoff !== 'number' || !Number.isFinite(cutoff)) {
      throw new TypeError(`options.olderThan must be a finite epoch ms or a valid Date, got ${String(options.olderThan)}`);
    }
    this.#assertOpen();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const requests = Number(this.#statements.pruneRequests.run(cutoff).changes);
      const sessions = Number(this.#statements.pruneSessions.run(cutoff).changes);
      this.#db.exec('COMMIT');
      return { requests, sessions };
    } catch (err) {
      this.#rollback();
      throw err;
    }
  }

  #schedule(): void {
    if (this.#immediate !== undefined) return;
    // While the database is failing, a full batch waits for the timer like any other, so a locked
    // file is retried every flushIntervalMs rather than on every event-loop turn.
    if (this.#queue.length >= this.#options.maxBatch && !this.#failing) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#immediate = setImmediate(() => this.#tick()).unref();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => this.#tick(), this.#options.flushIntervalMs).unref();
    }
  }

  #tick(): void {
    this.#timer = undefined;
    this.#immediate = undefined;
    if (this.#closed) return;
    this.#write();
    if (this.#queue.length > 0) this.#schedule();
  }

  /** Writes the whole queue in one transaction; false (error reported, queue kept) on failure. */
  #write(): boolean {
    if (this.#queue.length === 0) return true;
    const now = Date.now();
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        for (const entry of this.#queue) this.#insert(entry, now);
        this.#db.exec('COMMIT');
      } catch (err) {
        this.#rollback();
        throw err;
      }
    } catch (err) {
      this.#failing = true;
      this.#report(err);
      return false;
    }
    this.#queue = [];
    this.#failing = false;
    return true;
  }

  #insert(raw: WatchEntry, now: number): void {
    const e = normalizeEntry(raw, now);
    const s = this.#statements;
    const idle = this.#options.sessionIdleMs;
    const end = e.startedAt + e.durationMs;
    const found = s.findSession.get(e.path, e.viewer, e.size, e.startedAt - idle, e.startedAt + idle) as Row | undefined;
    let sessionId: number;
    if (found === undefined) {
      const blockSize = blockSizeFor(e.size);
      const bitmap = new Uint8Array(Math.ceil(Math.ceil(e.size / blockSize) / 8));
      const covered = markCoverage(bitmap, blockSize, e.size, e.ranges, e.bytesSent);
      const result = s.insertSession.run(
        e.path, e.viewer, e.userId, e.isAuthenticated, e.ip, e.userAgent, e.startedAt, end,
        e.bytesSent, e.size, blockSize, bitmap, covered,
      );
      sessionId = Number(result.lastInsertRowid);
    } else {
      sessionId = Number(found['id']);
      const bitmap = found['coverageMap'] as Uint8Array;
      const covered =
        Number(found['coveredBytes']) + markCoverage(bitmap, Number(found['blockSize']), e.size, e.ranges, e.bytesSent);
      s.updateSession.run(e.startedAt, end, e.bytesSent, bitmap, covered, sessionId);
    }
    s.insertRequest.run(
      sessionId, e.path, e.userId, e.isAuthenticated, e.ip, e.userAgent, e.status, e.range,
      e.bytesSent, e.aborted, e.size, e.startedAt, e.durationMs,
    );
  }

  #rollback(): void {
    try {
      if (this.#db.isTransaction) this.#db.exec('ROLLBACK');
    } catch {
      // SQLite rolls back on its own when it cannot; the error that got us here is the one to report.
    }
  }

  #report(err: unknown): void {
    try {
      this.#options.onError(err);
    } catch {
      // A throwing onError must not escape a timer callback and crash the process.
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error('WatchLog is closed');
  }

  #query(sql: string, params: readonly SQLInputValue[]): Row[] {
    this.#assertOpen();
    // The SQL text depends only on which filters are set and the whitelisted sort, so the cache stays small.
    let statement = this.#queries.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#queries.set(sql, statement);
    }
    return statement.all(...params) as Row[];
  }

  #count(table: string, where: Where): number {
    const [row] = this.#query(`SELECT count(*) AS total FROM ${table}${where.sql}`, where.params);
    return Number(row?.['total'] ?? 0);
  }
}

/**
 * Opens a watch log; the same as {@link WatchLog.open}.
 *
 * @example
 * const log = await createWatchLog('watch.db');
 */
export function createWatchLog(path: string, options?: WatchLogOptions): Promise<WatchLog> {
  return WatchLog.open(path, options);
}

// Validates options and fills in defaults; throws a TypeError naming the bad option.
function resolveWatchLogOptions(options: WatchLogOptions): Resolved {
  const onError = options.onError ?? defaultOnError();
  if (typeof onError !== 'function') throw new TypeError(`options.onError must be a function, got ${typeof onError}`);
  return Object.freeze({
    sessionIdleMs: integerOption('sessionIdleMs', options.sessionIdleMs, DEFAULT_SESSION_IDLE_MS, 0),
    flushIntervalMs: integerOption('flushIntervalMs', options.flushIntervalMs, DEFAULT_FLUSH_INTERVAL_MS, 0),
    maxBatch: integerOption('maxBatch', options.maxBatch, DEFAULT_MAX_BATCH, 1),
    maxQueue: integerOption('maxQueue', options.maxQueue, DEFAULT_MAX_QUEUE, 1),
    onError,
  });
}

/**
 * The block size a session of a file of `size` bytes tracks coverage with: 64 KiB, doubled until
 * the bitmap fits in {@link MAX_COVERAGE_BITMAP} bytes (so 128 KiB for files up to 16 GiB).
 */
export function blockSizeFor(size: number): number {
  let blockSize = COVERAGE_BLOCK_SIZE;
  while (Math.ceil(size / blockSize) > MAX_BITMAP_BLOCKS) blockSize *= 2;
  return blockSize;
}

/**
 * Sets the bits of `bitmap` for every block that `ranges` touch, counting only the first
 * `bytesSent` bytes across the ranges in order (an aborted response covers what it sent).
 * Returns the bytes newly covered: whole blocks, except that the file's last block counts only
 * the bytes it holds.
 */
export function markCoverage(
  bitmap: Uint8Array,
  blockSize: number,
  size: number,
  ranges: readonly ByteRange[],
  bytesSent: number,
): number {
  let remaining = bytesSent;
  let added = 0;
  for (const range of ranges) {
    if (remaining <= 0) break;
    const start = Math.max(0, range.start);
    const end = Math.min(size - 1, range.end);
    if (!(end >= start)) continue; // also skips NaN
    const last = Math.min(end, start + remaining - 1);
    remaining -= last - start + 1;
    const lastBlock = Math.min(Math.floor(last / blockSize), bitmap.length * 8 - 1);
    for (let block = Math.floor(start / blockSize); block <= lastBlock; block++) {
      const index = block >>> 3;
      const mask = 1 << (block & 7);
      const byte = bitmap[index] ?? 0;
      if ((byte & mask) !== 0) continue;
      bitmap[index] = byte | mask;
      added += Math.min(blockSize, size - block * blockSize);
    }
  }
  return added;
}

// SQLITE_BUSY (5) or SQLITE_LOCKED (6), including extended codes such as SQLITE_BUSY_RECOVERY.
function isBusy(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && ((code & 0xff) === 5 || (code & 0xff) === 6);
}

function migrate(db: DatabaseSync): void {
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

// A WatchEntry as stored: with its viewer key, and booleans as SQLite integers.
type Normalized = Omit<WatchEntry, 'isAuthenticated' | 'aborted'> & {
  readonly viewer: string;
  readonly isAuthenticated: 0 | 1;
  readonly aborted: 0 | 1;
};

// Coerces whatever a JavaScript caller passed into values SQLite's NOT NULL columns accept, so one
// malformed entry cannot fail the whole batch forever.
function normalizeEntry(e: WatchEntry, now: number): Normalized {
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

type Where = { readonly sql: string; readonly params: SQLInputValue[] };

function buildWhere(query: WatchQuery, timeColumn: string): Where {
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

function buildPage(
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

function toRequestRow(r: Row): RequestRow {
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
function viewerFields(r: Row): Pick<RequestRow, 'id' | 'path' | 'userId' | 'isAuthenticated' | 'ip' | 'userAgent'> {
  return {
    id: Number(r['id']),
    path: String(r['path']),
    userId: (r['userId'] as string | null) ?? null,
    isAuthenticated: r['isAuthenticated'] === 1,
    ip: String(r['ip']),
    userAgent: (r['userAgent'] as string | null) ?? null,
  };
}

function toSessionRow(r: Row): SessionRow {
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

function toVideoTotalRow(r: Row): VideoTotalRow {
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

function integerOption(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`options.${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

// Without an onError, a failing database is reported once per WatchLog, so a locked file does not
// print a warning every second.
function defaultOnError(): (err: unknown) => void {
  let warned = false;
  return (err) => {
    if (warned) return;
    warned = true;
    process.emitWarning(`sage-stream watch log: ${err instanceof Error ? err.message : String(err)}`);
  };
}
