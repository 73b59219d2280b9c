import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import type { PlaybackReport, WatchEntry } from '../types.ts';
import { folderOf, kindOf } from './playback.ts';
import {
  HEAT_SQL,
  heatFrom,
  insertPlayback,
  positionSql,
  preparePlaybackStatements,
  type HeatStrip,
  type PlaybackStatements,
  type PositionQuery,
} from './playback-statements.ts';
import { blockSizeFor, markCoverage } from './coverage.ts';
import {
  buildPage,
  buildWhere,
  REQUEST_SORTS,
  SESSION_SORTS,
  toRequestRow,
  toSessionRow,
  toVideoTotalRow,
  VIDEO_SORTS,
  type PruneResult,
  type RequestRow,
  type Row,
  type SessionRow,
  type VideoTotalRow,
  type WatchPage,
  type WatchQuery,
  type Where,
} from './query.ts';
import { resolveWatchLogOptions, type Resolved, type WatchLogOptions } from './log-options.ts';
import { migrate, normalizeEntry, REQUEST_COLUMNS, SESSION_COLUMNS, VIDEO_COLUMNS } from './schema.ts';

export type { WatchEntry, WatchLogOptions, HeatStrip, PositionQuery };

// Opening migrates the schema once, so it may wait for other writers as long as a caller would.
const OPEN_BUSY_TIMEOUT_MS = 5000;
// Flushes run on the event loop: SQLite's busy handler sleeps the thread, so a long timeout would
// stall every request in flight while another process holds the write lock. 200 ms covers a
// normal batch by another writer; past that the batch stays queued and the next timer tick retries.
const FLUSH_BUSY_TIMEOUT_MS = 200;
// There is no next tick after close(), so its last flush waits longer, but still a bounded time.
const CLOSE_BUSY_TIMEOUT_MS = 1000;

type Statements = {
  readonly findSession: StatementSync;
  readonly insertSession: StatementSync;
  readonly updateSession: StatementSync;
  readonly insertRequest: StatementSync;
  readonly pruneRequests: StatementSync;
  readonly pruneSessions: StatementSync;
} & PlaybackStatements;

type Queued = WatchEntry | PlaybackReport;

// init.mp4, video_init.mp4, init-0.mp4: the names ffmpeg, Shaka Packager and Bento4 give init segments.
const INIT_SEGMENT = /(^|\/)[^/]*init[^/]*\.mp4$/i;

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
  #queue: Queued[] = [];
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
        `SELECT id, block_size AS blockSize, coverage_map AS coverageMap, covered_bytes AS coveredBytes, requests
         FROM watch_session WHERE path = ? AND viewer = ? AND (size = ? OR requests = 0) AND last_seen >= ? AND first_seen <= ?
         ORDER BY last_seen DESC LIMIT 1`,
      ),
      insertSession: db.prepare(
        `INSERT INTO watch_session (path, viewer, user_id, is_authenticated, ip, user_agent, first_seen, last_seen,
           requests, bytes_sent, size, block_size, coverage_map, covered_bytes, kind, folder)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?)`,
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
      ...preparePlaybackStatements(db),
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
   * Queues one validated player report (the stream handler's `beacon` endpoint calls it), with the
   * same bounds as record(). It joins the viewer's latest session of that path within
   * sessionIdleMs (or starts one, which the stream requests then join) and keeps it alive.
   */
  recordPlayback(report: PlaybackReport): void {
    this.record(report as unknown as WatchEntry);
  }

  /**
   * The last reported playback position of `path`, in seconds, for a user (authenticated) or an
   * anonymous viewer (ip and user agent, as the stream requests had them): "continue watching".
   * Undefined when nothing was reported. Writes queued entries first, so a report just taken
   * counts. Throws after close().
   *
   * @example
   * const at = log.position({ user: 'u42', path: 'movies/a.mp4' }); // 1234.5
   */
  position(query: PositionQuery): number | undefined {
    this.#assertOpen();
    this.#write();
    const { sql, params } = positionSql(query);
    const rows = this.#query(sql, params);
    const position = rows[0]?.['position'];
    return typeof position === 'number' ? position : undefined;
  }

  /**
   * How many sessions (with a beacon report, the latest 5000) played each of `buckets` slices of
   * `path`'s timeline: where viewers drop off, what they rewatch. Throws after close().
   */
  heat(path: string, buckets = 100): HeatStrip {
    this.#assertOpen();
    this.#write();
    return heatFrom(path, this.#query(HEAT_SQL, [path]), buckets);
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
    const where = listedOnly(buildWhere(query, 'first_seen'));
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
    const where = listedOnly(buildWhere(query, 'first_seen'));
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
        for (const entry of this.#queue) {
          if ('receivedAt' in entry) insertPlayback(this.#statements, entry, this.#options.sessionIdleMs, now);
          else this.#insert(entry, now);
        }
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
    const kind = kindOf(e.path);
    const folder = folderOf(e.path);
    const joinsAs = kind === 'video' && INIT_SEGMENT.test(e.path) ? 'asset' : kind;
    const stream = s.findStream.get(
      e.viewer, e.startedAt - idle, e.startedAt + idle, e.path, joinsAs, folder, e.path,
    ) as Row | undefined;
    let sessionId: number;
    if (stream !== undefined) {
      sessionId = Number(stream['id']);
      s.joinStream.run(e.startedAt, end, e.bytesSent, sessionId);
    } else {
      const found = s.findSession.get(e.path, e.viewer, e.size, e.startedAt - idle, e.startedAt + idle) as Row | undefined;
      if (found === undefined || Number(found['requests']) === 0) {
        const blockSize = blockSizeFor(e.size);
        const bitmap = new Uint8Array(Math.ceil(Math.ceil(e.size / blockSize) / 8));
        const covered = markCoverage(bitmap, blockSize, e.size, e.ranges, e.bytesSent);
        if (found === undefined) {
          const result = s.insertSession.run(
            e.path, e.viewer, e.userId, e.isAuthenticated, e.ip, e.userAgent, e.startedAt, end,
            e.bytesSent, e.size, blockSize, bitmap, covered, kind, folder,
          );
          sessionId = Number(result.lastInsertRowid);
        } else {
          sessionId = Number(found['id']);
          s.adoptSession.run(e.startedAt, end, e.bytesSent, e.size, blockSize, bitmap, covered, sessionId);
        }
      } else {
        sessionId = Number(found['id']);
        const bitmap = found['coverageMap'] as Uint8Array;
        const covered =
          Number(found['coveredBytes']) + markCoverage(bitmap, Number(found['blockSize']), e.size, e.ranges, e.bytesSent);
        s.updateSession.run(e.startedAt, end, e.bytesSent, bitmap, covered, sessionId);
      }
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

// Sessions of segments, init files, captions and images stay stored but are not listed.
function listedOnly(where: Where): Where {
  return { sql: where.sql === '' ? " WHERE kind != 'asset'" : `${where.sql} AND kind != 'asset'`, params: where.params };
}

// SQLITE_BUSY (5) or SQLITE_LOCKED (6), including extended codes such as SQLITE_BUSY_RECOVERY.
function isBusy(err: unknown): boolean {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' && ((code & 0xff) === 5 || (code & 0xff) === 6);
}
