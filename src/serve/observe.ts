import { STATUS_CODES } from 'node:http';
import type { AccessEntry, AccessLogHook } from '../http/access-log.ts';
import type { StreamOutcome, StreamRequest, StreamResponse } from '../types.ts';
import type { ResponseCounters } from './metrics.ts';

/** What a request looked like when it arrived, kept for the access log. */
export type Arrival = { readonly startedAt: number; readonly startedMs: number; readonly ip: string };

/**
 * Counts a finished response and hands its access-log entry to the hook. `outcome` is what the
 * handler resolved with: undefined when it passed the request to `next()` (`passed`) or the client
 * left before an answer. A hook that throws is ignored: logging must not break serving.
 */
export function observeFinished(
  req: StreamRequest,
  res: StreamResponse,
  outcome: StreamOutcome | undefined,
  passed: boolean,
  arrival: Arrival,
  counters: ResponseCounters,
  accessLog: AccessLogHook | undefined,
): void {
  if (passed) return counters.finished(undefined, 0, false);
  const status = outcome?.status ?? (res.headersSent ? res.statusCode : 0);
  const bytesSent = outcome === undefined ? 0 : bodyBytes(req, outcome);
  const aborted = outcome?.aborted ?? true;
  counters.finished(status, bytesSent, aborted);
  if (accessLog === undefined) return;
  const entry: AccessEntry = {
    time: arrival.startedAt,
    ip: arrival.ip,
    method: req.method ?? '',
    url: req.url ?? '',
    httpVersion: req.httpVersion,
    status,
    bytesSent,
    referer: header(req, 'referer'),
    userAgent: header(req, 'user-agent'),
    range: header(req, 'range'),
    aborted,
    durationMs: performance.now() - arrival.startedMs,
  };
  try {
    accessLog(entry);
  } catch {
    // The hook is the reporting channel; nothing sensible to do.
  }
}

// A status answer (no file: size undefined) carries its reason phrase as the body (sendStatus).
function bodyBytes(req: StreamRequest, outcome: StreamOutcome): number {
  if (outcome.size !== undefined || outcome.status < 300 || req.method === 'HEAD') return outcome.bytesSent;
  return Buffer.byteLength(`${STATUS_CODES[outcome.status] ?? 'Error'}\n`);
}

function header(req: StreamRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
