import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Script } from 'node:vm';
import { createBeaconHandler, createStreamHandler, signUrl, type StreamHandlerOptions } from '../../src/index.ts';
import { createFetchHandler } from '../../src/serve/fetch-handler.ts';
import { BEACON_SCRIPT } from '../../src/beacon/index.ts';
import { WatchLog } from '../../src/watch-log/watch-log.ts';
import { createFixtures } from '../helpers/fixtures.ts';
import { serverPool, type TestServer } from '../helpers/server.ts';

const SECRET = 'a-test-secret-that-is-long-enough-for-hmac';
const EVENTS = { play: 1, pause: 1, seek: 0, ended: 0, stall: 0, hidden: 0 };
const report = (src: string, overrides: Record<string, unknown> = {}): string =>
  JSON.stringify({ v: 1, src, duration: 60, position: 4, played: [[0, 4]], rebuffer: 0, events: EVENTS, reason: 'pause', ...overrides });

describe('the beacon endpoint (beacon: true)', () => {
  const fixtures = createFixtures('sage-stream-beacon-');
  const pool = serverPool();
  let root: string;
  let log: WatchLog;
  let open: TestServer;
  let signed: TestServer;
  let guarded: TestServer;

  before(async () => {
    root = fixtures.dir;
    fixtures.write('a.mp4', Buffer.alloc(1000, 1));
    fixtures.write('b.mp4', Buffer.alloc(1000, 2));
    log = await WatchLog.open(':memory:');
    const common: StreamHandlerOptions = { root, watchLog: log, beacon: true };
    open = await pool.serve(createStreamHandler(common));
    signed = await pool.serve(createStreamHandler({ ...common, signed: { secrets: [SECRET] } }));
    guarded = await pool.serve(createStreamHandler({ ...common, permissions: [(_req, file) => (file.path === 'b.mp4' ? 404 : true)] }));
  });
  after(async () => {
    await pool.closeAll();
    log.close();
    fixtures.remove();
  });

  async function post(server: TestServer, body: string, headers: Record<string, string> = {}): Promise<Response> {
    return fetch(`${server.origin}/_sage/beacon`, { method: 'POST', body, headers: { 'content-type': 'text/plain;charset=UTF-8', ...headers } });
  }
  function stored(): number {
    log.flush();
    return log.sessions({ limit: 500 }).rows.reduce((n, s) => n + s.reports, 0);
  }

  it('GET /_sage/beacon.js serves the beacon script: self-contained, valid JavaScript', async () => {
    const res = await fetch(`${open.origin}/_sage/beacon.js`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'text/javascript; charset=utf-8');
    const text = await res.text();
    assert.equal(text, BEACON_SCRIPT);
    assert.doesNotThrow(() => new Script(text));
    assert.doesNotMatch(text, /__name|\bimport\b|\brequire\(/, 'a transpiler helper or an import would fail in the browser');
  });

  it('a well-formed report → 204 and stored in the viewer\'s session of that file', async () => {
    const before = stored();
    const res = await post(open, report('/?path=a.mp4'), { 'user-agent': 'test-agent-1' });
    assert.equal(res.status, 204);
    assert.equal(stored(), before + 1);
    const [session] = log.sessions({ path: 'a.mp4', search: 'test-agent-1' }).rows;
    assert.deepEqual([session?.ip, session?.userAgent, session?.position, session?.watchedPercent], ['127.0.0.1', 'test-agent-1', 4, 6.7]);
  });

  const refused: ReadonlyArray<{ name: string; server: () => TestServer; body: () => string; status: number }> = [
    { name: 'malformed JSON', server: () => open, body: () => '{"v":1,', status: 400 },
    // Valid JSON but for its size (trailing whitespace): only the 4 KiB bound refuses it.
    { name: 'oversized (a valid report padded past 4 KiB)', server: () => open, body: () => report('/?path=a.mp4') + ' '.repeat(4096), status: 400 },
    { name: 'a range past the duration', server: () => open, body: () => report('/?path=a.mp4', { played: [[0, 90]] }), status: 400 },
    { name: 'a src outside root', server: () => open, body: () => report('/?path=../etc/passwd'), status: 400 },
    { name: 'a src naming no file', server: () => open, body: () => report('/other'), status: 400 },
    { name: 'a dotfile src', server: () => open, body: () => report('/?path=.env'), status: 403 },
    { name: 'signed handler, unsigned src', server: () => signed, body: () => report('/?path=a.mp4'), status: 403 },
    {
      name: 'signed handler, a link signed for another file',
      server: () => signed,
      body: () => report(signUrl('b.mp4', { secret: SECRET, expiresIn: 600, base: '/' }).replace('path=b.mp4', 'path=a.mp4')),
      status: 403,
    },
    { name: 'a permission check that hides the file', server: () => guarded, body: () => report('/?path=b.mp4'), status: 404 },
  ];
  for (const { name, server, body, status } of refused) {
    it(`${name} → ${status}, nothing stored`, async () => {
      const before = stored();
      const res = await post(server(), body());
      assert.equal(res.status, status);
      await res.arrayBuffer();
      assert.equal(stored(), before);
    });
  }

  it('signed handler, a valid signed src → 204', async () => {
    const res = await post(signed, report(signUrl('a.mp4', { secret: SECRET, expiresIn: 600, base: '/' }), { position: 9 }), { 'user-agent': 'signed-agent' });
    assert.equal(res.status, 204);
    assert.equal(log.position({ path: 'a.mp4', viewer: { ip: '127.0.0.1', userAgent: 'signed-agent' } }), 9);
  });

  it('GET /_sage/beacon → 405 with Allow: POST', async () => {
    const res = await fetch(`${open.origin}/_sage/beacon`);
    assert.equal(res.status, 405);
    assert.equal(res.headers.get('allow'), 'POST');
  });

  it('rate limited per session: a burst of 4, then 429 with Retry-After; another file is another session', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await post(open, report('/?path=a.mp4'), { 'user-agent': 'burst' })).status);
    assert.deepEqual(statuses, [204, 204, 204, 204, 429]);
    const limited = await post(open, report('/?path=a.mp4'), { 'user-agent': 'burst' });
    assert.equal(limited.headers.get('retry-after'), '2');
    assert.equal((await post(open, report('/?path=b.mp4'), { 'user-agent': 'burst' })).status, 204);
  });

  it('createBeaconHandler: the same endpoint, mounted anywhere, and the script on GET', async () => {
    const server = await pool.serve(createBeaconHandler({ root, watchLog: log }));
    const res = await fetch(`${server.origin}/analytics`, { method: 'POST', body: report('/?path=a.mp4', { position: 21 }), headers: { 'user-agent': 'standalone' } });
    assert.equal(res.status, 204);
    assert.equal(log.position({ path: 'a.mp4', viewer: { ip: '127.0.0.1', userAgent: 'standalone' } }), 21);
    assert.equal(await (await fetch(`${server.origin}/anything.js`)).text(), BEACON_SCRIPT);
  });

  it('with cors, the 204 and the script carry the CORS headers an allowed page needs to read them', async () => {
    const player = { origin: 'https://player.test' };
    const handlers = [
      { name: 'beacon: true', server: await pool.serve(createStreamHandler({ root, watchLog: log, beacon: true, cors: player })), report: '/_sage/beacon', script: '/_sage/beacon.js' },
      { name: 'createBeaconHandler', server: await pool.serve(createBeaconHandler({ root, watchLog: log, cors: player })), report: '/b', script: '/b.js' },
    ];
    for (const { name, server, report: at, script } of handlers) {
      const res = await fetch(`${server.origin}${at}`, { method: 'POST', body: report('/?path=a.mp4'), headers: { origin: player.origin, 'user-agent': `cors-${name}` } });
      assert.equal(res.status, 204, name);
      assert.equal(res.headers.get('access-control-allow-origin'), player.origin, name);
      assert.equal(res.headers.get('vary'), 'Origin', name);
      const js = await fetch(`${server.origin}${script}`, { headers: { origin: player.origin } });
      assert.equal(await js.text(), BEACON_SCRIPT, name);
      assert.equal(js.headers.get('access-control-allow-origin'), player.origin, name);
      const other = await fetch(`${server.origin}${script}`, { headers: { origin: 'https://other.test' } });
      await other.arrayBuffer();
      assert.equal(other.headers.get('access-control-allow-origin'), null, name);
    }
  });

  it('the fetch handler refuses beacon: true (it has no node:http body to read)', () => {
    assert.throws(() => createFetchHandler({ root, watchLog: log, beacon: true }), /options.beacon is not supported by the fetch handler/);
  });

  it('beacon without a watch log is misuse', () => {
    assert.throws(() => createStreamHandler({ root, beacon: true }), /options.beacon needs options.watchLog/);
  });
});
