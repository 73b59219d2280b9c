import { constants } from 'node:fs';
import { debuglog } from 'node:util';
import { statusForFsError } from './errors.ts';
import {
  resolveOptions,
  type ResolvedOptions,
  type RequestedFile,
  type StreamHandlerOptions,
  type StreamRequest,
  type StreamResponse,
} from './options.ts';
import { confinedRealPath, requestedPath, type PathLocator } from './resolve-path.ts';
import { reportError } from './responses.ts';
import { logWatchRequest } from './watch-request.ts';
import { READ_FLAGS, answer, openAndServe, watchConnection, type Connection, type StreamOutcome } from './serve-file.ts';

const debug = debuglog('sage-stream');

// O_NOFOLLOW: the path was just resolved, so a link there now was swapped in since.
const OPEN_FLAGS = READ_FLAGS | constants.O_NOFOLLOW;

/** Express/Connect's `next`: called to pass a request on when there is nothing to serve. */
export type NextFunction = (err?: unknown) => void;

/** What `createStreamHandler` returns: a node:http / node:http2 request listener and middleware. */
export type StreamHandler = {
  (req: StreamRequest, res: StreamResponse, next?: NextFunction): void;
  /** Flushes and closes the watch log the handler opened itself (`watchLog: true` or a path). */
  close(): Promise<void>;
};

/**
 * Creates a request handler that streams files from `root`, with Range, conditional requests
 * and HEAD (RFC 9110 §13–15), and never serves a byte from outside `root`.
 *
 * Options are validated once here (misuse throws a TypeError naming the option). Each request
 * then goes: method → file name from the URL (checked lexically) → permission checks → real
 * path confined to root → open → stat → preconditions → range → body. Failures are answered
 * with a short plain-text status (400/403/404/405/412/416), never with a path or an error
 * message; server-side failures also go to `onError`. As Express/Connect middleware
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
  const locator: PathLocator =
    resolved.mode === 'query' ? { mode: 'query', param: resolved.param } : { mode: 'path', prefix: resolved.prefix };
  // Requests still running, so close() can let their watch-log entries land first.
  const inflight = new Set<Promise<unknown>>();
  const handler = (req: StreamRequest, res: StreamResponse, next?: NextFunction): void => {
    const connection = watchConnection(res);
    const running = handle(req, res, next, connection, resolved, locator, Date.now()).catch((err: unknown) => {
      // Only a bug of ours gets here; the process must survive it all the same.
      reportError(resolved, err, req);
      answer(req, res, 500);
    });
    if (resolved.watchLog === undefined) return;
    inflight.add(running);
    void running.finally(() => inflight.delete(running));
  };
  const close = async (): Promise<void> => {
    await Promise.allSettled(inflight);
    if (resolved.ownsWatchLog) (await resolved.watchLog)?.close();
  };
  return Object.assign(handler, { close });
}

/** Streams one request; resolves with what was sent (the watch log reads it). */
async function handle(
  req: StreamRequest,
  res: StreamResponse,
  next: NextFunction | undefined,
  connection: Connection,
  options: ResolvedOptions,
  locator: PathLocator,
  startedAt: number,
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
      return locator.mode === 'query' ? answer(req, res, 400) : notFound(req, res, next);
    case 'outside-prefix':
      return notFound(req, res, next);
    case 'bad-request':
      return answer(req, res, 400);
    case 'forbidden':
      return answer(req, res, 403);
  }
  const file: RequestedFile = { path: requested.path, absolutePath: `${options.root}/${requested.path}` };

  for (const check of options.permissions) {
    let verdict: boolean | number;
    try {
      verdict = await check(req, file);
    } catch (err) {
      reportError(options, err, req);
      return answer(req, res, 500);
    }
    if (verdict === true) continue;
    const status = typeof verdict === 'number' && verdict >= 400 && verdict <= 499 ? verdict : 403;
    return answer(req, res, status);
  }
  if (connection.closed) return undefined;

  let realPath: string | undefined;
  try {
    realPath = await confinedRealPath(options.realRoot, requested.path, options.symlinks);
  } catch (err) {
    const status = statusForFsError(err);
    if (status === 500) reportError(options, err, req);
    return status === 404 ? notFound(req, res, next) : answer(req, res, status);
  }
  if (realPath === undefined) {
    debug('%s escapes root through a symlink', requested.path);
    return answer(req, res, 403);
  }
  const outcome = await openAndServe(req, res, connection, realPath, OPEN_FLAGS, requested.path, options, () =>
    notFound(req, res, next),
  );
  if (outcome !== undefined && options.watchLog !== undefined) {
    const log = await options.watchLog;
    if (log !== undefined) await logWatchRequest(log, req, { path: requested.path, outcome, startedAt }, options);
  }
  return outcome;
}

function notFound(req: StreamRequest, res: StreamResponse, next: NextFunction | undefined): StreamOutcome | undefined {
  if (next) return void next();
  return answer(req, res, 404);
}
