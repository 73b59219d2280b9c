import { mkdtempSync, rmSync, writeFileSync, mkdirSync, openSync, writeSync, closeSync, ftruncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/** The byte at position i of every fixture file: i % 251 (a prime, so ranges never look alike). */
export function patternByte(i: number): number {
  return i % 251;
}

/** The bytes [start, end] (inclusive) of a pattern file, built independently of any file. */
export function pattern(start: number, end: number): Buffer {
  const out = Buffer.allocUnsafe(Math.max(0, end - start + 1));
  for (let i = 0; i < out.length; i++) out[i] = patternByte(start + i);
  return out;
}

/** A temporary folder of fixture files, removed by `remove()` (call it in `after()`). */
export type Fixtures = {
  readonly dir: string;
  /** Writes a pattern file of `size` bytes at `name` (folders created) and returns its path. */
  file(name: string, size: number): string;
  /** Writes literal contents. */
  write(name: string, contents: string | Buffer): string;
  /**
   * Makes a sparse file of `size` bytes whose bytes are zero except `chunks`, each written at its
   * offset with pattern bytes (patternByte(offset + i)). Returns its path.
   */
  sparse(name: string, size: number, chunks: ReadonlyArray<{ offset: number; length: number }>): string;
  path(name: string): string;
  remove(): void;
};

export function createFixtures(prefix = 'sage-stream-'): Fixtures {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const path = (name: string): string => join(dir, name);
  const write = (name: string, contents: string | Buffer): string => {
    const target = path(name);
    mkdirSync(dirname(target), { recursive: true });
    writeFileSync(target, contents);
    return target;
  };
  return {
    dir,
    path,
    write,
    file: (name, size) => write(name, pattern(0, size - 1)),
    sparse(name, size, chunks) {
      const target = path(name);
      mkdirSync(dirname(target), { recursive: true });
      const fd = openSync(target, 'w');
      try {
        ftruncateSync(fd, size);
        for (const { offset, length } of chunks) writeSync(fd, pattern(offset, offset + length - 1), 0, length, offset);
      } finally {
        closeSync(fd);
      }
      return target;
    },
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}
