import type { DatabaseSync, StatementSync } from 'node:sqlite';
import { bitmapLength, blockSizeFor, compactCoverage, expandCoverage, markCoverage } from './coverage.ts';
import { folderOf, kindOf } from './playback.ts';
import { selectList, TableInsert, WATCH_REQUEST, WATCH_SESSION, type Row } from './schema.ts';
import type { Normalized } from './stored-entry.ts';

// init.mp4, video_init.mp4, init-0.mp4: the names ffmpeg, Shaka Packager and Bento4 give init segments.
const INIT_SEGMENT = /(^|\/)[^/]*init[^/]*\.mp4$/i;

// What extending a session reads of it.
const SESSION_FIELDS = selectList(WATCH_SESSION.columns, ['id', 'blockSize', 'coverageMap', 'coverageOffset', 'coveredBytes', 'requests']);

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
  readonly #insertSession: TableInsert;
  readonly #updateSession: StatementSync;
  readonly #insertRequest: TableInsert;
  readonly #findStream: StatementSync;
  readonly #joinStream: StatementSync;
  readonly #adoptSession: StatementSync;
  readonly #idleMs: number;
  readonly #maxPerClient: number;

  constructor(db: DatabaseSync, idleMs: number, maxPerClient: number) {
    this.#idleMs = idleMs;
    this.#maxPerClient = maxPerClient;
    this.#find = db.prepare(
      `SELECT ${SESSION_FIELDS} FROM watch_session
       WHERE path = ? AND viewer = ? AND (size = ? OR requests = 0) AND last_seen >= ? AND first_seen <= ?
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
    this.#insertSession = new TableInsert(db, WATCH_SESSION);
    // A manifest's session, for a segment, init file, caption or variant playlist below its folder.
    // A video file joins only from the very same folder, or when named like an init segment
    // (fMP4 HLS inits are .mp4): a film in a subfolder of a playlist's folder is its own video.
    this.#findStream = db.prepare(
      `SELECT id FROM watch_session WHERE viewer = ? AND kind = 'stream' AND last_seen >= ? AND first_seen <= ? AND path != ?
         AND (CASE WHEN ? = 'video' THEN folder = ? ELSE substr(?, 1, length(folder)) = folder END)
       ORDER BY last_seen DESC LIMIT 1`,
    );
    this.#joinStream = db.prepare(
      `UPDATE watch_session SET first_seen = min(first_seen, ?), last_seen = max(last_seen, ?),
         requests = requests + 1, bytes_sent = bytes_sent + ? WHERE id = ?`,
    );
    // The first request of a session a beacon report started.
    this.#adoptSession = db.prepare(
      `UPDATE watch_session SET first_seen = min(first_seen, ?), last_seen = max(last_seen, ?), requests = 1,
         bytes_sent = ?, size = ?, block_size = ?, coverage_map = ?, coverage_offset = ?, covered_bytes = ? WHERE id = ?`,
    );
    this.#updateSession = db.prepare(
      `UPDATE watch_session SET first_seen = min(first_seen, ?), last_seen = max(last_seen, ?),
         requests = requests + 1, bytes_sent = bytes_sent + ?, coverage_map = ?, coverage_offset = ?, covered_bytes = ?
       WHERE id = ?`,
    );
    this.#insertRequest = new TableInsert(db, WATCH_REQUEST);
  }

  /** Writes one entry; throws what SQLite throws (the caller rolls back or splits the batch). */
  write(e: Normalized): void {
    const end = e.startedAt + e.durationMs;
    const stream = this.#stream(e);
    if (stream !== undefined) {
      this.#joinStream.run(e.startedAt, end, e.bytesSent, stream);
      this.#insertRequest.run(e, { sessionId: stream });
      return;
    }
    const found = this.#session(e);
    let sessionId: number;
    if (found === undefined || Number(found['requests']) === 0) {
      const blockSize = blockSizeFor(e.size);
      const bitmap = new Uint8Array(bitmapLength(e.size, blockSize));
      const covered = markCoverage(bitmap, blockSize, e.size, e.ranges, e.bytesSent);
      const stored = compactCoverage(bitmap);
      if (found === undefined) {
        // The entry's path, viewer, user, ip, user agent, bytes sent and size, and these:
        sessionId = this.#insertSession.run(e, {
          firstSeen: e.startedAt, lastSeen: end, requests: 1, blockSize, coverageMap: stored.bits,
          coverageOffset: stored.offset, coveredBytes: covered, kind: kindOf(e.path), folder: folderOf(e.path),
        });
      } else {
        sessionId = Number(found['id']);
        this.#adoptSession.run(e.startedAt, end, e.bytesSent, e.size, blockSize, stored.bits, stored.offset, covered, sessionId);
      }
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
    this.#insertRequest.run(e, { sessionId });
  }

  // The session of a manifest this request belongs to (same viewer, within the gap), if any.
  #stream(e: Normalized): number | undefined {
    const kind = kindOf(e.path);
    const joinsAs = kind === 'video' && INIT_SEGMENT.test(e.path) ? 'asset' : kind;
    const row = this.#findStream.get(
      e.viewer, e.startedAt - this.#idleMs, e.startedAt + this.#idleMs, e.path, joinsAs, folderOf(e.path), e.path,
    ) as Row | undefined;
    return row === undefined ? undefined : Number(row['id']);
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
