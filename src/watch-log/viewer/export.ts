import type { WatchLog } from '../watch-log.ts';
import type { WatchQuery } from '../query.ts';
import type { ViewName } from './views.ts';

/** Rows an export holds at most (500 per query, WatchLog's page cap). */
export const MAX_EXPORT_ROWS = 100_000;
const PAGE = 500;

/** One export: the body and how to send it. */
export type ExportFile = { readonly type: string; readonly filename: string; readonly body: string };

/**
 * Every row of `view` that matches `query` (filters apply; paging does not), as CSV (RFC 4180:
 * CRLF lines, fields quoted when they hold a comma, quote or line break, and a leading `=`, `+`,
 * `-` or `@` prefixed with `'` so a spreadsheet never runs a value as a formula) or as JSON
 * (`{ rows, total }`, times as ISO 8601 next to epoch ms). At most 100 000 rows.
 */
export function exportView(log: WatchLog, view: ViewName, query: WatchQuery, format: 'csv' | 'json'): ExportFile {
  const rows: Record<string, unknown>[] = [];
  for (let offset = 0; rows.length < MAX_EXPORT_ROWS; offset += PAGE) {
    const page = fetchRows(log, view, { ...query, limit: PAGE, offset });
    rows.push(...page.map(withIsoTimes));
    if (page.length < PAGE) break;
  }
  const filename = `watch-log-${view}.${format}`;
  if (format === 'json') return { type: 'application/json; charset=utf-8', filename, body: JSON.stringify({ rows, total: rows.length }) };
  const columns = rows[0] === undefined ? [] : Object.keys(rows[0]);
  const lines = [columns.map(csvField).join(','), ...rows.map((row) => columns.map((c) => csvField(row[c])).join(','))];
  return { type: 'text/csv; charset=utf-8', filename, body: `${lines.join('\r\n')}\r\n` };
}

function fetchRows(log: WatchLog, view: ViewName, query: WatchQuery): readonly object[] {
  switch (view) {
    case 'sessions':
      return log.sessions(query).rows;
    case 'requests':
      return log.requests(query).rows;
    case 'videos':
      return log.videos(query);
  }
}

const TIME_FIELDS = ['firstSeen', 'lastSeen', 'startedAt'] as const;

function withIsoTimes(row: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...row };
  for (const field of TIME_FIELDS) {
    const ms = out[field];
    if (typeof ms === 'number' && Number.isFinite(ms) && Math.abs(ms) <= 8.64e15) out[`${field}Iso`] = new Date(ms).toISOString();
  }
  return out;
}

const NEEDS_QUOTES = /[",\r\n]/;
const FORMULA = /^[=+\-@\t\r]/;

/** One CSV field: arrays and objects as JSON, null as empty. */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text = typeof value === 'object' ? JSON.stringify(value) : String(value);
  if (typeof value === 'string' && FORMULA.test(text)) text = `'${text}`;
  return NEEDS_QUOTES.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}
