import { html, SafeHtml } from './html.ts';
import type { RequestRow, SessionRow, VideoTotalRow } from '../query.ts';
import { LOCAL_TIME_SCRIPT } from './local-time.ts';
import { formatClock } from './heat-strip.ts';
import {
  ASCENDING_FIRST,
  DEFAULT_PAGE_LIMIT,
  FIELDS,
  FILTER_FIELDS,
  MAX_DATE_MS,
  MAX_PAGE_LIMIT,
  VIEW_PATHS,
  VIEW_TITLES,
  type Field,
  type Page,
  type ViewContext,
  type ViewName,
} from './views.ts';

const USER_AGENT_CHARS = 60;

export const STYLE = `
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
  svg.heat { vertical-align: middle; }
`;
// A constant of this file, never data: the one place markup is trusted without the html tag.
export const STYLE_SHEET: SafeHtml = new SafeHtml(STYLE);

export function document(title: string, body: SafeHtml): SafeHtml {
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
${LOCAL_TIME_SCRIPT}
</body>
</html>
`;
}

export function renderPage(ctx: ViewContext, content: SafeHtml): SafeHtml {
  const title = VIEW_TITLES[ctx.view];
  const views = (['sessions', 'requests', 'videos'] as const).map(
    (view) =>
      html`<a href="${viewHref(ctx, view, {})}"${view === ctx.view && html` aria-current="page"`}>${VIEW_TITLES[view]}</a>`,
  );
  const json = `${ctx.basePath}/api/${ctx.view}${queryString(ctx, currentParams(ctx))}`;
  return document(
    title,
    html`<h1>Watch log: ${title}</h1>
<nav class="views">${views}<a href="${json}">JSON</a>${exportLinks(ctx)}</nav>
${renderForm(ctx)}
${content}`,
  );
}

export function renderForm(ctx: ViewContext): SafeHtml {
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
${text('from', 'From (UTC unless an offset is given)', 'YYYY-MM-DD[Thh:mm] or epoch ms')}
${text('to', 'To (exclusive)', 'YYYY-MM-DD[Thh:mm] or epoch ms')}
${text('q', 'Search')}
<label>Rows<input type="number" name="limit" min="1" max="${MAX_PAGE_LIMIT}" value="${form.limit}" placeholder="${DEFAULT_PAGE_LIMIT}"></label>
${form.sort !== '' && html`<input type="hidden" name="sort" value="${form.sort}">`}
${form.order !== '' && html`<input type="hidden" name="order" value="${form.order}">`}
${ctx.token !== null && html`<input type="hidden" name="token" value="${ctx.token}">`}
<button type="submit">Filter</button>
<a href="${viewHref(ctx, ctx.view, { keepFilters: false })}">Reset</a>
</form>`;
}

export type Column<Row> = {
  readonly label: string;
  /** A key of the view's sort whitelist, or undefined for a column that cannot be sorted. */
  readonly sort?: string;
  readonly numeric?: boolean;
  readonly cell: (row: Row, ctx: ViewContext) => SafeHtml;
};

export const SESSION_COLUMNS: readonly Column<SessionRow>[] = [
  { label: 'Video', sort: 'path', cell: (r, ctx) => pathCell(ctx, r.path) },
  { label: 'Viewer', cell: (r, ctx) => viewerCell(ctx, r) },
  { label: 'When', sort: 'firstSeen', cell: (r) => timeCell(r.firstSeen) },
  { label: 'Watch time', sort: 'watchedSeconds', numeric: true, cell: (r) => (r.reports > 0 ? html`${formatClock(r.watchedSeconds)}` : NO_BEACON) },
  { label: 'Watched', cell: (r) => (r.watchedPercent === null ? NO_BEACON : percentBar(r.watchedPercent / 100)) },
  { label: 'Position', sort: 'position', numeric: true, cell: (r) => (r.position === null ? NO_BEACON : html`${formatClock(r.position)}`) },
  { label: 'Delivered (bytes sent)', sort: 'coverage', cell: (r) => (r.deliveredPercent === null ? html`<span class="muted">in segments</span>` : percentBar(r.deliveredPercent / 100)) },
  { label: 'Requests', sort: 'requests', numeric: true, cell: (r) => html`${r.requests}` },
  { label: 'Bytes', sort: 'bytesSent', numeric: true, cell: (r) => bytesCell(r.bytesSent) },
  { label: 'User agent', cell: (r) => truncated(r.userAgent, USER_AGENT_CHARS) },
];

export const REQUEST_COLUMNS: readonly Column<RequestRow>[] = [
  { label: 'Time', sort: 'startedAt', cell: (r) => timeCell(r.startedAt) },
  { label: 'Video', sort: 'path', cell: (r, ctx) => pathCell(ctx, r.path) },
  { label: 'Viewer', cell: (r, ctx) => viewerCell(ctx, r) },
  { label: 'Status', sort: 'status', numeric: true, cell: (r) => html`${r.status}` },
  { label: 'Range', cell: (r) => truncated(r.range, USER_AGENT_CHARS) },
  { label: 'Bytes', sort: 'bytesSent', numeric: true, cell: (r) => bytesCell(r.bytesSent) },
  { label: 'Aborted', cell: (r) => (r.aborted ? html`yes` : html`<span class="muted">no</span>`) },
  { label: 'Duration', sort: 'durationMs', numeric: true, cell: (r) => html`${formatDuration(r.durationMs)}` },
];

export const VIDEO_COLUMNS: readonly Column<VideoTotalRow>[] = [
  {
    label: 'Video',
    sort: 'path',
    cell: (r, ctx) => html`<a href="${viewHref(ctx, 'sessions', { path: r.path })}">${r.path}</a>`,
  },
  { label: 'Sessions', sort: 'sessions', numeric: true, cell: (r) => html`${r.sessions}` },
  { label: 'Viewers', sort: 'viewers', numeric: true, cell: (r) => html`${r.viewers}` },
  { label: 'Requests', sort: 'requests', numeric: true, cell: (r) => html`${r.requests}` },
  { label: 'Bytes', sort: 'bytesSent', numeric: true, cell: (r) => bytesCell(r.bytesSent) },
  { label: 'Watch time', sort: 'watchedSeconds', numeric: true, cell: (r) => (r.reportedSessions > 0 ? html`${formatClock(r.watchedSeconds)}` : NO_BEACON) },
  { label: 'Avg watched', sort: 'avgWatchedPercent', cell: (r) => (r.avgWatchedPercent === null ? NO_BEACON : percentBar(r.avgWatchedPercent / 100)) },
  { label: 'Avg delivered (bytes sent)', sort: 'avgCoverage', cell: (r) => percentBar(r.avgCoverage) },
  { label: 'What was watched', cell: (r, ctx) => ctx.heat?.(r.path) ?? NO_BEACON },
  { label: 'Last seen', sort: 'lastSeen', cell: (r) => timeCell(r.lastSeen) },
];

// Watched figures come only from the player beacon; without one the log knows bytes only.
const NO_BEACON = html`<span class="muted" title="no beacon report: only delivered bytes are known">—</span>`;

/** Links to the whole filtered view as CSV and JSON files (every row, not one page). */
export function exportLinks(ctx: ViewContext): SafeHtml {
  const params = new Map<string, string>();
  for (const field of FILTER_FIELDS) if (field !== 'limit') params.set(field, ctx.form[field]);
  params.set('sort', ctx.form.sort);
  params.set('order', ctx.form.order);
  const href = (format: string): string => `${ctx.basePath}/export/${ctx.view}.${format}${queryString(ctx, params)}`;
  return html`<a href="${href('csv')}" download>Export CSV</a><a href="${href('json')}" download>Export JSON</a>`;
}

export function renderResults(ctx: ViewContext, page: Page): SafeHtml {
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

export function resultsTable<Row>(
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

export function headerCell<Row>(ctx: ViewContext, column: Column<Row>): SafeHtml {
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

export function pagination(ctx: ViewContext, shown: number, total: number): SafeHtml {
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

export type LinkChanges = {
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
export function viewHref(ctx: ViewContext, view: ViewName, changes: LinkChanges): string {
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

export function currentParams(ctx: ViewContext): Map<string, string> {
  const params = new Map<string, string>();
  for (const field of FIELDS) params.set(field, ctx.form[field]);
  return params;
}

export function queryString(ctx: ViewContext, params: ReadonlyMap<string, string>): string {
  const search = new URLSearchParams();
  for (const [key, value] of params) if (value !== '') search.set(key, value);
  if (ctx.token !== null) search.set('token', ctx.token);
  const text = search.toString();
  return text === '' ? '' : `?${text}`;
}

export function pathCell(ctx: ViewContext, path: string): SafeHtml {
  return html`<a href="${viewHref(ctx, ctx.view, { path })}">${path}</a>`;
}

export function viewerCell(ctx: ViewContext, row: { readonly userId: string | null; readonly ip: string; readonly isAuthenticated: boolean }): SafeHtml {
  if (row.userId !== null) {
    const title = `${row.isAuthenticated ? 'authenticated' : 'unauthenticated'} user, from ${row.ip}`;
    return html`<a href="${viewHref(ctx, ctx.view, { user: row.userId })}" title="${title}">${row.userId}</a>`;
  }
  return html`<a href="${viewHref(ctx, ctx.view, { ip: row.ip })}">${row.ip}</a>`;
}

export function timeCell(ms: number): SafeHtml {
  if (!Number.isFinite(ms) || Math.abs(ms) > MAX_DATE_MS) return html`${ms}`;
  const iso = new Date(ms).toISOString();
  return html`<time datetime="${iso}">${iso}</time>`;
}

export function bytesCell(bytes: number): SafeHtml {
  return html`<span title="${bytes} bytes">${formatBytes(bytes)}</span>`;
}

/** A bar whose width is the fraction clamped to 0…100 %; NaN counts as 0. */
export function percentBar(fraction: number): SafeHtml {
  const percent = Number.isFinite(fraction) ? Math.min(100, Math.max(0, fraction * 100)) : 0;
  const width = percent.toFixed(1);
  return html`<div class="bar" title="${width}%"><div style="width:${width}%"></div></div>${Math.round(percent)}%`;
}

/** The first `max` characters (code points, so no half surrogate pair) with the whole value as a tooltip. */
export function truncated(value: string | null, max: number): SafeHtml {
  if (value === null) return html`<span class="muted">—</span>`;
  const chars = Array.from(value);
  if (chars.length <= max) return html`${value}`;
  return html`<span title="${value}">${chars.slice(0, max).join('')}…</span>`;
}

export const BYTE_UNITS = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB'] as const;

export function formatBytes(bytes: number): string {
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

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '—';
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.floor(ms / 1000);
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return h > 0 ? `${h}h ${String(m).padStart(2, '0')}m` : `${m}m ${String(s).padStart(2, '0')}s`;
}

export function assertNever(value: never): never {
  throw new Error(`unexpected value ${String(value)}`);
}
