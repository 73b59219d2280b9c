const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_MAX_BATCH = 500;
const DEFAULT_MAX_QUEUE = 10_000;
const DEFAULT_MAX_QUEUE_BYTES = 8 * 1024 * 1024;
const DEFAULT_MAX_SESSIONS_PER_CLIENT = 16;
const DEFAULT_PRUNE_INTERVAL_MS = 60_000;
const DEFAULT_DROP_REPORT_INTERVAL_MS = 10_000;
const DAY_MS = 86_400_000;

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
  /**
   * Bytes the queued entries may hold at most (strings counted at 2 bytes a character, plus a
   * fixed overhead per entry); more are dropped and counted (default 8 MiB).
   */
  readonly maxQueueBytes?: number;
  /**
   * Anonymous sessions one IP address may have open for one file at once (within sessionIdleMs);
   * past that, its requests join its latest session, whatever their user agent (default 16).
   */
  readonly maxSessionsPerClient?: number;
  /** Delete requests older than this many days, and sessions last seen before then (default: keep). */
  readonly maxAgeDays?: number | undefined;
  /** Keep at most this many newest rows in each table, requests and sessions (default: no limit). */
  readonly maxRows?: number | undefined;
  /** How often retention (maxAgeDays, maxRows) runs, on an unref'd timer (default 60 000). */
  readonly pruneIntervalMs?: number;
  /** Dropped entries are reported to onError at most once per this interval (default 10 000). */
  readonly dropReportIntervalMs?: number;
  /** The clock, epoch ms: retention cutoffs and entries without a valid startedAt use it (default Date.now). */
  readonly now?: () => number;
  /** Receives database failures and ERR_WATCH_LOG_DROPPED reports; nothing throws out of record(), flush() or close(). */
  readonly onError?: (err: unknown) => void;
};

/** `WatchLogOptions` after validation, with defaults filled in. */
export type Resolved = {
  readonly sessionIdleMs: number;
  readonly flushIntervalMs: number;
  readonly maxBatch: number;
  readonly maxQueue: number;
  readonly maxQueueBytes: number;
  readonly maxSessionsPerClient: number;
  /** maxAgeDays in ms, or undefined to keep everything. */
  readonly maxAgeMs: number | undefined;
  readonly maxRows: number | undefined;
  readonly pruneIntervalMs: number;
  readonly dropReportIntervalMs: number;
  readonly now: () => number;
  readonly onError: (err: unknown) => void;
};

// Validates options and fills in defaults; throws a TypeError naming the bad option.
export function resolveWatchLogOptions(options: WatchLogOptions): Resolved {
  const onError = options.onError ?? defaultOnError();
  if (typeof onError !== 'function') throw new TypeError(`options.onError must be a function, got ${typeof onError}`);
  const now = options.now ?? Date.now;
  if (typeof now !== 'function') throw new TypeError(`options.now must be a function, got ${typeof now}`);
  const maxAgeDays = options.maxAgeDays;
  if (maxAgeDays !== undefined && !(typeof maxAgeDays === 'number' && Number.isFinite(maxAgeDays) && maxAgeDays > 0)) {
    throw new TypeError(`options.maxAgeDays must be a number > 0, got ${String(maxAgeDays)}`);
  }
  return Object.freeze({
    sessionIdleMs: integerOption('sessionIdleMs', options.sessionIdleMs, DEFAULT_SESSION_IDLE_MS, 0),
    flushIntervalMs: integerOption('flushIntervalMs', options.flushIntervalMs, DEFAULT_FLUSH_INTERVAL_MS, 0),
    maxBatch: integerOption('maxBatch', options.maxBatch, DEFAULT_MAX_BATCH, 1),
    maxQueue: integerOption('maxQueue', options.maxQueue, DEFAULT_MAX_QUEUE, 1),
    maxQueueBytes: integerOption('maxQueueBytes', options.maxQueueBytes, DEFAULT_MAX_QUEUE_BYTES, 1024),
    maxSessionsPerClient: integerOption('maxSessionsPerClient', options.maxSessionsPerClient, DEFAULT_MAX_SESSIONS_PER_CLIENT, 1),
    maxAgeMs: maxAgeDays === undefined ? undefined : Math.round(maxAgeDays * DAY_MS),
    maxRows: options.maxRows === undefined ? undefined : integerOption('maxRows', options.maxRows, 0, 1),
    pruneIntervalMs: integerOption('pruneIntervalMs', options.pruneIntervalMs, DEFAULT_PRUNE_INTERVAL_MS, 1),
    dropReportIntervalMs: integerOption('dropReportIntervalMs', options.dropReportIntervalMs, DEFAULT_DROP_REPORT_INTERVAL_MS, 0),
    now,
    onError,
  });
}

function integerOption(name: string, value: number | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < min) {
    throw new TypeError(`options.${name} must be an integer >= ${min}, got ${String(value)}`);
  }
  return value;
}

// Without an onError, each kind of failure (a database error code, ERR_WATCH_LOG_DROPPED) is
// reported once per WatchLog, so a locked file does not print a warning every second, yet the
// first loss still shows after a database warning.
function defaultOnError(): (err: unknown) => void {
  const warned = new Set<unknown>();
  return (err) => {
    const code = (err as { code?: unknown } | null)?.code;
    if (warned.has(code)) return;
    warned.add(code);
    process.emitWarning(`sage-stream watch log: ${err instanceof Error ? err.message : String(err)}`);
  };
}
