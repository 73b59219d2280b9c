import {
  resolveOptions,
  type PermissionVerdict,
  type ResolvedOptions,
  type RequestedFile,
  type StreamHandlerOptions,
} from './options.ts';
import type { StreamOutcome, StreamRequest, StreamResponse, WatchRecorder } from '../types.ts';
import { leaseIfCurrent, openUncached, type Unservable } from '../files/confine.ts';
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
import { debug } from './debug.ts';
import { answerPreflight, attachCors } from './preflight.ts';
import type { BlockCacheStats } from '../files/block-cache.ts';
import { awaitTurn } from './fairness.ts';
import { createExchange, type Exchange } from './exchange.ts';
import { beaconRoute, createBeaconEndpoint, sendBeaconScript, type BeaconEndpoint } from './beacon.ts';
import type { PlaybackRecorder } from '../types.ts';
import { ResponseCounters, type HandlerMetrics } from './metrics.ts';
import { observeFinished } from './observe.ts';
import { outcome as outcomeOf } from './send-body.ts';

/** Express/Connect's `next`: called to pass a request on when there is nothing to serve. */
export type NextFunction = (err?: unknown) => void;

/** What `createStreamHandler` returns: a node:http / node:http2 request listener and middleware. */
export type StreamHandler = {
  (req: StreamRequest, res: StreamResponse, next?: NextFunction): void;
  /** Flushes and closes the watch log the handler opened itself (`watchLog: true` or a path). */
  close(): Promise<void>;
  /** The block cache's counters (hits, misses, bytes held), for metrics; undefined with `blockCache: false`. */
  blockCacheStats(): BlockCacheStats | undefined;
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
 * With `cors`, a preflight for a file name of ours is answered 204 (403 for a disallowed origin)
 * from the URL alone, and every answer to an allowed origin carries the CORS headers.
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
  const beacon = resolved.beacon ? createBeaconEndpoint(resolved, setup.locator, playbackLog(resolved)) : undefined;
  const counters = new ResponseCounters();
  let watchLog: WatchRecorder | undefined;
  void resolved.watchLog?.then((log) => (watchLog = log));
  const wantsIp = resolved.watchLog !== undefined || resolved.accessLog !== undefined;
  const handler = (req: StreamRequest, res: StreamResponse, next?: NextFunction): void => {
    const exchange = createExchange(req, res, resolved);
    // Read now: after the response, a client that closed has no address (pinned by a test).
    if (wantsIp) exchange.ip();
    const startedMs = performance.now();
    let passed = false;
    const onNext = next && ((err?: unknown): void => ((passed = true), next(err)));
    counters.started();
    // The beacon's answers are responses too: counted and logged like the media's.
    const running = (beacon === undefined ? undefined : answerBeacon(req, res, beacon, resolved)) ?? handle(exchange, onNext, setup).catch((err: unknown) => {
      // Only a bug of ours gets here; the process must survive it all the same.
      if (onNext !== undefined && !res.headersSent) return void onNext(err);
      reportError(resolved, err, req);
      return answer(req, res, 500);
    });
    void running.then((outcome) => observeFinished(req, res, outcome, passed, { startedAt: exchange.startedAt, startedMs, ip: wantsIp ? exchange.ip() : '' }, counters, resolved.accessLog));
    if (resolved.watchLog === undefined) return;
    inflight.add(running);
    void running.finally(() => inflight.delete(running));
  };
  const close = async (): Promise<void> => {
    await Promise.allSettled([...inflight, setup.cache?.close()]);
    if (resolved.ownsWatchLog) (await resolved.watchLog)?.close();
  };
  const blockCacheStats = (): BlockCacheStats | undefined => resolved.blockCache?.stats;
  const metrics = (): HandlerMetrics => counters.snapshot(setup.cache, watchLog);
  return Object.assign(handler, { close, blockCacheStats, metrics });
}

/** The watch log as a taker of player reports; one that is only a WatchRecorder drops them. */
async function playbackLog(options: ResolvedOptions): Promise<PlaybackRecorder | undefined> {
  const log = await options.watchLog;
  return log !== undefined && typeof (log as Partial<PlaybackRecorder>).recordPlayback === 'function' ? (log as PlaybackRecorder) : undefined;
}

/** Answers the beacon's own two URLs, resolving with what was sent; undefined for every other request. */
function answerBeacon(req: StreamRequest, res: StreamResponse, beacon: BeaconEndpoint, options: ResolvedOptions): Promise<StreamOutcome> | undefined {
  const url = req.url ?? '/';
  const mark = url.indexOf('?');
  const route = beaconRoute(mark === -1 ? url : url.slice(0, mark), options.mode === 'path' ? options.prefix : '');
  if (route === undefined) return undefined;
  attachCors(req, res, options.cors); // an allowed page may read the answer (fetch instead of sendBeacon)
  if (route === 'script') return Promise.resolve(outcomeOf(res.statusCode, sendBeaconScript(req, res), false, undefined));
  return beacon(req, res).then(
    () => outcomeOf(res.headersSent ? res.statusCode : 0, 0, !res.headersSent, undefined),
    (err: unknown) => {
      reportError(options, err, req);
      return answer(req, res, 500);
    },
  );
}

/** What a handler sets up once: its options, where the file name is, its open-file cache. */
type Setup = {
  readonly options: ResolvedOptions;
  readonly locator: PathLocator;
  readonly cache: OpenFileCache | undefined;
};

/** Streams one request; resolves with what was sent (the watch log reads it). */
async function handle(
  exchange: Exchange,
  next: NextFunction | undefined,
  { options, locator, cache }: Setup,
): Promise<StreamOutcome | undefined> {
  const { req, res, connection } = exchange;
  const requested = requestedPath(req.url ?? '/', locator, options.dotfiles);
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    // A preflight for a file name of ours is ours to answer, also as middleware (the disk is not asked).
    // Its status is the outcome, so metrics and the access log count it answered, not aborted.
    const preflight = options.cors !== undefined && requested.kind === 'ok' ? answerPreflight(req, res, options.cors) : undefined;
    if (preflight !== undefined) return outcomeOf(preflight, 0, false, undefined);
    if (next) return void next();
    attachCors(req, res, options.cors);
    return answer(req, res, 405, ['Allow', 'GET, HEAD']);
  }
  attachCors(req, res, options.cors);
  switch (requested.kind) {
    case 'ok':
      break;
    case 'missing':
      // As middleware, a request without the parameter is some other route's.
      return locator.mode === 'query' && next === undefined ? answer(req, res, 400) : notFound(req, res, next);
    case 'outside-prefix':
    case 'directory':
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
      signature = await checkSignedRequest(exchange, requested.path, options.signed);
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
  // Nothing is opened or read before this response owns its connection (or HTTP/2 slot).
  const turn = awaitTurn(req, res, options.turns);
  if (!(typeof turn === 'boolean' ? turn : await turn) || connection.closed) return undefined;

  const outcome = await openAndServeConfined(exchange, next, requested.path, options, cache, admit);
  if (outcome !== undefined && options.watchLog !== undefined) {
    const log = await options.watchLog;
    // Loaded on first use, like the log itself: without watchLog the core never imports watch-log/.
    const { recordWatch } = await import('../watch-log/record-request.ts');
    if (log !== undefined) await recordWatch(log, exchange, requested.path, outcome);
  }
  return outcome;
}

/** Opens the file confined to root (through the cache), serves it and releases it. */
async function openAndServeConfined(
  exchange: Exchange,
  next: NextFunction | undefined,
  path: string,
  options: ResolvedOptions,
  cache: OpenFileCache | undefined,
  admit: OpenTarget['admit'],
): Promise<StreamOutcome | undefined> {
  const { req, res } = exchange;
  let lease: FileLease | Unservable;
  try {
    // A file kept open and unchanged is leased without a promise (the common case of a player).
    lease = leaseIfCurrent(path, options, cache) ?? (await openUncached(path, options, cache));
  } catch (err) {
    return answerFsError(req, res, err, options, () => notFound(req, res, next));
  }
  if (lease === 'not-a-file') return notFound(req, res, next);
  if (lease === 'forbidden') {
    debug('%s: refused, its real path is not servable', path);
    return answer(req, res, 403);
  }
  try {
    if (exchange.connection.closed) return undefined; // the client left while the file was opened
    return await serveOpenFile(exchange, lease.file, { fileName: path, admit }, options);
  } finally {
    const released = lease.release();
    if (released !== undefined) await released;
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
