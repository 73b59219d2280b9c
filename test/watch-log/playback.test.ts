import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DatabaseSync } from 'node:sqlite';
import { WatchLog, type WatchEntry } from '../../src/watch-log/watch-log.ts';
import { WATCH_LOG_SCHEMA_VERSION } from '../../src/watch-log/schema.ts';
import type { PlaybackReport } from '../../src/types.ts';
import { createFixtures } from '../helpers/fixtures.ts';

const T0 = Date.UTC(2026, 0, 1);
const MIB = 1024 * 1024;
const fixtures = createFixtures('sage-stream-playback-');
after(() => fixtures.remove());
let files = 0;
const dbPath = (): string => fixtures.path(`log-${++files}.db`);

const VIEWER = { userId: null, isAuthenticated: false, ip: '10.0.0.1', userAgent: 'Chrome' } as const;
const EVENTS = { play: 1, pause: 1, seek: 0, ended: 0, stall: 0, hidden: 0 };

function request(path: string, overrides: Partial<WatchEntry> = {}): WatchEntry {
  return {
    path, ...VIEWER, status: 206, range: 'bytes=0-', ranges: [{ start: 0, end: MIB - 1 }], bytesSent: MIB,
    aborted: false, size: 4 * MIB, startedAt: T0, durationMs: 10, ...overrides,
  };
}

function report(path: string, overrides: Partial<PlaybackReport> = {}): PlaybackReport {
  return {
    path, ...VIEWER, receivedAt: T0 + 5000, durationSeconds: 60, position: 4, played: [[0, 4]],
    rebufferSeconds: 0.25, events: EVENTS, ...overrides,
  };
}

async function withLog<T>(use: (log: WatchLog) => T, path = ':memory:'): Promise<T> {
  const log = await WatchLog.open(path, { sessionIdleMs: 60_000 });
  try {
    return use(log);
  } finally {
    log.close();
  }
}

describe('WatchLog playback reports', () => {
  it('a report joins the session of the stream requests: watched from played time, delivered from bytes', async () => {
    const row = await withLog((log) => {
      log.record(request('a.mp4'));
      log.recordPlayback(report('a.mp4'));
      log.recordPlayback(report('a.mp4', { receivedAt: T0 + 9000, position: 33, played: [[0, 4], [30, 33]] }));
      log.flush();
      const { rows } = log.sessions();
      assert.equal(rows.length, 1);
      return rows[0]!;
    });
    assert.deepEqual(
      { ...row, id: 0 },
      {
        id: 0, path: 'a.mp4', ...VIEWER, firstSeen: T0, lastSeen: T0 + 9000, requests: 1, bytesSent: MIB, size: 4 * MIB,
        coveredBytes: MIB, coverage: 0.25, kind: 'video', deliveredPercent: 25, playedRanges: [[0, 4], [30, 33]],
        watchedSeconds: 7, watchedPercent: 11.7, durationSeconds: 60, position: 33, rebufferSeconds: 0.25, reports: 2, events: EVENTS,
      },
    );
  });

  it('a report that comes before its request starts the session the request then joins', async () => {
    const rows = await withLog((log) => {
      log.recordPlayback(report('a.mp4', { receivedAt: T0 }));
      log.record(request('a.mp4', { startedAt: T0 + 100 }));
      log.flush();
      return log.sessions().rows;
    });
    assert.deepEqual(rows.map((r) => [r.requests, r.size, r.deliveredPercent, r.watchedPercent]), [[1, 4 * MIB, 25, 6.7]]);
  });

  it('another viewer\'s report starts its own session and changes nothing of this one', async () => {
    const rows = await withLog((log) => {
      log.record(request('a.mp4'));
      log.recordPlayback(report('a.mp4', { ip: '10.0.0.2', played: [[0, 60]] }));
      log.flush();
      return log.sessions({ ip: '10.0.0.1' }).rows;
    });
    assert.deepEqual(rows.map((r) => [r.reports, r.watchedSeconds]), [[0, 0]]);
  });

  it('without a report a session has delivered figures only', async () => {
    const [row] = await withLog((log) => {
      log.record(request('a.mp4'));
      log.flush();
      return log.sessions().rows;
    });
    assert.deepEqual([row?.watchedPercent, row?.durationSeconds, row?.position, row?.deliveredPercent], [null, null, null, 25]);
  });

  it('HLS: the playlist, its variant, init and segments are one session; only the manifest is a video', async () => {
    const { sessions, videos, requests } = await withLog((log) => {
      const parts = ['show/index.m3u8', 'show/720p/index.m3u8', 'show/720p/init.mp4', 'show/720p/seg000.m4s', 'show/720p/seg001.m4s', 'show/captions.vtt'];
      parts.forEach((path, i) => log.record(request(path, { startedAt: T0 + i * 100, status: 200, size: 1000, ranges: [], bytesSent: 1000 })));
      log.record(request('show/index.m3u8', { startedAt: T0, ip: '10.0.0.9', status: 200, size: 1000, ranges: [], bytesSent: 1000 }));
      log.record(request('show/720p/seg000.m4s', { startedAt: T0, ip: '10.0.0.8', status: 200, size: 1000, ranges: [], bytesSent: 1000 }));
      log.flush();
      return { sessions: log.sessions().rows, videos: log.videos(), requests: log.requests().total };
    });
    assert.deepEqual(
      sessions.map((s) => [s.path, s.ip, s.kind, s.requests, s.deliveredPercent]).sort(),
      [['show/index.m3u8', '10.0.0.1', 'stream', 6, null], ['show/index.m3u8', '10.0.0.9', 'stream', 1, null]],
    );
    assert.deepEqual(videos.map((v) => [v.path, v.sessions]), [['show/index.m3u8', 2]]);
    assert.equal(requests, 8, 'every request is still stored, the lone segment too');
  });

  it('a video in a manifest\'s folder below it stays its own session', async () => {
    const paths = await withLog((log) => {
      log.record(request('index.m3u8', { status: 200, size: 1000, ranges: [], bytesSent: 1000 }));
      log.record(request('films/a.mp4', { startedAt: T0 + 100 }));
      log.flush();
      return log.sessions().rows.map((s) => s.path).sort();
    });
    assert.deepEqual(paths, ['films/a.mp4', 'index.m3u8']);
  });

  it('position(): the last reported position, for a user or an anonymous viewer', async () => {
    await withLog((log) => {
      log.recordPlayback(report('a.mp4', { position: 12.5 }));
      log.recordPlayback(report('a.mp4', { userId: 'u1', isAuthenticated: true, ip: '10.0.0.7', position: 40, played: [[0, 40]] }));
      assert.equal(log.position({ path: 'a.mp4', viewer: { ip: '10.0.0.1', userAgent: 'Chrome' } }), 12.5);
      assert.equal(log.position({ path: 'a.mp4', user: 'u1' }), 40);
      assert.equal(log.position({ path: 'a.mp4', user: 'u2' }), undefined);
      assert.equal(log.position({ path: 'b.mp4', viewer: { ip: '10.0.0.1', userAgent: 'Chrome' } }), undefined);
      assert.throws(() => log.position({ path: 'a.mp4' }), TypeError);
    });
  });

  it('heat(): how many sessions played each slice of the timeline', async () => {
    const heat = await withLog((log) => {
      log.recordPlayback(report('a.mp4', { played: [[0, 30]] }));
      log.recordPlayback(report('a.mp4', { ip: '10.0.0.2', played: [[0, 10], [50, 60]] }));
      return log.heat('a.mp4', 6);
    });
    assert.deepEqual(heat, { path: 'a.mp4', durationSeconds: 60, sessions: 2, counts: [2, 1, 1, 0, 0, 1] });
  });
});

describe('WatchLog schema step 2', () => {
  it('a database created with the v1 schema opens, migrates, and lists only videos and manifests', async () => {
    const path = dbPath();
    const db = new DatabaseSync(path);
    db.exec(`
      CREATE TABLE watch_session (id INTEGER PRIMARY KEY, path TEXT NOT NULL, viewer TEXT NOT NULL, user_id TEXT,
        is_authenticated INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT, first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL, requests INTEGER NOT NULL, bytes_sent INTEGER NOT NULL, size INTEGER NOT NULL,
        block_size INTEGER NOT NULL, coverage_map BLOB NOT NULL, covered_bytes INTEGER NOT NULL);
      CREATE INDEX watch_session_match ON watch_session (path, viewer, last_seen);
      CREATE TABLE watch_request (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES watch_session (id) ON DELETE CASCADE,
        path TEXT NOT NULL, user_id TEXT, is_authenticated INTEGER NOT NULL, ip TEXT NOT NULL, user_agent TEXT,
        status INTEGER NOT NULL, range_header TEXT, bytes_sent INTEGER NOT NULL, aborted INTEGER NOT NULL,
        size INTEGER NOT NULL, started_at INTEGER NOT NULL, duration_ms INTEGER NOT NULL);
      PRAGMA user_version = 1;
    `);
    const insert = db.prepare(
      `INSERT INTO watch_session (path, viewer, user_id, is_authenticated, ip, user_agent, first_seen, last_seen, requests,
         bytes_sent, size, block_size, coverage_map, covered_bytes) VALUES (?, 'a:x', NULL, 0, '10.0.0.1', NULL, ?, ?, 1, 10, 10, 65536, x'01', 10)`,
    );
    for (const [i, path] of ['a.mp4', 'show/index.m3u8', 'show/seg000.ts', 'show/captions.vtt', 'poster.jpg'].entries()) insert.run(path, T0 + i, T0 + i);
    db.close();
    const listed = await withLog((log) => log.sessions().rows.map((s) => [s.path, s.kind, s.deliveredPercent, s.watchedPercent]), path);
    assert.deepEqual(listed, [['show/index.m3u8', 'stream', null, null], ['a.mp4', 'video', 100, null]]);
    const check = new DatabaseSync(path);
    try {
      assert.equal(check.prepare('PRAGMA user_version').get()?.['user_version'], WATCH_LOG_SCHEMA_VERSION);
      assert.equal(check.prepare('SELECT count(*) AS n FROM watch_session').get()?.['n'], 5, 'nothing deleted');
    } finally {
      check.close();
    }
  });
});
