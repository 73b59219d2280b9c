import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { truncateSync } from 'node:fs';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { StreamError } from '../../src/errors.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdsTo, settle, serverPool } from '../helpers/server.ts';
import { sleep, stalledClient } from '../helpers/streaming-clients.ts';

// Split from streaming.test.ts so that node --test runs the two side by side.
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

describe('disconnects and resources: stalled, slow and failing clients', () => {
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
