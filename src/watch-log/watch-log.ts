import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import type { PlaybackReport, WatchEntry } from '../types.ts';
import { HEAT_SQL, heatFrom, positionSql, type HeatStrip, type PositionQuery } from './playback-statements.ts';
import { DropReporter } from './loss-report.ts';
import { Retention } from './retention.ts';
import {
  buildPage,
  buildWhere,
  REQUEST_SELECT,
  REQUEST_SORTS,
  SESSION_SELECT,
  SESSION_SORTS,
  toRequestRow,
  toSessionRow,
  toVideoTotalRow,
  VIDEO_SELECT,
  VIDEO_SORTS,
  type PruneResult,
  type RequestRow,
  type SessionRow,
  type VideoTotalRow,
  type WatchPage,
  type WatchQuery,
  type Where,
} from './query.ts';
import { resolveWatchLogOptions, type Resolved, type WatchLogOptions } from './log-options.ts';
import { openDatabase } from './open-database.ts';
import type { Row } from './schema.ts';
import { rollback, WriteQueue } from './write-queue.ts';

export type { WatchEntry, WatchLogOptions, HeatStrip, PositionQuery };

// There is no next tick after close(), so its last flush waits longer, but still a bounded time.
const CLOSE_BUSY_TIMEOUT_MS = 1000;

/** What {@link WatchLog.stats} reports: enough for a metrics endpoint to watch the log's health. */
export type WatchLogStats = {
  /** Entries waiting in memory (including batches waiting for a retry). */
  readonly queued: number;
  /** What those entries cost in memory, as the queue counts it against maxQueueBytes. */
  readonly queuedBytes: number;
  /** Entries lost: queue full, rejected by the database, or unwritable at close(). */
  readonly dropped: number;
  /** Entries written since open. */
  readonly written: number;
};

/**
 * Records streamed requests in SQLite (`node:sqlite`) and groups them into playback sessions.
 *
 * record() only queues: a timer (unref'd, so it never keeps the process alive) writes the queue in
 * one transaction every flushIntervalMs, or as soon as maxBatch entries wait. Each entry extends
 * the latest session of the same path, file size and viewer (the user when authenticated, else
 * ip + user agent, at most maxSessionsPerClient sessions per ip and file) whose lastSeen is within
 * sessionIdleMs of its start, or starts a new one. A session keeps a bitmap of the 64 KiB blocks
 * that were served, stored trimmed to its set bytes, so how much of a video viewers watched is one
 * query. Database failures (locked, read-only, full) go to onError and the batch stays queued for
 * the next tick, up to maxQueue entries and maxQueueBytes; a batch that fails for another reason
 * (a full disk) is split in halves and written in parts. Entries that are lost anyway are counted
 * in `stats().dropped` and reported to onError as ERR_WATCH_LOG_DROPPED, at most once per
 * dropReportIntervalMs. With maxAgeDays or maxRows, a timer prunes old rows every pruneIntervalMs.
 * Several processes may share one file (WAL, busy timeout, BEGIN IMMEDIATE).
 * Call close() on shutdown: entries still queued when the process exits are lost.
 *
 * @example
 * const log = await WatchLog.open('watch.db', { maxAgeDays: 90, maxRows: 1_000_000, onError: console.error });
 * log.record({ path: 'movies/a.mp4', userId: null, isAuthenticated: false, ip: '10.0.0.7',
 *   userAgent: 'VLC/3.0', status: 206, range: 'bytes=0-', ranges: [{ start: 0, end: 999 }],
 *   bytesSent: 1000, aborted: false, size: 5000, startedAt: Date.now(), durationMs: 12 });
 * log.flush();
 * log.videos({ sort: 'avgCoverage' }); // [{ path: 'movies/a.mp4', sessions: 1, avgCoverage: 1, … }]
 * log.close();
 */
export class WatchLog {
  readonly #db: DatabaseSync;
  readonly #writes: WriteQueue;
  readonly #retention: Retention;
  readonly #options: Resolved;
  readonly #drops: DropReporter;
  readonly #queries = new Map<string, StatementSync>();
  #pruneTimer: NodeJS.Timeout | undefined;
  #closed = false;

  /** Use {@link WatchLog.open}. */
  private constructor(db: DatabaseSync, options: Resolved) {
    this.#db = db;
    this.#options = options;
    this.#retention = new Retention(db);
    this.#drops = new DropReporter(options.dropReportIntervalMs, (err) => this.#report(err), options.now);
    this.#writes = new WriteQueue(db, options, this.#drops, (err) => this.#report(err));
    // The first prune runs right after open, so a process restarted more often than the interval
    // still prunes; then every pruneIntervalMs.
    if (options.maxAgeMs !== undefined || options.maxRows !== undefined) this.#schedulePrune(0);
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
    const db = await openDatabase(path);
    try {
      return new WatchLog(db, resolved);
    } catch (err) {
      db.close();
      throw err;
    }
  }

  /** Entries lost so far (the same as `stats().dropped`). */
  get dropped(): number {
    return this.#drops.total;
  }

  /** Entries queued in memory, not yet written (the same as `stats().queued`). */
  get pending(): number {
    return this.#writes.length;
  }

  /**
   * The queue's counters, for metrics: entries and bytes waiting, entries lost, entries written.
   *
   * @example
   * const { queued, dropped } = log.stats();
   */
  stats(): WatchLogStats {
    return { queued: this.#writes.length, queuedBytes: this.#writes.bytes, dropped: this.#drops.total, written: this.#writes.written };
  }

  /**
   * Queues one entry. O(1); never throws and never touches the database: the timer writes it.
   * Long User-Agent and Range values are cut to what is stored before they are queued. Ignored
   * after close(); dropped, counted and reported when maxQueue entries or maxQueueBytes wait.
   */
  record(entry: WatchEntry): void {
    if (this.#closed) return;
    this.#writes.push(entry);
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
    this.#writes.write();
    const { sql, params } = positionSql(query);
    const position = this.#query(sql, params)[0]?.['position'];
    return typeof position === 'number' ? position : undefined;
  }

  /**
   * How many sessions (with a beacon report, the latest 5000) played each of `buckets` slices of
   * `path`'s timeline: where viewers drop off, what they rewatch. Throws after close().
   */
  heat(path: string, buckets = 100): HeatStrip {
    this.#assertOpen();
    this.#writes.write();
    return heatFrom(path, this.#query(HEAT_SQL, [path]), buckets);
  }

  /**
   * Writes every queued entry now, in one transaction (split in parts if that fails),
   * synchronously.
   *
   * Never throws: a failure (SQLITE_BUSY after a short wait, a read-only or full disk) goes to
   * onError and leaves the entries queued for the next timer tick.
   */
  flush(): void {
    if (!this.#closed) this.#writes.write();
  }

  /**
   * Flushes what it can and closes the database; idempotent, never throws.
   *
   * The last flush waits at most 1 s for another writer's lock; entries it cannot write are
   * counted as dropped, and both the error and an ERR_WATCH_LOG_DROPPED report go to onError.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#pruneTimer);
    try {
      this.#db.exec(`PRAGMA busy_timeout = ${CLOSE_BUSY_TIMEOUT_MS}`);
    } catch {
      // The flush below reports whatever is wrong with the database.
    }
    this.#writes.close();
    this.#drops.flush();
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
    const rows = this.#query(`SELECT ${REQUEST_SELECT} FROM watch_request${where.sql}${page.sql}`, [
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
    const rows = this.#query(`SELECT ${SESSION_SELECT} FROM watch_session${where.sql}${page.sql}`, [
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
    return this.#query(`SELECT ${VIDEO_SELECT} FROM watch_session${where.sql} GROUP BY path${page.sql}`, [
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
    return this.#transaction(() => this.#retention.olderThan(cutoff));
  }

  /**
   * Applies the retention options now (the timer calls this after open, then every pruneIntervalMs): deletes rows
   * older than maxAgeDays by the `now` clock, then all but the newest maxRows of each table.
   * Returns what went; throws after close() or when the database cannot be written.
   */
  enforceRetention(): PruneResult {
    const { maxAgeMs, maxRows, now } = this.#options;
    return this.#transaction(() => {
      const byAge = maxAgeMs === undefined ? NOTHING_PRUNED : this.#retention.olderThan(now() - maxAgeMs);
      const byCount = maxRows === undefined ? NOTHING_PRUNED : this.#retention.beyond(maxRows);
      return { requests: byAge.requests + byCount.requests, sessions: byAge.sessions + byCount.sessions };
    });
  }

  #schedulePrune(delayMs: number): void {
    this.#pruneTimer = setTimeout(() => {
      if (this.#closed) return;
      try {
        this.enforceRetention();
      } catch (err) {
        this.#report(err); // a locked file is retried on the next interval
      }
      this.#schedulePrune(this.#options.pruneIntervalMs);
    }, delayMs).unref();
  }

  #transaction<T>(work: () => T): T {
    this.#assertOpen();
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = work();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      rollback(this.#db);
      throw err;
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

const NOTHING_PRUNED: PruneResult = Object.freeze({ requests: 0, sessions: 0 });
