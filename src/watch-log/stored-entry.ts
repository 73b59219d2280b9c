import type { ByteRange, WatchEntry } from '../types.ts';

const MAX_RANGE_HEADER = 200;
/** User agents are stored, and queued, cut to this many characters. */
export const MAX_USER_AGENT = 512;
// What an entry costs in the queue besides its strings: the object, its numbers, the ranges array.
const ENTRY_OVERHEAD_BYTES = 200;
const RANGE_BYTES = 48;

/**
 * The entry as it waits in the queue, with its long strings cut to what is stored (a raw
 * 16 KB User-Agent per request once grew a queue of 10,000 to hundreds of MB), and what it
 * costs there, so the queue can be bounded in bytes as well as entries.
 */
export function queuedEntry(e: WatchEntry): { readonly entry: WatchEntry; readonly bytes: number } {
  const userAgent = typeof e.userAgent === 'string' && e.userAgent.length > MAX_USER_AGENT ? cut(e.userAgent, MAX_USER_AGENT) : e.userAgent;
  const range = typeof e.range === 'string' && e.range.length > MAX_RANGE_HEADER ? cut(e.range, MAX_RANGE_HEADER) : e.range;
  const entry = userAgent === e.userAgent && range === e.range ? e : { ...e, userAgent, range };
  const text = textLength(entry.path) + textLength(entry.userId) + textLength(entry.ip) + textLength(userAgent) + textLength(range);
  const ranges = Array.isArray(entry.ranges) ? entry.ranges.length : 0;
  return { entry, bytes: ENTRY_OVERHEAD_BYTES + 2 * text + RANGE_BYTES * ranges };
}

// The first `max` characters as a string of their own: V8's slice() keeps a reference to the whole
// original (a "sliced string"), so a queue of cut 16 KB headers would still hold 16 KB each.
function cut(text: string, max: number): string {
  return Buffer.from(text.slice(0, max), 'utf16le').toString('utf16le');
}

function textLength(value: unknown): number {
  return typeof value === 'string' ? value.length : 0;
}

// A WatchEntry as stored: with its viewer key, and booleans as SQLite integers.
export type Normalized = Omit<WatchEntry, 'isAuthenticated' | 'aborted'> & {
  readonly viewer: string;
  readonly isAuthenticated: 0 | 1;
  readonly aborted: 0 | 1;
};

// Coerces whatever a JavaScript caller passed into values SQLite's NOT NULL columns accept, so one
// malformed entry cannot fail the whole batch forever.
export function normalizeEntry(e: WatchEntry, now: number): Normalized {
  const userId = optionalText(e.userId, Infinity);
  const isAuthenticated = e.isAuthenticated === true;
  const ip = String(e.ip ?? '');
  const userAgent = optionalText(e.userAgent, MAX_USER_AGENT);
  const size = nonNegative(e.size);
  const status = nonNegative(e.status);
  let ranges: readonly ByteRange[] = Array.isArray(e.ranges) ? e.ranges : [];
  // A 200 logged without its range still served the whole file.
  if (ranges.length === 0 && status === 200 && size > 0) ranges = [{ start: 0, end: size - 1 }];
  return {
    path: String(e.path ?? ''),
    viewer: isAuthenticated && userId !== null ? `u:${userId}` : `a:${JSON.stringify([ip, userAgent])}`,
    userId,
    isAuthenticated: isAuthenticated ? 1 : 0,
    ip,
    userAgent,
    status,
    range: optionalText(e.range, MAX_RANGE_HEADER),
    ranges,
    bytesSent: nonNegative(e.bytesSent),
    aborted: e.aborted === true ? 1 : 0,
    size,
    startedAt: Number.isFinite(e.startedAt) ? Math.trunc(e.startedAt) : now,
    durationMs: nonNegative(e.durationMs),
  };
}

function optionalText(value: unknown, max: number): string | null {
  if (value === null || value === undefined) return null;
  const text = String(value);
  return text.length > max ? text.slice(0, max) : text;
}

function nonNegative(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? Math.trunc(value) : 0;
}
