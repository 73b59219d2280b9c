import { open, type FileHandle } from 'node:fs/promises';
import { StreamError } from '../errors.ts';

/** 64 KiB: a read stream's default, small enough that a slow client pins little memory. */
export const DEFAULT_CHUNK_SIZE: number = 64 * 1024;

/** Which bytes to read and how. */
export type FileIteratorOptions = {
  /** First byte to read. Default 0. */
  readonly offset?: number;
  /** How many bytes to read. Default: from `offset` to the end of the file. */
  readonly length?: number;
  /** Largest chunk to yield. Default 64 KiB. */
  readonly chunkSize?: number;
  /** Stops the iteration (it throws the signal's reason) before the next read. */
  readonly signal?: AbortSignal;
};

/**
 * Reads a byte range of a file as a sequence of Buffers, each read at an explicit position.
 *
 * Positional reads share no file position, so one handle can serve many ranges at once. Every
 * chunk is a fresh buffer that is never refilled: a consumer may still hold it while a socket
 * drains (reusing one corrupts the response). A handle this function opened is closed on every
 * exit (end, `break`, throw, abort); a handle passed in stays open for its owner to close. If the
 * file ends before `length` bytes were read (it was truncated meanwhile), it throws a
 * `StreamError` with code `ERR_FILE_TRUNCATED` rather than ending short or spinning.
 *
 * @example
 * for await (const chunk of fileIterator('/srv/a.mp4', { offset: 1000, length: 65536 })) {
 *   if (!res.write(chunk)) await once(res, 'drain');
 * }
 */
export async function* fileIterator(
  file: string | FileHandle,
  options: FileIteratorOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const { offset = 0, length, chunkSize = DEFAULT_CHUNK_SIZE, signal } = options;
  checkNonNegativeInteger('offset', offset);
  if (length !== undefined) checkNonNegativeInteger('length', length);
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new TypeError(`options.chunkSize must be an integer >= 1, got ${String(chunkSize)}`);
  }
  signal?.throwIfAborted();

  const handle = typeof file === 'string' ? await open(file, 'r') : file;
  try {
    const end = offset + (length ?? Math.max(0, (await handle.stat()).size - offset));
    let position = offset;
    while (position < end) {
      signal?.throwIfAborted();
      const chunk = await readChunk(handle, position, Math.min(chunkSize, end - position));
      position += chunk.length;
      yield chunk;
    }
  } finally {
    if (handle !== file) await handle.close();
  }
}

/**
 * Reads up to `size` bytes at `position` into a fresh buffer (never one that is refilled later).
 * Throws `ERR_FILE_TRUNCATED` when the file ends at `position`: it was cut short meanwhile.
 */
export function readChunk(handle: FileHandle, position: number, size: number): Promise<Buffer> {
  return readChunkInto(handle, Buffer.allocUnsafeSlow(size), position, size);
}

/** Bytes read from files by this process (every response, every handler): the metrics' read bytes. */
export const READ_TOTALS: { bytes: number } = { bytes: 0 };

/** `readChunk` into a buffer of at least `size` bytes that no write still holds. */
export async function readChunkInto(handle: FileHandle, buffer: Buffer, position: number, size: number): Promise<Buffer> {
  const { bytesRead } = await handle.read(buffer, 0, size, position);
  READ_TOTALS.bytes += bytesRead;
  if (bytesRead === 0) {
    throw new StreamError('ERR_FILE_TRUNCATED', 500, `file ended at byte ${position}, before the bytes expected`);
  }
  return bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
}

function checkNonNegativeInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new TypeError(`options.${name} must be a non-negative integer, got ${String(value)}`);
  }
}
