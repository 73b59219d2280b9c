import { clientIp, createProxyTrust } from '../http/client-ip.ts';
import { formatCombined, formatJson, type AccessEntry, type AccessLogHook } from '../http/access-log.ts';
import type { StreamRequest, StreamResponse } from '../types.ts';
import type { AccessLogFormat } from './ops-flags.ts';

/** The CLI's access log: the stream handlers' hook, and an observer for every other route. */
export type AccessLogWriter = {
  /** For the stream handlers' `accessLog` (they know the body bytes and aborts exactly). */
  readonly hook: AccessLogHook | undefined;
  /** For the other routes (page, admin, metrics, 404): their bodies have a Content-Length. */
  observe(req: StreamRequest, res: StreamResponse): void;
  /** Writes the lines still buffered (at shutdown). */
  flush(): void;
};

/** Lines are buffered up to this many characters, or until the end of the current turn of the event loop. */
const FLUSH_CHARS = 64 * 1024;

/**
 * Writes one line per finished response to `out` (stdout) in `format`; `'off'` writes nothing.
 * Lines are gathered and written once per turn of the event loop (or per 64 KiB): stdout to a
 * file or pipe is a synchronous write, and one system call per response showed up as a large
 * share of the tiny-range request rate. Order is kept; `flush()` at shutdown writes the rest.
 */
export function createAccessLogWriter(
  format: AccessLogFormat,
  trustProxy: readonly string[],
  out: { write(text: string): unknown } = process.stdout,
): AccessLogWriter {
  if (format === 'off') return { hook: undefined, observe: () => {}, flush: () => {} };
  const formatLine = format === 'json' ? formatJson : formatCombined;
  let pending = '';
  let scheduled: NodeJS.Immediate | undefined;
  const flush = (): void => {
    clearImmediate(scheduled);
    scheduled = undefined;
    if (pending === '') return;
    const text = pending;
    pending = '';
    out.write(text);
  };
  const hook: AccessLogHook = (entry) => {
    pending += `${formatLine(entry)}\n`;
    if (pending.length >= FLUSH_CHARS) flush();
    else scheduled ??= setImmediate(flush);
  };
  const trust = createProxyTrust(trustProxy);
  return {
    hook,
    flush,
    observe(req, res) {
      const time = Date.now();
      const startedMs = performance.now();
      const ip = clientIp(req, trust); // now: after a close, the socket has no address
      const body = countBodyBytes(res);
      res.once('close', () => {
        const finished = res.writableFinished;
        const entry: AccessEntry = {
          time,
          ip,
          method: req.method ?? '',
          url: req.url ?? '',
          httpVersion: req.httpVersion,
          status: res.headersSent ? res.statusCode : 0,
          bytesSent: body.bytes,
          referer: one(req.headers.referer),
          userAgent: one(req.headers['user-agent']),
          range: one(req.headers.range),
          aborted: !finished,
          durationMs: performance.now() - startedMs,
        };
        hook(entry);
      });
    },
  };
}

// These routes write their bodies with write()/end(); headers go through writeHead, not counted.
function countBodyBytes(res: StreamResponse): { bytes: number } {
  const counted = { bytes: 0 };
  const target = res as unknown as { write: (...args: unknown[]) => unknown; end: (...args: unknown[]) => unknown };
  const { write, end } = target;
  const add = (chunk: unknown): void => {
    if (typeof chunk === 'string') counted.bytes += Buffer.byteLength(chunk);
    else if (chunk instanceof Uint8Array) counted.bytes += chunk.byteLength;
  };
  // node:http2's end(chunk) calls this.write(chunk): count it once.
  let ending = false;
  target.write = function (this: unknown, ...args: unknown[]) {
    if (!ending) add(args[0]);
    return write.apply(this, args);
  };
  target.end = function (this: unknown, ...args: unknown[]) {
    if (typeof args[0] !== 'function') add(args[0]);
    ending = true;
    try {
      return end.apply(this, args);
    } finally {
      ending = false;
    }
  };
  return counted;
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
