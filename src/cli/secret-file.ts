import { closeSync, constants, openSync, readSync } from 'node:fs';
import { MIN_SECRET_BYTES } from '../serve/signed-url.ts';

/** The most a secret file may hold: a secret is tens of bytes; /dev/zero must not fill memory. */
export const MAX_SECRET_FILE_BYTES = 4096;

// O_NONBLOCK: a FIFO without a writer fails (EAGAIN) instead of hanging the start-up.
const SECRET_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * A secret file's contents without surrounding whitespace (a trailing newline), or why not.
 * At most `MAX_SECRET_FILE_BYTES` are read: a larger file (or `/dev/zero`, `/dev/urandom`) is an
 * error, found after reading one byte more than the limit.
 */
export function readSecret(path: string, flag: string): string | { readonly error: string } {
  const buffer = Buffer.alloc(MAX_SECRET_FILE_BYTES + 1);
  let length = 0;
  let fd: number | undefined;
  try {
    fd = openSync(path, SECRET_FLAGS);
    for (let read = -1; read !== 0 && length < buffer.length; length += read) {
      read = readSync(fd, buffer, length, buffer.length - length, null);
    }
  } catch (err) {
    return { error: `${flag}: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  if (length > MAX_SECRET_FILE_BYTES) return { error: `${flag} ${path}: a secret file holds at most ${MAX_SECRET_FILE_BYTES} bytes` };
  return checkSecret(buffer.toString('utf8', 0, length), `${flag} ${path}`);
}

/** The secret without surrounding whitespace, or why it is too short to sign with. */
export function checkSecret(text: string, source: string): string | { readonly error: string } {
  const secret = text.trim();
  const bytes = Buffer.byteLength(secret);
  if (bytes < MIN_SECRET_BYTES) return { error: `${source}: a signing secret must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes}` };
  return secret;
}
