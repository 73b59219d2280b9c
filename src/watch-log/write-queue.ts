import type { DatabaseSync } from 'node:sqlite';
import type { PlaybackReport, WatchEntry } from '../types.ts';
import { insertPlayback, preparePlaybackStatements, type PlaybackStatements } from './playback-statements.ts';
import type { DropReporter } from './loss-report.ts';
import type { Resolved } from './log-options.ts';
import { SessionWriter } from './session-writer.ts';
import { normalizeEntry, queuedEntry } from './stored-entry.ts';
import { isBusy, isReadOnly, isRejected } from './sqlite-codes.ts';

type Queued = { readonly entry: WatchEntry; readonly bytes: number };

/**
 * The watch log's write side: entries wait in memory, bounded by maxQueue and maxQueueBytes, and a
 * timer (unref'd) writes them in one transaction every flushIntervalMs, or on the next turn once
 * maxBatch entries wait. A locked or read-only database keeps the batch queued for the next tick;
 * a batch that fails for another reason is written in halves. Whatever is lost anyway goes to the
 * {@link DropReporter}, so no entry disappears uncounted.
 */
export class WriteQueue {
  readonly #db: DatabaseSync;
  readonly #options: Resolved;
  readonly #drops: DropReporter;
  readonly #report: (err: unknown) => void;
  readonly #sessions: SessionWriter;
  readonly #playback: PlaybackStatements;
  #queue: Queued[] = [];
  #queuedBytes = 0;
  #written = 0;
  #timer: NodeJS.Timeout | undefined;
  #immediate: NodeJS.Immediate | undefined;
  #failing = false;
  #closed = false;

  constructor(db: DatabaseSync, options: Resolved, drops: DropReporter, report: (err: unknown) => void) {
    this.#db = db;
    this.#options = options;
    this.#drops = drops;
    this.#report = report;
    this.#sessions = new SessionWriter(db, options.sessionIdleMs, options.maxSessionsPerClient);
    this.#playback = preparePlaybackStatements(db);
  }

  /** Entries waiting, including batches waiting for a retry. */
  get length(): number {
    return this.#queue.length;
  }

  /** What the waiting entries cost, as counted against maxQueueBytes. */
  get bytes(): number {
    return this.#queuedBytes;
  }

  /** Entries written since open. */
  get written(): number {
    return this.#written;
  }

  /** Queues one entry (O(1)); dropped, counted and reported when the queue is full. Ignored after close(). */
  push(entry: WatchEntry): void {
    if (this.#closed) return;
    const queued = queuedEntry(entry);
    if (this.#queue.length >= this.#options.maxQueue || this.#queuedBytes + queued.bytes > this.#options.maxQueueBytes) {
      this.#drops.drop(1, 'queue full');
      return;
    }
    this.#queue.push(queued);
    this.#queuedBytes += queued.bytes;
    this.#schedule();
  }

  /** Stops the timers and writes what it can; whatever is left is counted as dropped. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#timer);
    clearImmediate(this.#immediate);
    this.#timer = undefined;
    this.#immediate = undefined;
    if (!this.write()) {
      this.#drops.drop(this.#queue.length, 'database failed at close');
      this.#queue = [];
      this.#queuedBytes = 0;
    }
  }

  /** Writes the queue; false (first error reported, the rest kept queued) unless all of it landed. */
  write(): boolean {
    if (this.#queue.length === 0) return true;
    const errors: unknown[] = [];
    const left = this.#writeSplit(this.#queue, this.#options.now(), errors);
    this.#queue = left;
    this.#queuedBytes = left.reduce((sum, q) => sum + q.bytes, 0);
    this.#failing = left.length > 0;
    if (errors.length > 0) this.#report(errors[0]);
    return left.length === 0;
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
    this.write();
    if (this.#queue.length > 0) this.#schedule();
  }

  /**
   * Writes `batch` in one transaction; when that fails for a reason other than a lock or a
   * read-only file (a full disk, one entry a trigger or constraint rejects), writes each half on
   * its own, and so on down, stopping once a half makes no progress. Returns what is left; a lone
   * entry the database rejects outright is dropped (and counted), so it cannot block the queue.
   */
  #writeSplit(batch: Queued[], now: number, errors: unknown[]): Queued[] {
    try {
      this.#db.exec('BEGIN IMMEDIATE');
      try {
        for (const { entry } of batch) {
          if ('receivedAt' in entry) insertPlayback(this.#playback, entry as unknown as PlaybackReport, this.#options.sessionIdleMs, now);
          else this.#sessions.write(normalizeEntry(entry, now));
        }
        this.#db.exec('COMMIT');
      } catch (err) {
        rollback(this.#db);
        throw err;
      }
      this.#written += batch.length;
      return [];
    } catch (err) {
      errors.push(err);
      if (batch.length === 1) {
        if (!isRejected(err)) return batch;
        this.#drops.drop(1, 'rejected by the database');
        return [];
      }
      if (isBusy(err) || isReadOnly(err)) return batch;
      const half = batch.length >>> 1;
      const first = this.#writeSplit(batch.slice(0, half), now, errors);
      if (first.length === half) return [...first, ...batch.slice(half)];
      return [...first, ...this.#writeSplit(batch.slice(half), now, errors)];
    }
  }
}

/** Rolls back an open transaction, if any; never throws. */
export function rollback(db: DatabaseSync): void {
  try {
    if (db.isTransaction) db.exec('ROLLBACK');
  } catch {
    // SQLite rolls back on its own when it cannot; the error that got us here is the one to report.
  }
}
