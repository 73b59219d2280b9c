import type { ByteRange } from '../types.ts';

/** Coverage is tracked per block of this many bytes (scaled up by powers of two for files over 8 GiB). */
export const COVERAGE_BLOCK_SIZE: number = 64 * 1024;

/** Largest coverage bitmap per session: 16 KiB of bits, so 8 GiB at the base block size. */
export const MAX_COVERAGE_BITMAP: number = 16 * 1024;

const MAX_BITMAP_BLOCKS: number = MAX_COVERAGE_BITMAP * 8;


/**
 * The block size a session of a file of `size` bytes tracks coverage with: 64 KiB, doubled until
 * the bitmap fits in {@link MAX_COVERAGE_BITMAP} bytes (so 128 KiB for files up to 16 GiB).
 */
export function blockSizeFor(size: number): number {
  let blockSize = COVERAGE_BLOCK_SIZE;
  while (Math.ceil(size / blockSize) > MAX_BITMAP_BLOCKS) blockSize *= 2;
  return blockSize;
}

/**
 * Sets the bits of `bitmap` for every block that `ranges` touch, counting only the first
 * `bytesSent` bytes across the ranges in order (an aborted response covers what it sent).
 * Returns the bytes newly covered: whole blocks, except that the file's last block counts only
 * the bytes it holds.
 */
export function markCoverage(
  bitmap: Uint8Array,
  blockSize: number,
  size: number,
  ranges: readonly ByteRange[],
  bytesSent: number,
): number {
  let remaining = bytesSent;
  let added = 0;
  for (const range of ranges) {
    if (remaining <= 0) break;
    const start = Math.max(0, range.start);
    const end = Math.min(size - 1, range.end);
    if (!(end >= start)) continue; // also skips NaN
    const last = Math.min(end, start + remaining - 1);
    remaining -= last - start + 1;
    const lastBlock = Math.min(Math.floor(last / blockSize), bitmap.length * 8 - 1);
    for (let block = Math.floor(start / blockSize); block <= lastBlock; block++) {
      const index = block >>> 3;
      const mask = 1 << (block & 7);
      const byte = bitmap[index] ?? 0;
      if ((byte & mask) !== 0) continue;
      bitmap[index] = byte | mask;
      added += Math.min(blockSize, size - block * blockSize);
    }
  }
  return added;
}

/** A coverage bitmap as stored: its bytes from the first non-zero one to the last, and where they start. */
export type StoredCoverage = { readonly offset: number; readonly bits: Uint8Array };

/**
 * Trims a session's bitmap to the bytes that have bits set, so a session that fetched one range
 * of a huge file stores a few bytes, not a bitmap sized for the whole file (issue 9: a new user
 * agent per request once grew 6 MB of requests into a 165 MB database).
 */
export function compactCoverage(bitmap: Uint8Array): StoredCoverage {
  let first = 0;
  while (first < bitmap.length && bitmap[first] === 0) first++;
  let last = bitmap.length;
  while (last > first && bitmap[last - 1] === 0) last--;
  return { offset: first, bits: bitmap.slice(first, last) };
}

/** The full bitmap (`length` bytes) of a stored one; a v1 row is the full bitmap at offset 0. */
export function expandCoverage(stored: StoredCoverage, length: number): Uint8Array {
  const bitmap = new Uint8Array(length);
  bitmap.set(stored.bits.subarray(0, Math.max(0, length - stored.offset)), stored.offset);
  return bitmap;
}

/** Bytes of the full bitmap for a file of `size` bytes tracked in blocks of `blockSize`. */
export function bitmapLength(size: number, blockSize: number): number {
  return Math.ceil(Math.ceil(size / blockSize) / 8);
}
