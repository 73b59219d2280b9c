import { closeSync, constants, fchmodSync, openSync, writeSync } from 'node:fs';

/** Shorter admin tokens are refused: 16 characters of printable ASCII is ~100 bits at best. */
export const MIN_ADMIN_TOKEN_LENGTH = 16;

/** Where a generated admin token is written: next to the watch log, `<log>.admin-token`. */
export function adminTokenPath(logPath: string): string {
  return `${logPath}.admin-token`;
}

// O_NOFOLLOW: a link planted at that name must not redirect the write to another file.
const TOKEN_FILE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW;

/**
 * Writes a generated admin token to `<log>.admin-token`, readable by its owner only (mode
 * 0600, also when the file was there before), and returns the path. Stdout often ends up in a
 * shared terminal, CI log or journal; a file does not. Throws the fs error (EACCES, ELOOP …).
 */
export function writeAdminTokenFile(logPath: string, token: string): string {
  const path = adminTokenPath(logPath);
  const fd = openSync(path, TOKEN_FILE_FLAGS, 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeSync(fd, `${token}\n`);
  } finally {
    closeSync(fd);
  }
  return path;
}

