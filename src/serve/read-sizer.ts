import type { BufferPool } from '../files/buffer-pool.ts';
import type { ResponseSink } from '../types.ts';

/** A read in flight: the size asked for and the buffer it fills. */
export type PendingRead = { readonly size: number; readonly buffer: Buffer; readonly chunk: Promise<Buffer> };

/**
 * Memory that reads larger than `chunkSize` may pin in this process at once: bytes read and
 * handed to `res.write` whose write has not completed. A slow client backs up with whatever chunk
 * it was sent last, so without a bound, 200 clients that slow down after a fast start would pin
 * 200 large chunks.
 */
export const LARGE_READ_BUDGET: number = 32 * 1024 * 1024;
let largeReadBytesPinned = 0;

/** A client whose socket drains a chunk within this is keeping up; one that takes longer is not. */
const PROMPT_DRAIN_MS = 20;
/** Reads grow only once this much went out with prompt drains: more than socket buffers hold. */
const GROWTH_AFTER_BYTES = 16 * 1024 * 1024;
/** A range of up to this many `chunkSize`s is read in one go. */
const SHORT_RANGE_CHUNKS = 4;

/**
 * Picks each read's size from the client's pace (FACTS: read size is the throughput knob, and
 * memory its price): it doubles from `chunkSize` up to `maxReadSize` while the socket drains each
 * chunk promptly, falls back to `chunkSize` as soon as one waits, and stays there while the
 * process-wide budget for large reads is spent. (`res.write` returning true is no signal: it is
 * false for any chunk above the socket's 16 KiB high-water mark, however fast the client.)
 */
export class ReadSizer {
  readonly #min: number;
  readonly #max: number;
  #size: number;
  #pinned = 0; // this response's share of largeReadBytesPinned
  #read = 0; // bytes read so far

  constructor(res: ResponseSink, min: number, max: number) {
    this.#min = min;
    this.#max = max;
    this.#size = min;
    // 'close' comes after the last write callback, or instead of it when the client left.
    if (max > min) res.once('close', () => this.#unpin(this.#pinned));
  }

  /** How many bytes to read next, `remaining` being what is left of the range. */
  next(remaining: number): number {
    // A short range is read whole (a 256 KiB seek is one read); a long one starts small.
    const size = this.#read === 0 && remaining <= SHORT_RANGE_CHUNKS * this.#min ? remaining : Math.min(remaining, this.#size);
    this.#read += size;
    if (size <= this.#min) return size;
    if (largeReadBytesPinned + size > LARGE_READ_BUDGET) return Math.min(remaining, this.#min);
    largeReadBytesPinned += size; // a read larger than `chunkSize` is always a pinned one
    this.#pinned += size;
    return size;
  }

  /** Whether the client drains chunks promptly (reads have grown): then reading ahead pays. */
  get keepingUp(): boolean {
    return this.#size > this.#min;
  }

  /**
   * The write callback for a chunk: it unpins a large one once written, and hands the buffer back
   * to the pool, but only after a write that succeeded (see `BufferPool`).
   */
  written(read: PendingRead, pool: BufferPool | undefined): ((err?: Error | null) => void) | undefined {
    const large = read.size > this.#min;
    if (!large && pool === undefined) return undefined;
    return (err) => {
      if (large) this.#unpin(read.size);
      if (!err) pool?.give(read.buffer);
    };
  }

  /**
   * Grows while the socket keeps up, shrinks when a chunk took long to drain. Not before
   * `GROWTH_AFTER_BYTES`: socket buffers (several MiB on loopback) take the start of any response
   * at once, so early drains say nothing about the client.
   */
  adapt(drainMs: number): void {
    if (drainMs >= PROMPT_DRAIN_MS) this.#size = this.#min;
    else if (this.#read >= GROWTH_AFTER_BYTES) this.#size = Math.min(this.#size * 2, this.#max);
  }

  #unpin(length: number): void {
    const unpinned = Math.min(length, this.#pinned);
    this.#pinned -= unpinned;
    largeReadBytesPinned -= unpinned;
  }
}
