import { STATUS_CODES } from 'node:http';
import { debuglog } from 'node:util';
import type { ErrorHook, StreamRequest, ResponseSink } from '../types.ts';
import { corsHeadersOf } from './cors.ts';

const debug = debuglog('sage-stream');

/** Every response says what it is, so a browser never sniffs a video into HTML. */
export const NOSNIFF = ['X-Content-Type-Options', 'nosniff'] as const;

/**
 * Answers with a status and its standard reason phrase as a short plain-text body.
 *
 * The body is the status text only: never an error message, which could carry server paths.
 */
export function sendStatus(
  req: StreamRequest,
  res: ResponseSink,
  status: number,
  extraHeaders: readonly string[] = [],
): void {
  if (res.headersSent) {
    destroyResponse(res);
    return;
  }
  const body = `${STATUS_CODES[status] ?? 'Error'}\n`;
  res.writeHead(status, [
    'Content-Type', 'text/plain; charset=utf-8',
    'Content-Length', String(Buffer.byteLength(body)),
    ...NOSNIFF,
    ...extraHeaders,
    ...corsHeadersOf(res),
  ]);
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

/**
 * Ends a response that can no longer be completed, so the client sees a broken transfer
 * instead of a body shorter than its Content-Length that looks whole.
 */
export function destroyResponse(res: ResponseSink, err?: Error): void {
  if ('destroy' in res && typeof res.destroy === 'function') res.destroy(err);
  else (res as { stream?: { destroy(err?: Error): void } }).stream?.destroy(err);
}

/** Calls the onError hook; a hook that throws must not take the server down with it. */
export function reportError(options: { readonly onError: ErrorHook | undefined }, err: unknown, req: StreamRequest): void {
  debug('%s %s failed: %s', req.method, req.url, String(err));
  try {
    options.onError?.(err, req);
  } catch {
    // Nothing sensible to do: the hook is the reporting channel.
  }
}
