import { createHash, timingSafeEqual } from 'node:crypto';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import { html, SafeHtml } from './html.ts';
import {
  REQUEST_SORTS,
  SESSION_SORTS,
  VIDEO_SORTS,
  type RequestRow,
  type SessionRow,
  type VideoTotalRow,
  type WatchQuery,
} from '../query.ts';
import type { WatchLog } from '../watch-log.ts';

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

/** Rows per page unless `limit` says otherwise; the same default as {@link WatchLog}. */
export const DEFAULT_PAGE_LIMIT = 50;

/** Larger `limit` values are clamped to this, WatchLog's own cap. */
export const MAX_PAGE_LIMIT = 500;

type ViewName = 'sessions' | 'requests' | 'videos';
type Format = 'html' | 'json';
type Route = { readonly view: ViewName; readonly format: Format };

const ROUTES: Readonly<Record<string, Route>> = Object.freeze({
  '/': { view: 'sessions', format: 'html' },
  '/requests': { view: 'requests', format: 'html' },
  '/videos': { view: 'videos', format: 'html' },
  '/api/sessions': { view: 'sessions', format: 'json' },
  '/api/requests': { view: 'requests', format: 'json' },
  '/api/videos': { view: 'videos', format: 'json' },
});

const VIEW_PATHS = { sessions: '/', requests: '/requests', videos: '/videos' } as const;
const VIEW_TITLES = { sessions: 'Sessions', requests: 'Requests', videos: 'Videos' } as const;
const VIEW_SORTS = { sessions: SESSION_SORTS, requests: REQUEST_SORTS, videos: VIDEO_SORTS } as const;
// The column WatchLog sorts by when no (known) sort is given, always newest first.
const DEFAULT_SORTS = { sessions: 'firstSeen', requests: 'startedAt', videos: 'lastSeen' } as const;
// Text columns sort A→Z on the first click; numbers and times biggest / newest first.
const ASCENDING_FIRST: ReadonlySet<string> = new Set(['path', 'userId', 'ip']);

const FIELDS = ['path', 'user', 'ip', 'authenticated', 'from', 'to', 'q', 'sort', 'order', 'limit', 'offset'] as const;
type Field = (typeof FIELDS)[number];
/** The query parameters as the client sent them ('' when absent), for echoing into the form and links. */
type Form = Readonly<Record<Field, string>>;
// The filters that survive a switch between views (sort keys differ per view; paging restarts).
const FILTER_FIELDS: readonly Field[] = ['path', 'user', 'ip', 'authenticated', 'from', 'to', 'q', 'limit'];

type Params = {
  readonly query: WatchQuery;
  readonly sort: string;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly offset: number;
};
type Parsed = { readonly kind: 'ok'; readonly params: Params } | { readonly kind: 'invalid'; readonly message: string };
type Mutable<T> = { -readonly [K in keyof T]: Exclude<T[K], undefined> };

const DIGITS = /^[0-9]+$/;
const EPOCH_MS = /^-?[0-9]{1,16}$/;
const ISO_TIME =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})(?:[T ]([0-9]{2}):([0-9]{2})(?::([0-9]{2})(?:\.([0-9]{1,3}))?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$/;
const BEARER = /^bearer +(.+?) *$/i;
// new Date() accepts epoch ms within ±8.64e15; past that toISOString() throws.
const MAX_DATE_MS = 8.64e15;
const USER_AGENT_CHARS = 60;

const SECURITY_HEADERS: readonly string[] = Object.freeze([
  'Content-Security-Policy', "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
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
    const route = local !== undefined && Object.hasOwn(ROUTES, local) ? ROUTES[local] : undefined;
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
    const page = fetchPage(log, route.view, query);
    if (route.format === 'json') {
      return send(req, res, 200, JSON_TYPE, JSON.stringify({ rows: page.rows, total: page.total, limit, offset }));
    }
    const ctx: ViewContext = { basePath, token, view: route.view, form, sort, order, limit, offset };
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
    const bearer = header === undefined ? null : BEARER.exec(header);
    if (bearer?.[1] !== undefined && matches(bearer[1])) return true;
    const url = req.url ?? '';
    const mark = url.indexOf('?');
    const fromQuery = mark === -1 ? null : new URLSearchParams(url.slice(mark + 1)).get('token');
    return fromQuery !== null && matches(fromQuery);
  };
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

type Page =
  | { readonly view: 'sessions'; readonly rows: readonly SessionRow[]; readonly total: number }
  | { readonly view: 'requests'; readonly rows: readonly RequestRow[]; readonly total: number }
  | { readonly view: 'videos'; readonly rows: readonly VideoTotalRow[]; readonly total: number };

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

function assertNever(value: never): never {
  throw new Error(`unexpected value ${String(value)}`);
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

type ViewContext = {
  readonly basePath: string;
  /** The token query parameter of this request, carried on by every link; null when absent. */
  readonly token: string | null;
  readonly view: ViewName;
  readonly form: Form;
  readonly sort: string;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly offset: number;
};

const STYLE = `
  body { font: 14px/1.4 system-ui, sans-serif; margin: 1rem 1.5rem; color: #1d232a; background: #fff; }
  h1 { font-size: 1.25rem; margin: 0 0 .75rem; }
  nav.views a { margin-right: 1rem; }
  nav.views a[aria-current] { font-weight: 600; text-decoration: none; color: inherit; }
  form.filters { display: flex; flex-wrap: wrap; gap: .5rem 1rem; align-items: end; margin: 1rem 0; }
  form.filters label { display: flex; flex-direction: column; font-size: 12px; color: #555; }
  form.filters input, form.filters select { font: inherit; padding: 2px 4px; }
  table { border-collapse: collapse; width: 100%; }
  th, td { text-align: left; padding: 4px 8px; border-bottom: 1px solid #e3e6ea; white-space: nowrap; }
  th a { color: inherit; }
  td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
  td.wrap { white-space: normal; word-break: break-all; }
  .bar { display: inline-block; width: 80px; height: 8px; background: #e3e6ea; vertical-align: middle; margin-right: 6px; }
  .bar > div { height: 100%; background: #2f7de1; }
  .pages { margin: .75rem 0; display: flex; gap: 1rem; }
  .error { color: #b00020; font-weight: 600; }
  .muted { color: #888; }
`;
// A constant of this file, never data: the one place markup is trusted without the html tag.
const STYLE_SHEET: SafeHtml = new SafeHtml(STYLE);

function document(title: string, body: SafeHtml): SafeHtml {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${title} · sage-stream</title>
<style>${STYLE_SHEET}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

function renderPage(ctx: ViewContext, content: SafeHtml): SafeHtml {
  const title = VIEW_TITLES[ctx.view];
  const views = (['sessions', 'requests', 'videos'] as const).map(
    (view) =>
      html`<a href="${viewHref(ctx, view, {})}"${view === ctx.view && html` aria-current="page"`}>${VIEW_TITLES[view]}</a>`,
  );
  const json = `${ctx.basePath}/api/${ctx.view}${queryString(ctx, currentParams(ctx))}`;
  return document(
    title,
    html`<h1>Watch log: ${title}</h1>
<nav class="views">${views}<a href="${json}">JSON</a></nav>
${renderForm(ctx)}
${content}`,
  );
}

function renderForm(ctx: ViewContext): SafeHtml {
  const { form } = ctx;
  const text = (name: Field, label: string, placeholder = ''): SafeHtml =>
    html`<label>${label}<input type="text" name="${name}" value="${form[name]}" placeholder="${placeholder}"></label>`;
  const option = (value: string, label: string): SafeHtml =>
    html`<option value="${value}"${form.authenticated === value && html` selected`}>${label}</option>`;
  return html`<form class="filters" method="get" action="${ctx.basePath}${VIEW_PATHS[ctx.view]}">
${text('path', 'Video path')}
${text('user', 'User')}
${text('ip', 'IP')}
<label>Authenticated<select name="authenticated">${option('', 'any')}${option('true', 'yes')}${option('false', 'no')}</select></label>
${text('from', 'From (UTC)', '2025-01-31 or epoch ms')}
${text('to', 'To (UTC, exclusive)', '2025-02-01T12:00')}
${text('q', 'Search')}
<label>Rows<input type="number" name="limit" min="1" max="${MAX_PAGE_LIMIT}" value="${form.limit}" placeholder="${DEFAULT_PAGE_LIMIT}"></label>
${form.sort !== '' && html`<input type="hidden" name="sort" value="${form.sort}">`}
${form.order !== '' && html`<input type="hidden" name="order" value="${form.order}">`}
${ctx.token !== null && html`<input type="hidden" name="token" value="${ctx.token}">`}
<button type="submit">Filter</button>
<a href="${viewHref(ctx, ctx.view, { keepFilters: false })}">Reset</a>
</form>`;
}

type Column<Row> = {
  readonly label: string;
  /** A key of the view's sort whitelist, or undefined for a column that cannot be sorted. */
  readonly sort?: string;
  readonly numeric?: boolean;
  readonly cell: (row: Row, ctx: ViewContext) => SafeHtml;
};

const SESSION_COLUMNS: readonly Column<SessionRow>[] = [
  { label: 'Video', sort: 'path', cell: (r, ctx) => pathCell(ctx, r.path) },
  { label: 'Viewer', cell: (r, ctx) => viewerCell(ctx, r) },
  { label: 'When', sort: 'firstSeen', cell: (r) => timeCell(r.firstSeen) },
  { label: 'Duration', numeric: true, cell: (r) => html`${formatDuration(r.lastSeen - r.firstSeen)}` },
  { label: 'Requests', sort: 'requests', numeric: true, cell: (r) => html`${r.requests}` },
  { label: 'Bytes', sort: 'bytesSent', numeric: true, cell: (r) => bytesCell(r.bytesSent) },
  { label: 'Watched', sort: 'coverage', cell: (r) => percentBar(r.coverage) },
  { label: 'User agent', cell: (r) => truncated(r.userAgent, USER_AGENT_CHARS) },
];

const REQUEST_COLUMNS: readonly Column<RequestRow>[] = [
  { label: 'Time', sort: 'startedAt', cell: (r) => timeCell(r.startedAt) },
  { label: 'Video', sort: 'path', cell: (r, ctx) => pathCell(ctx, r.path) },
  { label: 'Viewer', cell: (r, ctx) => viewerCell(ctx, r) },
  { label: 'Status', sort: 'status', numeric: true, cell: (r) => html`${r.status}` },
  { label: 'Range', cell: (r) => truncated(r.range, USER_AGENT_CHARS) },
  { label: 'Bytes', sort: 'bytesSent', numeric: true, cell: (r) => bytesCell(r.bytesSent) },
  { label: 'Aborted', cell: (r) => (r.aborted ? html`yes` : html`<span class="muted">no</span>`) },
  { label: 'Duration', sort: 'durationMs', numeric: true, cell: (r) => html`${formatDuration(r.durationMs)}` },
];

const VIDEO_COLUMNS: readonly Column<VideoTotalRow>[] = [
  {
    label: 'Video',
    sort: 'path',
    cell: (r, ctx) => html`<a href="${viewHref(ctx, 'sessions', { path: r.path })}">${r.path}</a>`,
  },
  { label: 'Sessions', sort: 'sessions', numeric: true, cell: (r) => html`${r.sessions}` },
  { label: 'Viewers', sort: 'viewers', numeric: true, cell: (r) => html`${r.viewers}` },
  { label: 'Requests', sort: 'requests', numeric: true, cell: (r) => html`${r.requests}` },
  { label: 'Bytes', sort: 'bytesSent', numeric: true, cell: (r) => bytesCell(r.bytesSent) },
  { label: 'Avg watched', sort: 'avgCoverage', cell: (r) => percentBar(r.avgCoverage) },
  { label: 'Last seen', sort: 'lastSeen', cell: (r) => timeCell(r.lastSeen) },
];

function renderResults(ctx: ViewContext, page: Page): SafeHtml {
  switch (page.view) {
    case 'sessions':
      return resultsTable(ctx, SESSION_COLUMNS, page.rows, page.total, 'No sessions match.');
    case 'requests':
      return resultsTable(ctx, REQUEST_COLUMNS, page.rows, page.total, 'No requests match.');
    case 'videos':
      return resultsTable(ctx, VIDEO_COLUMNS, page.rows, page.total, 'No videos match.');
    default:
      return assertNever(page);
  }
}

function resultsTable<Row>(
  ctx: ViewContext,
  columns: readonly Column<Row>[],
  rows: readonly Row[],
  total: number,
  empty: string,
): SafeHtml {
  const head = columns.map((column) => headerCell(ctx, column));
  const body =
    rows.length === 0
      ? html`<tr><td colspan="${columns.length}" class="muted">${empty}</td></tr>`
      : rows.map(
          (row) =>
            html`<tr>${columns.map((c) => html`<td${c.numeric === true && html` class="num"`}>${c.cell(row, ctx)}</td>`)}</tr>\n`,
        );
  const pager = pagination(ctx, rows.length, total);
  return html`${pager}
<table>
<thead><tr>${head}</tr></thead>
<tbody>
${body}</tbody>
</table>
${pager}`;
}

function headerCell<Row>(ctx: ViewContext, column: Column<Row>): SafeHtml {
  const cls = column.numeric === true && html` class="num"`;
  if (column.sort === undefined) return html`<th${cls}>${column.label}</th>`;
  const active = ctx.sort === column.sort;
  const next = active ? (ctx.order === 'desc' ? 'asc' : 'desc') : ASCENDING_FIRST.has(column.sort) ? 'asc' : 'desc';
  const href = viewHref(ctx, ctx.view, { sort: column.sort, order: next });
  const ariaSort = active ? (ctx.order === 'asc' ? 'ascending' : 'descending') : undefined;
  return html`<th${cls}${ariaSort !== undefined && html` aria-sort="${ariaSort}"`}><a href="${href}">${column.label}${
    active && (ctx.order === 'asc' ? ' ▲' : ' ▼')
  }</a></th>`;
}

function pagination(ctx: ViewContext, shown: number, total: number): SafeHtml {
  const first = ctx.offset + 1;
  const last = ctx.offset + shown;
  const summary =
    shown > 0 ? `${first}–${last} of ${total}` : total > 0 ? `No rows past ${ctx.offset} (${total} in all)` : '0 of 0';
  const prev =
    ctx.offset > 0
      ? html`<a rel="prev" href="${viewHref(ctx, ctx.view, { offset: Math.max(0, ctx.offset - ctx.limit) })}">← Prev</a>`
      : html`<span class="muted">← Prev</span>`;
  const next =
    last < total && shown > 0
      ? html`<a rel="next" href="${viewHref(ctx, ctx.view, { offset: last })}">Next →</a>`
      : html`<span class="muted">Next →</span>`;
  return html`<nav class="pages">${prev}<span>${summary}</span>${next}</nav>`;
}

type LinkChanges = {
  readonly keepFilters?: boolean;
  readonly sort?: string;
  readonly order?: string;
  readonly offset?: number;
  readonly path?: string;
  readonly user?: string;
  readonly ip?: string;
};

/**
 * A link to `view` under basePath. Within the same view it keeps the filters and the sort and
 * restarts paging unless `offset` is given; to another view only the filters travel. `path`,
 * `user` and `ip` replace a filter. The token parameter always goes along.
 */
function viewHref(ctx: ViewContext, view: ViewName, changes: LinkChanges): string {
  const params = new Map<string, string>();
  if (changes.keepFilters !== false) {
    for (const field of FILTER_FIELDS) params.set(field, ctx.form[field]);
    if (view === ctx.view) {
      params.set('sort', ctx.form.sort);
      params.set('order', ctx.form.order);
    }
  }
  if (changes.path !== undefined) params.set('path', changes.path);
  if (changes.user !== undefined) params.set('user', changes.user);
  if (changes.ip !== undefined) params.set('ip', changes.ip);
  if (changes.sort !== undefined) params.set('sort', changes.sort);
  if (changes.order !== undefined) params.set('order', changes.order);
  if (changes.offset !== undefined && changes.offset > 0) params.set('offset', String(changes.offset));
  return `${ctx.basePath}${VIEW_PATHS[view]}${queryString(ctx, params)}`;
}

function currentParams(ctx: ViewContext): Map<string, string> {
  const params = new Map<string, string>();
  for (const field of FIELDS) params.set(field, ctx.form[field]);
  return params;
}

function queryString(ctx: ViewContext, params: ReadonlyMap<string, string>): string {
  const search = new URLSearchParams();
  for (const [key, value] of params) if (value !== '') search.set(key, value);
  if (ctx.token !== null) search.set('token', ctx.token);
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

function pathCell(ctx: ViewContext, path: string): SafeHtml {
  return html`<a href="${viewHref(ctx, ctx.view, { path })}">${path}</a>`;
}

function viewerCell(ctx: ViewContext, row: { readonly userId: string | null; readonly ip: string; readonly isAuthenticated: boolean }): SafeHtml {
  if (row.userId !== null) {
    const title = `${row.isAuthenticated ? 'authenticated' : 'unauthenticated'} user, from ${row.ip}`;
    return html`<a href="${viewHref(ctx, ctx.view, { user: row.userId })}" title="${title}">${row.userId}</a>`;
  }
  return html`<a href="${viewHref(ctx, ctx.view, { ip: row.ip })}">${row.ip}</a>`;
}

function timeCell(ms: number): SafeHtml {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) return html`${ms}`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso}</time>`;
}

function bytesCell(bytes: number): SafeHtml {
  return html`<span title="${bytes} bytes">${formatBytes(bytes)}</span>`;
}

/** A bar whose width is the fraction clamped to 0…100 %; NaN counts as 0. */
function percentBar(fraction: number): SafeHtml {
  const percent = Number.isFinite(fraction) ? Math.min(100, Math.max(0, fraction * 100)) : 0;
  const width = percent.toFixed(1);
  return html`<div class="bar" title="${width}%"><div style="width:${width}%"></div></div>${Math.round(percent)}%`;
}

/** The first `max` characters (code points, so no half surrogate pair) with the whole value as a tooltip. */
function truncated(value: string | null, max: number): SafeHtml {
  if (value === null) return html`<span class="muted">—</span>`;
  const chars = Array.from(value);
  if (chars.length <= max) return html`${value}`;
  return html`<span title="${value}">${chars.slice(0, max).join('')}…</span>`;
}

const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 1024) return `${bytes} B`;
  let value = bytes;
  let unit = 'B';
  for (const next of BYTE_UNITS) {
    if (value < 1024) break;
    value /= 1024;
    unit = next;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${unit}`;
}

function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s).padStart(2, '0')}s`;
}
