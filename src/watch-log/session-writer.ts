import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { bitmapLength, blockSizeFor, compactCoverage, expandCoverage, markCoverage } from './coverage.ts';
import type { Row } from './query.ts';
import type { Normalized } from './schema.ts';

const SESSION_FIELDS = `id, block_size AS blockSize, coverage_map AS coverageMap, coverage_offset AS coverageOffset,
  covered_bytes AS coveredBytes`;

/**
 * Writes normalized entries: a request row each, and the session it extends or starts, with
 * that session's coverage. Runs inside the caller's transaction; prepares its statements once.
 *
 * Anonymous viewers are told apart by ip + user agent, which the client chooses, so one address
 * may hold at most `maxSessionsPerClient` sessions of one file at a time: past that, its requests
 * join the latest of them. Authenticated viewers are the application's word and are never merged.
 */
export class SessionWriter {
  readonly #find: StatementSync;
  readonly #countClient: StatementSync;
  readonly #findClient: StatementSync;
  readonly #insertSession: StatementSync;
  readonly #updateSession: StatementSync;
  readonly #insertRequest: StatementSync;
  readonly #idleMs: number;
  readonly #maxPerClient: number;

  constructor(db: DatabaseSync, idleMs: number, maxPerClient: number) {
    this.#idleMs = idleMs;
    this.#maxPerClient = maxPerClient;
    this.#find = db.prepare(
      `SELECT ${SESSION_FIELDS} FROM watch_session
       WHERE path = ? AND viewer = ? AND size = ? AND last_seen >= ? AND first_seen <= ?
       ORDER BY last_seen DESC LIMIT 1`,
    );
    this.#countClient = db.prepare(
      `SELECT count(*) AS n FROM (SELECT 1 FROM watch_session
       WHERE ip = ? AND path = ? AND last_seen >= ? AND first_seen <= ? AND is_authenticated = 0 LIMIT ?)`,
    );
    this.#findClient = db.prepare(
      `SELECT ${SESSION_FIELDS} FROM watch_session
       WHERE ip = ? AND path = ? AND size = ? AND last_seen >= ? AND first_seen <= ? AND is_authenticated = 0
       ORDER BY last_seen DESC LIMIT 1`,
    );
    this.#insertSession = db.prepare(
      `INSERT INTO watch_session (path, viewer, user_id, is_authenticated, ip, user_agent, first_seen, last_seen,
         requests, bytes_sent, size, block_size, coverage_map, coverage_offset, covered_bytes)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)`,
    );
    this.#updateSession = db.prepare(
      `UPDATE watch_session SET first_seen = min(first_seen, ?), last_seen = max(last_seen, ?),
         requests = requests + 1, bytes_sent = bytes_sent + ?, coverage_map = ?, coverage_offset = ?, covered_bytes = ?
       WHERE id = ?`,
    );
    this.#insertRequest = db.prepare(
      `INSERT INTO watch_request (session_id, path, user_id, is_authenticated, ip, user_agent, status, range_header,
         bytes_sent, aborted, size, started_at, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
  }

  /** Writes one entry; throws what SQLite throws (the caller rolls back or splits the batch). */
  write(e: Normalized): void {
    const end = e.startedAt + e.durationMs;
    const found = this.#session(e);
    let sessionId: number;
    if (found === undefined) {
      const blockSize = blockSizeFor(e.size);
      const bitmap = new Uint8Array(bitmapLength(e.size, blockSize));
      const covered = markCoverage(bitmap, blockSize, e.size, e.ranges, e.bytesSent);
      const stored = compactCoverage(bitmap);
      const result = this.#insertSession.run(
        e.path, e.viewer, e.userId, e.isAuthenticated, e.ip, e.userAgent, e.startedAt, end,
        e.bytesSent, e.size, blockSize, stored.bits, stored.offset, covered,
      );
      sessionId = Number(result.lastInsertRowid);
    } else {
      sessionId = Number(found['id']);
      const blockSize = Number(found['blockSize']);
      const bitmap = expandCoverage(
        { bits: found['coverageMap'] as Uint8Array, offset: Number(found['coverageOffset']) },
        bitmapLength(e.size, blockSize),
      );
      const covered = Number(found['coveredBytes']) + markCoverage(bitmap, blockSize, e.size, e.ranges, e.bytesSent);
      const stored = compactCoverage(bitmap);
      this.#updateSession.run(e.startedAt, end, e.bytesSent, stored.bits, stored.offset, covered, sessionId);
    }
    this.#insertRequest.run(
      sessionId, e.path, e.userId, e.isAuthenticated, e.ip, e.userAgent, e.status, e.range,
      e.bytesSent, e.aborted, e.size, e.startedAt, e.durationMs,
    );
  }

  // The viewer's own session; or, for an anonymous viewer whose address already has its quota of
  // sessions of this file, the latest of those (of the same size: coverage is per file version).
  #session(e: Normalized): Row | undefined {
    const from = e.startedAt - this.#idleMs;
    const to = e.startedAt + this.#idleMs;
    const own = this.#find.get(e.path, e.viewer, e.size, from, to) as Row | undefined;
    if (own !== undefined || e.isAuthenticated === 1) return own;
    const open = Number((this.#countClient.get(e.ip, e.path, from, to, this.#maxPerClient) as Row | undefined)?.['n'] ?? 0);
    if (open < this.#maxPerClient) return undefined;
    return this.#findClient.get(e.ip, e.path, e.size, from, to) as Row | undefined;
  }
}
