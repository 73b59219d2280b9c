// What every Node server under test shares: the ready line, exiting with the parent, and the
// event-loop delay report the cold-cache scenario reads (`GET /__bench/event-loop`, `?reset`).
import type { IncomingMessage, RequestListener, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { EventLoopDelay, ServerReady } from '../protocol.ts';

const EVENT_LOOP_PATH = '/__bench/event-loop';
const NS_PER_MS = 1e6;

/** The server's root directory from argv[2], or a usage line and exit 2. */
export function rootArg(script: string): string {
  const root = process.argv[2];
  if (root === undefined) {
    process.stderr.write(`usage: node bench/servers/${script} <root>\n`);
    process.exit(2);
  }
  return root;
}

/**
 * Wraps a handler so that `GET /__bench/event-loop` answers the event loop's delay since the last
 * `?reset` (monitorEventLoopDelay, 10 ms resolution) instead of reaching the server under test.
 */
export function withEventLoopReport(handler: RequestListener): RequestListener {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  return (req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    if (!url.startsWith(EVENT_LOOP_PATH)) return handler(req, res);
    const report: EventLoopDelay = {
      p50Ms: histogram.percentile(50) / NS_PER_MS,
      p99Ms: histogram.percentile(99) / NS_PER_MS,
      maxMs: histogram.max / NS_PER_MS,
    };
    if (url.endsWith('?reset')) histogram.reset();
    res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify(report));
  };
}

/** The parent holds our stdin: when it goes away, so do we. */
export function exitWithParent(): void {
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0));
  process.on('SIGTERM', () => process.exit(0));
}

/** Listens on 127.0.0.1, port 0, and prints the ServerReady line. */
export function listen(server: Server): void {
  exitWithParent();
  server.listen(0, '127.0.0.1', () => {
    const ready: ServerReady = { port: (server.address() as AddressInfo).port, pids: [process.pid] };
    process.stdout.write(`${JSON.stringify(ready)}\n`);
  });
}

/** What a bench peer's one-range `Range` header asks for: the whole file, a range, or a 416. */
export type SingleRange = { readonly kind: 'whole' | 'range'; readonly start: number; readonly end: number } | { readonly kind: 'unsatisfiable' };

const SINGLE_RANGE = /^bytes=(\d*)-(\d*)$/;

/**
 * The bare single-range parsing the naive and ceiling servers do (no multi-range, no
 * validation beyond the shape): enough for the bench's own requests, which are all of that form.
 */
export function parseSingleRange(header: string | undefined, size: number): SingleRange {
  const match = SINGLE_RANGE.exec(header ?? '');
  if (match === null) return { kind: 'whole', start: 0, end: size - 1 };
  const [, first = '', last = ''] = match;
  const start = first === '' ? Math.max(0, size - Number(last)) : Number(first);
  const end = first === '' || last === '' ? size - 1 : Math.min(Number(last), size - 1);
  return start > end ? { kind: 'unsatisfiable' } : { kind: 'range', start, end };
}
