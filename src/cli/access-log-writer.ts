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
      res.once('close', () => {
        const finished = res.writableFinished;
        const length = Number(res.getHeader('content-length') ?? 0);
        const entry: AccessEntry = {
          time,
          ip,
          method: req.method ?? '',
          url: req.url ?? '',
          httpVersion: req.httpVersion,
          status: res.headersSent ? res.statusCode : 0,
          bytesSent: finished && req.method !== 'HEAD' && Number.isSafeInteger(length) ? length : 0,
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

function one(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(', ') : value;
}
