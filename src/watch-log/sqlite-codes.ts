// SQLite result codes the watch log tells apart, read from node:sqlite's `errcode`.

// SQLite's primary result code (the low byte of an extended code such as SQLITE_BUSY_RECOVERY).
function sqliteCode(err: unknown): number | undefined {
  const code = (err as { errcode?: unknown } | null)?.errcode;
  return typeof code === 'number' ? code & 0xff : undefined;
}

/** SQLITE_BUSY (5) or SQLITE_LOCKED (6): another writer holds the lock; the next tick retries. */
export function isBusy(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 5 || code === 6;
}

/** SQLITE_READONLY (8): no smaller batch would fare better. */
export function isReadOnly(err: unknown): boolean {
  return sqliteCode(err) === 8;
}

/** SQLITE_TOOBIG (18), SQLITE_CONSTRAINT (19), SQLITE_MISMATCH (20): this entry will never be written. */
export function isRejected(err: unknown): boolean {
  const code = sqliteCode(err);
  return code === 18 || code === 19 || code === 20;
}
