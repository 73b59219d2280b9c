import { mkdirSync, statfsSync } from 'node:fs';
import { open, rename, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';

/** The data repeats every block, except that each block starts with its own index. */
export const BLOCK_SIZE: number = 64 * 1024;
const STAMP_SIZE = 8;
const WRITE_SIZE = 16 * BLOCK_SIZE;
const PATTERN_SEED = 0x9e3779b9;

/**
 * The 64 KiB of pseudo-random bytes every bench file is made of (xorshift32, fixed seed), so the
 * load generator can check any byte of any response without reading the file.
 */
export function patternBlock(): Buffer {
  const block = Buffer.allocUnsafe(BLOCK_SIZE);
  let x = PATTERN_SEED;
  for (let i = 0; i < BLOCK_SIZE; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block.writeUInt32LE(x >>> 0, i);
  }
  return block;
}

/**
 * The byte at `offset` of every bench file: the pattern, except the first 8 bytes of each block,
 * which hold the block index (little-endian), so a response from the wrong offset is caught.
 */
export function byteAt(pattern: Uint8Array, offset: number): number {
  const within = offset % BLOCK_SIZE;
  if (within >= STAMP_SIZE) return pattern[within] ?? 0;
  return Math.floor(Math.floor(offset / BLOCK_SIZE) / 256 ** within) % 256;
}

/** A bench file on disk, ready to serve. */
export type BenchFile = {
  readonly dir: string;
  readonly name: string;
  readonly path: string;
  readonly size: number;
  /** False when a file of this size from an earlier run was reused. */
  readonly created: boolean;
  /** Set for a user's own file (`--file`): responses are checked against its bytes. */
  readonly check?: string;
};

/** A user's own file to benchmark (`--file PATH`), served from its folder. */
export async function userFile(path: string): Promise<BenchFile> {
  const full = resolve(path);
  const stats = await stat(full);
  if (!stats.isFile() || stats.size === 0) throw new TypeError(`--file must name a non-empty file, got ${JSON.stringify(path)}`);
  return { dir: dirname(full), name: basename(full), path: full, size: stats.size, created: false, check: full };
}

/**
 * Returns the bench file of `size` bytes in `dir`, writing it once (real data, not a sparse
 * file: sparse holes read as zeros from no disk, which flatters every server). It is written
 * under a temporary name and renamed, so an interrupted run never leaves a short file.
 */
export async function ensureBenchFile(dir: string, size: number): Promise<BenchFile> {
  // 0755: nginx's worker runs as another user and must reach the file.
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  const name = `data-${size}.bin`;
  const path = join(dir, name);
  const existing = await stat(path).catch(() => undefined);
  if (existing?.size === size) return { dir, name, path, size, created: false };
  const { bavail, bsize } = statfsSync(dir);
  const free = bavail * bsize;
  if (free < size + 512 * 1024 * 1024) {
    throw new Error(`not enough disk space in ${dir} for a ${size}-byte bench file (${free} bytes free, 512 MiB kept spare)`);
  }
  const pattern = patternBlock();
  const partial = `${path}.partial-${process.pid}`;
  const handle = await open(partial, 'w', 0o644);
  try {
    for (let offset = 0; offset < size; offset += WRITE_SIZE) {
      const chunk = Buffer.allocUnsafe(Math.min(WRITE_SIZE, size - offset));
      for (let i = 0; i < chunk.length; i += BLOCK_SIZE) {
        pattern.copy(chunk, i, 0, Math.min(BLOCK_SIZE, chunk.length - i));
        for (let j = 0; j < STAMP_SIZE && i + j < chunk.length; j++) chunk[i + j] = byteAt(pattern, offset + i + j);
      }
      await handle.write(chunk, 0, chunk.length, offset);
    }
  } finally {
    await handle.close();
  }
  await rename(partial, path);
  return { dir, name, path, size, created: true };
}

/** Reads the whole file once so every server starts from a warm page cache; returns bytes/s. */
export async function warmPageCache(path: string): Promise<number> {
  const handle = await open(path, 'r');
  const buffer = Buffer.allocUnsafe(4 * 1024 * 1024);
  const started = performance.now();
  let total = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, total);
      if (bytesRead === 0) break;
      total += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return total / ((performance.now() - started) / 1000);
}
