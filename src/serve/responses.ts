import { STATUS_CODES } from 'node:http';
import type { ErrorHook, StreamRequest, ResponseSink } from '../types.ts';
import { debug } from './debug.ts';
import { corsHeadersOf } from './cors.ts';

/** Every response says what it is, so a browser never sniffs a video into HTML. */
export const NOSNIFF = ['X-Content-Type-Options', 'nosniff'] as const;

/** A file a browser could render as a document runs sandboxed: no script on the media origin. */
export const SANDBOX = ['Content-Security-Policy', 'sandbox'] as const;

// How the body is framed and what it is: always ours, since we write the body.
const FRAMING_HEADERS = ['Content-Type', 'Content-Length', 'Content-Range', 'Transfer-Encoding'] as const;
// The rest of the representation metadata (RFC 9110 §8.4, §8.5): the application's on a 200 or
// 206 (a pre-compressed file may say Content-Encoding: gzip), never on a 304 or a status answer.
const METADATA_HEADERS = ['Content-Encoding', 'Content-Language'] as const;

/**
 * Removes representation headers an application set with `res.setHeader` before calling us,
 * which `writeHead` would otherwise merge in: `'body'` (before a 200/206 of the file) removes
 * those that frame the body (Content-Type, Content-Length, Content-Range, Transfer-Encoding);
 * `'all'` (before a 304 or a status answer) also Content-Encoding and Content-Language. A 304
 * must not carry them (RFC 9110 §15.4.5; send and Go strip them too); Content-Location, ETag,
 * Cache-Control and Vary stay.
 */
export function removeRepresentationHeaders(res: ResponseSink, which: 'body' | 'all'): void {
  for (const name of FRAMING_HEADERS) res.removeHeader(name);
  if (which === 'all') for (const name of METADATA_HEADERS) res.removeHeader(name);
}

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
  removeRepresentationHeaders(res, 'all');
  res.writeHead(status, withCors([
    'Content-Type', 'text/plain; charset=utf-8',
    'Content-Length', String(Buffer.byteLength(body)),
    ...NOSNIFF,
    ...extraHeaders,
  ], corsHeadersOf(res)));
  if (req.method === 'HEAD') res.end();
  else res.end(body);
}

/** `headers` with the CORS ones after them, a Vary among them joined into the one Vary field. */
function withCors(headers: readonly string[], cors: readonly string[]): string[] {
  let all = [...headers];
  for (let i = 0; i < cors.length; i += 2) {
    const name = cors[i]!;
    const value = cors[i + 1]!;
    if (name === 'Vary') all = withVary(all, value);
    else all.push(name, value);
  }
  return all;
}

/** `headers` with `token` added to their Vary field (one field, so HTTP/2 cannot drop one). */
export function withVary(headers: readonly string[], token: string): string[] {
  const at = headers.indexOf('Vary');
  if (at === -1 || at % 2 !== 0) return [...headers, 'Vary', token];
  return [...headers.slice(0, at + 1), `${headers[at + 1]}, ${token}`, ...headers.slice(at + 2)];
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
