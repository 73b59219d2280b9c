import { readdirSync } from 'node:fs';
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { timingSafeEqual } from 'node:crypto';
import { READ_TOTALS } from '../files/file-iterator.ts';
import type { OpenFileCache } from '../files/open-file-cache.ts';
import type { StreamRequest, StreamResponse, ResponseSink, WatchRecorder } from '../types.ts';
import { sendStatus } from './responses.ts';

/** Status classes counted separately; `other` holds 0 (the client left first). */
export type StatusClass = '1xx' | '2xx' | '3xx' | '4xx' | '5xx' | 'other';

/** One handler's numbers, as `handler.metrics()` returns them. Counters only grow. */
export type HandlerMetrics = {
  readonly requests: Readonly<Record<StatusClass, number>>;
  /** Body bytes handed to connections. */
  readonly sentBytes: number;
  /** Responses started and not yet finished (a gauge). */
  readonly inFlight: number;
  /** Responses that did not finish: the client left, or a stalled client was cut. */
  readonly aborted: number;
  readonly openFileCache: { readonly hits: number; readonly misses: number; readonly open: number } | undefined;
  /** The watch log's queue and drop counts, when it has them (`WatchLog` does). */
  readonly watchLog: { readonly pending: number; readonly dropped: number } | undefined;
};

/** The process's numbers, shared by every handler in it. */
export type ProcessMetrics = {
  /** Bytes read from files by every handler in this process. */
  readonly readBytes: number;
  readonly residentMemoryBytes: number;
  /** Open file descriptors (Linux: /proc/self/fd); undefined where that cannot be read. */
  readonly openFds: number | undefined;
  /** Event-loop delay since the previous `processMetrics()` call, in seconds. */
  readonly eventLoopDelay: { readonly p50: number; readonly p99: number; readonly max: number };
};

/** Counts one handler's responses; the handler feeds it, `snapshot()` reads it. */
export class ResponseCounters {
  readonly #requests: Record<StatusClass, number> = { '1xx': 0, '2xx': 0, '3xx': 0, '4xx': 0, '5xx': 0, other: 0 };
  #sentBytes = 0;
  #inFlight = 0;
  #aborted = 0;

  started(): void {
    this.#inFlight++;
  }

  /** A response ended; `status` undefined when it was passed on to `next()` (not ours to count). */
  finished(status: number | undefined, bytesSent: number, aborted: boolean): void {
    this.#inFlight--;
    if (status === undefined) return;
    this.#requests[statusClass(status)]++;
    this.#sentBytes += bytesSent;
    if (aborted) this.#aborted++;
  }

  snapshot(cache: OpenFileCache | undefined, watchLog: WatchRecorder | undefined): HandlerMetrics {
    const log = watchLog as Partial<{ pending: unknown; dropped: unknown }> | undefined;
    return {
      requests: { ...this.#requests },
      sentBytes: this.#sentBytes,
      inFlight: this.#inFlight,
      aborted: this.#aborted,
      openFileCache: cache === undefined ? undefined : { hits: cache.hits, misses: cache.misses, open: cache.size },
      watchLog:
        typeof log?.pending === 'number' && typeof log.dropped === 'number' ? { pending: log.pending, dropped: log.dropped } : undefined,
    };
  }
}

function statusClass(status: number): StatusClass {
  return status >= 100 && status <= 599 ? (`${Math.floor(status / 100)}xx` as StatusClass) : 'other';
}

let loopDelay: IntervalHistogram | undefined;

/**
 * Reads the process's numbers. The first call starts an event-loop delay monitor
 * (`monitorEventLoopDelay`, 10 ms resolution); each call reports the delay since the previous one
 * and resets it, so a scrape every 15 s sees that scrape's 15 s.
 */
export function processMetrics(): ProcessMetrics {
  if (loopDelay === undefined) {
    loopDelay = monitorEventLoopDelay({ resolution: 10 });
    loopDelay.enable();
  }
  const seconds = (ns: number): number => (Number.isFinite(ns) && ns > 0 ? ns / 1e9 : 0);
  const eventLoopDelay = {
    p50: seconds(loopDelay.percentile(50)),
    p99: seconds(loopDelay.percentile(99)),
    max: seconds(loopDelay.max),
  };
  loopDelay.reset();
  return { readBytes: READ_TOTALS.bytes, residentMemoryBytes: process.memoryUsage.rss(), openFds: countOpenFds(), eventLoopDelay };
}

function countOpenFds(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length - 1; // less the descriptor reading the folder
  } catch {
    return undefined;
  }
}

/** Something with `metrics()`: a stream handler. */
export type MetricsSource = { metrics(): HandlerMetrics };

/**
 * The Prometheus text exposition format (version 0.0.4): HELP and TYPE lines, `_total` counters,
 * `_bytes` and `_seconds` units. Several handlers (a server with a query route and a path route)
 * are summed into one set of series.
 *
 * @example
 * res.end(formatPrometheus([handler.metrics()], processMetrics()));
 */
export function formatPrometheus(handlers: readonly HandlerMetrics[], process?: ProcessMetrics): string {
  const sum = (pick: (m: HandlerMetrics) => number | undefined): number => handlers.reduce((n, m) => n + (pick(m) ?? 0), 0);
  const lines: string[] = [];
  const metric = (name: string, type: 'counter' | 'gauge', help: string, samples: ReadonlyArray<readonly [string, number]>): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const classes: StatusClass[] = ['1xx', '2xx', '3xx', '4xx', '5xx', 'other'];
  metric('sage_stream_requests_total', 'counter', 'Responses finished, by status class (other: the client left before a status).',
    classes.map((c) => [`{code="${c}"}`, sum((m) => m.requests[c])] as const));
  metric('sage_stream_sent_bytes_total', 'counter', 'Body bytes handed to connections.', [['', sum((m) => m.sentBytes)]]);
  metric('sage_stream_responses_in_flight', 'gauge', 'Responses started and not yet finished.', [['', sum((m) => m.inFlight)]]);
  metric('sage_stream_aborted_responses_total', 'counter', 'Responses that did not finish (client left or was cut).', [['', sum((m) => m.aborted)]]);
  if (handlers.some((m) => m.openFileCache !== undefined)) {
    metric('sage_stream_open_file_cache_hits_total', 'counter', 'Requests served from a descriptor kept open.', [['', sum((m) => m.openFileCache?.hits)]]);
    metric('sage_stream_open_file_cache_misses_total', 'counter', 'Files opened because they were not cached or had changed.', [['', sum((m) => m.openFileCache?.misses)]]);
    metric('sage_stream_open_file_cache_files', 'gauge', 'Descriptors the open-file cache keeps open.', [['', sum((m) => m.openFileCache?.open)]]);
  }
  // Two handlers sharing one watch log report the same numbers: take the largest, do not add.
  const logs = handlers.flatMap((m) => (m.watchLog === undefined ? [] : [m.watchLog]));
  if (logs.length > 0) {
    metric('sage_stream_watch_log_pending_entries', 'gauge', 'Watch-log entries queued in memory, not yet written.', [['', Math.max(...logs.map((l) => l.pending))]]);
    metric('sage_stream_watch_log_dropped_entries_total', 'counter', 'Watch-log entries dropped (queue full, or the database failed at close).', [['', Math.max(...logs.map((l) => l.dropped))]]);
  }
  if (process !== undefined) {
    metric('sage_stream_read_bytes_total', 'counter', 'Bytes read from files.', [['', process.readBytes]]);
    metric('sage_stream_event_loop_delay_seconds', 'gauge', 'Event-loop delay since the previous scrape, by quantile.', [
      ['{quantile="0.5"}', process.eventLoopDelay.p50],
      ['{quantile="0.99"}', process.eventLoopDelay.p99],
      ['{quantile="1"}', process.eventLoopDelay.max],
    ]);
    metric('process_resident_memory_bytes', 'gauge', 'Resident set size.', [['', process.residentMemoryBytes]]);
    if (process.openFds !== undefined) metric('process_open_fds', 'gauge', 'Open file descriptors.', [['', process.openFds]]);
  }
  return `${lines.join('\n')}\n`;
}

const PROMETHEUS_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * A request listener answering GET/HEAD with `formatPrometheus` of `sources` and the process,
 * for a `/metrics` route of your own. With `token`, a request must carry
 * `Authorization: Bearer <token>` (401 with a Bearer challenge otherwise, RFC 6750 §3): the
 * numbers show traffic, which is not everyone's business.
 *
 * @example
 * const metrics = createMetricsHandler({ sources: [handler], token: process.env.METRICS_TOKEN });
 * http.createServer((req, res) => (req.url === '/metrics' ? metrics(req, res) : handler(req, res)));
 */
export function createMetricsHandler(options: {
  readonly sources: readonly MetricsSource[];
  readonly token?: string | undefined;
}): (req: StreamRequest, res: StreamResponse) => void {
  const { sources, token } = options;
  if (!Array.isArray(sources) || sources.some((s) => typeof s?.metrics !== 'function')) {
    throw new TypeError('options.sources must be an array of handlers (objects with metrics())');
  }
  const expected = token === undefined ? undefined : Buffer.from(`Bearer ${token}`);
  processMetrics(); // starts the event-loop monitor now, so the first scrape has numbers
  return (req, res) => {
    const sink = res as ResponseSink;
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendStatus(req, sink, 405, ['Allow', 'GET, HEAD']);
    if (expected !== undefined) {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        return sendStatus(req, sink, 401, ['WWW-Authenticate', 'Bearer realm="sage-stream metrics"']);
      }
    }
    const body = formatPrometheus(sources.map((s) => s.metrics()), processMetrics());
    sink.writeHead(200, ['Content-Type', PROMETHEUS_TYPE, 'Content-Length', String(Buffer.byteLength(body)), 'Cache-Control', 'no-store']);
    if (req.method === 'HEAD') sink.end();
    else sink.end(body);
  };
}
