import type { FileHandle } from 'node:fs/promises';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import type { ContentCoding } from '../http/accept-encoding.ts';
import { READ_TOTALS } from '../files/file-iterator.ts';

/**
 * Compression of text manifests and captions: `true` (the default) with the default limits,
 * `false` for none, or the limits themselves.
 */
export type CompressOption =
  | boolean
  | {
      /** Largest file compressed; bigger ones are sent as they are. Default 1 MiB. */
      readonly maxFileSize?: number | undefined;
      /** Bytes of compressed bodies kept in memory, least recently used dropped first. Default 16 MiB. */
      readonly cacheBytes?: number | undefined;
    };

/** Text that players fetch whole and often: HLS and DASH manifests, captions, JSON. Never media. */
export const COMPRESSIBLE_EXTENSIONS: readonly string[] = Object.freeze(['m3u8', 'mpd', 'vtt', 'srt', 'json']);
export const DEFAULT_COMPRESS_MAX_FILE_SIZE: number = 1024 * 1024;
export const DEFAULT_COMPRESS_CACHE_BYTES: number = 16 * 1024 * 1024;

const brotli = promisify(brotliCompress);
const gzipAsync = promisify(gzip);
// Quality 5 compresses a 1 MiB playlist in ~20 ms where 11 (zlib's default) takes ~1.3 s, for
// ~14% more bytes (measured on Node 24; see README, "Compression"); gzip keeps its level 6.
const BROTLI_OPTIONS = { params: { [constants.BROTLI_PARAM_QUALITY]: 5, [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT } };

/**
 * Compressed bodies of small text files, keyed by path, validators and coding, so a playlist
 * polled by every viewer is compressed once per version. Bounded by bytes (LRU); a body
 * being compressed is shared by every request that asks meanwhile.
 */
export class CompressedCache {
  readonly maxFileSize: number;
  readonly #budget: number;
  readonly #entries = new Map<string, Promise<Buffer>>();
  readonly #sizes = new Map<string, number>();
  #bytes = 0;

  constructor(maxFileSize: number, cacheBytes: number) {
    this.maxFileSize = maxFileSize;
    this.#budget = cacheBytes;
  }

  /** True for a file this cache would compress: a text extension, no larger than the limit. */
  isCompressible(fileName: string, size: number): boolean {
    if (size > this.maxFileSize || size === 0) return false;
    const dot = fileName.lastIndexOf('.');
    return dot !== -1 && COMPRESSIBLE_EXTENSIONS.includes(fileName.slice(dot + 1).toLowerCase());
  }

  /**
   * The compressed bytes of `size` bytes of `handle`, for this path and ETag. Rejects when the
   * file is shorter than its stat said (changed meanwhile): the caller falls back to identity.
   */
  get(handle: FileHandle, path: string, etag: string, size: number, coding: ContentCoding): Promise<Buffer> {
    const key = `${coding} ${etag} ${path}`;
    const hit = this.#entries.get(key);
    if (hit !== undefined) {
      // Map order is the LRU order: a hit moves to the end.
      this.#entries.delete(key);
      this.#entries.set(key, hit);
      return hit;
    }
    const made = compressFile(handle, size, coding);
    this.#entries.set(key, made);
    made.then(
      (body) => {
        if (this.#entries.get(key) !== made) return; // evicted meanwhile
        this.#sizes.set(key, body.length);
        this.#bytes += body.length;
        this.#evict();
      },
      () => this.#drop(key),
    );
    return made;
  }

  /** Bytes of compressed bodies held now. */
  get bytes(): number {
    return this.#bytes;
  }

  #evict(): void {
    for (const key of this.#entries.keys()) {
      if (this.#bytes <= this.#budget) return;
      this.#drop(key);
    }
  }

  #drop(key: string): void {
    this.#entries.delete(key);
    this.#bytes -= this.#sizes.get(key) ?? 0;
    this.#sizes.delete(key);
  }
}

/** Validates `compress` once; undefined when it is off. */
export function resolveCompress(option: CompressOption | undefined): CompressedCache | undefined {
  if (option === false) return undefined;
  if (option !== undefined && option !== true && (option === null || typeof option !== 'object')) {
    throw new TypeError(`options.compress must be true, false or { maxFileSize?, cacheBytes? }, got ${String(option)}`);
  }
  const { maxFileSize = DEFAULT_COMPRESS_MAX_FILE_SIZE, cacheBytes = DEFAULT_COMPRESS_CACHE_BYTES } =
    option === undefined || option === true ? {} : option;
  for (const [name, value] of [['maxFileSize', maxFileSize], ['cacheBytes', cacheBytes]] as const) {
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new TypeError(`options.compress.${name} must be an integer >= 0, got ${String(value)}`);
    }
  }
  return new CompressedCache(maxFileSize, cacheBytes);
}

async function compressFile(handle: FileHandle, size: number, coding: ContentCoding): Promise<Buffer> {
  const text = Buffer.allocUnsafe(size);
  let filled = 0;
  while (filled < size) {
    const { bytesRead } = await handle.read(text, filled, size - filled, filled);
    if (bytesRead === 0) throw new Error(`file shrank while being compressed (${filled} of ${size} bytes)`);
    filled += bytesRead;
    READ_TOTALS.bytes += bytesRead; // the metrics' read bytes count what compression reads too
  }
  return coding === 'br' ? brotli(text, BROTLI_OPTIONS) : gzipAsync(text);
}
