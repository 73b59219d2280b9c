import { debuglog } from 'node:util';
import {
  resolveOptions,
  type PermissionVerdict,
  type ResolvedOptions,
  type RequestedFile,
  type StreamHandlerOptions,
} from './options.ts';
import type { StreamOutcome, StreamRequest, StreamResponse, WatchRecorder } from '../types.ts';
import { clientIp } from '../http/client-ip.ts';
import { openConfined, type Unservable } from '../files/confine.ts';
import { OpenFileCache, type FileLease } from '../files/open-file-cache.ts';
import { requestedPath, type PathLocator } from '../files/request-path.ts';
import { reportError } from './responses.ts';
import { admitResume, checkSignedRequest, type SignatureCheck } from './signed-url.ts';
import {
  answer,
  answerFsError,
  serveOpenFile,
  type OpenTarget,
} from './respond.ts';
import { watchConnection, type Connection } from './connection.ts';
import { ResponseCounters, type HandlerMetrics } from './metrics.ts';
import { observeFinished } from './observe.ts';

const debug = debuglog('sage-stream');

/** Express/Connect's `next`: called to pass a request on when there is nothing to serve. */
export type NextFunction = (err?: unknown) => void;

/** What `createStreamHandler` returns: a node:http / node:http2 request listener and middleware. */
export type StreamHandler = {
  (req: StreamRequest, res: StreamResponse, next?: NextFunction): void;
  /** Flushes and closes the watch log the handler opened itself (`watchLog: true` or a path). */
  close(): Promise<void>;
  /** This handler's counters and gauges, for `formatPrometheus` or your own endpoint. */
  metrics(): HandlerMetrics;
};

/**
 * Creates a request handler that streams files from `root`, with Range, conditional requests
 * and HEAD (RFC 9110 §13–15), and never serves a byte from outside `root`.
 *
 * Options are validated once here (misuse throws a TypeError naming the option). Each request
 * then goes: method → file name from the URL (checked lexically) → permission checks → real
 * path confined to root → open → stat → preconditions → range → body. Failures are answered
 * with a short plain-text status (400/403/404/405/412/416), never with a path or an error
 * message; server-side failures also go to `onError`. With `signed`, the link's signature is
 * checked right after the file name, before permissions or the disk (403, or 410 once expired).
 * As Express/Connect middleware
 * (`app.use('/videos', handler)`), a request for a method other than GET/HEAD or for a file that
 * does not exist is passed to `next()` instead of being answered.
 *
 * @example
 * import http from 'node:http';
 * import { createStreamHandler } from 'sage-stream';
 * http.createServer(createStreamHandler({ root: './videos' })).listen(8000);
 * // <video controls src="http://localhost:8000/?path=movies/clip.mp4"></video>
 */
export function createStreamHandler(options: StreamHandlerOptions): StreamHandler {
  const resolved = resolveOptions(options);
  const setup: Setup = {
    options: resolved,
    locator: resolved.mode === 'query' ? { mode: 'query', param: resolved.param } : { mode: 'path', prefix: resolved.prefix },
    cache: resolved.openFileCache === undefined ? undefined : new OpenFileCache(resolved.openFileCache),
  };
  // Requests still running, so close() can let their watch-log entries land first.
  const inflight = new Set<Promise<unknown>>();
  const counters = new ResponseCounters();
  let watchLog: WatchRecorder | undefined;
  void resolved.watchLog?.then((log) => (watchLog = log));
  const wantsIp = resolved.watchLog !== undefined || resolved.accessLog !== undefined;
  const handler = (req: StreamRequest, res: StreamResponse, next?: NextFunction): void => {
    const connection = watchConnection(res);
    // The address is read now: after the response, a client that closed has none (pinned by a test).
    const arrival = { startedAt: Date.now(), startedMs: performance.now(), ip: wantsIp ? clientIp(req, resolved.trustProxy) : '' };
    let passed = false;
    const onNext = next && ((err?: unknown): void => ((passed = true), next(err)));
    counters.started();
    const running = handle(req, res, onNext, connection, setup, arrival).catch((err: unknown) => {
      // Only a bug of ours gets here; the process must survive it all the same.
      if (onNext !== undefined && !res.headersSent) return void onNext(err);
      reportError(resolved, err, req);
      return answer(req, res, 500);
    });
    void running.then((outcome) => observeFinished(req, res, outcome, passed, arrival, counters, resolved.accessLog));
    if (resolved.watchLog === undefined) return;
    inflight.add(running);
    void running.finally(() => inflight.delete(running));
  };
  const close = async (): Promise<void> => {
    await Promise.allSettled([...inflight, setup.cache?.close()]);
    if (resolved.ownsWatchLog) (await resolved.watchLog)?.close();
  };
  const metrics = (): HandlerMetrics => counters.snapshot(setup.cache, watchLog);
  return Object.assign(handler, { close, metrics });
}

/** What a handler sets up once: its options, where the file name is, its open-file cache. */
type Setup = {
  readonly options: ResolvedOptions;
  readonly locator: PathLocator;
  readonly cache: OpenFileCache | undefined;
};

/** Streams one request; resolves with what was sent (the watch log reads it). */
async function handle(
  req: StreamRequest,
  res: StreamResponse,
  next: NextFunction | undefined,
  connection: Connection,
  { options, locator, cache }: Setup,
  arrival: { readonly startedAt: number; readonly ip: string },
): Promise<StreamOutcome | undefined> {
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    if (next) return void next();
    return answer(req, res, 405, ['Allow', 'GET, HEAD']);
  }
  const requested = requestedPath(req.url ?? '/', locator, options.dotfiles);
  switch (requested.kind) {
    case 'ok':
      break;
    case 'missing':
      // As middleware, a request without the parameter is some other route's.
      return locator.mode === 'query' && next === undefined ? answer(req, res, 400) : notFound(req, res, next);
    case 'outside-prefix':
      return notFound(req, res, next);
    case 'bad-request':
      return answer(req, res, 400);
    case 'forbidden':
      return answer(req, res, 403);
  }
  const file: RequestedFile = { path: requested.path, absolutePath: `${options.root}/${requested.path}` };

  let admit: ReturnType<typeof admitResume> | undefined;
  if (options.signed !== undefined) {
    let signature: SignatureCheck;
    try {
      signature = await checkSignedRequest(req, requested.path, options.signed, options);
    } catch (err) {
      if (next) return void next(err); // as middleware, the app's error handler sees it
      reportError(options, err, req); // identify threw
      return answer(req, res, 500);
    }
    if (signature !== 'valid') debug('%s: signed link %s', requested.path, signature);
    switch (signature) {
      case 'valid':
        break;
      case 'grace':
        admit = admitResume(req); // only a resume of this exact file, decided once its ETag is known
        break;
      case 'expired':
        // 410 is cacheable by default (RFC 9110 §15.5.11; Chromium keeps it for good): a server
        // with a longer grace or another clock may still admit this link.
        return answer(req, res, 410, ['Cache-Control', 'no-store']);
      default:
        return answer(req, res, 403);
    }
  }

  for (const check of options.permissions) {
    let verdict: PermissionVerdict;
    try {
      verdict = await check(req, file);
    } catch (err) {
      if (next) return void next(err); // as middleware, the app's error handler sees it
      reportError(options, err, req);
      return answer(req, res, 500);
    }
    if (verdict === true) continue;
    return refuse(req, res, verdict);
  }
  if (connection.closed) return undefined;

  const outcome = await openAndServeConfined(req, res, next, connection, requested.path, options, cache, admit);
  if (outcome !== undefined && options.watchLog !== undefined) {
    const log = await options.watchLog;
    // Loaded on first use, like the log itself: without watchLog the core never imports watch-log/.
    const { logWatchRequest } = await import('../watch-log/record-request.ts');
    if (log !== undefined) await logWatchRequest(log, req, { path: requested.path, outcome, ...arrival }, options);
  }
  return outcome;
}

/** Opens the file confined to root (through the cache), serves it and releases it. */
async function openAndServeConfined(
  req: StreamRequest,
  res: StreamResponse,
  next: NextFunction | undefined,
  connection: Connection,
  path: string,
  options: ResolvedOptions,
  cache: OpenFileCache | undefined,
  admit: OpenTarget['admit'],
): Promise<StreamOutcome | undefined> {
  let lease: FileLease | Unservable;
  try {
    lease = await openConfined(path, options, cache);
  } catch (err) {
    return answerFsError(req, res, err, options, () => notFound(req, res, next));
  }
  if (lease === 'not-a-file') return notFound(req, res, next);
  if (lease === 'forbidden') {
    debug('%s: refused, its real path is not servable', path);
    return answer(req, res, 403);
  }
  try {
    if (connection.closed) return undefined; // the client left while the file was opened
    return await serveOpenFile(req, res, connection, lease.file, path, options, admit);
  } finally {
    await lease.release();
  }
}

// RFC 9110 §15.5.2: a 401 must carry a challenge; a check that wants another scheme returns its own.
const DEFAULT_CHALLENGE = ['WWW-Authenticate', 'Bearer realm="sage-stream"'];

function refuse(req: StreamRequest, res: StreamResponse, verdict: PermissionVerdict): StreamOutcome {
  if (typeof verdict === 'object' && verdict !== null) {
    const headers = Object.entries(verdict.headers ?? {}).flat();
    const status = isClientError(verdict.status) ? verdict.status : 403;
    return answer(req, res, status, status === 401 && !hasChallenge(headers) ? [...DEFAULT_CHALLENGE, ...headers] : headers);
  }
  const status = typeof verdict === 'number' && isClientError(verdict) ? verdict : 403;
  return answer(req, res, status, status === 401 ? DEFAULT_CHALLENGE : []);
}

function isClientError(status: unknown): status is number {
  return Number.isInteger(status) && (status as number) >= 400 && (status as number) <= 499;
}

function hasChallenge(headers: readonly string[]): boolean {
  return headers.some((value, i) => i % 2 === 0 && value.toLowerCase() === 'www-authenticate');
}

function notFound(req: StreamRequest, res: StreamResponse, next: NextFunction | undefined): StreamOutcome | undefined {
  if (next) return void next();
  return answer(req, res, 404);
}
