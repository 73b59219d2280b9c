const DEFAULT_SESSION_IDLE_MS = 30 * 60 * 1000;
const DEFAULT_FLUSH_INTERVAL_MS = 1000;
const DEFAULT_MAX_BATCH = 500;
const DEFAULT_MAX_QUEUE = 10_000;

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

/** `WatchLogOptions` after validation, with defaults filled in. */
export type Resolved = {
  readonly sessionIdleMs: number;
  readonly flushIntervalMs: number;
  readonly maxBatch: number;
  readonly maxQueue: number;
  readonly onError: (err: unknown) => void;
};

// Validates options and fills in defaults; throws a TypeError naming the bad option.
export function resolveWatchLogOptions(options: WatchLogOptions): Resolved {
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
