import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { html, SafeHtml } from './html.ts';
import { exportView } from './export.ts';
import { renderHeatStrip } from './heat-strip.ts';
import { LOCAL_TIME_SCRIPT_SRC } from './local-time.ts';
import type { WatchQuery } from '../query.ts';
import type { WatchLog } from '../watch-log.ts';
import { assertNever, document, renderPage, renderResults } from './render.ts';
import {
  DEFAULT_PAGE_LIMIT,
  DEFAULT_SORTS,
  FIELDS,
  MAX_DATE_MS,
  MAX_PAGE_LIMIT,
  ROUTES,
  VIEW_SORTS,
  type Field,
  type Form,
  type Format,
  type Mutable,
  type Page,
  type Parsed,
  type ViewContext,
  type ViewName,
} from './views.ts';

export { DEFAULT_PAGE_LIMIT, MAX_PAGE_LIMIT };

/** Options for {@link createWatchLogHandler}. */
export type WatchLogViewerOptions = {
  /** The log to show; a promise is awaited per request (a rejected one → 500 on every request). */
  readonly watchLog: WatchLog | Promise<WatchLog>;
  /**
   * Required: decides whether `req` may see the log. Only `true` lets it in. A refused request
   * gets 401 when it carried no credentials (no Authorization header and no `token` query
   * parameter) and 403 when it carried some. A throw or rejection → 500.
   */
  readonly authorize: (req: IncomingMessage) => boolean | Promise<boolean>;
  /** Where the handler is mounted: stripped from req.url and put in front of every link (default '/admin'). */
  readonly basePath?: string;
  /** Receives the errors behind 500 responses (default: process.emitWarning). */
  readonly onError?: (err: unknown) => void;
};

/** The default mount point of {@link createWatchLogHandler}. */
export const DEFAULT_BASE_PATH = '/admin';


const DIGITS = /^[0-9]+$/;
const EPOCH_MS = /^-?[0-9]{1,16}$/;
const ISO_TIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,3}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$/;
const EXPORT = /^\/export\/(sessions|requests|videos)\.(csv|json)$/;
// Heat strips on the videos view: this many slices of each timeline.
const HEAT_BUCKETS = 50;
// new Date() accepts epoch ms within ±8.64e15; past that toISOString() throws.

const SECURITY_HEADERS: readonly string[] = Object.freeze([
  'Content-Security-Policy', `default-src 'none'; script-src ${LOCAL_TIME_SCRIPT_SRC}; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'`,
  'X-Content-Type-Options', 'nosniff',
  'Cache-Control', 'no-store',
  'Referrer-Policy', 'no-referrer',
  'X-Frame-Options', 'DENY',
]);
const HTML_TYPE = 'text/html; charset=utf-8';
const JSON_TYPE = 'application/json; charset=utf-8';

/**
 * Creates a node:http request handler that shows the watch log: sessions at `basePath/`,
 * requests at `basePath/requests`, per-video totals at `basePath/videos`, and the same data as
 * JSON (`{ rows, total, limit, offset }`) under `basePath/api/…`.
 *
 * Every request is authorized first (401 with `WWW-Authenticate: Bearer` when it carried no
 * credentials, 403 when it carried wrong ones), then routed (404), then limited to GET and HEAD
 * (405 with Allow). Query parameters: `path`, `user`, `ip`, `authenticated` (true/false), `from`
 * (inclusive) and `to` (exclusive) as epoch ms or ISO 8601 (UTC unless an offset is given), `q`
 * (substring; `%` and `_` are literal), `sort` (a key of the view's whitelist; anything else
 * sorts by the view's time column), `order` (asc; anything else is desc), `limit` (decimal
 * digits, >= 1; above 500 clamped to 500, WatchLog's cap) and `offset` (decimal digits). Other
 * values (`limit=-1`, `abc`, `1e9`, `from=2025-02-30`, `authenticated=yes`) are a 400, in HTML or
 * JSON like the route, rather than a silently different result.
 * When the request carried a `token` query parameter, every link and the filter form carry it
 * on, so a browser that logged in by URL can keep navigating. Pages are server-rendered with
 * inline CSS and no script; every value from the log is escaped. Database errors → 500 with a
 * generic body, and the error goes to `onError`.
 *
 * @example
 * const viewer = createWatchLogHandler({ watchLog: log, authorize: tokenAuthorizer(process.env.ADMIN_TOKEN) });
 * http.createServer((req, res) => (req.url?.startsWith('/admin') ? viewer(req, res) : stream(req, res)));
 */
export function createWatchLogHandler(options: WatchLogViewerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  if (typeof options !== 'object' || options === null) throw new TypeError('options must be an object');
  const { authorize, watchLog } = options;
  if (typeof authorize !== 'function') {
    throw new TypeError('options.authorize is required: a function (req) => boolean, e.g. tokenAuthorizer(token)');
  }
  if (typeof watchLog !== 'object' || watchLog === null) {
    throw new TypeError('options.watchLog must be a WatchLog or a Promise of one');
  }
  const basePath = resolveBasePath(options.basePath);
  const onError = options.onError ?? defaultOnError;
  if (typeof onError !== 'function') throw new TypeError(`options.onError must be a function, got ${typeof onError}`);
  const ready = Promise.resolve(watchLog);
  // Handled per request; this keeps an early rejection from being reported as unhandled.
  ready.catch(() => {});

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = req.url ?? '/';
    const mark = url.indexOf('?');
    const pathname = mark === -1 ? url : url.slice(0, mark);
    const search = new URLSearchParams(mark === -1 ? '' : url.slice(mark + 1));
    const local = stripBase(pathname, basePath);
    const exported = local === undefined ? null : EXPORT.exec(local);
    const route =
      exported !== null
        ? { view: exported[1] as ViewName, format: 'json' as const }
        : local !== undefined && Object.hasOwn(ROUTES, local)
          ? ROUTES[local]
          : undefined;
    const format: Format = route?.format ?? (local?.startsWith('/api/') === true ? 'json' : 'html');

    if ((await authorize(req)) !== true) {
      if (hasCredentials(req, search)) return sendError(req, res, format, 403, 'Forbidden: those credentials are not accepted.');
      return sendError(req, res, format, 401, 'Authentication required.', [
        'WWW-Authenticate', 'Bearer realm="sage-stream"',
      ]);
    }
    if (route === undefined) return sendError(req, res, format, 404, 'Not found.');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return sendError(req, res, format, 405, 'Only GET and HEAD are allowed.', ['Allow', 'GET, HEAD']);
    }

    const form = readForm(search);
    const token = search.get('token');
    const parsed = parseForm(form, route.view);
    if (parsed.kind === 'invalid') {
      if (route.format === 'json') return send(req, res, 400, JSON_TYPE, JSON.stringify({ error: parsed.message }));
      const ctx: ViewContext = { basePath, token, view: route.view, form, sort: '', order: 'desc', limit: 0, offset: 0 };
      return send(req, res, 400, HTML_TYPE, renderPage(ctx, html`<p class="error">${parsed.message}</p>`));
    }

    const log = await ready;
    const { query, sort, order, limit, offset } = parsed.params;
    if (exported !== null) {
      const file = exportView(log, route.view, query, exported[2] as 'csv' | 'json');
      return send(req, res, 200, file.type, file.body, ['Content-Disposition', `attachment; filename="${file.filename}"`]);
    }
    const page = fetchPage(log, route.view, query);
    if (route.format === 'json') {
      return send(req, res, 200, JSON_TYPE, JSON.stringify({ rows: page.rows, total: page.total, limit, offset }));
    }
    const heat = route.view === 'videos' ? (path: string) => renderHeatStrip(log.heat(path, HEAT_BUCKETS)) : undefined;
    const ctx: ViewContext = { basePath, token, view: route.view, form, sort, order, limit, offset, heat };
    return send(req, res, 200, HTML_TYPE, renderPage(ctx, renderResults(ctx, page)));
  };

  return (req, res) => {
    handle(req, res).catch((err: unknown) => {
      try {
        onError(err);
      } catch {
        // A throwing onError must not turn one failed page into a crashed server.
      }
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const local = stripBase(pathOf(req.url ?? '/'), basePath);
      sendError(req, res, local?.startsWith('/api/') === true ? 'json' : 'html', 500, 'Internal server error.');
    });
  };
}

/**
 * An `authorize` for {@link createWatchLogHandler} that accepts `Authorization: Bearer <token>`
 * or a `?token=<token>` query parameter (either one matching is enough).
 *
 * Candidates are compared as SHA-256 digests with crypto.timingSafeEqual, so neither the
 * position of the first wrong character nor the token's length shows in the response time.
 * Throws a TypeError for an empty or non-string token.
 *
 * @example
 * createWatchLogHandler({ watchLog: log, authorize: tokenAuthorizer(adminToken) });
 */
export function tokenAuthorizer(token: string): (req: IncomingMessage) => boolean {
  if (typeof token !== 'string' || token === '') throw new TypeError('token must be a non-empty string');
  const expected = digest(token);
  const matches = (candidate: string): boolean => timingSafeEqual(digest(candidate), expected);
  return (req) => {
    const header = req.headers.authorization;
    const bearer = header === undefined ? undefined : bearerToken(header);
    if (bearer !== undefined && matches(bearer)) return true;
    const url = req.url ?? '';
    const mark = url.indexOf('?');
    const fromQuery = mark === -1 ? null : new URLSearchParams(url.slice(mark + 1)).get('token');
    return fromQuery !== null && matches(fromQuery);
  };
}

/**
 * The credentials of `Bearer <token>` (scheme case-insensitive, RFC 9110 §11.1), spaces around
 * the token trimmed, or undefined. A scan by index, not a regex: `/^bearer +(.+?) *$/` backtracks
 * quadratically on `Bearer a` + 16,000 spaces + `b` (>100 ms of event loop, before any auth).
 */
export function bearerToken(header: string): string | undefined {
  if (header.length < 8 || header.slice(0, 6).toLowerCase() !== 'bearer' || header.charCodeAt(6) !== 0x20) return undefined;
  let from = 7;
  let to = header.length;
  while (from < to && header.charCodeAt(from) === 0x20) from++;
  while (to > from && header.charCodeAt(to - 1) === 0x20) to--;
  return from === to ? undefined : header.slice(from, to);
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

function defaultOnError(err: unknown): void {
  process.emitWarning(`sage-stream watch log viewer: ${err instanceof Error ? err.message : String(err)}`);
}

// '' (mounted at the root) or '/x/y' without a trailing slash.
function resolveBasePath(value: string | undefined): string {
  if (value === undefined) return DEFAULT_BASE_PATH;
  if (typeof value !== 'string' || (value !== '' && !/^\/[^?#\s]*$/.test(value))) {
    throw new TypeError(`options.basePath must be '' or a path starting with '/', got ${JSON.stringify(value)}`);
  }
  return value.replace(/\/+$/, '');
}

/** The route under `basePath` ('/' for the base itself), or undefined when pathname is outside it. */
function stripBase(pathname: string, basePath: string): string | undefined {
  if (pathname === basePath) return '/';
  if (!pathname.startsWith(`${basePath}/`)) return undefined;
  return pathname.slice(basePath.length);
}

function pathOf(url: string): string {
  const mark = url.indexOf('?');
  return mark === -1 ? url : url.slice(0, mark);
}

// "Carried credentials": an Authorization header (any scheme, even empty) or a token parameter.
function hasCredentials(req: IncomingMessage, search: URLSearchParams): boolean {
  return req.headers.authorization !== undefined || search.has('token');
}

function readForm(search: URLSearchParams): Form {
  const form = {} as Record<Field, string>;
  for (const field of FIELDS) form[field] = search.get(field) ?? '';
  return form;
}

function parseForm(form: Form, view: ViewName): Parsed {
  const query: Partial<Mutable<WatchQuery>> = {};
  if (form.path !== '') query.path = form.path;
  if (form.user !== '') query.userId = form.user;
  if (form.ip !== '') query.ip = form.ip;
  if (form.q !== '') query.search = form.q;
  if (form.authenticated === 'true' || form.authenticated === 'false') query.authenticated = form.authenticated === 'true';
  else if (form.authenticated !== '') return invalid('authenticated must be true or false');
  for (const field of ['from', 'to'] as const) {
    if (form[field] === '') continue;
    const ms = parseTime(form[field]);
    if (ms === undefined) return invalid(`${field} must be an ISO 8601 date (UTC unless an offset is given) or epoch ms`);
    query[field] = ms;
  }
  let limit = DEFAULT_PAGE_LIMIT;
  if (form.limit !== '') {
    if (!DIGITS.test(form.limit) || Number(form.limit) < 1) return invalid(`limit must be an integer from 1 to ${MAX_PAGE_LIMIT}`);
    limit = Math.min(MAX_PAGE_LIMIT, Number(form.limit));
  }
  let offset = 0;
  if (form.offset !== '') {
    offset = Number(form.offset);
    if (!DIGITS.test(form.offset) || !Number.isSafeInteger(offset)) return invalid('offset must be an integer >= 0');
  }
  // An unknown sort falls back to the view's default, as WatchLog does, rather than failing.
  const sort = Object.hasOwn(VIEW_SORTS[view], form.sort) ? form.sort : DEFAULT_SORTS[view];
  const order = form.order === 'asc' ? 'asc' : 'desc';
  return { kind: 'ok', params: { query: { ...query, sort, order, limit, offset }, sort, order, limit, offset } };
}

function invalid(message: string): Parsed {
  return { kind: 'invalid', message };
}

/** Epoch ms from digits or an ISO 8601 date / date-time (UTC unless it has an offset), else undefined. */
function parseTime(text: string): number | undefined {
  if (EPOCH_MS.test(text)) {
    const ms = Number(text);
    return Math.abs(ms) <= MAX_DATE_MS ? ms : undefined;
  }
  const match = ISO_TIME.exec(text);
  if (match === null) return undefined;
  const [, year, month, day, hour, minute, , , zone] = match;
  // Date.parse rolls 2025-02-30 over to March 2; a date that does not exist is a typo.
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return undefined;
  if (hour !== undefined && (Number(hour) > 23 || Number(minute) > 59)) return undefined;
  const iso = text.replace(' ', 'T');
  const ms = Date.parse(hour !== undefined && zone === undefined ? `${iso}Z` : iso);
  return Number.isFinite(ms) ? ms : undefined;
}


function fetchPage(log: WatchLog, view: ViewName, query: WatchQuery): Page {
  switch (view) {
    case 'sessions':
      return { view, ...log.sessions(query) };
    case 'requests':
      return { view, ...log.requests(query) };
    case 'videos': {
      const rows = log.videos(query);
      return { view, rows, total: countVideos(log, query, rows.length) };
    }
    default:
      return assertNever(view);
  }
}

// WatchLog.videos() returns no total. A short, non-empty page tells it; otherwise count the
// distinct paths a full page (500) at a time, which is one query for most libraries.
function countVideos(log: WatchLog, query: WatchQuery, rowsOnPage: number): number {
  const limit = query.limit ?? DEFAULT_PAGE_LIMIT;
  const offset = query.offset ?? 0;
  if (rowsOnPage > 0 && rowsOnPage < limit) return offset + rowsOnPage;
  if (rowsOnPage === 0 && offset === 0) return 0;
  let total = 0;
  for (;;) {
    const count = log.videos({ ...query, sort: 'path', order: 'asc', limit: MAX_PAGE_LIMIT, offset: total }).length;
    total += count;
    if (count < MAX_PAGE_LIMIT) return total;
  }
}


function send(
  req: IncomingMessage,
  res: ServerResponse,
  status: number,
  type: string,
  body: string | SafeHtml,
  extra: readonly string[] = [],
): void {
  const bytes = Buffer.from(String(body), 'utf8');
  res.writeHead(status, [...SECURITY_HEADERS, 'Content-Type', type, 'Content-Length', String(bytes.length), ...extra]);
  if (req.method === 'HEAD') res.end();
  else res.end(bytes);
}

function sendError(
  req: IncomingMessage,
  res: ServerResponse,
  format: Format,
  status: number,
  message: string,
  extra: readonly string[] = [],
): void {
  if (format === 'json') return send(req, res, status, JSON_TYPE, JSON.stringify({ error: message }), extra);
  const title = `${status} ${STATUS_CODES[status] ?? 'Error'}`;
  return send(req, res, status, HTML_TYPE, document(title, html`<h1>${title}</h1><p>${message}</p>`), extra);
}
