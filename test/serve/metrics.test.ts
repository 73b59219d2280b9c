import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createRequire } from 'node:module';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { createMetricsHandler, formatPrometheus, processMetrics } from '../../src/serve/metrics.ts';
import type { AccessEntry } from '../../src/http/access-log.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { receive, serverPool } from '../helpers/server.ts';
import { parsePrometheus, sample } from '../helpers/prometheus.ts';

// express has no types here (no @types/express): the little of it this test calls.
type ErrorMiddleware = (err: unknown, req: http.IncomingMessage, res: http.ServerResponse & { status(code: number): { send(body: string): void } }, next: () => void) => void;
type App = http.RequestListener & { use(...args: unknown[]): void };
const express = createRequire(import.meta.url)('express') as () => App;

/** An access log that can be waited on: the entry is written when the handler is done, which may be just after the client has the body. */
function collector(): { entries: AccessEntry[]; hook: (e: AccessEntry) => void; until(n: number): Promise<void> } {
  const entries: AccessEntry[] = [];
  const waiters: Array<{ n: number; resolve: () => void }> = [];
  return {
    entries,
    hook: (e) => {
      entries.push(e);
      for (const w of waiters) if (entries.length >= w.n) w.resolve();
    },
    until: (n) => (entries.length >= n ? Promise.resolve() : new Promise((resolve) => waiters.push({ n, resolve }))),
  };
}

const fixtures = createFixtures('sage-stream-metrics-');
const SIZE = 100_000;
fixtures.file('a.bin', SIZE);
const { serve, closeAll } = serverPool();
after(async () => {
  await closeAll();
  fixtures.remove();
});

describe('handler.metrics() and the access log', () => {
  it('counts real requests by status class, body bytes, cache hits and misses; one entry per response', async () => {
    const log = collector();
    const { entries } = log;
    const handler = createStreamHandler({ root: fixtures.dir, accessLog: log.hook });
    const server = await serve(handler);
    const before = handler.metrics();
    assert.equal(before.requests['2xx'], 0);

    const full = await server.request('/?path=a.bin', { 'User-Agent': 'test-agent', Referer: 'http://r.test/' });
    assert.deepEqual(full.body, pattern(0, SIZE - 1));
    const part = await server.request('/?path=a.bin', { Range: 'bytes=10-19' });
    assert.deepEqual(part.body, pattern(10, 19));
    const missing = await server.request('/?path=nope.bin');
    assert.equal(missing.status, 404);
    assert.equal(missing.body.toString(), 'Not Found\n');
    const head = await server.request('/?path=a.bin', {}, 'HEAD');
    assert.equal(head.body.length, 0);

    await log.until(4);
    const m = handler.metrics();
    assert.equal(m.requests['2xx'], 3);
    assert.equal(m.requests['4xx'], 1);
    assert.equal(m.sentBytes, SIZE + 10 + 'Not Found\n'.length);
    assert.equal(m.inFlight, 0);
    assert.equal(m.aborted, 0);
    assert.deepEqual(m.openFileCache, { hits: 2, misses: 1, open: 1 });

    assert.equal(entries.length, 4);
    const [first, second, third, fourth] = entries;
    assert.equal(first!.status, 200);
    assert.equal(first!.bytesSent, SIZE);
    assert.equal(first!.ip, '127.0.0.1');
    assert.equal(first!.userAgent, 'test-agent');
    assert.equal(first!.referer, 'http://r.test/');
    assert.equal(first!.httpVersion, '1.1');
    assert.ok(first!.durationMs >= 0 && first!.durationMs < 5000);
    assert.equal(second!.status, 206);
    assert.equal(second!.range, 'bytes=10-19');
    assert.equal(second!.bytesSent, 10);
    assert.equal(third!.status, 404);
    assert.equal(third!.bytesSent, 10);
    assert.equal(fourth!.method, 'HEAD');
    assert.equal(fourth!.bytesSent, 0);
    await handler.close();
  });

  it('counts a client that leaves mid-body as aborted, and the in-flight gauge returns to 0', async () => {
    const big = fixtures.sparse('big.bin', 64 * 1024 * 1024, []);
    assert.ok(big);
    const entries: AccessEntry[] = [];
    let logged: () => void = () => {};
    const done = new Promise<void>((resolve) => (logged = resolve));
    const handler = createStreamHandler({ root: fixtures.dir, accessLog: (e) => (entries.push(e), logged()) });
    const server = await serve(handler);
    await new Promise<void>((resolve, reject) => {
      const req = http.get(`${server.origin}/?path=big.bin`, { agent: false }, (res) => {
        res.once('data', () => {
          assert.equal(handler.metrics().inFlight, 1);
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
      req.on('close', () => resolve());
      setTimeout(() => reject(new Error('no data')), 5000).unref();
    });
    await done;
    const m = handler.metrics();
    assert.equal(m.inFlight, 0);
    assert.equal(m.aborted, 1);
    assert.equal(entries[0]!.aborted, true);
    assert.ok(entries[0]!.bytesSent < 64 * 1024 * 1024);
    await handler.close();
  });

  it('counts answered CORS preflights (204, and 403 with its body) as finished, not aborted', async () => {
    const log = collector();
    const handler = createStreamHandler({ root: fixtures.dir, cors: { origin: 'https://player.test' }, accessLog: log.hook });
    const server = await serve(handler);
    const asked = { 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'range' };
    const allowed = await server.request('/?path=a.bin', { Origin: 'https://player.test', ...asked }, 'OPTIONS');
    assert.equal(allowed.status, 204);
    assert.equal(allowed.headers['access-control-allow-origin'], 'https://player.test');
    const refused = await server.request('/?path=a.bin', { Origin: 'https://other.test', ...asked }, 'OPTIONS');
    assert.equal(refused.status, 403);
    assert.equal(refused.body.toString(), 'Forbidden\n');
    await log.until(2);
    assert.deepEqual(
      log.entries.map((e) => [e.method, e.status, e.bytesSent, e.aborted]),
      [['OPTIONS', 204, 0, false], ['OPTIONS', 403, 'Forbidden\n'.length, false]],
    );
    const m = handler.metrics();
    assert.equal(m.requests['2xx'], 1);
    assert.equal(m.requests['4xx'], 1);
    assert.equal(m.aborted, 0);
    assert.equal(m.sentBytes, 'Forbidden\n'.length);
    await handler.close();
  });

  it('logs and counts the beacon endpoint and script like every other response (beacon: true)', { timeout: 5000 }, async () => {
    const { WatchLog } = await import('../../src/watch-log/watch-log.ts');
    const { BEACON_SCRIPT } = await import('../../src/beacon/index.ts');
    const watchLog = await WatchLog.open(':memory:');
    const log = collector();
    const handler = createStreamHandler({ root: fixtures.dir, watchLog, beacon: true, accessLog: log.hook });
    const server = await serve(handler);
    const script = await fetch(`${server.origin}/_sage/beacon.js`);
    assert.equal(await script.text(), BEACON_SCRIPT);
    const events = { play: 1, pause: 0, seek: 0, ended: 0, stall: 0, hidden: 0 };
    const body = JSON.stringify({ v: 1, src: '/?path=a.bin', duration: 60, position: 4, played: [[0, 4]], rebuffer: 0, events, reason: 'pause' });
    const stored = await fetch(`${server.origin}/_sage/beacon`, { method: 'POST', body, headers: { 'content-type': 'text/plain' } });
    assert.equal(stored.status, 204);
    const wrong = await fetch(`${server.origin}/_sage/beacon`, { method: 'POST', body: '{', headers: { 'content-type': 'text/plain' } });
    assert.equal(await wrong.text(), 'Bad Request\n');
    await log.until(3);
    assert.deepEqual(
      log.entries.map((e) => [e.method, e.url, e.status, e.bytesSent, e.aborted, e.ip]),
      [
        ['GET', '/_sage/beacon.js', 200, Buffer.byteLength(BEACON_SCRIPT), false, '127.0.0.1'],
        ['POST', '/_sage/beacon', 204, 0, false, '127.0.0.1'],
        ['POST', '/_sage/beacon', 400, 'Bad Request\n'.length, false, '127.0.0.1'],
      ],
    );
    const m = handler.metrics();
    assert.deepEqual([m.requests['2xx'], m.requests['4xx'], m.inFlight, m.aborted], [2, 1, 0, 0]);
    await handler.close();
    watchLog.close();
  });

  it('resolves the access-log IP through a trusted CIDR range', async () => {
    const log = collector();
    const handler = createStreamHandler({ root: fixtures.dir, trustProxy: ['127.0.0.0/8'], accessLog: log.hook });
    const server = await serve(handler);
    const got = await server.request('/?path=a.bin', { 'X-Forwarded-For': '198.51.100.23', Range: 'bytes=0-0' });
    assert.deepEqual(got.body, pattern(0, 0));
    await log.until(1);
    assert.equal(log.entries[0]!.ip, '198.51.100.23');
  });
});

// Counters move when the handler is done, which may be just after the client has the body.
async function settleCount(read: () => number, want: number): Promise<void> {
  for (let i = 0; i < 200 && read() < want; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(read(), want);
}

describe('createMetricsHandler', () => {
  it('needs the Bearer token, then serves parseable Prometheus text whose counters move with requests', async () => {
    const handler = createStreamHandler({ root: fixtures.dir });
    const metrics = createMetricsHandler({ sources: [handler], token: 'T0ken' });
    const server = await serve((req, res) => (req.url === '/metrics' ? metrics(req, res) : handler(req, res)));
    const denied = await server.request('/metrics');
    assert.equal(denied.status, 401);
    assert.match(String(denied.headers['www-authenticate']), /^Bearer /);
    assert.equal((await server.request('/metrics', { Authorization: 'Bearer wrong' })).status, 401);

    const scrape = async () => {
      const got = await server.request('/metrics', { Authorization: 'Bearer T0ken' });
      assert.equal(got.status, 200);
      assert.match(String(got.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      return parsePrometheus(got.body.toString());
    };
    const first = await scrape();
    const got = await server.request('/?path=a.bin', { Range: 'bytes=0-99' });
    assert.deepEqual(got.body, pattern(0, 99));
    await settleCount(() => handler.metrics().requests['2xx'], 1);
    const second = await scrape();
    assert.equal(sample(second, 'sage_stream_requests_total{code="2xx"}') - sample(first, 'sage_stream_requests_total{code="2xx"}'), 1);
    assert.equal(sample(second, 'sage_stream_sent_bytes_total') - sample(first, 'sage_stream_sent_bytes_total'), 100);
    assert.ok(sample(second, 'sage_stream_read_bytes_total') - sample(first, 'sage_stream_read_bytes_total') >= 100);
    assert.equal(sample(second, 'sage_stream_open_file_cache_misses_total'), 1);
    assert.equal(sample(second, 'sage_stream_responses_in_flight'), 0);
    assert.ok(sample(second, 'process_resident_memory_bytes') > 1024 * 1024);
    assert.ok(sample(second, 'process_open_fds') > 0);
    assert.ok(sample(second, 'sage_stream_event_loop_delay_seconds{quantile="0.99"}') >= 0);
    assert.equal(second.types.get('sage_stream_requests_total'), 'counter');
    assert.equal(second.types.get('sage_stream_responses_in_flight'), 'gauge');
    assert.equal((await server.request('/metrics', { Authorization: 'Bearer T0ken' }, 'POST')).status, 405);
  });

  it('formatPrometheus sums handlers and reports a watch log\'s pending and dropped entries', () => {
    const base = { requests: { '1xx': 0, '2xx': 2, '3xx': 1, '4xx': 0, '5xx': 0, other: 0 }, sentBytes: 5, inFlight: 1, aborted: 0, openFileCache: undefined };
    const text = formatPrometheus(
      [{ ...base, watchLog: { pending: 3, dropped: 7 } }, { ...base, watchLog: { pending: 3, dropped: 7 } }],
      processMetrics(),
    );
    const scrape = parsePrometheus(text);
    assert.equal(sample(scrape, 'sage_stream_requests_total{code="2xx"}'), 4);
    assert.equal(sample(scrape, 'sage_stream_sent_bytes_total'), 10);
    assert.equal(sample(scrape, 'sage_stream_watch_log_pending_entries'), 3);
    assert.equal(sample(scrape, 'sage_stream_watch_log_dropped_entries_total'), 7);
    assert.equal(scrape.values.has('sage_stream_open_file_cache_hits_total'), false);
  });
});

describe('as Express middleware', () => {
  it('a permission check that throws goes to next(err), so the app error handler answers', async () => {
    const app = express();
    const errors: unknown[] = [];
    const boom = new Error('permission store down');
    app.use('/v', createStreamHandler({ root: fixtures.dir, mode: 'path', permissions: [() => { throw boom; }] }));
    const onError: ErrorMiddleware = (err, _req, res, _next) => {
      errors.push(err);
      res.status(503).send('app error handler');
    };
    app.use(onError);
    const server = http.createServer(app);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as { port: number };
      const got = await receive(`http://127.0.0.1:${port}`, { path: '/v/a.bin', agent: false });
      assert.equal(got.status, 503);
      assert.equal(got.body.toString(), 'app error handler');
      assert.deepEqual(errors, [boom]);
    } finally {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});
