import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomBytes } from 'node:crypto';
import { DEMO_PAGE_HEADERS, renderDemoPage } from './demo-page.ts';
import { createStreamHandler } from '../serve/handler.ts';
import { firstPlayable, listMedia } from './media-list.ts';
import { WatchLog } from '../watch-log/watch-log.ts';
import { createWatchLogHandler, tokenAuthorizer } from '../watch-log/viewer/viewer.ts';
import { sendStatus } from '../serve/responses.ts';
import { signUrl } from '../serve/signed-url.ts';
import { clientIp } from '../http/client-ip.ts';
import { createMetricsHandler } from '../serve/metrics.ts';
import { redactUrl } from '../http/access-log.ts';
import { createAccessLogWriter } from './access-log-writer.ts';
import { createWebServer, type AnyListener } from './tls-server.ts';
import { METRICS_PATH } from './ops-flags.ts';
import { ADMIN_PATH, DEFAULT_HOST, DEFAULT_LOG_MAX_AGE_DAYS, DEFAULT_LOG_MAX_ROWS, DEFAULT_PORT, DEFAULT_PREFIX, SAMPLE_DIR, SHUTDOWN_GRACE_MS, STREAM_PATH, STARTUP_LINK_SECONDS, type ServeConfig, type ServeOptions } from './args.ts';

/** A listening server, as `startServer` resolves it. */
export type RunningServer = {
  /** The demo page, e.g. `http://127.0.0.1:8000/`. */
  readonly url: string;
  /** The port actually listened on (useful with port 0). */
  readonly port: number;
  readonly config: ServeConfig;
  /**
   * Stops accepting connections, closes idle keep-alive connections, lets responses in flight
   * finish for up to `graceMs` (default: `shutdownGraceMs`, 5 s) and then cuts them, then runs the close hooks.
   * Calling it again returns the same promise; a shorter `graceMs` cuts sooner (`close(0)`).
   */
  close(graceMs?: number): Promise<void>;
  /** Re-reads the TLS certificate and key (SIGHUP); throws and keeps the old ones if they are bad. */
  reloadTls(): void;
};

/**
 * Starts the demo server: the demo page at `/`, query-mode streaming at `/api/stream?path=`,
 * path-mode streaming below `prefix`, and a plain-text 404 for anything else.
 *
 * It prints nothing (the CLI prints the URLs) and installs no signal handlers, so tests and
 * other programs can run it in-process. Server-side failures (a read error, not a client
 * leaving) are written to stderr as one line each. Misuse (a missing `dir`) throws a TypeError;
 * a port in use rejects with the `listen` error (`code: 'EADDRINUSE'`).
 *
 * @example
 * const server = await startServer({ dir: './videos', port: 0 });
 * console.log(server.url); // http://127.0.0.1:54321/
 * await server.close();
 */
export async function startServer(options: ServeOptions = {}): Promise<RunningServer> {
  const config: ServeConfig = {
    dir: options.dir ?? SAMPLE_DIR,
    port: options.port ?? DEFAULT_PORT,
    host: options.host ?? DEFAULT_HOST,
    prefix: (options.prefix ?? DEFAULT_PREFIX).replace(/\/+$/, ''),
    maxChunkSize: options.maxChunkSize,
    log: options.log ?? false,
    logMaxAgeDays: options.logMaxAgeDays ?? DEFAULT_LOG_MAX_AGE_DAYS,
    logMaxRows: options.logMaxRows ?? DEFAULT_LOG_MAX_ROWS,
    // Never open to the world: without a token of yours, one nobody can guess (printed at start).
    adminToken: options.adminToken ?? (options.log ? newAdminToken() : undefined),
    signingSecrets: options.signingSecrets ?? [],
    rate: options.rate,
    cors: options.cors,
    accessLog: options.accessLog ?? 'off',
    trustProxy: options.trustProxy ?? [],
    tls: options.tls,
    cacheControl: options.cacheControl,
    shutdownGraceMs: options.shutdownGraceMs ?? SHUTDOWN_GRACE_MS,
  };
  if (config.prefix === '') throw new TypeError(`options.prefix must be a path below /, got ${JSON.stringify(options.prefix)}`);
  const onError = (err: unknown, req?: { readonly method?: string | undefined; readonly url?: string | undefined }): void => {
    const reason = JSON.stringify(err instanceof Error ? err.message : String(err)); // quoted: no terminal escapes
    // A signed link's signature or the admin token in the URL stays out of the log.
    const request = req === undefined ? '' : `${JSON.stringify(req.method)} ${JSON.stringify(redactUrl(req.url ?? ''))}: `;
    process.stderr.write(`${new Date().toISOString()} sage-stream: ${request}${reason}\n`);
  };
  // One log for both routes; a second process (--workers) opens the same file: WAL allows it.
  // Drops (ERR_WATCH_LOG_DROPPED, with the count) reach onError too, so they are printed.
  const retention = { maxAgeDays: config.logMaxAgeDays || undefined, maxRows: config.logMaxRows || undefined };
  const watchLog = config.log === false ? undefined : await WatchLog.open(config.log, { onError, ...retention });
  // With signing on, both stream routes serve signed links only (misuse, e.g. a short secret, throws).
  const signed = config.signingSecrets.length > 0 ? { secrets: config.signingSecrets } : undefined;
  const accessLog = createAccessLogWriter(config.accessLog, config.trustProxy);
  const cors = config.cors === undefined ? undefined : config.cors === '*' ? true : { origin: config.cors };
  const common = {
    root: config.dir, maxChunkSize: config.maxChunkSize, onError, watchLog, signed, rate: config.rate, cors,
    trustProxy: config.trustProxy, accessLog: accessLog.hook, ...(config.cacheControl === undefined ? {} : { cacheControl: config.cacheControl }),
  };
  // With a log, the query route also takes the player beacon's reports (/_sage/beacon).
  const stream = createStreamHandler({ ...common, mode: 'query', param: 'path', beacon: watchLog !== undefined });
  const files = createStreamHandler({ ...common, mode: 'path', prefix: config.prefix });

  // Run in reverse order by close(), after the last response has ended: the handlers first let
  // their last log entries land, then the log is flushed and closed.
  const onClose: Array<() => void | Promise<void>> = [];
  if (watchLog !== undefined) onClose.push(() => watchLog.close());
  const admin =
    watchLog === undefined || config.adminToken === undefined
      ? undefined
      : createWatchLogHandler({ watchLog, authorize: tokenAuthorizer(config.adminToken), basePath: ADMIN_PATH, onError });
  onClose.push(() => accessLog.flush(), () => stream.close(), () => files.close());
  // Behind the admin token: request counts and bytes are nobody else's business.
  const metrics = config.adminToken === undefined ? undefined : createMetricsHandler({ sources: [stream, files], token: config.adminToken });
  let closing = false;

  const listener = (req: IncomingMessage, res: ServerResponse): void => {
    // During shutdown a keep-alive connection would stay open after its response; end it.
    res.once('finish', () => {
      if (closing) setImmediate(() => web.closeIdleConnections());
    });
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const pathname = query === -1 ? url : url.slice(0, query);
    if (pathname === STREAM_PATH || pathname === `${STREAM_PATH}/`) return stream(req, res);
    if (watchLog !== undefined && pathname.startsWith('/_sage/')) return stream(req, res);
    if (pathname === config.prefix || pathname.startsWith(`${config.prefix}/`)) return files(req, res);
    accessLog.observe(req, res); // the stream handlers log their own responses
    // The demo page lists every file and links them unsigned: off when links must be signed.
    if (pathname === '/' && signed === undefined) return void sendDemoPage(req, res, config, onError, watchLog);
    if (admin && (pathname === ADMIN_PATH || pathname.startsWith(`${ADMIN_PATH}/`))) return admin(req, res);
    if (metrics && pathname === METRICS_PATH) return metrics(req, res);
    return sendStatus(req, res, 404);
  };
  // One listener for both: node:http2's compatibility request and response have what it uses.
  const web = createWebServer(config.tls, listener as unknown as AnyListener);
  const { server } = web;

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen({ port: config.port, host: config.host }, () => {
      server.off('error', rejectListen);
      resolveListen();
    });
  });
  const { port } = server.address() as AddressInfo;

  let closed: Promise<void> | undefined;
  let deadline: NodeJS.Timeout | undefined;
  let finished = false;
  return {
    url: `${web.scheme}://${urlHost(config.host)}:${port}/`,
    port,
    config,
    close(graceMs = config.shutdownGraceMs) {
      if (!finished) {
        clearTimeout(deadline);
        // unref: the connections it would cut keep the process alive until then anyway.
        deadline = setTimeout(() => web.closeAllConnections(), graceMs).unref();
      }
      closed ??= (async () => {
        closing = true;
        const stopped = new Promise<void>((done) => server.close(() => done()));
        web.closeIdleConnections();
        await stopped;
        finished = true;
        clearTimeout(deadline);
        for (const hook of onClose.reverse()) await hook();
      })();
      return closed;
    },
    reloadTls: () => web.reloadTls(),
  };
}

async function sendDemoPage(
  req: IncomingMessage,
  res: ServerResponse,
  config: ServeConfig,
  onError: (err: unknown, req: IncomingMessage) => void,
  watchLog: WatchLog | undefined,
): Promise<void> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return sendStatus(req, res, 405, ['Allow', 'GET, HEAD']);
  let html: string;
  try {
    const { files, truncated } = await listMedia(config.dir);
    // `/?path=<file>` opens that file (when listed); the stream handler still decides whether it may be served.
    const selected = new URLSearchParams(req.url?.split('?')[1] ?? '').get('path') || undefined;
    const open = selected !== undefined && files.includes(selected) ? selected : firstPlayable(files);
    // Continue watching: the demo knows viewers only as address + browser, as the log does.
    const viewer = { ip: clientIp(req, config.trustProxy), userAgent: req.headers['user-agent'] ?? null };
    const resumeAt = open === undefined ? undefined : watchLog?.position({ path: open, viewer });
    html = renderDemoPage({ files, streamBase: STREAM_PATH, truncated, selected: open, pathBase: config.prefix, resumeAt, beacon: watchLog !== undefined });
  } catch (err) {
    onError(err, req);
    return sendStatus(req, res, 500);
  }
  res.writeHead(200, [...DEMO_PAGE_HEADERS, 'Content-Length', String(Buffer.byteLength(html))]);
  if (req.method === 'HEAD') res.end();
  else res.end(html);
}

/** The host as it goes in a URL: brackets around IPv6, and `localhost` for "every address". */
export function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '::') return 'localhost';
  return host.includes(':') ? `[${host}]` : host;
}

/** How the admin line shows the token: in the URL (`--show-token`), by the file it is in, or not. */
export type TokenDisplay = { readonly show: boolean; readonly file?: string | undefined };

/**
 * The lines printed on start, one URL each, `name  url`, so scripts (and tests) can read the
 * port. The admin URL carries the token only with `token.show`; otherwise it names the file the
 * generated token was written to.
 */
export async function startupLines(url: string, config: ServeConfig, token: TokenDisplay = { show: false }): Promise<string[]> {
  const base = url.replace(/\/$/, '');
  const first = firstPlayable((await listMedia(config.dir, { limit: 100 }).catch(() => ({ files: [] }))).files) ?? 'FILE';
  const videosPath = first.split('/').map(encodeURIComponent).join('/');
  const [secret] = config.signingSecrets;
  // With signing on, the links printed are signed with the first secret, valid for an hour.
  const signed = (mode: 'query' | 'path', streamBase: string): string =>
    `${signUrl(first, { secret: secret!, expiresIn: STARTUP_LINK_SECONDS, mode, base: streamBase })} (signed, valid ${STARTUP_LINK_SECONDS / 3600} h)`;
  return [
    `sage-stream serving ${config.dir}`,
    secret === undefined ? `page    ${url}` : 'page    off (signed links only: sage-stream sign <file>)',
    secret === undefined
      ? `stream  ${base}${STREAM_PATH}?path=${encodeURIComponent(first)}`
      : `stream  ${signed('query', `${base}${STREAM_PATH}`)}`,
    secret === undefined ? `videos  ${base}${config.prefix}/${videosPath}` : `videos  ${signed('path', `${base}${config.prefix}`)}`,
    config.log === false
      ? 'log     off (--no-log)'
      : `log     ${config.log} (stores client IP addresses and User-Agents; --no-log turns it off)`,
    config.adminToken === undefined ? 'metrics off (no admin token)' : `metrics ${base}${METRICS_PATH} (Authorization: Bearer <admin token>)`,
    config.log === false || config.adminToken === undefined
      ? 'admin   off (no watch log)'
      : `admin   ${base}${ADMIN_PATH}${adminSuffix(config.adminToken, token)}`,
  ];
}

function adminSuffix(adminToken: string, token: TokenDisplay): string {
  if (token.show) return `?token=${encodeURIComponent(adminToken)}`;
  return token.file === undefined ? ' (token: --admin-token)' : ` (token in ${token.file})`;
}

/** A fresh admin token for the viewer when none was configured. */
export function newAdminToken(): string {
  return randomBytes(18).toString('base64url');
}
