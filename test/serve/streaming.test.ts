import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { streamFile } from '../../src/serve/stream-file.ts';
import type { StreamOutcome } from '../../src/types.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdCount, openFdsTo, settle, serverPool } from '../helpers/server.ts';
import { abortAfterFirstChunk, sleep } from '../helpers/streaming-clients.ts';

const MiB = 1024 * 1024;
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', 100_000);
fixtures.sparse('root/big.mp4', 1024 * MiB, [{ offset: 0, length: 1024 }]);
const { serve, closeAll } = serverPool();
after(async () => {
  await closeAll();
  fixtures.remove();
});

describe('disconnects and resources', () => {
  for (const cached of [false, true]) {
    const label = cached ? 'with the open-file cache' : 'openFileCache: false';
    it(`200 requests aborted mid-body leave no descriptor behind (${label})`, async () => {
      const handler = createStreamHandler({ root, openFileCache: cached ? {} : false });
      const server = await serve(handler);
      const name = `aborted-${cached ? 'cached' : 'uncached'}.mp4`; // its own: other tests' caches hold big.mp4
      const file = fixtures.sparse(`root/${name}`, 1024 * MiB, []);
      const baseline = await openFdCount();
      for (let round = 0; round < 10; round++) {
        await Promise.all(Array.from({ length: 20 }, () => abortAfterFirstChunk(server.port, `/?path=${name}`)));
      }
      if (cached) {
        assert.equal(await settle(() => openFdsTo(file), 1), 1, 'one cached descriptor served all 200');
        await handler.close(); // closes it, unless an aborted response never let go of it
      }
      assert.equal(await settle(() => openFdsTo(file), 0), 0);
      const after = await settle(openFdCount, baseline);
      assert.ok(after <= baseline, `fds: baseline ${baseline}, after ${after}`);
    });
  }

  it('a client that leaves while the permission check runs: no descriptor is left open', async () => {
    let release!: () => void;
    const checked = new Promise<void>((resolve) => (release = resolve));
    const opened: string[] = [];
    const server = await serve(
      createStreamHandler({
        root,
        permissions: [async (_req, file) => {
          release();
          await sleep(100);
          opened.push(file.path);
          return true;
        }],
      }),
    );
    const baseline = await openFdCount();
    const req = http.get({ host: '127.0.0.1', port: server.port, path: '/?path=big.mp4', agent: false });
    req.on('error', () => {});
    await checked;
    req.destroy();
    await sleep(200);
    assert.deepEqual(opened, ['big.mp4'], 'the check ran to completion');
    assert.ok((await settle(openFdCount, baseline)) <= baseline);
  });
});

describe('other ways to mount it', () => {
  it('node:http2 (h2c): GET, Range and HEAD with exact bytes', async () => {
    const server = http2.createServer(createStreamHandler({ root }));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const get = (headers: http2.OutgoingHttpHeaders) =>
      new Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const stream = client.request(headers);
        const chunks: Buffer[] = [];
        let responseHeaders: http2.IncomingHttpHeaders = {};
        stream.on('response', (h) => (responseHeaders = h));
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => resolve({ headers: responseHeaders, body: Buffer.concat(chunks) }));
        stream.on('error', reject);
      });
    try {
      const full = await get({ ':path': '/?path=clip.mp4' });
      assert.equal(full.headers[':status'], 200);
      assert.deepEqual(full.body, pattern(0, 99_999));
      const part = await get({ ':path': '/?path=clip.mp4', range: 'bytes=10-19' });
      assert.equal(part.headers[':status'], 206);
      assert.equal(part.headers['content-range'], 'bytes 10-19/100000');
      assert.deepEqual(part.body, pattern(10, 19));
      const head = await get({ ':path': '/?path=clip.mp4', ':method': 'HEAD' });
      assert.equal(head.headers[':status'], 200);
      assert.equal(head.headers['content-length'], '100000');
      assert.equal(head.body.length, 0);
      const missing = await get({ ':path': '/?path=nope.mp4' });
      assert.equal(missing.headers[':status'], 404);
    } finally {
      client.close();
      server.close();
    }
  });

  it('as middleware: what it cannot serve goes to next()', async () => {
    const handler = createStreamHandler({ root, mode: 'path', prefix: '/media' });
    const server = await serve((req, res) =>
      handler(req, res, () => {
        res.writeHead(418, { 'content-length': '4' });
        res.end('next');
      }),
    );
    const rows: ReadonlyArray<[string, string, number]> = [
      ['GET', '/media/clip.mp4', 200],
      ['GET', '/media/missing.mp4', 418],
      ['GET', '/elsewhere', 418],
      ['POST', '/media/clip.mp4', 418],
      ['GET', '/media/../x', 400], // an attack is answered, not passed on
    ];
    const query = createStreamHandler({ root });
    const app = await serve((req, res) =>
      query(req, res, () => {
        res.writeHead(418, { 'content-length': '4' });
        res.end('next');
      }),
    );
    assert.equal((await app.request('/other-route')).status, 418, 'query mode: no parameter → next()');
    assert.equal((await app.request('/?path=clip.mp4')).status, 200);
    for (const [method, path, status] of rows) {
      const res = await server.request(path, {}, method);
      assert.equal(res.status, status, `${method} ${path}`);
      if (status === 200) assert.deepEqual(res.body, pattern(0, 99_999));
    }
  });

  it('streamFile serves a chosen file and resolves with what it sent', async () => {
    const outcomes: StreamOutcome[] = [];
    const server = await serve((req, res) => {
      const name = req.url === '/missing' ? 'nope.mp4' : 'clip.mp4';
      void streamFile(req, res, fixtures.path(`root/${name}`), { maxChunkSize: 64 }).then((o) => outcomes.push(o));
    });
    const part = await server.request('/watch', { range: 'bytes=100-' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-range'], 'bytes 100-163/100000');
    assert.deepEqual(part.body, pattern(100, 163));
    const missing = await server.request('/missing');
    assert.equal(missing.status, 404);
    const head = await server.request('/watch', {}, 'HEAD');
    assert.equal(head.status, 200);
    await settle(() => 3 - outcomes.length, 0); // the client can see the end before the promise settles
    assert.deepEqual(outcomes, [
      { status: 206, bytesSent: 64, aborted: false, size: 100_000, ranges: [{ start: 100, end: 163 }] },
      { status: 404, bytesSent: 0, aborted: false, size: undefined, ranges: undefined },
      { status: 200, bytesSent: 0, aborted: false, size: 100_000, ranges: undefined },
    ]);
  });
});
