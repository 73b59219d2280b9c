import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import { DatabaseSync } from 'node:sqlite';
import { setTimeout as sleep } from 'node:timers/promises';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { WatchLog, type WatchEntry } from '../../src/watch-log/watch-log.ts';
import { StreamError } from '../../src/errors.ts';
import { createFixtures } from '../helpers/fixtures.ts';

// Issue 9: watch-log growth is bounded, and its losses are never silent.
const KIB = 1024;
const GIB = 1024 ** 3;
const BIG = 8 * GIB; // the largest file with 64 KiB blocks: a full bitmap is 16 KiB
const T0 = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

const fixtures = createFixtures('sage-stream-watch-limits-');
after(() => fixtures.remove());
let files = 0;
const dbPath = (): string => fixtures.path(`limits-${++files}.db`);

function entry(overrides: Partial<WatchEntry> = {}): WatchEntry {
  return {
    path: 'big.mp4', userId: null, isAuthenticated: false, ip: '10.0.0.9', userAgent: 'UA', status: 206,
    range: 'bytes=0-1023', ranges: [{ start: 0, end: 1023 }], bytesSent: 1024, aborted: false,
    size: BIG, startedAt: T0, durationMs: 1, ...overrides,
  };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(5);
  }
}

function raw<T>(path: string, sql: string): T[] {
  const db = new DatabaseSync(path);
  try {
    return db.prepare(sql).all() as T[];
  } finally {
    db.close();
  }
}

describe('WatchLog growth is bounded', () => {
  it('a new User-Agent per request (the last KiB of an 8 GiB file): 16 sessions, not 2,000 full bitmaps', async () => {
    const path = dbPath();
    const log = await WatchLog.open(path, { flushIntervalMs: 60_000, maxBatch: 5000 });
    const N = 2000;
    for (let i = 0; i < N; i++) {
      log.record(entry({ userAgent: `flood/${i}`, ranges: [{ start: BIG - KIB, end: BIG - 1 }], startedAt: T0 + i }));
    }
    log.flush();
    assert.equal(log.requests().total, N, 'every request is still a row');
    const sessions = log.sessions({ limit: 500 });
    assert.equal(sessions.total, 16, 'maxSessionsPerClient (16) per ip and file');
    assert.equal(sessions.rows.reduce((sum, s) => sum + s.requests, 0), N);
    log.close();
    // Before: 2,000 sessions × 16 KiB of bitmap, 33 MB. Now the request rows dominate.
    const bytes = statSync(path).size;
    assert.ok(bytes < 1024 * KIB, `database is ${bytes} bytes`);
    const [widest] = raw<{ n: number }>(path, 'SELECT max(length(coverage_map)) AS n FROM watch_session');
    assert.equal(widest?.n, 1, 'a bitmap is stored trimmed to its set bytes');
  });

  it('trimmed bitmaps still add up: first, last and middle blocks of one session', async () => {
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000 });
    try {
      const block = 64 * KIB;
      for (const [start, end] of [[BIG - 1, BIG - 1], [0, 0], [GIB, GIB + 2 * block - 1], [0, block - 1]] as const) {
        log.record(entry({ ranges: [{ start, end }], bytesSent: end - start + 1 }));
      }
      log.flush();
      assert.deepEqual(log.sessions().rows.map((s) => [s.requests, s.coveredBytes]), [[4, 4 * block]]);
    } finally {
      log.close();
    }
  });

  it('authenticated viewers are never merged: 20 users behind one address keep 20 sessions', async () => {
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000 });
    try {
      for (let i = 0; i < 20; i++) log.record(entry({ userId: `u${i}`, isAuthenticated: true }));
      log.flush();
      assert.equal(log.sessions().total, 20);
    } finally {
      log.close();
    }
  });

  it('maxAgeDays: enforceRetention() deletes what is older by the injected clock', async () => {
    let now = T0 + 10 * DAY;
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000, maxAgeDays: 5, now: () => now });
    try {
      for (const day of [0, 4, 6, 9]) log.record(entry({ userAgent: `d${day}`, startedAt: T0 + day * DAY }));
      log.flush();
      assert.deepEqual(log.enforceRetention(), { requests: 2, sessions: 2 });
      assert.deepEqual(log.requests({ sort: 'startedAt', order: 'asc' }).rows.map((r) => r.userAgent), ['d6', 'd9']);
      now += 2 * DAY;
      assert.deepEqual(log.enforceRetention(), { requests: 1, sessions: 1 });
    } finally {
      log.close();
    }
  });

  it('maxRows: the timer keeps the newest rows of each table', async () => {
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000, maxRows: 20, pruneIntervalMs: 5 });
    try {
      for (let i = 0; i < 50; i++) log.record(entry({ ip: `10.0.1.${i}`, startedAt: T0 + i }));
      log.flush();
      assert.equal(log.requests().total, 50);
      await until(() => log.requests().total <= 20);
      assert.equal(log.sessions().total, 20);
      assert.deepEqual(log.requests({ sort: 'startedAt', order: 'asc', limit: 1 }).rows.map((r) => r.ip), ['10.0.1.30']);
    } finally {
      log.close();
    }
  });

  const optionCases = [
    { options: { maxAgeDays: 0 }, message: /^options\.maxAgeDays must be a number > 0, got 0$/ },
    { options: { maxRows: 0 }, message: /^options\.maxRows must be an integer >= 1, got 0$/ },
    { options: { maxQueueBytes: 10 }, message: /^options\.maxQueueBytes must be an integer >= 1024, got 10$/ },
    { options: { maxSessionsPerClient: 0 }, message: /^options\.maxSessionsPerClient must be an integer >= 1, got 0$/ },
    { options: { now: 5 as unknown as () => number }, message: /^options\.now must be a function, got number$/ },
  ];
  for (const { options, message } of optionCases) {
    it(`rejects ${JSON.stringify(options)}`, async () => {
      await assert.rejects(WatchLog.open(':memory:', options), (err: unknown) => err instanceof TypeError && message.test(err.message));
    });
  }
});

describe('WatchLog loss is never silent', () => {
  it('the queue is bounded in bytes: 16 KB user agents are cut to 512 characters and the rest dropped', async () => {
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000, maxQueueBytes: 64 * KIB, onError: () => {} });
    try {
      for (let i = 0; i < 1000; i++) log.record(entry({ userAgent: `${i} ${'x'.repeat(16_000)}` }));
      const stats = log.stats();
      assert.ok(stats.queuedBytes <= 64 * KIB, `queuedBytes ${stats.queuedBytes}`);
      assert.ok(stats.queued >= 40, `queued ${stats.queued}: entries are cut, so dozens fit`);
      assert.equal(stats.queued + stats.dropped, 1000);
      log.flush();
      assert.equal(log.requests().rows[0]?.userAgent?.length, 512);
      assert.deepEqual(log.stats(), { queued: 0, queuedBytes: 0, dropped: stats.dropped, written: stats.queued });
    } finally {
      log.close();
    }
  });

  it('a queued entry does not keep its whole 16 KB User-Agent alive (a cut string is a copy, not a slice)', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000, maxQueue: 5000, maxQueueBytes: 64 * 1024 * KIB });
    try {
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 0; i < 2000; i++) {
        const raw = Buffer.alloc(16_000, 'x'); // a fresh flat string, as node:http's parser makes
        raw.write(String(i));
        log.record(entry({ userAgent: raw.toString('latin1') }));
      }
      gc();
      const retained = process.memoryUsage().heapUsed - before;
      assert.equal(log.stats().queued, 2000);
      // The raw headers alone are 32 MB; cut copies are ~2.5 MB.
      assert.ok(retained < 12 * 1024 * KIB, `the queue retains ${Math.round(retained / 1024 / KIB)} MiB`);
    } finally {
      log.close();
    }
  });

  it('drops are reported as ERR_WATCH_LOG_DROPPED, at most once per interval, with the count', async () => {
    const errors: unknown[] = [];
    const log = await WatchLog.open(':memory:', {
      flushIntervalMs: 60_000, maxQueue: 3, dropReportIntervalMs: 50, onError: (err) => errors.push(err),
    });
    try {
      for (let i = 0; i < 1003; i++) log.record(entry({ startedAt: T0 + i }));
      assert.equal(errors.length, 1, 'the first drop is reported at once, the rest wait for the interval');
      assert.ok(errors[0] instanceof StreamError);
      assert.equal(errors[0].code, 'ERR_WATCH_LOG_DROPPED');
      assert.match(errors[0].message, /^watch log dropped 1 entry \(queue full\); 1 in all$/);
      await until(() => errors.length === 2);
      assert.match((errors[1] as Error).message, /^watch log dropped 999 entries \(queue full\); 1000 in all$/);
      assert.deepEqual(log.stats(), { queued: 3, queuedBytes: log.stats().queuedBytes, dropped: 1000, written: 0 });
    } finally {
      log.close();
    }
    assert.equal(errors.length, 2, 'close() has nothing left to report');
  });

  it('without an onError, a database warning does not hide the first loss: one warning per kind', async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => void warnings.push(w.message);
    process.on('warning', onWarning);
    const path = dbPath();
    const log = await WatchLog.open(path, { flushIntervalMs: 60_000, maxQueue: 1 });
    const holder = new DatabaseSync(path);
    holder.exec('BEGIN EXCLUSIVE');
    try {
      log.record(entry());
      log.flush(); // SQLITE_BUSY: warned
      log.flush(); // again: not warned twice
      log.record(entry()); // the queue is full: dropped, warned
      await until(() => warnings.length >= 2);
      await sleep(10);
      assert.equal(warnings.length, 2);
      assert.match(warnings[0] ?? '', /^sage-stream watch log: .*(locked|busy)/i);
      assert.match(warnings[1] ?? '', /^sage-stream watch log: watch log dropped 1 entry \(queue full\)/);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
      process.off('warning', onWarning);
      log.close();
    }
  });

  it('a batch one entry of which the database rejects is split: the others land, that one is dropped and reported', async () => {
    const path = dbPath();
    (await WatchLog.open(path)).close();
    const db = new DatabaseSync(path);
    db.exec(`CREATE TRIGGER poison BEFORE INSERT ON watch_request WHEN NEW.path = 'poison.mp4'
             BEGIN SELECT RAISE(ABORT, 'poison'); END`);
    db.close();
    const errors: unknown[] = [];
    const log = await WatchLog.open(path, { flushIntervalMs: 60_000, onError: (err) => errors.push(err) });
    try {
      for (let i = 0; i < 100; i++) log.record(entry({ path: i === 37 ? 'poison.mp4' : 'big.mp4', startedAt: T0 + i }));
      log.flush();
      assert.equal(log.requests().total, 99);
      assert.deepEqual([log.stats().queued, log.stats().dropped, log.stats().written], [0, 1, 99]);
      assert.deepEqual(errors.map((e) => (e as StreamError).code), ['ERR_WATCH_LOG_DROPPED', 'ERR_SQLITE_ERROR']);
      assert.match((errors[0] as Error).message, /dropped 1 entry \(rejected by the database\)/);
      assert.match((errors[1] as Error).message, /poison/);
    } finally {
      log.close();
    }
  });
});
