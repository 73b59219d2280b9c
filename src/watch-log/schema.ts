import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import { classifySessions } from './playback.ts';
import { parsePlayedRanges } from './played-ranges.ts';

/** A row as node:sqlite returns it, keyed by column name or alias. */
export type Row = Record<string, unknown>;

/** Converts what SQLite returned for a listed value into what a listed row holds. */
export type Read = (value: unknown) => unknown;

/**
 * A stored column. `type` (with its constraints) is written as is by CREATE TABLE when `since` is
 * 1, or by ADD COLUMN in schema step `since`; `field` names it in inserts, selects and listed
 * rows; `read` lists it (absent: the writer's own bookkeeping, never listed); `sort` makes it a
 * sort key of the listing.
 */
export type StoredColumn = {
  readonly name: string;
  readonly type: string;
  readonly since: number;
  readonly field: string;
  readonly read?: Read;
  readonly sort?: true;
};

/** A listed value SQLite computes: `sql AS field`. */
export type ComputedColumn = { readonly sql: string; readonly field: string; readonly read: Read; readonly sort?: true };

/** A listed value computed from the other listed values SQLite returned (by field). */
export type DerivedColumn = { readonly field: string; readonly derive: (row: Row) => unknown };

/** One entry of a table: in table order, which is also the order of a listed row's properties. */
export type Column = StoredColumn | ComputedColumn | DerivedColumn;

export type Index = { readonly name: string; readonly on: string; readonly since: number };

/** A table: its columns, what listings compute from them, and its indexes, each with the step that added it. */
export type Table = { readonly name: string; readonly columns: readonly Column[]; readonly indexes: readonly Index[] };

/** covered_bytes / size, 0 for an empty file. */
export const COVERAGE_SQL = 'CASE WHEN size > 0 THEN CAST(covered_bytes AS REAL) / size ELSE 0 END';

/**
 * Playback sessions. v2 stores coverage maps trimmed to their set bytes (coverage_offset says
 * where they start) and caps anonymous sessions per (ip, path), which watch_session_client finds;
 * v3 adds what players reported (the beacon) and what kind of file a session is.
 */
export const WATCH_SESSION: Table = {
  name: 'watch_session',
  columns: [
    { name: 'id', type: 'INTEGER PRIMARY KEY', since: 1, field: 'id', read: Number },
    { name: 'path', type: 'TEXT NOT NULL', since: 1, field: 'path', read: String, sort: true },
    { name: 'viewer', type: 'TEXT NOT NULL', since: 1, field: 'viewer' },
    { name: 'user_id', type: 'TEXT', since: 1, field: 'userId', read: optionalText, sort: true },
    { name: 'is_authenticated', type: 'INTEGER NOT NULL', since: 1, field: 'isAuthenticated', read: flag },
    { name: 'ip', type: 'TEXT NOT NULL', since: 1, field: 'ip', read: String, sort: true },
    { name: 'user_agent', type: 'TEXT', since: 1, field: 'userAgent', read: optionalText },
    { name: 'first_seen', type: 'INTEGER NOT NULL', since: 1, field: 'firstSeen', read: Number, sort: true },
    { name: 'last_seen', type: 'INTEGER NOT NULL', since: 1, field: 'lastSeen', read: Number, sort: true },
    { name: 'requests', type: 'INTEGER NOT NULL', since: 1, field: 'requests', read: Number, sort: true },
    { name: 'bytes_sent', type: 'INTEGER NOT NULL', since: 1, field: 'bytesSent', read: Number, sort: true },
    { name: 'size', type: 'INTEGER NOT NULL', since: 1, field: 'size', read: Number, sort: true },
    { name: 'block_size', type: 'INTEGER NOT NULL', since: 1, field: 'blockSize' },
    { name: 'coverage_map', type: 'BLOB NOT NULL', since: 1, field: 'coverageMap' },
    { name: 'covered_bytes', type: 'INTEGER NOT NULL', since: 1, field: 'coveredBytes', read: Number, sort: true },
    { sql: COVERAGE_SQL, field: 'coverage', read: Number, sort: true },
    { name: 'coverage_offset', type: 'INTEGER NOT NULL DEFAULT 0', since: 2, field: 'coverageOffset' },
    { name: 'kind', type: "TEXT NOT NULL DEFAULT 'video'", since: 3, field: 'kind', read: String },
    { field: 'deliveredPercent', derive: deliveredPercent },
    { name: 'folder', type: "TEXT NOT NULL DEFAULT ''", since: 3, field: 'folder' },
    { name: 'played_ranges', type: "TEXT NOT NULL DEFAULT '[]'", since: 3, field: 'playedRanges', read: parsePlayedRanges },
    { name: 'watched_seconds', type: 'REAL NOT NULL DEFAULT 0', since: 3, field: 'watchedSeconds', read: Number, sort: true },
    { field: 'watchedPercent', derive: watchedPercent },
    { name: 'duration_seconds', type: 'REAL', since: 3, field: 'durationSeconds', read: optionalNumber },
    { name: 'position_seconds', type: 'REAL', since: 3, field: 'position', read: optionalNumber, sort: true },
    { name: 'rebuffer_seconds', type: 'REAL NOT NULL DEFAULT 0', since: 3, field: 'rebufferSeconds', read: Number },
    { name: 'reports', type: 'INTEGER NOT NULL DEFAULT 0', since: 3, field: 'reports', read: Number },
    { name: 'events', type: "TEXT NOT NULL DEFAULT '{}'", since: 3, field: 'events', read: eventCounts },
  ],
  indexes: [
    { name: 'watch_session_match', on: 'path, viewer, last_seen', since: 1 },
    { name: 'watch_session_first_seen', on: 'first_seen', since: 1 },
    { name: 'watch_session_last_seen', on: 'last_seen', since: 1 },
    { name: 'watch_session_user', on: 'user_id, first_seen', since: 1 },
    { name: 'watch_session_ip', on: 'ip, first_seen', since: 1 },
    { name: 'watch_session_client', on: 'ip, path, last_seen', since: 2 },
    { name: 'watch_session_stream', on: 'viewer, kind, last_seen', since: 3 },
  ],
};

/** Requests, one row each, in the session they joined. */
export const WATCH_REQUEST: Table = {
  name: 'watch_request',
  columns: [
    { name: 'id', type: 'INTEGER PRIMARY KEY', since: 1, field: 'id', read: Number },
    { name: 'session_id', type: 'INTEGER NOT NULL REFERENCES watch_session (id) ON DELETE CASCADE', since: 1, field: 'sessionId', read: Number },
    { name: 'path', type: 'TEXT NOT NULL', since: 1, field: 'path', read: String, sort: true },
    { name: 'user_id', type: 'TEXT', since: 1, field: 'userId', read: optionalText, sort: true },
    { name: 'is_authenticated', type: 'INTEGER NOT NULL', since: 1, field: 'isAuthenticated', read: flag },
    { name: 'ip', type: 'TEXT NOT NULL', since: 1, field: 'ip', read: String, sort: true },
    { name: 'user_agent', type: 'TEXT', since: 1, field: 'userAgent', read: optionalText },
    { name: 'status', type: 'INTEGER NOT NULL', since: 1, field: 'status', read: Number, sort: true },
    { name: 'range_header', type: 'TEXT', since: 1, field: 'range', read: optionalText },
    { name: 'bytes_sent', type: 'INTEGER NOT NULL', since: 1, field: 'bytesSent', read: Number, sort: true },
    { name: 'aborted', type: 'INTEGER NOT NULL', since: 1, field: 'aborted', read: flag },
    { name: 'size', type: 'INTEGER NOT NULL', since: 1, field: 'size', read: Number, sort: true },
    { name: 'started_at', type: 'INTEGER NOT NULL', since: 1, field: 'startedAt', read: Number, sort: true },
    { name: 'duration_ms', type: 'INTEGER NOT NULL', since: 1, field: 'durationMs', read: Number, sort: true },
  ],
  indexes: [
    { name: 'watch_request_started_at', on: 'started_at', since: 1 },
    { name: 'watch_request_path', on: 'path, started_at', since: 1 },
    { name: 'watch_request_user', on: 'user_id, started_at', since: 1 },
    { name: 'watch_request_ip', on: 'ip, started_at', since: 1 },
    { name: 'watch_request_session', on: 'session_id', since: 1 },
  ],
};

// In creation order: a session's requests reference it.
const TABLES: readonly Table[] = [WATCH_SESSION, WATCH_REQUEST];

// What a step does besides adding its columns and indexes.
const BACKFILLS: Readonly<Record<number, (db: DatabaseSync) => void>> = { 3: classifySessions };

/** The schema version this release writes, kept in `PRAGMA user_version`: the latest step of any column or index. */
export const WATCH_LOG_SCHEMA_VERSION: number = Math.max(
  ...TABLES.flatMap((t) => [...storedColumns(t), ...t.indexes].map((c) => c.since)),
);

/**
 * Brings the database to {@link WATCH_LOG_SCHEMA_VERSION}, one step per version: step 1 creates
 * the tables with their `since: 1` columns, a later step n adds the columns and indexes marked
 * `since: n` (skipping any already there, as in a file taken back to an older version by hand)
 * and runs its backfill. Throws on a file newer than this release.
 */
export function migrate(db: DatabaseSync): void {
  // IMMEDIATE takes the write lock before reading the version, so two processes opening a new
  // file at once cannot both create the tables; the loser sees the current version and does nothing.
  db.exec('BEGIN IMMEDIATE');
  try {
    const version = Number((db.prepare('PRAGMA user_version').get() as Row | undefined)?.['user_version'] ?? 0);
    if (version > WATCH_LOG_SCHEMA_VERSION) {
      throw new Error(`watch log schema version ${version} is newer than this release supports (${WATCH_LOG_SCHEMA_VERSION})`);
    }
    for (let step = version + 1; step <= WATCH_LOG_SCHEMA_VERSION; step++) {
      for (const table of TABLES) migrateTable(db, table, step);
      BACKFILLS[step]?.(db);
    }
    if (version !== WATCH_LOG_SCHEMA_VERSION) db.exec(`PRAGMA user_version = ${WATCH_LOG_SCHEMA_VERSION}`);
    db.exec('COMMIT');
  } catch (err) {
    if (db.isTransaction) db.exec('ROLLBACK');
    throw err;
  }
}

function migrateTable(db: DatabaseSync, table: Table, step: number): void {
  const added = storedColumns(table).filter((c) => c.since === step);
  if (step === 1) {
    // SQLite keeps this text in sqlite_master, and ADD COLUMN splices into it: the line breaks and
    // indentation are the first release's, so new files stay byte-identical to older ones.
    db.exec(`CREATE TABLE ${table.name} (\n${added.map((c) => `        ${c.name} ${c.type}`).join(',\n')}\n      )`);
  } else {
    const have = new Set((db.prepare(`PRAGMA table_info(${table.name})`).all() as Row[]).map((c) => String(c['name'])));
    for (const c of added) if (!have.has(c.name)) db.exec(`ALTER TABLE ${table.name} ADD COLUMN ${c.name} ${c.type}`);
  }
  for (const index of table.indexes) {
    if (index.since === step) db.exec(`CREATE INDEX IF NOT EXISTS ${index.name} ON ${table.name} (${index.on})`);
  }
}

function storedColumns(table: Table): StoredColumn[] {
  return table.columns.filter((c): c is StoredColumn => 'type' in c);
}

/**
 * The select list for `fields` of `columns` (by default every listed value, in table order):
 * `name AS field`, or `sql AS field` for a computed one.
 */
export function selectList(columns: readonly Column[], fields?: readonly string[]): string {
  const chosen =
    fields === undefined
      ? columns.filter((c) => !('derive' in c) && c.read !== undefined)
      : fields.map((field) => {
          const column = columns.find((c) => c.field === field);
          if (column === undefined || 'derive' in column) throw new TypeError(`no column is read as ${field}`);
          return column;
        });
  return chosen
    .map((c) => {
      const sql = 'sql' in c ? c.sql : (c as StoredColumn).name;
      return sql === c.field ? sql : `${sql} AS ${c.field}`;
    })
    .join(', ');
}

/** A listed row: what SQLite returned for {@link selectList}, read and derived, in table order. */
export function readRow(columns: readonly Column[], r: Row): Row {
  const row: Row = {};
  for (const c of columns) {
    if ('derive' in c) row[c.field] = c.derive(r);
    else if (c.read !== undefined) row[c.field] = c.read(r[c.field]);
  }
  return row;
}

/** The sort whitelist of a listing: each sortable field → the column (or, when computed, the alias) to order by. */
export function sortKeys(columns: readonly Column[]): Readonly<Record<string, string>> {
  const keys: Record<string, string> = {};
  for (const c of columns) if (!('derive' in c) && c.sort === true) keys[c.field] = 'sql' in c ? c.field : c.name;
  return Object.freeze(keys);
}

/**
 * INSERTs rows into one table by field: a stored column is written when `values`, or else
 * `source`, holds its field (undefined counts as absent), and gets its SQL default otherwise.
 * `source` may hold other keys (a whole entry); every key of `values` must name a column, so a
 * typo throws. One statement is prepared per set of columns, so a caller that writes the same
 * fields every time uses one.
 */
export class TableInsert {
  readonly #db: DatabaseSync;
  readonly #table: string;
  readonly #columns: readonly StoredColumn[];
  readonly #fields: ReadonlySet<string>;
  readonly #statements = new Map<bigint, StatementSync>();

  constructor(db: DatabaseSync, table: Table) {
    this.#db = db;
    this.#table = table.name;
    this.#columns = storedColumns(table);
    this.#fields = new Set(this.#columns.map((c) => c.field));
  }

  /** Inserts one row; returns its id. Throws what SQLite throws. */
  run(source: Readonly<Row>, values: Readonly<Record<string, SQLInputValue>> = {}): number {
    for (const field in values) if (!this.#fields.has(field)) throw new TypeError(`${this.#table} has no column for ${field}`);
    const params: SQLInputValue[] = [];
    let written = 0n; // one bit per column this row writes: which statement it takes
    for (let i = 0; i < this.#columns.length; i++) {
      const field = this.#columns[i]!.field;
      const value = values[field] !== undefined ? values[field] : source[field];
      if (value === undefined) continue;
      written |= 1n << BigInt(i);
      params.push(value as SQLInputValue);
    }
    let statement = this.#statements.get(written);
    if (statement === undefined) {
      const names = this.#columns.filter((_, i) => (written & (1n << BigInt(i))) !== 0n).map((c) => c.name);
      statement = this.#db.prepare(`INSERT INTO ${this.#table} (${names.join(', ')}) VALUES (${names.map(() => '?').join(', ')})`);
      this.#statements.set(written, statement);
    }
    return Number(statement.run(...params).lastInsertRowid);
  }
}

function optionalText(value: unknown): string | null {
  return (value as string | null | undefined) ?? null;
}

/** SQLite's 0/1 as a boolean. */
function flag(value: unknown): boolean {
  return value === 1;
}

/** A number, or null for SQL NULL. */
export function optionalNumber(value: unknown): number | null {
  return value === null || value === undefined ? null : Number(value);
}

/** Rounded to one decimal, as percentages are listed. */
export function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

function eventCounts(value: unknown): Record<string, number> {
  try {
    return JSON.parse(String(value ?? '{}')) as Record<string, number>;
  } catch {
    return {}; // a damaged row shows no events
  }
}

// Share of the file's bytes sent; null for a stream, whose bytes are in its segments.
function deliveredPercent(r: Row): number | null {
  return r['kind'] === 'stream' ? null : round1(Number(r['coverage']) * 100);
}

// Played seconds over the reported duration; null without a beacon report.
function watchedPercent(r: Row): number | null {
  const duration = optionalNumber(r['durationSeconds']);
  const watchedSeconds = Number(r['watchedSeconds'] ?? 0);
  const reports = Number(r['reports'] ?? 0);
  return reports > 0 && duration !== null && duration > 0 ? round1(Math.min(100, (watchedSeconds * 100) / duration)) : null;
}
