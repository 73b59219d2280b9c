import type { PlaybackEvents } from '../types.ts';

/** Largest beacon body accepted; a report of 64 played ranges fits in well under 4 KiB. */
export const MAX_BEACON_BYTES = 4096;
/** Most played ranges one report may carry (the beacon merges and bounds its own). */
export const MAX_REPORTED_RANGES = 64;
/** Longest media URL a report may name. */
export const MAX_BEACON_SRC = 2048;

const MAX_DURATION_SECONDS = 7 * 24 * 3600;
const MAX_EVENT_COUNT = 1_000_000;
// Browsers round played ends and durations differently; a range may end this far past the duration.
const END_SLACK_SECONDS = 0.5;
const KEYS = ['v', 'src', 'duration', 'position', 'played', 'rebuffer', 'events', 'reason'] as const;
const EVENT_NAMES = ['play', 'pause', 'seek', 'ended', 'stall', 'hidden'] as const;
const REASONS: ReadonlySet<string> = new Set(['interval', 'play', 'pause', 'seeked', 'ended', 'pagehide', 'hidden']);

/** A beacon body as the player sent it, once it has passed {@link parseBeaconReport}. */
export type BeaconBody = {
  /** The media URL's path and query, exactly as the player requested it (`/stream?path=a.mp4&sig=…`). */
  readonly src: string;
  readonly durationSeconds: number;
  readonly position: number;
  readonly played: readonly (readonly [number, number])[];
  readonly rebufferSeconds: number;
  readonly events: PlaybackEvents;
  readonly reason: string;
};

export type BeaconParse = { readonly kind: 'ok'; readonly body: BeaconBody } | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Validates a beacon body strictly: a JSON object with exactly the keys `v` (1), `src` (a path
 * starting with '/', at most 2048 characters), `duration` (finite, > 0, at most 7 days),
 * `position` (0…duration), `played` (at most 64 `[start, end]` pairs, 0 <= start < end <=
 * duration), `rebuffer` (seconds, 0…duration × 100), `events` (exactly play, pause, seek, ended,
 * stall and hidden, integers 0…1e6) and `reason`. Anything else is invalid: a report is client
 * input, and a 400 keeps nonsense out of the log.
 */
export function parseBeaconReport(text: string): BeaconParse {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return invalid('not JSON');
  }
  if (!isPlainObject(value)) return invalid('not an object');
  const keys = Object.keys(value);
  if (keys.length !== KEYS.length || !KEYS.every((key) => Object.hasOwn(value, key))) return invalid('wrong keys');
  const { v, src, duration, position, played, rebuffer, events, reason } = value as Record<(typeof KEYS)[number], unknown>;
  if (v !== 1) return invalid('unknown version');
  if (typeof src !== 'string' || src.length > MAX_BEACON_SRC || src.charCodeAt(0) !== 0x2f || src.charCodeAt(1) === 0x2f) {
    return invalid('bad src');
  }
  if (!isNumber(duration) || duration <= 0 || duration > MAX_DURATION_SECONDS) return invalid('bad duration');
  if (!isNumber(position) || position < 0 || position > duration + END_SLACK_SECONDS) return invalid('bad position');
  if (!Array.isArray(played) || played.length > MAX_REPORTED_RANGES) return invalid('bad played');
  const ranges: (readonly [number, number])[] = [];
  for (const range of played) {
    if (!Array.isArray(range) || range.length !== 2) return invalid('bad played range');
    const [start, end] = range as unknown[];
    if (!isNumber(start) || !isNumber(end) || start < 0 || end <= start || end > duration + END_SLACK_SECONDS) {
      return invalid('played range outside the duration');
    }
    ranges.push([start, Math.min(end, duration)]);
  }
  if (!isNumber(rebuffer) || rebuffer < 0 || rebuffer > duration * 100) return invalid('bad rebuffer');
  if (!isPlainObject(events)) return invalid('bad events');
  const eventKeys = Object.keys(events);
  if (eventKeys.length !== EVENT_NAMES.length || !EVENT_NAMES.every((name) => Object.hasOwn(events, name))) {
    return invalid('wrong event names');
  }
  const counts = {} as Record<(typeof EVENT_NAMES)[number], number>;
  for (const name of EVENT_NAMES) {
    const count = (events as Record<string, unknown>)[name];
    if (!Number.isSafeInteger(count) || (count as number) < 0 || (count as number) > MAX_EVENT_COUNT) return invalid('bad event count');
    counts[name] = count as number;
  }
  if (typeof reason !== 'string' || !REASONS.has(reason)) return invalid('bad reason');
  return {
    kind: 'ok',
    body: { src, durationSeconds: duration, position: Math.min(position, duration), played: ranges, rebufferSeconds: rebuffer, events: counts, reason },
  };
}

function invalid(reason: string): BeaconParse {
  return { kind: 'invalid', reason };
}

function isNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
