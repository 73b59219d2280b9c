import { resolveOptions, type PermissionVerdict, type ResolvedOptions, type StreamHandlerOptions } from './options.ts';
import type { PlaybackRecorder, ResponseSink, StreamRequest, StreamResponse, Viewer } from '../types.ts';
import { createExchange } from './exchange.ts';
import { requestedPath, type PathLocator } from '../files/request-path.ts';
import { BEACON_SCRIPT } from '../beacon/index.ts';
import { MAX_BEACON_BYTES, parseBeaconReport } from './beacon-report.ts';
import { checkSignedRequest } from './signed-url.ts';
import { reportError, sendStatus } from './responses.ts';
import { corsHeadersOf } from './cors.ts';
import { attachCors } from './preflight.ts';

/** Reports a session may send at once before the rate applies. */
export const BEACON_BURST = 4;
/** Then one report per this many ms per session (the beacon sends one per ~10 s while playing). */
export const BEACON_INTERVAL_MS = 2000;
// Sessions whose buckets are remembered; the oldest is forgotten first.
const MAX_TRACKED_SESSIONS = 10_000;

const SCRIPT_BODY = Buffer.from(BEACON_SCRIPT, 'utf8');
const SCRIPT_HEADERS = [
  'Content-Type', 'text/javascript; charset=utf-8',
  'Content-Length', String(SCRIPT_BODY.length),
  'Cache-Control', 'public, max-age=3600',
  'X-Content-Type-Options', 'nosniff',
];
const ANONYMOUS: Viewer = Object.freeze({ userId: null, isAuthenticated: false });

/** Answers GET/HEAD with the beacon script; returns the body bytes sent (the access log's). */
export function sendBeaconScript(req: StreamRequest, res: StreamResponse): number {
  if (req.method !== 'GET' && req.method !== 'HEAD') return (sendStatus(req, res, 405, ['Allow', 'GET, HEAD']), 0);
  const sink = res as ResponseSink;
  sink.writeHead(200, [...SCRIPT_HEADERS, ...corsHeadersOf(res)]); // the CORS headers attached for an allowed origin
  if (req.method === 'GET') sink.write(SCRIPT_BODY);
  sink.end();
  return req.method === 'GET' ? SCRIPT_BODY.length : 0;
}

/** A beacon endpoint bound to one handler's options: the same viewer, links and checks. */
export type BeaconEndpoint = (req: StreamRequest, res: StreamResponse) => Promise<void>;

/**
 * Creates the POST endpoint that takes player reports for files `options` serves.
 *
 * A report is believed only as far as a stream request would be: its `src` (the media URL's
 * path and query) is read with the handler's own locator, its signed link verified against the
 * beacon request's own address and user, and the permission checks run on a request that looks
 * like a GET of that URL from this client. The file is never opened. The viewer is who sent the
 * beacon (identify, client IP through trustProxy, User-Agent), so a report can only add to that
 * viewer's own session. Answers: 204 stored; 400 oversized (over 4 KiB) or malformed (nothing
 * stored); 403 (or the check's status) refused; 405 not POST; 429 over the per-session rate.
 */
export function createBeaconEndpoint(
  options: ResolvedOptions,
  locator: PathLocator,
  log: Promise<PlaybackRecorder | undefined>,
): BeaconEndpoint {
  const buckets = new Map<string, { tokens: number; at: number }>();
  const admit = (key: string, now: number): number => {
    let bucket = buckets.get(key);
    if (bucket === undefined) {
      if (buckets.size >= MAX_TRACKED_SESSIONS) buckets.delete(buckets.keys().next().value as string);
      bucket = { tokens: BEACON_BURST, at: now };
    } else buckets.delete(key); // re-inserted below: the map stays in least-recently-used order
    bucket.tokens = Math.min(BEACON_BURST, bucket.tokens + (now - bucket.at) / BEACON_INTERVAL_MS);
    bucket.at = now;
    buckets.set(key, bucket);
    if (bucket.tokens < 1) return Math.ceil(((1 - bucket.tokens) * BEACON_INTERVAL_MS) / 1000);
    bucket.tokens -= 1;
    return 0;
  };

  return async (req, res) => {
    if (req.method !== 'POST') return sendStatus(req, res, 405, ['Allow', 'POST']);
    const text = await readSmallBody(req);
    if (text === undefined) return sendStatus(req, res, 400, ['Connection', 'close']);
    const parsed = parseBeaconReport(text);
    if (parsed.kind === 'invalid') return sendStatus(req, res, 400);
    const { body } = parsed;
    const requested = requestedPath(body.src, locator, options.dotfiles);
    if (requested.kind !== 'ok') return sendStatus(req, res, requested.kind === 'forbidden' ? 403 : 400);
    // The checks see a GET of the media URL from this very client: same socket, same headers.
    const asStream = Object.create(req, { url: { value: body.src }, method: { value: 'GET' } }) as StreamRequest;
    // The same exchange a stream request gets: its ip (through trustProxy) and identify()'s viewer.
    const exchange = createExchange(asStream, res, options);
    let viewer: Viewer;
    try {
      if (options.signed !== undefined) {
        const signature = await checkSignedRequest(exchange, requested.path, options.signed);
        // A link in its grace period admits only resumes of the file; a report is not one.
        if (signature !== 'valid') return sendStatus(req, res, signature === 'expired' ? 410 : 403);
      }
      for (const check of options.permissions) {
        const verdict: PermissionVerdict = await check(asStream, { path: requested.path, absolutePath: `${options.root}/${requested.path}` });
        if (verdict !== true) return sendStatus(req, res, refusalStatus(verdict));
      }
      viewer = (await exchange.viewer()) ?? ANONYMOUS;
    } catch (err) {
      reportError(options, err, req);
      return sendStatus(req, res, 500);
    }
    const ip = exchange.ip();
    const userAgent = req.headers['user-agent'] ?? null;
    const who = viewer.isAuthenticated === true && viewer.userId !== null ? `u:${viewer.userId}` : `a:${ip}\n${userAgent}`;
    const now = Date.now();
    const retryAfter = admit(`${who}\n${requested.path}`, now);
    if (retryAfter > 0) return sendStatus(req, res, 429, ['Retry-After', String(retryAfter)]);
    const recorder = await log;
    recorder?.recordPlayback({
      path: requested.path,
      userId: viewer.userId === null ? null : String(viewer.userId),
      isAuthenticated: viewer.isAuthenticated === true,
      ip,
      userAgent,
      receivedAt: now,
      durationSeconds: body.durationSeconds,
      position: body.position,
      played: body.played,
      rebufferSeconds: body.rebufferSeconds,
      events: body.events,
    });
    (res as ResponseSink).writeHead(204, ['Cache-Control', 'no-store', ...corsHeadersOf(res)]);
    res.end();
  };
}

function refusalStatus(verdict: PermissionVerdict): number {
  const status = typeof verdict === 'object' && verdict !== null ? verdict.status : verdict;
  return typeof status === 'number' && Number.isInteger(status) && status >= 400 && status <= 499 ? status : 403;
}

/** The body as UTF-8 text, or undefined when it is over MAX_BEACON_BYTES (the rest is discarded). */
function readSmallBody(req: StreamRequest): Promise<string | undefined> {
  const stream = req as unknown as NodeJS.ReadableStream;
  if (typeof stream.on !== 'function') return Promise.resolve(undefined); // no body to read: 400
  if (Number(req.headers['content-length'] ?? 0) > MAX_BEACON_BYTES) {
    stream.resume(); // the answer closes the connection
    return Promise.resolve(undefined);
  }
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let length = 0;
    let done = false;
    const finish = (text: string | undefined): void => {
      if (done) return;
      done = true;
      resolve(text);
    };
    stream.on('data', (chunk: Buffer) => {
      if (done) return;
      length += chunk.length;
      if (length > MAX_BEACON_BYTES) finish(undefined);
      else chunks.push(chunk);
    });
    stream.once('end', () => finish(Buffer.concat(chunks).toString('utf8')));
    stream.once('error', () => finish(undefined));
    stream.once('close', () => finish(undefined));
  });
}

/**
 * A standalone beacon endpoint for the files a stream handler with the same `options` serves:
 * POST takes a report (as {@link createBeaconEndpoint} describes), GET and HEAD serve the beacon
 * script; mount it wherever you like and point the beacon's `endpoint` at it. The handler's own
 * `beacon: true` does the same at `/_sage/beacon`. Needs `watchLog` (a `WatchLog`, so reports
 * land in the log the stream requests use).
 *
 * @example
 * const log = await WatchLog.open('watch.db');
 * const options = { root: './videos', watchLog: log, identify };
 * app.use('/videos', createStreamHandler(options));
 * app.post('/analytics/beacon', createBeaconHandler(options));
 */
export function createBeaconHandler(options: StreamHandlerOptions): (req: StreamRequest, res: StreamResponse) => void {
  const resolved = resolveOptions({ ...options, beacon: true });
  const locator: PathLocator = resolved.mode === 'query' ? { mode: 'query', param: resolved.param } : { mode: 'path', prefix: resolved.prefix };
  const log = Promise.resolve(resolved.watchLog).then((recorder) =>
    recorder !== undefined && typeof (recorder as Partial<PlaybackRecorder>).recordPlayback === 'function' ? (recorder as PlaybackRecorder) : undefined,
  );
  const endpoint = createBeaconEndpoint(resolved, locator, log);
  return (req, res) => {
    attachCors(req, res, resolved.cors); // as on the handler's own beacon URLs
    if (req.method === 'GET' || req.method === 'HEAD') return void sendBeaconScript(req, res);
    endpoint(req, res).catch((err: unknown) => {
      reportError(resolved, err, req);
      sendStatus(req, res, 500);
    });
  };
}

/** Whether a handler should answer `pathname` itself as the beacon endpoint or script. */
export function beaconRoute(pathname: string, base: string): 'report' | 'script' | undefined {
  if (pathname === `${base}/_sage/beacon`) return 'report';
  if (pathname === `${base}/_sage/beacon.js`) return 'script';
  return undefined;
}
