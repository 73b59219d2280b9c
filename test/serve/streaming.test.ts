import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { truncateSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { streamFile } from '../../src/serve/stream-file.ts';
import { StreamError } from '../../src/errors.ts';
import type { StreamOutcome } from '../../src/types.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdCount, openFdsTo, settle, serverPool } from '../helpers/server.ts';

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

/** Starts a GET, waits for the first body bytes, then tears the connection down. */
function abortAfterFirstChunk(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
  });
}

/** Opens a raw connection that sends a GET and then reads nothing: the slowest client there is. */
function stalledClient(port: number, path: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => {});
  });
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

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

  it('a stalled reader does not make the server read ahead: memory stays flat', async () => {
    const server = await serve(createStreamHandler({ root }));
    const before = process.memoryUsage().arrayBuffers;
    const sockets = await Promise.all(Array.from({ length: 4 }, () => stalledClient(server.port, '/?path=big.mp4')));
    await sleep(1000); // without backpressure this is long enough to read all 4 GiB into memory
    const grown = process.memoryUsage().arrayBuffers - before;
    for (const socket of sockets) socket.destroy();
    assert.ok(grown < 64 * MiB, `buffers grew by ${(grown / MiB).toFixed(1)} MiB for 4 stalled 1 GiB downloads`);
  });

  it('a client that reads nothing is cut after sendTimeoutMs, and its file is closed', async () => {
    const server = await serve(createStreamHandler({ root, sendTimeoutMs: 1000, openFileCache: false }));
    const file = fixtures.sparse('root/stalled-uncached.mp4', 1024 * MiB, []); // its own: other tests' caches hold big.mp4
    const sockets = await Promise.all(Array.from({ length: 5 }, () => stalledClient(server.port, '/?path=stalled-uncached.mp4')));
    await sleep(400);
    assert.equal(await openFdsTo(file), 5, 'each stalled download holds the file meanwhile');
    // Still stalled, the clients keep their sockets; the server has cut its side and closed the files.
    assert.equal(await settle(() => openFdsTo(file), 0, 3000), 0);
    for (const socket of sockets) socket.destroy();
  });

  it('with the open-file cache, stalled clients share one descriptor and let go of it when cut', async () => {
    const handler = createStreamHandler({ root, sendTimeoutMs: 1000 });
    const server = await serve(handler);
    const file = fixtures.sparse('root/stalled-cached.mp4', 1024 * MiB, []);
    const first = await stalledClient(server.port, '/?path=stalled-cached.mp4');
    await sleep(100); // opened and cached: the next four find it (simultaneous first requests each open)
    const sockets = [first, ...(await Promise.all(Array.from({ length: 4 }, () => stalledClient(server.port, '/?path=stalled-cached.mp4'))))];
    await sleep(300);
    assert.equal(await openFdsTo(file), 1, 'one descriptor for the 5 stalled downloads');
    await sleep(1000); // past sendTimeoutMs: all 5 were cut
    await handler.close(); // the descriptor closes only if no response still holds it
    assert.equal(await settle(() => openFdsTo(file), 0, 1000), 0);
    for (const socket of sockets) socket.destroy();
  });

  it('slow and fast clients at once get exact bytes: a reused read buffer is never refilled while a write holds it', async () => {
    const size = 24 * MiB;
    fixtures.file('root/reuse.bin', size);
    const server = await serve(createStreamHandler({ root }));
    const expected = pattern(0, size - 1);
    // Readers that stall now and then, next to one that reads flat out: buffers go back to the
    // shared pool as writes complete and are refilled for other responses meanwhile.
    const download = (stallEveryChunks: number): Promise<Buffer> =>
      new Promise((resolve, reject) => {
        http.get({ host: '127.0.0.1', port: server.port, path: '/?path=reuse.bin', agent: false }, (res) => {
          const chunks: Buffer[] = [];
          let count = 0;
          res.on('data', (chunk: Buffer) => {
            chunks.push(chunk);
            if (stallEveryChunks > 0 && ++count % stallEveryChunks === 0) {
              res.pause();
              setTimeout(() => res.resume(), 15);
            }
          });
          res.on('end', () => resolve(Buffer.concat(chunks)));
          res.on('error', reject);
        }).on('error', reject);
      });
    const bodies = await Promise.all([download(0), download(7), download(20), download(0), download(3)]);
    for (const body of bodies) {
      assert.equal(body.length, size);
      assert.ok(body.equals(expected), 'a body differs from the file');
    }
  });

  it('a file truncated mid-stream ends the response broken, without hanging', async () => {
    fixtures.sparse('root/shrinking.mp4', 64 * MiB, []);
    const errors: unknown[] = [];
    const server = await serve(createStreamHandler({ root, onError: (err) => errors.push(err) }));
    const received = await new Promise<{ bytes: number; complete: boolean }>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('the response hung')), 10_000);
      http.get({ host: '127.0.0.1', port: server.port, path: '/?path=shrinking.mp4', agent: false }, (res) => {
        assert.equal(res.headers['content-length'], String(64 * MiB));
        let bytes = 0;
        res.pause();
        setTimeout(() => {
          truncateSync(fixtures.path('root/shrinking.mp4'), MiB);
          res.resume();
        }, 100);
        res.on('data', (chunk: Buffer) => (bytes += chunk.length));
        res.on('close', () => {
          clearTimeout(timer);
          resolve({ bytes, complete: res.complete });
        });
      }).on('error', () => {});
    });
    assert.equal(received.complete, false, 'the client must see a broken transfer, not a short "complete" one');
    assert.ok(received.bytes < 64 * MiB);
    await settle(() => (errors.length > 0 ? 0 : 1), 0);
    assert.ok(errors[0] instanceof StreamError);
    assert.equal((errors[0] as StreamError).code, 'ERR_FILE_TRUNCATED');
  });

  it('nothing is printed by default when something fails', async () => {
    const server = await serve(createStreamHandler({ root, permissions: [() => { throw new Error('boom'); }] }));
    const writes: string[] = [];
    const original = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => (writes.push(String(chunk)), true)) as typeof process.stderr.write;
    try {
      assert.equal((await server.request('/?path=clip.mp4')).status, 500);
    } finally {
      process.stderr.write = original;
    }
    assert.deepEqual(writes, []);
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
