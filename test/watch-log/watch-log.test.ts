import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { inspect, promisify } from 'node:util';
import { WatchLog, type WatchEntry, type WatchLogOptions } from '../../src/watch-log/watch-log.ts';
import { blockSizeFor } from '../../src/watch-log/coverage.ts';
import { WATCH_LOG_SCHEMA_VERSION } from '../../src/watch-log/schema.ts';
import type { RequestRow, SessionRow, WatchQuery } from '../../src/watch-log/query.ts';
import { createFixtures } from '../helpers/fixtures.ts';
import type { StreamError } from '../../src/errors.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;
const BLOCK = 64 * KIB;
const SIZE = 10 * MIB; // 160 blocks of 64 KiB
const T0 = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;
const IDLE = 60_000;

const fixtures = createFixtures('sage-stream-watch-log-');
after(() => fixtures.remove());

let files = 0;
/** A fresh database path in the fixture folder. */
function dbPath(): string {
  return fixtures.path(`log-${++files}.db`);
}

function entry(overrides: Partial<WatchEntry> = {}): WatchEntry {
  return {
    path: 'movies/a.mp4',
    userId: null,
    isAuthenticated: false,
    ip: '10.0.0.1',
    userAgent: 'VLC/3.0',
    status: 206,
    range: null,
    ranges: [],
    bytesSent: 0,
    aborted: false,
    size: SIZE,
    startedAt: T0,
    durationMs: 10,
    ...overrides,
  };
}

/** A 206 that served [start, end] in full. */
function served(start: number, end: number, overrides: Partial<WatchEntry> = {}): WatchEntry {
  return entry({ range: `bytes=${start}-${end}`, ranges: [{ start, end }], bytesSent: end - start + 1, ...overrides });
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

/** Opens a log on a new file, records `entries`, flushes, and returns it (the caller closes it). */
async function logWith(entries: readonly WatchEntry[], options: WatchLogOptions = {}): Promise<WatchLog> {
  const log = await WatchLog.open(dbPath(), { sessionIdleMs: IDLE, ...options });
  for (const e of entries) log.record(e);
  log.flush();
  return log;
}

type SessionWant = Pick<SessionRow, 'requests' | 'bytesSent' | 'coveredBytes' | 'coverage'>;

const sessionCases: ReadonlyArray<{ name: string; entries: WatchEntry[]; want: SessionWant[] }> = [
  {
    name: 'range requests by one viewer → one session; the first half → coverage 0.5',
    entries: [
      served(0, MIB - 1),
      served(MIB, 5 * MIB - 1, { startedAt: T0 + 1000 }),
      served(0, BLOCK - 1, { startedAt: T0 + 2000 }), // re-watch: bytes count, coverage does not grow
    ],
    want: [{ requests: 3, bytesSent: 5 * MIB + BLOCK, coveredBytes: 5 * MIB, coverage: 0.5 }],
  },
  {
    name: 'partly served blocks count whole: 100 bytes + 2 bytes across a boundary → 2 blocks',
    entries: [served(100, 199), served(BLOCK - 1, BLOCK, { startedAt: T0 + 1 })],
    want: [{ requests: 2, bytesSent: 102, coveredBytes: 2 * BLOCK, coverage: 0.0125 }],
  },
  {
    name: "the file's last block counts only the bytes it holds",
    entries: [served(0, 99_999, { size: 100_000, status: 200 })],
    want: [{ requests: 1, bytesSent: 100_000, coveredBytes: 100_000, coverage: 1 }],
  },
  {
    name: 'a 200 logged without ranges covers the whole file',
    entries: [entry({ status: 200, size: 100_000, bytesSent: 100_000 })],
    want: [{ requests: 1, bytesSent: 100_000, coveredBytes: 100_000, coverage: 1 }],
  },
  {
    name: 'an aborted request covers only the bytes it sent',
    entries: [entry({ status: 200, ranges: [{ start: 0, end: SIZE - 1 }], bytesSent: 100_000, aborted: true })],
    want: [{ requests: 1, bytesSent: 100_000, coveredBytes: 2 * BLOCK, coverage: 0.0125 }],
  },
  {
    name: 'a multipart response cut short counts its ranges in order',
    entries: [
      entry({
        ranges: [
          { start: 0, end: BLOCK - 1 },
          { start: 2 * BLOCK, end: 3 * BLOCK - 1 },
          { start: 5 * BLOCK, end: 6 * BLOCK - 1 },
        ],
        bytesSent: BLOCK + 10,
        aborted: true,
      }),
    ],
    want: [{ requests: 1, bytesSent: BLOCK + 10, coveredBytes: 2 * BLOCK, coverage: 0.0125 }],
  },
  {
    name: 'a gap longer than sessionIdleMs → two sessions',
    entries: [served(0, BLOCK - 1), served(BLOCK, 2 * BLOCK - 1, { startedAt: T0 + 10 + IDLE + 1 })],
    want: [
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
    ],
  },
  {
    name: 'a gap of exactly sessionIdleMs continues the session',
    entries: [served(0, BLOCK - 1), served(BLOCK, 2 * BLOCK - 1, { startedAt: T0 + 10 + IDLE })],
    want: [{ requests: 2, bytesSent: 2 * BLOCK, coveredBytes: 2 * BLOCK, coverage: 0.0125 }],
  },
  {
    name: 'the gap counts from the end of a long response',
    entries: [served(0, BLOCK - 1, { durationMs: HOUR }), served(0, BLOCK - 1, { startedAt: T0 + HOUR + 1000 })],
    want: [{ requests: 2, bytesSent: 2 * BLOCK, coveredBytes: BLOCK, coverage: 0.00625 }],
  },
  {
    name: 'another ip → separate session',
    entries: [served(0, BLOCK - 1), served(0, BLOCK - 1, { ip: '10.0.0.2' })],
    want: [
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
    ],
  },
  {
    name: 'same ip, another user agent → separate session',
    entries: [served(0, BLOCK - 1), served(0, BLOCK - 1, { userAgent: 'Firefox' })],
    want: [
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
    ],
  },
  {
    name: 'an authenticated user keeps one session across ips and user agents',
    entries: [
      served(0, BLOCK - 1, { userId: 'alice', isAuthenticated: true }),
      served(BLOCK, 2 * BLOCK - 1, { userId: 'alice', isAuthenticated: true, ip: '10.9.9.9', userAgent: 'Safari' }),
    ],
    want: [{ requests: 2, bytesSent: 2 * BLOCK, coveredBytes: 2 * BLOCK, coverage: 0.0125 }],
  },
  {
    name: 'another file → separate session',
    entries: [served(0, BLOCK - 1), served(0, BLOCK - 1, { path: 'movies/b.mp4' })],
    want: [
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
    ],
  },
  {
    name: 'a replaced file (new size) → new session',
    entries: [served(0, BLOCK - 1), served(0, BLOCK - 1, { size: SIZE * 2, startedAt: T0 + 1 })],
    want: [
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.00625 },
      { requests: 1, bytesSent: BLOCK, coveredBytes: BLOCK, coverage: 0.003125 },
    ],
  },
  {
    name: '16 GiB file: 128 KiB blocks; the first half → coverage 0.5',
    entries: [served(0, 8 * GIB - 1, { size: 16 * GIB, status: 200 })],
    want: [{ requests: 1, bytesSent: 8 * GIB, coveredBytes: 8 * GIB, coverage: 0.5 }],
  },
  {
    name: '16 GiB file: one byte covers a 128 KiB block',
    entries: [served(0, 0, { size: 16 * GIB })],
    want: [{ requests: 1, bytesSent: 1, coveredBytes: 128 * KIB, coverage: (128 * KIB) / (16 * GIB) }],
  },
  {
    name: 'an empty file has coverage 0',
    entries: [entry({ status: 200, size: 0 })],
    want: [{ requests: 1, bytesSent: 0, coveredBytes: 0, coverage: 0 }],
  },
];

describe('WatchLog sessions and coverage', () => {
  for (const { name, entries, want } of sessionCases) {
    it(name, async () => {
      const log = await logWith(entries);
      try {
        const { rows, total } = log.sessions({ sort: 'firstSeen', order: 'asc' });
        assert.equal(total, want.length);
        const got = rows.map(({ requests, bytesSent, coveredBytes, coverage }) => ({ requests, bytesSent, coveredBytes, coverage }));
        assert.deepEqual(got, want);
        assert.equal(log.requests().total, entries.length);
        const sessionIds = new Set(log.requests().rows.map((r) => r.sessionId));
        assert.deepEqual([...sessionIds].sort(), rows.map((r) => r.id).sort());
      } finally {
        log.close();
      }
    });
  }
});

describe('blockSizeFor', () => {
  const cases: ReadonlyArray<{ size: number; want: number }> = [
    { size: 0, want: 64 * KIB },
    { size: 8 * GIB, want: 64 * KIB }, // 131072 blocks: exactly 16 KiB of bits
    { size: 8 * GIB + 1, want: 128 * KIB },
    { size: 16 * GIB, want: 128 * KIB },
    { size: 100 * GIB, want: 1024 * KIB },
  ];
  for (const { size, want } of cases) {
    it(`${size} bytes → ${want / KIB} KiB blocks`, () => assert.equal(blockSizeFor(size), want));
  }
});

describe('WatchLog queue', () => {
  it('close() flushes everything queued: 1000 entries survive a reopen', async () => {
    const path = dbPath();
    const log = await WatchLog.open(path, { flushIntervalMs: 60_000, maxBatch: 5000 });
    for (let i = 0; i < 1000; i++) log.record(served(i * KIB, i * KIB + KIB - 1, { startedAt: T0 + i }));
    assert.equal(log.pending, 1000);
    log.close();
    assert.equal(log.pending, 0);
    assert.equal(log.dropped, 0);
    const reopened = await WatchLog.open(path);
    try {
      assert.equal(reopened.requests().total, 1000);
      assert.equal(reopened.requests({ limit: 10_000 }).rows.length, 500, 'limit is clamped to 500');
      assert.deepEqual(
        reopened.sessions().rows.map((s) => [s.requests, s.bytesSent, s.coveredBytes]),
        [[1000, 1000 * KIB, 16 * BLOCK]],
      );
    } finally {
      reopened.close();
    }
  });

  it('record() after close() is ignored; close() twice is a no-op', async () => {
    const log = await WatchLog.open(dbPath());
    log.close();
    log.record(entry());
    log.flush();
    log.close();
    assert.equal(log.pending, 0);
    assert.equal(log.dropped, 0);
    assert.throws(() => log.requests(), /closed/);
  });

  it('the timer writes queued entries after flushIntervalMs', async () => {
    const log = await WatchLog.open(dbPath(), { flushIntervalMs: 10 });
    try {
      log.record(entry());
      assert.equal(log.pending, 1);
      assert.equal(log.requests().total, 0, 'record() does not write synchronously');
      await until(() => log.pending === 0);
      assert.equal(log.requests().total, 1);
    } finally {
      log.close();
    }
  });

  it('maxBatch queued entries are written on the next turn, before the interval', async () => {
    const log = await WatchLog.open(dbPath(), { flushIntervalMs: 60_000, maxBatch: 5 });
    try {
      for (let i = 0; i < 5; i++) log.record(entry({ startedAt: T0 + i }));
      await new Promise((resolve) => setImmediate(resolve));
      assert.equal(log.pending, 0);
      assert.equal(log.requests().total, 5);
    } finally {
      log.close();
    }
  });

  it('beyond maxQueue, entries are dropped and counted', async () => {
    const log = await WatchLog.open(dbPath(), { flushIntervalMs: 60_000, maxQueue: 3 });
    for (let i = 0; i < 5; i++) log.record(entry({ startedAt: T0 + i }));
    assert.equal(log.pending, 3);
    assert.equal(log.dropped, 2);
    log.close();
  });

  it('a malformed entry from a JavaScript caller is coerced, not fatal to the batch', async () => {
    const log = await WatchLog.open(dbPath());
    try {
      const bad = { path: 'x.mp4', ip: 7, size: Number.NaN, startedAt: 'soon', ranges: null } as unknown as WatchEntry;
      log.record(bad);
      log.record(entry());
      log.flush();
      assert.equal(log.pending, 0);
      assert.equal(log.requests().total, 2);
      const [row] = log.requests({ path: 'x.mp4' }).rows;
      assert.equal(row?.ip, '7');
      assert.equal(row?.size, 0);
    } finally {
      log.close();
    }
  });

  it('the Range header is stored truncated to 200 characters', async () => {
    const log = await logWith([entry({ range: `bytes=${'0-1,'.repeat(100)}` })]);
    try {
      assert.equal(log.requests().rows[0]?.range?.length, 200);
    } finally {
      log.close();
    }
  });
});

describe('WatchLog queries', () => {
  // Five requests an hour apart (so five sessions); paths 3 and 4 tell a literal "%_" from wildcards.
  const seed: WatchEntry[] = [
    served(0, 5 * MIB - 1, { userId: 'alice', isAuthenticated: true, userAgent: 'Firefox/140', startedAt: T0 }),
    served(0, SIZE - 1, { ip: '10.0.0.2', startedAt: T0 + HOUR }),
    served(0, BLOCK - 1, { path: 'movies/100%_real.mp4', userId: 'bob', isAuthenticated: true, ip: '10.0.0.3', userAgent: 'Safari', startedAt: T0 + 2 * HOUR }),
    served(0, BLOCK - 1, { path: 'movies/100x real.mp4', ip: '10.0.0.4', userAgent: 'curl/8', startedAt: T0 + 3 * HOUR }),
    served(0, SIZE / 4 - 1, { path: 'shows/b.webm', userId: 'alice', isAuthenticated: true, ip: '10.0.0.5', startedAt: T0 + 4 * HOUR }),
    served(0, SIZE / 4 - 1, { userId: 'alice', isAuthenticated: true, ip: '10.0.0.9', startedAt: T0 + 5 * HOUR }),
  ];
  let log: WatchLog;
  before(async () => {
    log = await logWith(seed, { sessionIdleMs: 30 * 60_000 });
  });
  after(() => log.close());

  const requestCases: ReadonlyArray<{ name: string; query: WatchQuery; ids: number[]; total?: number }> = [
    { name: 'no filter → newest first', query: {}, ids: [6, 5, 4, 3, 2, 1] },
    { name: 'path', query: { path: 'movies/a.mp4' }, ids: [6, 2, 1] },
    { name: 'user', query: { userId: 'alice' }, ids: [6, 5, 1] },
    { name: 'ip', query: { ip: '10.0.0.3' }, ids: [3] },
    { name: 'authenticated', query: { authenticated: true }, ids: [6, 5, 3, 1] },
    { name: 'anonymous', query: { authenticated: false }, ids: [4, 2] },
    { name: 'from inclusive, to exclusive', query: { from: T0 + HOUR, to: T0 + 3 * HOUR }, ids: [3, 2] },
    { name: 'filters combine', query: { path: 'movies/a.mp4', authenticated: false }, ids: [2] },
    { name: 'search "%_" matches literally', query: { search: '100%_' }, ids: [3] },
    { name: 'search "_" matches literally', query: { search: '_' }, ids: [3] },
    { name: 'search is case-insensitive over user agent', query: { search: 'firefox' }, ids: [1] },
    { name: 'search over ip', query: { search: '10.0.0.4' }, ids: [4] },
    { name: 'search over user', query: { search: 'bob' }, ids: [3] },
    { name: 'search with a quote and backslash finds nothing', query: { search: `'\\"` }, ids: [] },
    { name: 'sort path asc (ties by id)', query: { sort: 'path', order: 'asc' }, ids: [3, 4, 1, 2, 6, 5] },
    { name: 'sort startedAt asc', query: { sort: 'startedAt', order: 'asc' }, ids: [1, 2, 3, 4, 5, 6] },
    { name: 'sort bytesSent desc', query: { sort: 'bytesSent' }, ids: [2, 1, 6, 5, 4, 3] },
    { name: 'an unknown order → desc', query: { sort: 'startedAt', order: 'sideways' as 'asc' }, ids: [6, 5, 4, 3, 2, 1] },
    { name: 'injection in sort → default', query: { sort: 'startedAt; DROP TABLE watch_request', order: 'asc' }, ids: [6, 5, 4, 3, 2, 1] },
    { name: 'an inherited key in sort → default', query: { sort: 'constructor', order: 'asc' }, ids: [6, 5, 4, 3, 2, 1] },
    { name: 'a column name that is not a key → default', query: { sort: 'started_at', order: 'asc' }, ids: [6, 5, 4, 3, 2, 1] },
    { name: 'limit', query: { limit: 2 }, ids: [6, 5], total: 6 },
    { name: 'limit + offset', query: { limit: 2, offset: 2 }, ids: [4, 3], total: 6 },
    { name: 'offset past the end', query: { offset: 10 }, ids: [], total: 6 },
    { name: 'limit 0 is clamped to 1', query: { limit: 0 }, ids: [6], total: 6 },
    { name: 'a filtered total counts all matches, not the page', query: { userId: 'alice', limit: 1 }, ids: [6], total: 3 },
  ];
  for (const { name, query, ids, total } of requestCases) {
    it(`requests: ${name}`, () => {
      const page = log.requests(query);
      assert.deepEqual(page.rows.map((r) => r.id), ids);
      assert.equal(page.total, total ?? ids.length);
    });
  }

  it('requests: the injection left the table alone', () => {
    log.requests({ sort: 'startedAt; DROP TABLE watch_request' });
    assert.equal(log.requests().total, 6);
  });

  it('requests: rows carry every field, camelCase', () => {
    const want: RequestRow = {
      id: 3, path: 'movies/100%_real.mp4', userId: 'bob', isAuthenticated: true, ip: '10.0.0.3', userAgent: 'Safari',
      status: 206, range: `bytes=0-${BLOCK - 1}`, bytesSent: BLOCK, aborted: false, size: SIZE,
      startedAt: T0 + 2 * HOUR, durationMs: 10, sessionId: 3,
    };
    assert.deepEqual(log.requests({ ip: '10.0.0.3' }).rows, [want]);
  });

  const sessionCases: ReadonlyArray<{ name: string; query: WatchQuery; paths: string[]; total?: number }> = [
    { name: 'no filter → newest first', query: {}, paths: ['movies/a.mp4', 'shows/b.webm', 'movies/100x real.mp4', 'movies/100%_real.mp4', 'movies/a.mp4', 'movies/a.mp4'] },
    { name: 'user', query: { userId: 'alice' }, paths: ['movies/a.mp4', 'shows/b.webm', 'movies/a.mp4'] },
    { name: 'from/to on firstSeen', query: { from: T0 + 4 * HOUR }, paths: ['movies/a.mp4', 'shows/b.webm'] },
    { name: 'sort coverage desc', query: { sort: 'coverage', limit: 2 }, paths: ['movies/a.mp4', 'movies/a.mp4'], total: 6 },
    { name: 'injection in sort → default', query: { sort: 'coverage desc; DROP TABLE watch_session --' }, paths: ['movies/a.mp4', 'shows/b.webm', 'movies/100x real.mp4', 'movies/100%_real.mp4', 'movies/a.mp4', 'movies/a.mp4'] },
  ];
  for (const { name, query, paths, total } of sessionCases) {
    it(`sessions: ${name}`, () => {
      const page = log.sessions(query);
      assert.deepEqual(page.rows.map((r) => r.path), paths);
      assert.equal(page.total, total ?? paths.length);
    });
  }

  it('sessions: coverage sort puts the full watch first', () => {
    const [first, second] = log.sessions({ sort: 'coverage' }).rows;
    assert.deepEqual([first?.ip, first?.coverage, second?.ip, second?.coverage], ['10.0.0.2', 1, '10.0.0.1', 0.5]);
  });

  it('videos: per-path totals, most recently watched first', () => {
    const byteTotals = log.videos().map(({ path, sessions, viewers, requests, bytesSent, avgCoverage, lastSeen }) => ({
      path, sessions, viewers, requests, bytesSent, avgCoverage: Math.round(avgCoverage * 1e6) / 1e6, lastSeen,
    }));
    assert.deepEqual(byteTotals, [
      // alice twice (0.5 and 0.25 of the file) and one anonymous full watch.
      { path: 'movies/a.mp4', sessions: 3, viewers: 2, requests: 3, bytesSent: 5 * MIB + SIZE + SIZE / 4, avgCoverage: 0.583333, lastSeen: T0 + 5 * HOUR + 10 },
      { path: 'shows/b.webm', sessions: 1, viewers: 1, requests: 1, bytesSent: SIZE / 4, avgCoverage: 0.25, lastSeen: T0 + 4 * HOUR + 10 },
      { path: 'movies/100x real.mp4', sessions: 1, viewers: 1, requests: 1, bytesSent: BLOCK, avgCoverage: 0.00625, lastSeen: T0 + 3 * HOUR + 10 },
      { path: 'movies/100%_real.mp4', sessions: 1, viewers: 1, requests: 1, bytesSent: BLOCK, avgCoverage: 0.00625, lastSeen: T0 + 2 * HOUR + 10 },
    ]);
  });

  const videoCases: ReadonlyArray<{ name: string; query: WatchQuery; paths: string[] }> = [
    { name: 'sort avgCoverage', query: { sort: 'avgCoverage' }, paths: ['movies/a.mp4', 'shows/b.webm', 'movies/100x real.mp4', 'movies/100%_real.mp4'] },
    { name: 'sort path asc', query: { sort: 'path', order: 'asc' }, paths: ['movies/100%_real.mp4', 'movies/100x real.mp4', 'movies/a.mp4', 'shows/b.webm'] },
    { name: 'filter by user', query: { userId: 'alice' }, paths: ['movies/a.mp4', 'shows/b.webm'] },
    { name: 'search "%" matches literally', query: { search: '%' }, paths: ['movies/100%_real.mp4'] },
    { name: 'limit + offset', query: { limit: 1, offset: 1 }, paths: ['shows/b.webm'] },
    { name: 'injection in sort → default', query: { sort: 'path; DROP TABLE watch_session' }, paths: ['movies/a.mp4', 'shows/b.webm', 'movies/100x real.mp4', 'movies/100%_real.mp4'] },
  ];
  for (const { name, query, paths } of videoCases) {
    it(`videos: ${name}`, () => assert.deepEqual(log.videos(query).map((v) => v.path), paths));
  }
});

describe('WatchLog.prune', () => {
  const cases: ReadonlyArray<{
    name: string;
    entries: WatchEntry[];
    olderThan: number | Date;
    want: { requests: number; sessions: number };
    left: { requests: number; sessions: number };
  }> = [
    {
      name: 'deletes requests and sessions before the cutoff only',
      entries: [served(0, 9), served(0, 9, { startedAt: T0 + HOUR }), served(0, 9, { startedAt: T0 + 2 * HOUR })],
      olderThan: T0 + 90 * 60_000,
      want: { requests: 2, sessions: 2 },
      left: { requests: 1, sessions: 1 },
    },
    {
      name: 'takes a Date',
      entries: [served(0, 9), served(0, 9, { startedAt: T0 + HOUR })],
      olderThan: new Date(T0 + 1000),
      want: { requests: 1, sessions: 1 },
      left: { requests: 1, sessions: 1 },
    },
    {
      name: 'a session active at the cutoff stays, with its totals',
      entries: [served(0, 9), served(0, 9, { startedAt: T0 + 30_000 })],
      olderThan: T0 + 10_000,
      want: { requests: 1, sessions: 0 },
      left: { requests: 1, sessions: 1 },
    },
    {
      name: 'a cutoff before everything deletes nothing',
      entries: [served(0, 9)],
      olderThan: T0,
      want: { requests: 0, sessions: 0 },
      left: { requests: 1, sessions: 1 },
    },
  ];
  for (const { name, entries, olderThan, want, left } of cases) {
    it(name, async () => {
      const log = await logWith(entries);
      try {
        const before = log.sessions().rows.map((s) => s.requests);
        assert.deepEqual(log.prune({ olderThan }), want);
        assert.equal(log.requests().total, left.requests);
        assert.equal(log.sessions().total, left.sessions);
        if (left.sessions === before.length) assert.deepEqual(log.sessions().rows.map((s) => s.requests), before);
      } finally {
        log.close();
      }
    });
  }

  it('an invalid date is misuse: TypeError', async () => {
    const log = await WatchLog.open(':memory:');
    try {
      assert.throws(() => log.prune({ olderThan: new Date('nope') }), TypeError);
      assert.throws(() => log.prune({ olderThan: Number.NaN }), TypeError);
    } finally {
      log.close();
    }
  });
});

describe('WatchLog with a failing database', () => {
  /** Another connection holding the write lock, as a second process mid-transaction would. */
  function lock(path: string): { release(): void } {
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN EXCLUSIVE');
    return {
      release() {
        holder.exec('COMMIT');
        holder.close();
      },
    };
  }

  it('locked: flush() reports SQLITE_BUSY, keeps the entries, and the timer lands them once released', async () => {
    const path = dbPath();
    const errors: unknown[] = [];
    const log = await WatchLog.open(path, { flushIntervalMs: 20, onError: (err) => errors.push(err) });
    const holder = lock(path);
    try {
      for (let i = 0; i < 3; i++) log.record(entry({ startedAt: T0 + i }));
      assert.doesNotThrow(() => log.flush());
      assert.equal(errors.length, 1);
      assert.match(String((errors[0] as Error).message), /locked|busy/i);
      assert.equal(log.pending, 3);
      assert.equal(log.dropped, 0);
      await until(() => errors.length >= 2); // the timer retried, and failed again
      assert.equal(log.pending, 3);
    } finally {
      holder.release();
    }
    await until(() => log.pending === 0);
    assert.equal(log.requests().total, 3);
    assert.equal(log.dropped, 0);
    log.close();
  });

  it('locked: the queue stays bounded by maxQueue and counts what it drops', async () => {
    const path = dbPath();
    const log = await WatchLog.open(path, { flushIntervalMs: 60_000, maxQueue: 5, onError: () => {} });
    const holder = lock(path);
    try {
      for (let i = 0; i < 8; i++) log.record(entry({ startedAt: T0 + i }));
      log.flush();
      assert.deepEqual([log.pending, log.dropped], [5, 3]);
    } finally {
      holder.release();
    }
    log.flush();
    assert.deepEqual([log.pending, log.dropped, log.requests().total], [0, 3, 5]);
    log.close();
  });

  it('locked: close() gives up within its bounded wait and counts the entries as dropped', async () => {
    const path = dbPath();
    const errors: unknown[] = [];
    const log = await WatchLog.open(path, { flushIntervalMs: 60_000, onError: (err) => errors.push(err) });
    const holder = lock(path);
    try {
      log.record(entry());
      log.record(entry({ startedAt: T0 + 1 }));
      const started = performance.now();
      assert.doesNotThrow(() => log.close());
      assert.ok(performance.now() - started < 3000, 'close() must not hang');
      assert.deepEqual([log.pending, log.dropped, errors.length], [0, 2, 2]);
      assert.match(String((errors[0] as Error).message), /locked|busy/i);
      // The loss is reported too, not only counted.
      assert.equal((errors[1] as StreamError).code, 'ERR_WATCH_LOG_DROPPED');
      assert.match((errors[1] as StreamError).message, /dropped 2 entries \(database failed at close\)/);
    } finally {
      holder.release();
    }
  });

  it('an onError that throws does not escape the timer', async () => {
    const path = dbPath();
    let calls = 0;
    const log = await WatchLog.open(path, {
      flushIntervalMs: 5,
      onError: () => {
        calls++;
        throw new Error('onError exploded');
      },
    });
    const holder = lock(path);
    try {
      log.record(entry());
      await until(() => calls >= 2);
    } finally {
      holder.release();
    }
    await until(() => log.pending === 0);
    log.close();
  });

  // Root writes read-only files, so as root the log runs in a child process that drops to
  // `nobody` before it opens a root-owned copy of the database (in a folder nobody may write, for
  // the WAL's -shm file): CI, which runs as root, runs this test too.
  it('read-only file: record() does not throw, onError is called, entries stay queued, close() reports the loss', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sage-stream-read-only-'));
    try {
      const path = join(dir, 'watch.db');
      (await WatchLog.open(path)).close();
      chmodSync(path, 0o444);
      if (process.getuid?.() === 0) chmodSync(dir, 0o1777); // sticky: nobody may add files, not replace ours
      const child = fileURLToPath(new URL('../helpers/read-only-log.ts', import.meta.url));
      const { stdout } = await promisify(execFile)(process.execPath, [child, path], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
      });
      const got = JSON.parse(stdout) as { uid: number; threw: boolean; pending: number; dropped: number; errors: string[]; codes: string[] };
      assert.notEqual(got.uid, 0, 'the log must not run as root');
      assert.equal(got.threw, false);
      assert.equal(got.pending, 1, 'the entry stays queued while the file is read-only');
      assert.match(got.errors[0] ?? '', /readonly|read-only/i);
      assert.equal(got.dropped, 1);
      assert.equal(got.codes.at(-1), 'ERR_WATCH_LOG_DROPPED');
      const log = await WatchLog.open(path);
      try {
        assert.equal(log.requests().total, 0, 'nothing was written');
      } finally {
        log.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('WatchLog schema', () => {
  function pragma(path: string, name: string): unknown {
    const db = new DatabaseSync(path);
    try {
      return db.prepare(`PRAGMA ${name}`).get()?.[name];
    } finally {
      db.close();
    }
  }

  it('a new file gets the current schema in WAL mode', async () => {
    const path = dbPath();
    (await WatchLog.open(path)).close();
    assert.equal(pragma(path, 'user_version'), WATCH_LOG_SCHEMA_VERSION);
    assert.equal(pragma(path, 'journal_mode'), 'wal');
  });

  it('reopening a current database keeps its data and migrates nothing', async () => {
    const path = dbPath();
    const first = await WatchLog.open(path);
    first.record(served(0, BLOCK - 1));
    first.close();
    const second = await WatchLog.open(path);
    second.record(served(BLOCK, 2 * BLOCK - 1, { startedAt: T0 + 1000 }));
    second.close();
    const third = await WatchLog.open(path);
    try {
      assert.equal(third.requests().total, 2);
      assert.deepEqual(third.sessions().rows.map((s) => [s.requests, s.coveredBytes]), [[2, 2 * BLOCK]]);
    } finally {
      third.close();
    }
    assert.equal(pragma(path, 'user_version'), WATCH_LOG_SCHEMA_VERSION);
  });

  it('a v1 database migrates to v2: its full-size bitmaps keep counting', async () => {
    const path = dbPath();
    const first = await WatchLog.open(path, { sessionIdleMs: IDLE });
    first.record(entry({ ranges: [{ start: 0, end: 0 }, { start: SIZE - 1, end: SIZE - 1 }], bytesSent: 2 }));
    first.close();
    // Back to v1's shape: no coverage_offset, no client index; the stored bitmap is full-size there.
    const db = new DatabaseSync(path);
    db.exec('DROP INDEX watch_session_client; ALTER TABLE watch_session DROP COLUMN coverage_offset; PRAGMA user_version = 1');
    assert.equal(db.prepare('SELECT length(coverage_map) AS n FROM watch_session').get()?.['n'], SIZE / BLOCK / 8);
    db.close();
    const second = await WatchLog.open(path, { sessionIdleMs: IDLE });
    try {
      second.record(served(5 * BLOCK, 5 * BLOCK, { startedAt: T0 + 1000 }));
      second.flush();
      assert.deepEqual(second.sessions().rows.map((s) => [s.requests, s.coveredBytes]), [[2, 3 * BLOCK]]);
    } finally {
      second.close();
    }
    assert.equal(pragma(path, 'user_version'), WATCH_LOG_SCHEMA_VERSION);
  });

  it('a schema newer than this release is refused', async () => {
    const path = dbPath();
    (await WatchLog.open(path)).close();
    const db = new DatabaseSync(path);
    db.exec('PRAGMA user_version = 99');
    db.close();
    await assert.rejects(WatchLog.open(path), /schema version 99 is newer/);
  });

  it(':memory: works', async () => {
    const log = await WatchLog.open(':memory:');
    log.record(entry());
    log.flush();
    assert.equal(log.requests().total, 1);
    log.close();
  });

  const optionCases: ReadonlyArray<{ options: WatchLogOptions; message: RegExp }> = [
    { options: { maxBatch: 0 }, message: /^options\.maxBatch must be an integer >= 1, got 0$/ },
    { options: { maxQueue: Number.NaN }, message: /^options\.maxQueue must be an integer >= 1, got NaN$/ },
    { options: { sessionIdleMs: -1 }, message: /^options\.sessionIdleMs must be an integer >= 0, got -1$/ },
    { options: { flushIntervalMs: 1.5 }, message: /^options\.flushIntervalMs must be an integer >= 0, got 1.5$/ },
    { options: { onError: 'log' as unknown as () => void }, message: /^options\.onError must be a function, got string$/ },
  ];
  for (const { options, message } of optionCases) {
    it(`rejects ${inspect(options)}`, async () => {
      await assert.rejects(WatchLog.open(':memory:', options), (err: unknown) => err instanceof TypeError && message.test(err.message));
    });
  }
});

describe('WatchLog shared by processes', () => {
  it('two processes writing one file: every entry lands', async () => {
    const path = dbPath();
    (await WatchLog.open(path)).close(); // create the schema first, as a deployment's first start would
    const writer = fileURLToPath(new URL('../helpers/watch-log-writer.ts', import.meta.url));
    const N = 300;
    const run = (tag: string): Promise<{ stdout: string }> =>
      promisify(execFile)(process.execPath, [writer, path, String(N), tag], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
      });
    const results = await Promise.all([run('one'), run('two')]);
    for (const { stdout } of results) assert.equal((JSON.parse(stdout) as { dropped: number }).dropped, 0);
    const log = await WatchLog.open(path);
    try {
      assert.equal(log.requests().total, 2 * N);
      assert.deepEqual(
        log.sessions({ sort: 'userId', order: 'asc' }).rows.map((s) => [s.userId, s.requests, s.coverage]),
        [['one', N, 1], ['two', N, 1]],
      );
    } finally {
      log.close();
    }
  });

  it('two processes creating the same new file at once', async () => {
    const path = dbPath();
    const writer = fileURLToPath(new URL('../helpers/watch-log-writer.ts', import.meta.url));
    const run = (tag: string): Promise<{ stdout: string }> =>
      promisify(execFile)(process.execPath, [writer, path, '10', tag], {
        cwd: fileURLToPath(new URL('../..', import.meta.url)),
      });
    await Promise.all([run('one'), run('two')]);
    const log = await WatchLog.open(path);
    try {
      assert.equal(log.requests().total, 20);
    } finally {
      log.close();
    }
  });
});
