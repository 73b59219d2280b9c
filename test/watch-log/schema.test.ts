import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import {
  migrate,
  readRow,
  selectList,
  sortKeys,
  TableInsert,
  WATCH_LOG_SCHEMA_VERSION,
  WATCH_REQUEST,
  WATCH_SESSION,
  type Column,
  type Row,
} from '../../src/watch-log/schema.ts';

function migrated(setup?: string): DatabaseSync {
  const db = new DatabaseSync(':memory:');
  if (setup !== undefined) db.exec(setup);
  migrate(db);
  return db;
}

function master(db: DatabaseSync): string[] {
  return (db.prepare("SELECT sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY rowid").all() as Row[]).map((r) => String(r['sql']));
}

function tableInfo(db: DatabaseSync, table: string): Row[] {
  return db.prepare(`PRAGMA table_info(${table})`).all().map((c) => ({ ...c }));
}

// What v1 wrote, then v2's and v3's ADD COLUMN spliced in: new files keep this text exactly.
const CREATE_SESSION =
  'CREATE TABLE watch_session (\n        id INTEGER PRIMARY KEY,\n        path TEXT NOT NULL,\n        viewer TEXT NOT NULL,\n' +
  '        user_id TEXT,\n        is_authenticated INTEGER NOT NULL,\n        ip TEXT NOT NULL,\n        user_agent TEXT,\n' +
  '        first_seen INTEGER NOT NULL,\n        last_seen INTEGER NOT NULL,\n        requests INTEGER NOT NULL,\n' +
  '        bytes_sent INTEGER NOT NULL,\n        size INTEGER NOT NULL,\n        block_size INTEGER NOT NULL,\n' +
  '        coverage_map BLOB NOT NULL,\n        covered_bytes INTEGER NOT NULL\n      ' +
  ", coverage_offset INTEGER NOT NULL DEFAULT 0, kind TEXT NOT NULL DEFAULT 'video', folder TEXT NOT NULL DEFAULT '', " +
  "played_ranges TEXT NOT NULL DEFAULT '[]', watched_seconds REAL NOT NULL DEFAULT 0, duration_seconds REAL, " +
  "position_seconds REAL, rebuffer_seconds REAL NOT NULL DEFAULT 0, reports INTEGER NOT NULL DEFAULT 0, events TEXT NOT NULL DEFAULT '{}')";
const CREATE_REQUEST =
  'CREATE TABLE watch_request (\n        id INTEGER PRIMARY KEY,\n' +
  '        session_id INTEGER NOT NULL REFERENCES watch_session (id) ON DELETE CASCADE,\n        path TEXT NOT NULL,\n' +
  '        user_id TEXT,\n        is_authenticated INTEGER NOT NULL,\n        ip TEXT NOT NULL,\n        user_agent TEXT,\n' +
  '        status INTEGER NOT NULL,\n        range_header TEXT,\n        bytes_sent INTEGER NOT NULL,\n' +
  '        aborted INTEGER NOT NULL,\n        size INTEGER NOT NULL,\n        started_at INTEGER NOT NULL,\n' +
  '        duration_ms INTEGER NOT NULL\n      )';

// The v1 release's tables and indexes, written by hand (as in playback.test.ts).
const V1 = `
  CREATE TABLE watch_session (id INTEGER PRIMARY KEY, path TEXT NOT NULL, viewer TEXT NOT NULL, user_id TEXT,
    is_authenticated INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT, first_seen INTEGER NOT NULL,
    last_seen INTEGER NOT NULL, requests INTEGER NOT NULL, bytes_sent INTEGER NOT NULL, size INTEGER NOT NULL,
    block_size INTEGER NOT NULL, coverage_map BLOB NOT NULL, covered_bytes INTEGER NOT NULL);
  CREATE INDEX watch_session_match ON watch_session (path, viewer, last_seen);
  CREATE TABLE watch_request (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES watch_session (id) ON DELETE CASCADE,
    path TEXT NOT NULL, user_id TEXT, is_authenticated INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT,
    status INTEGER NOT NULL, range_header TEXT, bytes_sent INTEGER NOT NULL, aborted INTEGER NOT NULL,
    size INTEGER NOT NULL, started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL);
  CREATE INDEX watch_session_first_seen ON watch_session (first_seen);
  CREATE INDEX watch_session_last_seen ON watch_session (last_seen);
  CREATE INDEX watch_session_user ON watch_session (user_id, first_seen);
  CREATE INDEX watch_session_ip ON watch_session (ip, first_seen);
  CREATE INDEX watch_request_started_at ON watch_request (started_at);
  CREATE INDEX watch_request_path ON watch_request (path, started_at);
  CREATE INDEX watch_request_user ON watch_request (user_id, started_at);
  CREATE INDEX watch_request_ip ON watch_request (ip, started_at);
  CREATE INDEX watch_request_session ON watch_request (session_id);
  PRAGMA user_version = 1;
`;

describe('watch-log schema from the column tables', () => {
  it('a new file holds exactly the SQL text earlier releases wrote', () => {
    const db = migrated();
    assert.deepEqual(master(db), [
      CREATE_SESSION,
      'CREATE INDEX watch_session_match ON watch_session (path, viewer, last_seen)',
      'CREATE INDEX watch_session_first_seen ON watch_session (first_seen)',
      'CREATE INDEX watch_session_last_seen ON watch_session (last_seen)',
      'CREATE INDEX watch_session_user ON watch_session (user_id, first_seen)',
      'CREATE INDEX watch_session_ip ON watch_session (ip, first_seen)',
      CREATE_REQUEST,
      'CREATE INDEX watch_request_started_at ON watch_request (started_at)',
      'CREATE INDEX watch_request_path ON watch_request (path, started_at)',
      'CREATE INDEX watch_request_user ON watch_request (user_id, started_at)',
      'CREATE INDEX watch_request_ip ON watch_request (ip, started_at)',
      'CREATE INDEX watch_request_session ON watch_request (session_id)',
      'CREATE INDEX watch_session_client ON watch_session (ip, path, last_seen)',
      'CREATE INDEX watch_session_stream ON watch_session (viewer, kind, last_seen)',
    ]);
    assert.equal(db.prepare('PRAGMA user_version').get()?.['user_version'], WATCH_LOG_SCHEMA_VERSION);
    assert.equal(WATCH_LOG_SCHEMA_VERSION, 3);
  });

  it('a v1 file migrates to the same columns and indexes as a new file', () => {
    const fresh = migrated();
    const old = migrated(V1);
    for (const table of ['watch_session', 'watch_request']) assert.deepEqual(tableInfo(old, table), tableInfo(fresh, table), table);
    const indexes = (db: DatabaseSync): string[] =>
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' ORDER BY name").all() as Row[]).map((r) => String(r['name']));
    assert.deepEqual(indexes(old), indexes(fresh));
    assert.equal(old.prepare('PRAGMA user_version').get()?.['user_version'], WATCH_LOG_SCHEMA_VERSION);
  });

  it('a step skips a column already there (a file taken back to an older version by hand)', () => {
    const db = migrated();
    db.exec('PRAGMA user_version = 2');
    migrate(db);
    assert.deepEqual(tableInfo(db, 'watch_session'), tableInfo(migrated(), 'watch_session'));
  });
});

describe('selectList, readRow and sortKeys', () => {
  const columns: readonly Column[] = [
    { name: 'id', type: 'INTEGER PRIMARY KEY', since: 1, field: 'id', read: Number },
    { name: 'user_id', type: 'TEXT', since: 1, field: 'userId', read: String, sort: true },
    { name: 'secret', type: 'TEXT', since: 1, field: 'secret' },
    { sql: 'length(user_id)', field: 'length', read: Number, sort: true },
    { field: 'double', derive: (r) => Number(r['length']) * 2 },
  ];

  const selects: ReadonlyArray<{ fields?: readonly string[]; want: string }> = [
    { want: 'id, user_id AS userId, length(user_id) AS length' },
    { fields: ['secret', 'id'], want: 'secret, id' },
  ];
  for (const { fields, want } of selects) {
    it(`selectList(${fields?.join(', ') ?? 'listed'}) → ${want}`, () => assert.equal(selectList(columns, fields), want));
  }

  it('selectList refuses a field that no column is read as', () => {
    assert.throws(() => selectList(columns, ['double']), /no column is read as double/);
    assert.throws(() => selectList(columns, ['user_id']), /no column is read as user_id/);
  });

  it('readRow reads listed values and derives the rest, in table order', () => {
    const row = readRow(columns, { id: '7', userId: 'u', length: 1, secret: 'x' });
    assert.deepEqual(Object.entries(row), [['id', 7], ['userId', 'u'], ['length', 1], ['double', 2]]);
  });

  it('sortKeys maps a stored field to its column and a computed one to its alias', () => {
    assert.deepEqual(sortKeys(columns), { userId: 'user_id', length: 'length' });
  });

  it('the sessions whitelist sorts position by position_seconds and coverage by its alias', () => {
    const keys = sortKeys(WATCH_SESSION.columns);
    assert.equal(keys['position'], 'position_seconds');
    assert.equal(keys['coverage'], 'coverage');
    assert.equal(sortKeys(WATCH_REQUEST.columns)['startedAt'], 'started_at');
  });
});

describe('TableInsert', () => {
  it('writes the fields values or source hold, takes values first, and leaves the rest to their defaults', () => {
    const db = migrated();
    const insert = new TableInsert(db, WATCH_SESSION);
    const source = { path: 'a.mp4', viewer: 'u:1', userId: '1', isAuthenticated: 1, ip: '::1', userAgent: null, bytesSent: 9, size: 10, status: 206 };
    const id = insert.run(source, {
      firstSeen: 1, lastSeen: 2, requests: 1, blockSize: 65536, coverageMap: new Uint8Array([1]), coveredBytes: 10, bytesSent: 5,
    });
    const row = db.prepare('SELECT * FROM watch_session WHERE id = ?').get(id) as Row;
    assert.equal(row['bytes_sent'], 5, 'values win over source');
    assert.equal(row['user_agent'], null, 'null is written, not skipped');
    assert.equal(row['coverage_offset'], 0);
    assert.equal(row['kind'], 'video');
    assert.equal(row['events'], '{}');
    assert.equal(row['duration_seconds'], null);
  });

  it('refuses a value for a field that is not a column, so a typo throws', () => {
    const insert = new TableInsert(migrated(), WATCH_REQUEST);
    assert.throws(() => insert.run({}, { sesionId: 1 }), /watch_request has no column for sesionId/);
  });

  it('a NOT NULL column without a default that nobody gives fails in SQLite', () => {
    const insert = new TableInsert(migrated(), WATCH_REQUEST);
    assert.throws(() => insert.run({ path: 'a.mp4' }), /NOT NULL constraint failed/);
  });
});
