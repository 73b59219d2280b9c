import type { DatabaseSync } from 'node:sqlite';
import { setTimeout as delay } from 'node:timers/promises';
import { migrate } from './schema.ts';
import { isBusy } from './sqlite-codes.ts';
import { loadSqlite } from './sqlite.ts';

// Opening migrates the schema once, so it may wait for other writers as long as a caller would.
const OPEN_BUSY_TIMEOUT_MS = 5000;
// Flushes run on the event loop: SQLite's busy handler sleeps the thread, so a long timeout would
// stall every request in flight while another process holds the write lock. 200 ms covers a
// normal batch by another writer; past that the batch stays queued and the next timer tick retries.
const FLUSH_BUSY_TIMEOUT_MS = 200;

/**
 * Opens (creating if needed) the SQLite file at `path` in WAL mode with its schema migrated,
 * leaving the short busy timeout flushes use. `node:sqlite` is imported here, on first use.
 */
export async function openDatabase(path: string): Promise<DatabaseSync> {
  const { DatabaseSync } = await loadSqlite();
  const db = new DatabaseSync(path);
  try {
    db.exec(`PRAGMA busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
    const deadline = Date.now() + OPEN_BUSY_TIMEOUT_MS;
    for (;;) {
      try {
        db.exec('PRAGMA journal_mode = WAL');
        migrate(db);
        break;
      } catch (err) {
        // Switching a new file to WAL while another process does the same can fail with
        // SQLITE_BUSY at once, without the busy handler (pinned by "two processes creating the
        // same new file at once"); open() is async, so wait without blocking and try again.
        if (!isBusy(err) || Date.now() > deadline) throw err;
        await delay(10 + Math.random() * 20);
      }
    }
    db.exec('PRAGMA synchronous = NORMAL');
    db.exec(`PRAGMA busy_timeout = ${FLUSH_BUSY_TIMEOUT_MS}`);
    return db;
  } catch (err) {
    db.close();
    throw err;
  }
}
