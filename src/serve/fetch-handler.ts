import type { StreamRequest, StreamResponse, Viewer } from '../types.ts';
import { createStreamHandler } from './handler.ts';
import type { PermissionVerdict, RequestedFile, SendOptions, StreamHandlerOptions } from './options.ts';
import type { RateLimit } from './rate-limit.ts';
import { streamFile } from './stream-file.ts';
import { FetchSink } from './fetch-sink.ts';
import { requestOf, toStreamRequest, type FetchContext } from './fetch-request.ts';

/** A permission check given the fetch `Request` (see `PermissionCheck` for the verdicts). */
export type FetchPermissionCheck = (request: Request, file: RequestedFile) => PermissionVerdict | Promise<PermissionVerdict>;

/** The callbacks of `SendOptions`, given the fetch `Request` instead of node's request. */
export type FetchSendOptions = Omit<SendOptions, 'onError' | 'rate'> & {
  /** Told about server-side failures; `request` is absent for watch-log database errors. */
  readonly onError?: ((err: unknown, request?: Request) => void) | undefined;
  /** A rate for every response, or one chosen per request and file. */
  readonly rate?: RateLimit | ((request: Request, path: string) => RateLimit | undefined) | undefined;
};

/** What `createFetchHandler` accepts: `StreamHandlerOptions`, with callbacks given the `Request`. */
export type FetchHandlerOptions = Omit<StreamHandlerOptions, 'permissions' | 'identify' | 'onError' | 'rate'> &
  FetchSendOptions & {
    readonly permissions?: readonly FetchPermissionCheck[] | undefined;
    readonly identify?: ((request: Request) => Viewer | null | undefined | Promise<Viewer | null | undefined>) | undefined;
  };

/** What `createFetchHandler` returns: `Request` in, `Response` out, for Hono, Bun, Deno… */
export type FetchHandler = {
  (request: Request, context?: FetchContext): Promise<Response>;
  /** Flushes and closes the watch log the handler opened itself. */
  close(): Promise<void>;
};

/** Like `FetchHandler`, but resolves `null` where middleware passes the request on. */
export type FetchMiddleware = {
  (request: Request, context?: FetchContext): Promise<Response | null>;
  close(): Promise<void>;
};

/**
 * Creates a fetch-API handler (`Request` → `Response`) with exactly the options and rules of
 * `createStreamHandler`: ranges and multipart (RFC 9110 §14), preconditions (§13), HEAD,
 * confinement, permissions, signed links, rate, watch log, Cache-Control. It is the same handler:
 * the request head is presented to it as node:http's, and it writes into a `FetchSink`, whose
 * body is a `ReadableStream` read from the file on `pull` (one chunk queued at most), closing or
 * releasing the file once the body is read, cancelled or broken.
 *
 * Every request is answered: a missing file is a 404, a method other than GET/HEAD a 405. To let
 * a framework fall through instead, use `createFetchMiddleware`. The client's address (watch log,
 * IP-bound links) is not in a `Request`; pass it as `context.ip`.
 *
 * @example
 * const media = createFetchHandler({ root: './videos', mode: 'path', prefix: '/media' });
 * Deno.serve((req, info) => media(req, { ip: info.remoteAddr.hostname }));
 * Bun.serve({ fetch: (req, server) => media(req, { ip: server.requestIP(req)?.address }) });
 */
export function createFetchHandler(options: FetchHandlerOptions): FetchHandler {
  const { serve, close } = createFetchServer(options);
  const handler = (request: Request, context?: FetchContext): Promise<Response> =>
    serve(request, context, false) as Promise<Response>;
  return Object.assign(handler, { close });
}

/**
 * `createFetchHandler` for frameworks that chain handlers: resolves `null` (nothing sent) where
 * `createStreamHandler` as middleware calls `next()`: a missing file, a path outside `prefix`, a
 * query without the parameter, a method other than GET/HEAD.
 *
 * @example
 * const media = createFetchMiddleware({ root: './videos', mode: 'path', prefix: '/media' });
 * app.use('/media/*', async (c, next) => (await media(c.req.raw)) ?? next());
 */
export function createFetchMiddleware(options: FetchHandlerOptions): FetchMiddleware {
  const { serve, close } = createFetchServer(options);
  return Object.assign((request: Request, context?: FetchContext) => serve(request, context, true), { close });
}

function createFetchServer(options: FetchHandlerOptions): {
  serve: (request: Request, context: FetchContext | undefined, passOn: boolean) => Promise<Response | null>;
  close: () => Promise<void>;
} {
  const handler = createStreamHandler(toStreamOptions(options));
  const serve = (request: Request, context: FetchContext | undefined, passOn: boolean): Promise<Response | null> => {
    const req = toStreamRequest(request, context);
    const sink = new FetchSink(request.method === 'HEAD');
    watchAbort(request, sink);
    // FetchSink implements every part of a response the core calls (ResponseSink).
    handler(req, sink as unknown as StreamResponse, passOn ? () => sink.passOn() : undefined);
    return sink.response;
  };
  return { serve, close: () => handler.close() };
}

/**
 * Streams one file you chose as a fetch `Response`: the fetch twin of `streamFile`, with the
 * same Range, conditional request and HEAD handling. `absolutePath` is trusted; never build it
 * from request input. Answers every case itself (404, 405, 416 …).
 *
 * @example
 * app.get('/watch/:id', async (c) => streamFileResponse(c.req.raw, await videoPath(c.req.param('id'))));
 */
export async function streamFileResponse(
  request: Request,
  absolutePath: string,
  options: FetchSendOptions = NO_OPTIONS,
): Promise<Response> {
  let send = sendOptionsCache.get(options);
  if (send === undefined) {
    send = toSendOptions(options);
    sendOptionsCache.set(options, send);
  }
  const req = toStreamRequest(request, undefined);
  const sink = new FetchSink(request.method === 'HEAD');
  watchAbort(request, sink);
  void streamFile(req, sink as unknown as StreamResponse, absolutePath, send);
  return (await sink.response) ?? new Response(null, { status: 404 });
}

const NO_OPTIONS: FetchSendOptions = Object.freeze({});
// streamFile validates an options object once; keep the translated one as stable as the caller's.
const sendOptionsCache = new WeakMap<FetchSendOptions, SendOptions>();

// Before headers, a client that leaves stops the work (stat, checks); after, the body's cancel does.
function watchAbort(request: Request, sink: FetchSink): void {
  const { signal } = request;
  if (signal.aborted) return sink.abandon();
  const onAbort = (): void => sink.abandon();
  signal.addEventListener('abort', onAbort, { once: true });
  void sink.response.finally(() => signal.removeEventListener('abort', onAbort));
}

function toSendOptions(options: FetchSendOptions): SendOptions {
  const { onError, rate } = options;
  return {
    ...options,
    onError: onError === undefined ? undefined : (err, req) => onError(err, req === undefined ? undefined : requestOf(req)),
    rate: typeof rate === 'function' ? (req: StreamRequest, path: string) => rate(requestOf(req), path) : rate,
  };
}

function toStreamOptions(options: FetchHandlerOptions): StreamHandlerOptions {
  const { permissions, identify } = options;
  if (permissions !== undefined && !Array.isArray(permissions)) throw new TypeError('options.permissions must be an array of functions');
  // The beacon endpoint reads a node:http request body; a fetch Request would need its own reader.
  if (options.beacon === true) throw new TypeError('options.beacon is not supported by the fetch handler: mount createStreamHandler for /_sage/beacon');
  const send = toSendOptions(options);
  return {
    ...options,
    onError: send.onError,
    rate: send.rate,
    permissions: permissions?.map((check) => (req: StreamRequest, file: RequestedFile) => check(requestOf(req), file)),
    identify: identify === undefined ? undefined : (req: StreamRequest) => identify(requestOf(req)),
  };
}
