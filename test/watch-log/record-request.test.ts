import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { DatabaseSync } from 'node:sqlite';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { header, listenerUnderTest } from '../helpers/handler-under-test.ts';
import { WatchLog } from '../../src/watch-log/watch-log.ts';
import { logWatchRequest } from '../../src/watch-log/record-request.ts';
import { clientIp } from '../../src/http/client-ip.ts';
import type { StreamRequest } from '../../src/types.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { start, settle, type TestServer } from '../helpers/server.ts';

const MiB = 1024 * 1024;
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', 1000);
fixtures.sparse('root/big.mp4', 256 * MiB, [{ offset: 0, length: 1024 }]);
const cleanup: Array<() => Promise<void> | void> = [];
after(async () => {
  for (const step of cleanup.reverse()) await step();
  fixtures.remove();
});

async function serveWithLog(
  extra: Parameters<typeof createStreamHandler>[0] extends infer O ? Partial<O> : never = {},
): Promise<{ server: TestServer; log: WatchLog }> {
  const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000 });
  const server = await start(listenerUnderTest({ root, watchLog: log, ...extra }));
  cleanup.push(() => log.close(), () => server.close());
  return { server, log };
}

describe('createStreamHandler({ watchLog })', () => {
  it('a playback of range requests becomes request rows and one session with its coverage', async () => {
    const { server, log } = await serveWithLog({
      identify: (req) => (header(req, 'x-user') ? { userId: String(header(req, 'x-user')), isAuthenticated: true } : null),
    });
    for (const range of ['bytes=0-1', 'bytes=0-', 'bytes=500-999']) {
      const res = await server.request('/?path=clip.mp4', { range, 'x-user': 'alice', 'user-agent': 'UA/1' });
      assert.equal(res.status, 206);
    }
    await settle(() => 3 - log.pending, 0);
    log.flush();
    const requests = log.requests({ sort: 'startedAt', order: 'asc' });
    assert.equal(requests.total, 3);
    assert.deepEqual(
      requests.rows.map((r) => [r.path, r.userId, r.isAuthenticated, r.ip, r.userAgent, r.status, r.range, r.bytesSent, r.aborted, r.size]),
      [
        ['clip.mp4', 'alice', true, '127.0.0.1', 'UA/1', 206, 'bytes=0-1', 2, false, 1000],
        ['clip.mp4', 'alice', true, '127.0.0.1', 'UA/1', 206, 'bytes=0-', 1000, false, 1000],
        ['clip.mp4', 'alice', true, '127.0.0.1', 'UA/1', 206, 'bytes=500-999', 500, false, 1000],
      ],
    );
    const sessions = log.sessions();
    assert.equal(sessions.total, 1);
    assert.equal(sessions.rows[0]!.requests, 3);
    assert.equal(sessions.rows[0]!.bytesSent, 1502);
    assert.equal(sessions.rows[0]!.coverage, 1);
  });

  it('a client that closes its connection right away is still logged with its address', async () => {
    // A slow identify (a session lookup) lets the client close before the entry is written.
    const { server, log } = await serveWithLog({ identify: () => new Promise((resolve) => setTimeout(() => resolve(null), 100)) });
    // The client closes as soon as the body is in, before the server logs the request.
    const text = await new Promise<string>((resolve) => {
      let got = '';
      const socket = net.connect(server.port, '127.0.0.1', () =>
        socket.write('GET /?path=clip.mp4 HTTP/1.1\r\nHost: x\r\nRange: bytes=200-\r\n\r\n'),
      );
      socket.on('data', (chunk: Buffer) => {
        got += chunk.toString('latin1');
        if (got.endsWith(pattern(200, 999).toString('latin1'))) socket.destroy();
      });
      socket.on('close', () => resolve(got));
    });
    assert.match(text, /^HTTP\/1\.1 206 /);
    await settle(() => 1 - log.pending, 0);
    log.flush();
    assert.deepEqual(log.requests().rows.map((r) => [r.ip, r.bytesSent]), [['127.0.0.1', 800]]);
  });

  it('HEAD, 304, 412, 416, 404 and 400 write nothing', async () => {
    const { server, log } = await serveWithLog();
    const etag = (await server.request('/?path=clip.mp4', {}, 'HEAD')).headers.etag ?? '';
    const statuses = [
      (await server.request('/?path=clip.mp4', { 'if-none-match': etag })).status,
      (await server.request('/?path=clip.mp4', { 'if-match': '"nope"' })).status,
      (await server.request('/?path=clip.mp4', { range: 'bytes=5000-' })).status,
      (await server.request('/?path=missing.mp4')).status,
      (await server.request('/?path=../x')).status,
    ];
    assert.deepEqual(statuses, [304, 412, 416, 404, 400]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    log.flush();
    assert.equal(log.requests().total, 0);
  });

  it('an aborted download is recorded as aborted, with the bytes it got', async () => {
    const { server, log } = await serveWithLog();
    await new Promise<void>((resolve) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/?path=big.mp4', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => {});
    });
    await settle(() => 1 - log.pending, 0);
    log.flush();
    const [row] = log.requests().rows;
    assert.equal(row?.aborted, true);
    assert.equal(row?.status, 200);
    assert.ok(row.bytesSent > 0 && row.bytesSent < 256 * MiB, `bytesSent ${row.bytesSent}`);
  });

  it('a client that left before the headers sent nothing and is not logged (issue 9)', async () => {
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000 });
    const handler = createStreamHandler({ root, watchLog: log });
    const handled: unknown[] = [];
    // The handler runs only once the client is gone: whatever it answers, nothing reaches anyone.
    const server = await start((req, res) => res.once('close', () => handled.push(handler(req, res))));
    cleanup.push(() => log.close(), () => server.close());
    for (const range of ['bytes=0-', 'bytes=0-99', undefined]) {
      await new Promise<void>((resolve) => {
        const socket = net.connect(server.port, '127.0.0.1', () => {
          socket.end(`GET /?path=clip.mp4 HTTP/1.1\r\nHost: x\r\n${range === undefined ? '' : `Range: ${range}\r\n`}\r\n`);
          socket.destroy();
        });
        socket.on('close', () => resolve());
      });
    }
    await settle(() => 3 - handled.length, 0);
    await handler.close(); // waits for the handler's requests in flight, their log entries included
    log.flush();
    assert.deepEqual(log.requests().rows.map((r) => [r.status, r.bytesSent]), []);
  });

  it('logWatchRequest: a 200/206 that was aborted before any body byte went out is not a watch', async () => {
    const log = await WatchLog.open(':memory:', { flushIntervalMs: 60_000 });
    cleanup.push(() => log.close());
    const req = { method: 'GET', headers: {}, socket: { remoteAddress: '127.0.0.1' } } as unknown as StreamRequest;
    const outcomes = [
      { status: 206, bytesSent: 0, aborted: true }, // headers queued on a socket the client had closed
      { status: 0, bytesSent: 0, aborted: true }, // the client left before anything was sent
      { status: 200, bytesSent: 0, aborted: false }, // an empty file, sent whole: logged
      { status: 206, bytesSent: 10, aborted: true }, // left part-way: logged
    ];
    for (const o of outcomes) {
      const outcome = { ...o, size: 1000, ranges: [{ start: 0, end: 999 }] };
      await logWatchRequest(log, req, { path: 'clip.mp4', outcome, startedAt: Date.now(), ip: '127.0.0.1' });
    }
    log.flush();
    assert.deepEqual(log.requests({ sort: 'startedAt', order: 'asc' }).rows.map((r) => [r.status, r.bytesSent, r.aborted]).sort(), [
      [200, 0, false],
      [206, 10, true],
    ]);
  });

  it('a locked database does not break or stall streaming; the rows land once it is free', async () => {
    const file = fixtures.path('locked.db');
    const errors: unknown[] = [];
    const log = await WatchLog.open(file, { flushIntervalMs: 10, onError: (err) => errors.push(err) });
    const server = await start(createStreamHandler({ root, watchLog: log }));
    cleanup.push(() => server.close());
    const blocker = new DatabaseSync(file);
    blocker.exec('BEGIN EXCLUSIVE');
    try {
      for (let i = 0; i < 5; i++) {
        const res = await server.request('/?path=clip.mp4');
        assert.equal(res.status, 200);
        assert.deepEqual(res.body, pattern(0, 999));
      }
      await settle(() => (errors.length > 0 ? 0 : 1), 0);
      assert.ok(errors.length > 0, 'the lock is reported through onError');
    } finally {
      blocker.exec('ROLLBACK');
      blocker.close();
    }
    await settle(() => log.pending, 0);
    log.close();
    const reader = await WatchLog.open(file);
    assert.equal(reader.requests().total, 5);
    reader.close();
  });

  it('watchLog: a path opens the file, and handler.close() flushes and closes it', async () => {
    const file = fixtures.path('owned.db');
    const handler = createStreamHandler({ root, watchLog: file });
    const server = await start(handler);
    assert.equal((await server.request('/?path=clip.mp4', { range: 'bytes=0-9' })).status, 206);
    await server.close();
    await handler.close();
    const reader = await WatchLog.open(file);
    assert.equal(reader.requests().total, 1);
    reader.close();
  });

  it('a database that cannot be opened turns logging off and is reported; streaming goes on', async () => {
    const errors: unknown[] = [];
    const handler = createStreamHandler({ root, watchLog: fixtures.path('no/such/dir/x.db'), onError: (err) => errors.push(err) });
    const server = await start(handler);
    cleanup.push(() => server.close());
    const res = await server.request('/?path=clip.mp4');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, pattern(0, 999));
    await settle(() => (errors.length > 0 ? 0 : 1), 0);
    assert.equal(errors.length, 1);
  });
});

describe('clientIp', () => {
  const request = (remoteAddress: string, forwarded?: string): StreamRequest =>
    ({ socket: { remoteAddress }, headers: forwarded === undefined ? {} : { 'x-forwarded-for': forwarded } }) as unknown as StreamRequest;
  const rows: ReadonlyArray<{ name: string; peer: string; xff?: string; trust: string[]; want: string }> = [
    { name: 'no proxy trusted: the peer, whatever the header says', peer: '203.0.113.9', xff: '1.2.3.4', trust: [], want: '203.0.113.9' },
    { name: 'IPv4-mapped IPv6 peer is shown as IPv4', peer: '::ffff:203.0.113.9', trust: [], want: '203.0.113.9' },
    { name: 'an untrusted peer cannot spoof with the header', peer: '203.0.113.9', xff: '1.2.3.4', trust: ['10.0.0.1'], want: '203.0.113.9' },
    { name: 'a trusted proxy: the address it saw', peer: '10.0.0.1', xff: '198.51.100.7', trust: ['10.0.0.1'], want: '198.51.100.7' },
    { name: 'a client-sent entry left of the real one is ignored', peer: '10.0.0.1', xff: '6.6.6.6, 198.51.100.7', trust: ['10.0.0.1'], want: '198.51.100.7' },
    { name: 'chained trusted proxies are skipped', peer: '10.0.0.1', xff: '198.51.100.7, 10.0.0.2', trust: ['10.0.0.1', '10.0.0.2'], want: '198.51.100.7' },
    { name: 'garbage stops the walk at the last real address', peer: '10.0.0.1', xff: '198.51.100.7, <script>', trust: ['10.0.0.1'], want: '10.0.0.1' },
    { name: 'IPv6 client', peer: '10.0.0.1', xff: '2001:db8::1', trust: ['10.0.0.1'], want: '2001:db8::1' },
    { name: 'trusted proxy, no header: the proxy', peer: '10.0.0.1', trust: ['10.0.0.1'], want: '10.0.0.1' },
  ];
  for (const row of rows) {
    it(row.name, () => assert.equal(clientIp(request(row.peer, row.xff), row.trust), row.want));
  }
});
