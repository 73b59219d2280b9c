import type { DatabaseSync, StatementSync } from 'node:sqlite';
import type { PruneResult } from './query.ts';

/**
 * The deletes behind `WatchLog.prune` and the retention timer. Each runs inside the caller's
 * transaction and uses an index, so a prune that finds nothing to delete costs microseconds.
 */
export class Retention {
  readonly #requestsBefore: StatementSync;
  readonly #sessionsBefore: StatementSync;
  readonly #requestsBeyond: StatementSync;
  readonly #sessionsBeyond: StatementSync;

  constructor(db: DatabaseSync) {
    this.#requestsBefore = db.prepare('DELETE FROM watch_request WHERE started_at < ?');
    this.#sessionsBefore = db.prepare('DELETE FROM watch_session WHERE last_seen < ?');
    // Ids grow with every insert (INTEGER PRIMARY KEY), so the newest maxRows rows all have an id
    // above max(id) - maxRows: one index probe instead of counting the table. Gaps left by earlier
    // deletes mean the table can keep fewer than maxRows, never more.
    this.#requestsBeyond = db.prepare('DELETE FROM watch_request WHERE id <= (SELECT max(id) FROM watch_request) - ?');
    this.#sessionsBeyond = db.prepare('DELETE FROM watch_session WHERE id <= (SELECT max(id) FROM watch_session) - ?');
  }

  /** Deletes requests that started, and sessions last seen, before `cutoff` (epoch ms). */
  olderThan(cutoff: number): PruneResult {
    const requests = Number(this.#requestsBefore.run(cutoff).changes);
    const sessions = Number(this.#sessionsBefore.run(cutoff).changes);
    return { requests, sessions };
  }

  /**
   * Keeps at most `maxRows` newest rows in each table. A session deleted here takes its requests
   * with it (ON DELETE CASCADE); a request deleted here leaves its session's totals as they were.
   */
  beyond(maxRows: number): PruneResult {
    const sessions = Number(this.#sessionsBeyond.run(maxRows).changes);
    const requests = Number(this.#requestsBeyond.run(maxRows).changes);
    return { requests, sessions };
  }
}
