import type { SafeHtml } from './html.ts';
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

// The viewer's vocabulary: its three views, their routes and sorts, the query fields they read,
// and the context a page is rendered with. viewer.ts parses into it; render.ts draws from it.

/** Rows per page unless `limit` says otherwise; the same default as {@link WatchLog}. */
export const DEFAULT_PAGE_LIMIT: number = 50;

/** Larger `limit` values are clamped to this, WatchLog's own cap. */
export const MAX_PAGE_LIMIT: number = 500;

/** Dates past this are not representable (ECMAScript's Date range). */
export const MAX_DATE_MS = 8.64e15;

export type ViewName = 'sessions' | 'requests' | 'videos';
export type Format = 'html' | 'json';
export type Route = { readonly view: ViewName; readonly format: Format };

export const ROUTES: Readonly<Record<string, Route>> = Object.freeze({
  '/': { view: 'sessions', format: 'html' },
  '/requests': { view: 'requests', format: 'html' },
  '/videos': { view: 'videos', format: 'html' },
  '/api/sessions': { view: 'sessions', format: 'json' },
  '/api/requests': { view: 'requests', format: 'json' },
  '/api/videos': { view: 'videos', format: 'json' },
});

export const VIEW_PATHS = { sessions: '/', requests: '/requests', videos: '/videos' } as const;
export const VIEW_TITLES = { sessions: 'Sessions', requests: 'Requests', videos: 'Videos' } as const;
export const VIEW_SORTS: Readonly<Record<ViewName, Readonly<Record<string, string>>>> = {
  sessions: SESSION_SORTS,
  requests: REQUEST_SORTS,
  videos: VIDEO_SORTS,
};
// The column WatchLog sorts by when no (known) sort is given, always newest first.
export const DEFAULT_SORTS = { sessions: 'firstSeen', requests: 'startedAt', videos: 'lastSeen' } as const;
// Text columns sort A→Z on the first click; numbers and times biggest / newest first.
export const ASCENDING_FIRST: ReadonlySet<string> = new Set(['path', 'userId', 'ip']);

export const FIELDS = ['path', 'user', 'ip', 'authenticated', 'from', 'to', 'q', 'sort', 'order', 'limit', 'offset'] as const;
export type Field = (typeof FIELDS)[number];
/** The query parameters as the client sent them ('' when absent), for echoing into the form and links. */
export type Form = Readonly<Record<Field, string>>;
// The filters that survive a switch between views (sort keys differ per view; paging restarts).
export const FILTER_FIELDS: readonly Field[] = ['path', 'user', 'ip', 'authenticated', 'from', 'to', 'q', 'limit'];

export type Params = {
  readonly query: WatchQuery;
  readonly sort: string;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly offset: number;
};
export type Parsed = { readonly kind: 'ok'; readonly params: Params } | { readonly kind: 'invalid'; readonly message: string };
export type Mutable<T> = { -readonly [K in keyof T]: Exclude<T[K], undefined> };

export type Page =
  | { readonly view: 'sessions'; readonly rows: readonly SessionRow[]; readonly total: number }
  | { readonly view: 'requests'; readonly rows: readonly RequestRow[]; readonly total: number }
  | { readonly view: 'videos'; readonly rows: readonly VideoTotalRow[]; readonly total: number };

export type ViewContext = {
  readonly basePath: string;
  /** The token query parameter of this request, carried on by every link; null when absent. */
  readonly token: string | null;
  readonly view: ViewName;
  readonly form: Form;
  readonly sort: string;
  readonly order: 'asc' | 'desc';
  readonly limit: number;
  readonly offset: number;
  /** Draws a video's heat strip (videos view only). */
  readonly heat?: ((path: string) => SafeHtml) | undefined;
};
