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
};

/**
 * Writes one line per finished response to `out` (stdout) in `format`; `'off'` writes nothing.
 * The write is the stream's own (a pipe to journald or docker logs): lines are never reordered.
 */
export function createAccessLogWriter(
  format: AccessLogFormat,
  trustProxy: readonly string[],
  out: { write(text: string): unknown } = process.stdout,
): AccessLogWriter {
  if (format === 'off') return { hook: undefined, observe: () => {} };
  const formatLine = format === 'json' ? formatJson : formatCombined;
  const hook: AccessLogHook = (entry) => void out.write(`${formatLine(entry)}\n`);
  const trust = createProxyTrust(trustProxy);
  return {
    hook,
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
  target.write = function (this: unknown, ...args: unknown[]) {
    add(args[0]);
    return write.apply(this, args);
  };
  target.end = function (this: unknown, ...args: unknown[]) {
    if (typeof args[0] !== 'function') add(args[0]);
    return end.apply(this, args);
  };
  return counted;
}

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
