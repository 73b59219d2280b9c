import { StreamError } from '../errors.ts';

/** Why entries were dropped, as the report words it. */
export type DropReason = 'queue full' | 'database failed at close' | 'rejected by the database';

/**
 * Counts dropped watch-log entries and reports them to onError as one StreamError
 * (`ERR_WATCH_LOG_DROPPED`, the count in its message) at most once per interval, so a flood
 * of drops is one line every few seconds, never silence and never a line per entry.
 */
export class DropReporter {
  readonly #intervalMs: number;
  readonly #report: (err: unknown) => void;
  readonly #now: () => number;
  #total = 0;
  #unreported = 0;
  #reasons = new Set<DropReason>();
  #lastReportMs = -Infinity;
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs: number, report: (err: unknown) => void, now: () => number) {
    this.#intervalMs = intervalMs;
    this.#report = report;
    this.#now = now;
  }

  /** Every entry dropped so far. */
  get total(): number {
    return this.#total;
  }

  /** Counts `count` drops; reports now if the last report is an interval old, else on a timer. */
  drop(count: number, reason: DropReason): void {
    if (count <= 0) return;
    this.#total += count;
    this.#unreported += count;
    this.#reasons.add(reason);
    if (this.#timer !== undefined) return;
    const waitMs = this.#lastReportMs + this.#intervalMs - this.#now();
    if (waitMs <= 0) this.flush();
    else this.#timer = setTimeout(() => this.flush(), waitMs).unref();
  }

  /** Reports what was not reported yet (close() calls it, so the last drops are never silent). */
  flush(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#unreported === 0) return;
    const count = this.#unreported;
    const reasons = [...this.#reasons].join(', ');
    this.#unreported = 0;
    this.#reasons.clear();
    this.#lastReportMs = this.#now();
    this.#report(
      new StreamError('ERR_WATCH_LOG_DROPPED', 500, `watch log dropped ${count} ${count === 1 ? 'entry' : 'entries'} (${reasons}); ${this.#total} in all`),
    );
  }
}
