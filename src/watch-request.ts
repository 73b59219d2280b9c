import { isIP } from 'node:net';
import type { StreamRequest } from './options.ts';
import type { StreamOutcome } from './serve-file.ts';
import type { WatchLog } from './watch-log.ts';

/** Who is watching, as your `identify(req)` tells it. */
export type Viewer = { readonly userId: string | null; readonly isAuthenticated: boolean };

/** Tells who a request comes from (your session or token lookup); `null` for an anonymous viewer. */
export type IdentifyViewer = (req: StreamRequest) => Viewer | null | undefined | Promise<Viewer | null | undefined>;

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
 * Records one served request in a watch log (the seed's `log_watch_request`), for custom routes
 * built on `streamFile`; `createStreamHandler({ watchLog })` calls it for you.
 *
 * Only a streamed GET is a watch: HEAD, 304, 412, 416 and errors are not recorded. Resolves
 * once the entry is queued; never rejects (an `identify` that throws logs the viewer anonymous).
 *
 * @example
 * const startedAt = Date.now();
 * const ip = clientIp(req, []); // now: after the response, a closed socket has no address
 * const outcome = await streamFile(req, res, file);
 * await logWatchRequest(log, req, { path: 'movies/a.mp4', outcome, startedAt, ip }, { identify });
 */
export async function logWatchRequest(
  log: WatchLog,
  req: StreamRequest,
  served: ServedFile,
  options: ViewerOptions = {},
): Promise<void> {
  const { outcome } = served;
  if (req.method !== 'GET' || (outcome.status !== 200 && outcome.status !== 206) || outcome.size === undefined) return;
  let viewer: Viewer = ANONYMOUS;
  try {
    viewer = (await options.identify?.(req)) ?? ANONYMOUS;
  } catch {
    // The watch must still be counted; who it was is unknown.
  }
  const range = req.headers.range;
  log.record({
    path: served.path,
    userId: viewer.userId === null ? null : String(viewer.userId),
    isAuthenticated: viewer.isAuthenticated === true,
    ip: served.ip ?? clientIp(req, options.trustProxy ?? []),
    userAgent: req.headers['user-agent'] ?? null,
    status: outcome.status,
    range: typeof range === 'string' ? range : null,
    ranges: outcome.ranges ?? (outcome.size > 0 ? [{ start: 0, end: outcome.size - 1 }] : []),
    bytesSent: outcome.bytesSent,
    aborted: outcome.aborted,
    size: outcome.size,
    startedAt: served.startedAt,
    durationMs: Date.now() - served.startedAt,
  });
}

/**
 * The client's address: the socket's peer, unless that peer is a trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first address that
 * is not one is the client. A malformed entry stops the walk at the last address we trust to
 * be real, so a client cannot spoof its address by sending the header itself.
 */
export function clientIp(req: StreamRequest, trustProxy: readonly string[]): string {
  let ip = normalizeIp(req.socket?.remoteAddress ?? '');
  if (trustProxy.length === 0 || !trustProxy.includes(ip)) return ip;
  const forwarded = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i]!.trim());
    if (isIP(hop) === 0) break;
    ip = hop;
    if (!trustProxy.includes(hop)) break;
  }
  return ip;
}

// '::ffff:127.0.0.1' is how a dual-stack socket reports an IPv4 peer.
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}
