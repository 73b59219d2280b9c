import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WatchLog, type WatchEntry } from '../../../src/watch-log/watch-log.ts';
import { createWatchLogHandler, tokenAuthorizer } from '../../../src/watch-log/viewer/viewer.ts';
import { csvField } from '../../../src/watch-log/viewer/export.ts';
import { renderHeatStrip } from '../../../src/watch-log/viewer/heat-strip.ts';
import { LOCAL_TIME_SCRIPT } from '../../../src/watch-log/viewer/local-time.ts';
import type { PlaybackReport } from '../../../src/types.ts';
import { start, type TestServer } from '../../helpers/server.ts';

const TOKEN = 'a-long-enough-token-for-the-viewer';
const AUTH = { authorization: `Bearer ${TOKEN}` };
const T0 = Date.UTC(2026, 0, 1);
const XSS = '<svg onload=alert(1)>"\'.mp4';
const VIEWER = { userId: null, isAuthenticated: false, ip: '10.0.0.1', userAgent: 'Chrome' } as const;
const EVENTS = { play: 1, pause: 1, seek: 0, ended: 0, stall: 0, hidden: 0 };

function request(path: string, overrides: Partial<WatchEntry> = {}): WatchEntry {
  return {
    path, ...VIEWER, status: 206, range: 'bytes=0-', ranges: [{ start: 0, end: 524_287 }], bytesSent: 524_288,
    aborted: false, size: 1_048_576, startedAt: T0, durationMs: 10, ...overrides,
  };
}
function report(path: string, overrides: Partial<PlaybackReport> = {}): PlaybackReport {
  return { path, ...VIEWER, receivedAt: T0 + 4000, durationSeconds: 60, position: 6, played: [[0, 6]], rebufferSeconds: 0, events: EVENTS, ...overrides };
}

describe('viewer: watched figures, heat strips, exports', () => {
  let log: WatchLog;
  let server: TestServer;
  before(async () => {
    log = await WatchLog.open(':memory:');
    log.record(request('a.mp4'));
    log.recordPlayback(report('a.mp4'));
    log.record(request('b.mp4', { ip: '10.0.0.2' }));
    log.record(request(XSS, { ip: '10.0.0.3', userAgent: '=HYPERLINK("x")' }));
    log.recordPlayback(report(XSS, { ip: '10.0.0.3', userAgent: '=HYPERLINK("x")', played: [[0, 30]] }));
    log.flush();
    server = await start(createWatchLogHandler({ watchLog: log, authorize: tokenAuthorizer(TOKEN) }));
  });
  after(async () => {
    await server.close();
    log.close();
  });

  it('sessions: watch time and % watched from played time, delivered labelled apart, — without a beacon', async () => {
    const body = (await server.request('/admin/?path=a.mp4', AUTH)).body.toString();
    assert.match(body, /<th[^>]*><a[^>]*>Delivered \(bytes sent\)<\/a><\/th>/);
    assert.match(body, /<td class="num">0:06<\/td>/, 'watch time 6 s');
    assert.match(body, /title="10\.0%"/, '6 s of 60 s watched');
    assert.match(body, /title="50\.0%"/, 'half the bytes delivered');
    const plain = (await server.request('/admin/?path=b.mp4', AUTH)).body.toString();
    assert.doesNotMatch(plain, /title="0\.0%"/, 'no watched bar without a report');
    assert.match(plain, /no beacon report: only delivered bytes are known/);
  });

  it('times are ISO in the markup and the page shows them in the browser\'s zone', async () => {
    const body = (await server.request('/admin/', AUTH)).body.toString();
    assert.ok(body.includes('<time datetime="2026-01-01T00:00:00.000Z">'));
    assert.ok(body.includes(String(LOCAL_TIME_SCRIPT)));
    assert.doesNotMatch(body, /2025-01-31|2025-02-01/, 'no stale placeholder dates');
  });

  it('videos: a heat strip per video, values escaped', async () => {
    const body = (await server.request('/admin/videos', AUTH)).body.toString().replace(String(LOCAL_TIME_SCRIPT), '');
    const strips = body.match(/<svg class="heat"/g) ?? [];
    assert.equal(strips.length, 2, 'a.mp4 and the hostile name have reports; b.mp4 has none');
    assert.ok(!body.includes('<svg onload'), 'the hostile path is escaped');
    assert.ok(body.includes('aria-label="Sessions per part of &lt;svg onload=alert(1)&gt;&quot;&#39;.mp4, peak 1"'));
  });

  it('renderHeatStrip: one rect per slice, darker where more sessions watched', () => {
    const svg = String(renderHeatStrip({ path: 'a.mp4', durationSeconds: 40, sessions: 2, counts: [2, 1, 0, 1] }));
    const opacities = [...svg.matchAll(/fill-opacity="([0-9.]+)"/g)].map((m) => Number(m[1]));
    assert.deepEqual(opacities, [1, 0.575, 0, 0.575]);
    assert.ok(svg.includes('<title>0:10: 1 of 2 sessions</title>'));
  });

  it('export: every matching session as CSV, formula-looking values defused', async () => {
    const res = await server.request('/admin/export/sessions.csv', AUTH);
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
    assert.equal(res.headers['content-disposition'], 'attachment; filename="watch-log-sessions.csv"');
    const lines = res.body.toString().trimEnd().split('\r\n');
    assert.equal(lines.length, 4, 'a header and three sessions');
    const header = lines[0]!.split(',');
    for (const field of ['watchedSeconds', 'watchedPercent', 'deliveredPercent', 'position', 'durationSeconds', 'firstSeenIso']) {
      assert.ok(header.includes(field), `${field} in ${lines[0]}`);
    }
    assert.ok(res.body.toString().includes(`"'=HYPERLINK(""x"")"`));
  });

  it('export: JSON with the filters applied, all rows', async () => {
    const res = await server.request('/admin/export/sessions.json?path=a.mp4', AUTH);
    const json = JSON.parse(res.body.toString()) as { rows: Array<Record<string, unknown>>; total: number };
    assert.equal(json.total, 1);
    const [row] = json.rows;
    assert.deepEqual(
      [row?.['watchedSeconds'], row?.['watchedPercent'], row?.['deliveredPercent'], row?.['position'], row?.['durationSeconds'], row?.['firstSeenIso']],
      [6, 10, 50, 6, 60, '2026-01-01T00:00:00.000Z'],
    );
  });

  it('export needs the same authorization', async () => {
    assert.equal((await server.request('/admin/export/sessions.csv', {})).status, 401);
  });

  for (const [value, want] of [['a,b', '"a,b"'], ['say "hi"', '"say ""hi"""'], ['@cmd', "'@cmd"], [-3, '-3'], [null, ''], [[1, 2], '"[1,2]"']] as const) {
    it(`csvField(${JSON.stringify(value)}) → ${want}`, () => assert.equal(csvField(value), want));
  }
});
