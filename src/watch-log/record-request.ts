import { clientIp } from '../http/client-ip.ts';
import type { IdentifyViewer, RequestFacts, StreamOutcome, StreamRequest, Viewer, WatchRecorder } from '../types.ts';

/** How `logWatchRequest` finds the viewer and the client's address. */
export type ViewerOptions = {
  readonly identify?: IdentifyViewer | undefined;
  /** Addresses of reverse proxies whose X-Forwarded-For is believed. Default: none. */
  readonly trustProxy?: readonly string[] | undefined;
};

/** What was served to one request: the file (relative to root), the outcome, when it started. */
export type ServedFile = {
  readonly path: string;
  readonly outcome: StreamOutcome;
  readonly startedAt: number;
  /**
   * The client's address, read when the request arrived: once the client has closed the
   * connection, the socket no longer knows it. Default: read now with `clientIp`.
   */
  readonly ip?: string | undefined;
};

const ANONYMOUS: Viewer = Object.freeze({ userId: null, isAuthenticated: false });

/**
 * Records one served request in a watch log (django-sage-streaming's `log_watch_request`), for custom routes
 * built on `streamFile`; `createStreamHandler({ watchLog })` calls it for you.
 *
 * Only a streamed GET is a watch: HEAD, 304, 412, 416, errors and a response aborted before its
 * first body byte (status 0: the client left before the headers) are not recorded. Resolves
 * once the entry is queued; never rejects (an `identify` that throws logs the viewer anonymous).
 *
 * @example
 * const startedAt = Date.now();
 * const ip = clientIp(req, []); // now: after the response, a closed socket has no address
 * const outcome = await streamFile(req, res, file);
 * await logWatchRequest(log, req, { path: 'movies/a.mp4', outcome, startedAt, ip }, { identify });
 */
export async function logWatchRequest(
  log: WatchRecorder,
  req: StreamRequest,
  served: ServedFile,
  options: ViewerOptions = {},
): Promise<void> {
  const range = req.headers.range;
  let ip = served.ip;
  let viewer: Promise<Viewer | null | undefined> | undefined;
  const facts: RequestFacts = {
    method: req.method ?? 'GET',
    range: typeof range === 'string' ? range : undefined,
    userAgent: req.headers['user-agent'],
    startedAt: served.startedAt,
    ip: () => (ip ??= clientIp(req, options.trustProxy ?? [])),
    viewer: () => (viewer ??= new Promise((resolve) => resolve(options.identify?.(req)))),
  };
  await recordWatch(log, facts, served.path, served.outcome);
}

/**
 * Records one served request from what was known of it when it arrived (the handler passes its
 * exchange): nothing here reads the request after the response. Same rules as `logWatchRequest`.
 */
export async function recordWatch(log: WatchRecorder, request: RequestFacts, path: string, outcome: StreamOutcome): Promise<void> {
  if (request.method !== 'GET' || (outcome.status !== 200 && outcome.status !== 206) || outcome.size === undefined) return;
  // A client that left before the headers went out got nothing: no watch, and no session that a
  // client opening and dropping connections could multiply.
  if (outcome.aborted && outcome.bytesSent === 0) return;
  let viewer: Viewer = ANONYMOUS;
  try {
    viewer = (await request.viewer()) ?? ANONYMOUS;
  } catch {
    // The watch must still be counted; who it was is unknown.
  }
  log.record({
    path,
    userId: viewer.userId === null ? null : String(viewer.userId),
    isAuthenticated: viewer.isAuthenticated === true,
    ip: request.ip(),
    userAgent: request.userAgent ?? null,
    status: outcome.status,
    range: request.range ?? null,
    ranges: outcome.ranges ?? (outcome.size > 0 ? [{ start: 0, end: outcome.size - 1 }] : []),
    bytesSent: outcome.bytesSent,
    aborted: outcome.aborted,
    size: outcome.size,
    startedAt: request.startedAt,
    durationMs: Date.now() - request.startedAt,
  });
}
