import type { StreamRequest } from '../types.ts';

/**
 * How fast one response may go: `burstBytes` at full speed first (nginx's limit_rate_after),
 * then `bytesPerSecond` (limit_rate). Video players buffer the burst and then need only the
 * film's bitrate; a small margin above it keeps playback smooth.
 */
export type RateLimit = {
  readonly bytesPerSecond: number;
  /** Sent at full speed before pacing starts. Default 0. */
  readonly burstBytes?: number | undefined;
};

/**
 * A rate for every response, or one chosen per request (per user, per file): `path` is the file
 * as the handler names it (relative to root) or the path given to `streamFile`. Returning
 * undefined leaves that response unpaced.
 */
export type RateOption = RateLimit | ((req: StreamRequest, path: string) => RateLimit | undefined);

/** The resolved form: always a function, so the hot path asks one question. */
export type ChooseRate = (req: StreamRequest, path: string) => RateLimit | undefined;

/** Validates `rate` once at setup; a function's answers are validated per response. */
export function resolveRate(rate: RateOption | undefined, name: string): ChooseRate | undefined {
  if (rate === undefined) return undefined;
  if (typeof rate === 'function') {
    return (req, path) => {
      const chosen = rate(req, path);
      if (chosen !== undefined) checkRateLimit(chosen, `${name}(req)`);
      return chosen;
    };
  }
  checkRateLimit(rate, name);
  const fixed = Object.freeze({ ...rate });
  return () => fixed;
}

function checkRateLimit(rate: RateLimit, name: string): void {
  if (rate === null || typeof rate !== 'object') throw new TypeError(`${name} must be { bytesPerSecond, burstBytes? }`);
  const { bytesPerSecond, burstBytes = 0 } = rate;
  if (!Number.isSafeInteger(bytesPerSecond) || bytesPerSecond < 1) {
    throw new TypeError(`${name}.bytesPerSecond must be an integer >= 1, got ${String(bytesPerSecond)}`);
  }
  if (!Number.isSafeInteger(burstBytes) || burstBytes < 0) {
    throw new TypeError(`${name}.burstBytes must be an integer >= 0, got ${String(burstBytes)}`);
  }
}

/** Pacing aims at about this many writes a second: smooth, yet few timers. */
const PACED_WRITES_PER_SECOND = 10;

/**
 * Paces one response: tells how long to wait before sending the next bytes, and how large a
 * chunk to read, so nothing is ever read ahead of its time (memory stays flat while paced).
 */
export class Pacer {
  readonly #bytesPerSecond: number;
  readonly #burstBytes: number;
  readonly #chunkSize: number;
  #pacingSinceMs: number | undefined;

  constructor(rate: RateLimit) {
    this.#bytesPerSecond = rate.bytesPerSecond;
    this.#burstBytes = rate.burstBytes ?? 0;
    this.#chunkSize = Math.max(1024, Math.floor(rate.bytesPerSecond / PACED_WRITES_PER_SECOND));
  }

  /** The largest read worth making now, `sent` bytes into the body. */
  chunkLimit(sent: number): number {
    return sent < this.#burstBytes ? this.#burstBytes - sent : this.#chunkSize;
  }

  /** How long to wait before sending more, once `sent` body bytes have gone; 0 to go on. */
  delayMs(sent: number, nowMs: number): number {
    const paced = sent - this.#burstBytes;
    if (paced < 0) return 0;
    this.#pacingSinceMs ??= nowMs;
    const dueMs = this.#pacingSinceMs + (paced * 1000) / this.#bytesPerSecond;
    return Math.max(0, dueMs - nowMs);
  }
}
