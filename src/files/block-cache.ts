import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { StreamError } from '../errors.ts';
import { READ_TOTALS } from './file-iterator.ts';

/** Blocks are 64 KiB, aligned on multiples of 64 KiB from the start of the file. */
export const BLOCK_SIZE: number = 64 * 1024;

/** 64 MiB: a thousand hot file starts (a player's first bytes and index atoms) at 64 KiB each. */
export const DEFAULT_BLOCK_CACHE_MAX_BYTES: number = 64 * 1024 * 1024;

/**
 * Bodies of at most this many bytes go through the cache (at most three blocks); anything longer
 * is streamed from the file and never cached, so a whole large file is never held.
 */
export const BLOCK_CACHE_MAX_BODY: number = 2 * BLOCK_SIZE;

/** What `createStreamHandler`'s `blockCache` option takes. */
export type BlockCacheOptions = {
  /** Most bytes of file blocks held at once; the least recently used block goes first. */
  readonly maxBytes: number;
};

/** Counters of a block cache, for metrics: a snapshot, taken when asked. */
export type BlockCacheStats = {
  /** Bodies answered from cached blocks alone. */
  readonly hits: number;
  /** Bodies that needed at least one block read from the file. */
  readonly misses: number;
  /** Bytes of blocks held now (never above `maxBytes`). */
  readonly bytes: number;
  /** Blocks held now. */
  readonly blocks: number;
  readonly maxBytes: number;
};

/** A file version's block keys, made once per version (strings hashed once, not per request). */
export type FileVersion = {
  readonly key: string;
  blockKey(index: number): string;
};

/**
 * Which version of which file a block belongs to: device, inode, size, mtime and ctime, all from
 * the stat the request path has just checked (the open-file cache's `isSameVersion` fields). A
 * file rewritten, truncated, renamed over or touched gets another key, so its old blocks are
 * never served for it; they just age out of the LRU. Remembered per stats object: a file kept
 * open by the open-file cache hands the same one to every request.
 */
export function versionKey(stats: BigIntStats): FileVersion {
  let version = VERSIONS.get(stats);
  if (version === undefined) {
    const key = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeNs}:${stats.ctimeNs}`;
    const blockKeys: string[] = [];
    // Only the first blocks' keys are kept (the starts and index atoms players ask for every time),
    // so a version's memory stays bounded however many blocks of a huge file are read.
    version = { key, blockKey: (index) => (index < KEPT_BLOCK_KEYS ? (blockKeys[index] ??= `${key}#${index}`) : `${key}#${index}`) };
    VERSIONS.set(stats, version);
  }
  return version;
}
const VERSIONS = new WeakMap<BigIntStats, FileVersion>();
const KEPT_BLOCK_KEYS = 32;

/**
 * A bounded LRU of file blocks for short bodies: players ask for the same first bytes and index
 * atoms on every play start, and a request answered from memory skips the thread-pool read
 * that dominates a small response's cost (README, Performance).
 *
 * Blocks are immutable once cached (a buffer handed to `res.end` may be held by the socket until
 * written, FACTS), and each is its own allocation, so `bytes` counts exactly what is held.
 * Concurrent misses for one block share one read.
 */
export class BlockCache {
  readonly #maxBytes: number;
  readonly #blocks = new Map<string, Buffer>(); // least recently used first
  readonly #reading = new Map<string, Promise<Buffer>>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(options: BlockCacheOptions) {
    this.#maxBytes = options.maxBytes;
  }

  /** The counters now. */
  get stats(): BlockCacheStats {
    return { hits: this.#hits, misses: this.#misses, bytes: this.#bytes, blocks: this.#blocks.size, maxBytes: this.#maxBytes };
  }

  /**
   * Bytes `start`–`end` (inclusive, `end - start < BLOCK_CACHE_MAX_BODY`) of the file version
   * `version` of `size` bytes: synchronously when every block is cached, else undefined.
   */
  peek(version: FileVersion, start: number, end: number): Buffer | undefined {
    const first = Math.floor(start / BLOCK_SIZE);
    const last = Math.floor(end / BLOCK_SIZE);
    if (first === last) {
      const block = this.#touch(version.blockKey(first));
      if (block === undefined) return undefined;
      this.#hits++;
      return block.subarray(start - first * BLOCK_SIZE, end - first * BLOCK_SIZE + 1);
    }
    const parts: Buffer[] = [];
    for (let index = first; index <= last; index++) {
      const block = this.#touch(version.blockKey(index));
      if (block === undefined) return undefined;
      parts.push(block);
    }
    this.#hits++;
    return slice(parts, first, start, end);
  }

  /**
   * Like `peek`, reading the missing blocks from `handle` (positional reads) and caching them.
   * Rejects with `ERR_FILE_TRUNCATED` when the file is shorter than `size` now (nothing of it
   * is cached then), or with the read's error.
   */
  async read(handle: FileHandle, version: FileVersion, size: number, start: number, end: number): Promise<Buffer> {
    this.#misses++;
    const first = Math.floor(start / BLOCK_SIZE);
    const last = Math.floor(end / BLOCK_SIZE);
    const reads: Promise<Buffer>[] = [];
    for (let index = first; index <= last; index++) reads.push(this.#block(handle, version, size, index));
    const parts = await Promise.all(reads);
    return slice(parts, first, start, end);
  }

  /** Drops every block (the counters stay). */
  clear(): void {
    this.#blocks.clear();
    this.#bytes = 0;
  }

  #touch(key: string): Buffer | undefined {
    const block = this.#blocks.get(key);
    if (block === undefined) return undefined;
    this.#blocks.delete(key); // re-insert: most recently used last
    this.#blocks.set(key, block);
    return block;
  }

  #block(handle: FileHandle, version: FileVersion, size: number, index: number): Promise<Buffer> {
    const key = version.blockKey(index);
    const cached = this.#touch(key);
    if (cached !== undefined) return Promise.resolve(cached);
    let pending = this.#reading.get(key);
    if (pending === undefined) {
      pending = readBlock(handle, size, index).then(
        (block) => {
          this.#reading.delete(key);
          this.#insert(key, block);
          return block;
        },
        (err: unknown) => {
          this.#reading.delete(key);
          throw err;
        },
      );
      this.#reading.set(key, pending);
    }
    return pending;
  }

  #insert(key: string, block: Buffer): void {
    if (block.length > this.#maxBytes || this.#blocks.has(key)) return;
    this.#blocks.set(key, block);
    this.#bytes += block.length;
    for (const [oldest, evicted] of this.#blocks) {
      if (this.#bytes <= this.#maxBytes) break;
      this.#blocks.delete(oldest);
      this.#bytes -= evicted.length;
    }
  }
}

/** Reads block `index` whole (the last one is shorter), or throws if the file is now shorter. */
async function readBlock(handle: FileHandle, size: number, index: number): Promise<Buffer> {
  const position = index * BLOCK_SIZE;
  const length = Math.min(BLOCK_SIZE, size - position);
  const block = Buffer.allocUnsafeSlow(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await handle.read(block, filled, length - filled, position + filled);
    READ_TOTALS.bytes += bytesRead; // the metrics' read bytes count cached reads too
    if (bytesRead === 0) {
      throw new StreamError('ERR_FILE_TRUNCATED', 500, `file ended at byte ${position + filled}, before the bytes expected`);
    }
    filled += bytesRead;
  }
  return block;
}

/** Bytes `start`–`end` out of consecutive blocks, the first of which is block `first`. */
function slice(parts: readonly Buffer[], first: number, start: number, end: number): Buffer {
  const offset = start - first * BLOCK_SIZE;
  const length = end - start + 1;
  if (parts.length === 1) return parts[0]!.subarray(offset, offset + length);
  const body = Buffer.allocUnsafeSlow(length); // a copy of its own: cached blocks are never written to
  let filled = 0;
  for (let i = 0; i < parts.length && filled < length; i++) {
    const part = parts[i]!;
    const from = i === 0 ? offset : 0;
    const to = Math.min(part.length, from + length - filled);
    part.copy(body, filled, from, to);
    filled += to - from;
  }
  return body;
}
