import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe, it } from 'node:test';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { Pacer, resolveRate } from '../../src/serve/rate-limit.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdsTo, settle, serverPool } from '../helpers/server.ts';

const KiB = 1024;
const MiB = 1024 * KiB;
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', 2 * MiB);
const { serve, closeAll } = serverPool();
after(async () => {
  await closeAll();
  fixtures.remove();
});

/** A download, with the time each byte count was reached (ms since the request was sent). */
type Timed = { readonly status: number; readonly body: Buffer; readonly arrivals: ReadonlyArray<{ atMs: number; bytes: number }> };

function timedGet(port: number, path: string, headers: Record<string, string> = {}): Promise<Timed> {
  return new Promise((resolve, reject) => {
    const startedMs = performance.now();
    http
      .get({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        const arrivals: Array<{ atMs: number; bytes: number }> = [];
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          chunks.push(chunk);
          bytes += chunk.length;
          arrivals.push({ atMs: performance.now() - startedMs, bytes });
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), arrivals }));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** When the download had `bytes` bytes. */
function timeOf(download: Timed, bytes: number): number {
  const arrival = download.arrivals.find((a) => a.bytes >= bytes);
  assert.ok(arrival !== undefined, `the download never reached ${bytes} bytes`);
  return arrival.atMs;
}

describe('rate option: validation', () => {
  const bad: ReadonlyArray<[string, unknown]> = [
    ['zero rate', { bytesPerSecond: 0 }],
    ['fractional rate', { bytesPerSecond: 1.5 }],
    ['negative burst', { bytesPerSecond: 1000, burstBytes: -1 }],
    ['a number', 1000],
    ['null', null],
  ];
  for (const [name, rate] of bad) {
    it(`${name} → TypeError naming the option`, () => {
      assert.throws(() => createStreamHandler({ root, rate: rate as never }), { name: 'TypeError', message: /options\.rate/ });
    });
  }
  it('a function answering nonsense is caught per response', () => {
    const choose = resolveRate(() => ({ bytesPerSecond: -5 }), 'options.rate');
    assert.throws(() => choose?.({} as never, 'clip.mp4'), /options\.rate\(req\)\.bytesPerSecond/);
  });
  it('no rate → unpaced (undefined)', () => {
    assert.equal(resolveRate(undefined, 'options.rate'), undefined);
  });
});

describe('Pacer', () => {
  it('lets the burst go at once, then spaces bytes at the rate', () => {
    const pacer = new Pacer({ bytesPerSecond: 1000, burstBytes: 5000 });
    assert.equal(pacer.delayMs(0, 0), 0);
    assert.equal(pacer.delayMs(4999, 10), 0);
    assert.equal(pacer.chunkLimit(4000), 1000, 'the rest of the burst');
    assert.equal(pacer.delayMs(5000, 20), 0, 'pacing starts now');
    assert.equal(pacer.delayMs(5500, 20), 500);
    assert.equal(pacer.delayMs(5500, 600), 0);
    assert.equal(pacer.delayMs(7000, 1020), 1000);
    assert.equal(pacer.chunkLimit(9000), 1024, 'small paced chunks, about 10 a second (1 KiB at least)');
  });
});

describe('bandwidth shaping through the handler', () => {
  it('a paced download: the burst at full speed, then the rate within ±15%, bytes exact', async () => {
    const rate = { bytesPerSecond: 512 * KiB, burstBytes: 256 * KiB };
    const server = await serve(createStreamHandler({ root, rate }));
    const download = await timedGet(server.port, '/?path=clip.mp4', { Range: `bytes=0-${1024 * KiB - 1}` });
    assert.equal(download.status, 206);
    assert.deepEqual(download.body, pattern(0, 1024 * KiB - 1));
    const burstMs = timeOf(download, rate.burstBytes);
    assert.ok(burstMs < 500 * 0.5, `the 256 KiB burst took ${burstMs.toFixed(0)} ms; paced it would take 500`);
    // After the burst: 768 KiB at 512 KiB/s is 1.5 s.
    const pacedMs = timeOf(download, 1024 * KiB) - burstMs;
    const measured = (768 * KiB) / (pacedMs / 1000);
    const ratio = measured / rate.bytesPerSecond;
    assert.ok(ratio > 0.85 && ratio < 1.15, `paced at ${(measured / KiB).toFixed(0)} KiB/s for a 512 KiB/s target`);
  });

  it('a rate chosen per request: a function of the request and the file, undefined → unpaced', async () => {
    const seen: string[] = [];
    const server = await serve(
      createStreamHandler({
        root,
        rate: (req, path) => {
          seen.push(path);
          return req.headers['x-plan'] === 'free' ? { bytesPerSecond: 128 * KiB } : undefined;
        },
      }),
    );
    const range = { Range: `bytes=0-${128 * KiB - 1}` };
    const paid = await timedGet(server.port, '/?path=clip.mp4', range);
    const free = await timedGet(server.port, '/?path=clip.mp4', { ...range, 'x-plan': 'free' });
    assert.deepEqual(paid.body, pattern(0, 128 * KiB - 1));
    assert.deepEqual(free.body, pattern(0, 128 * KiB - 1));
    assert.ok(timeOf(paid, 128 * KiB) < 500, 'unpaced: well under the 1 s the paced one needs');
    assert.ok(timeOf(free, 128 * KiB) > 750, `paced at 128 KiB/s: about 1 s, took ${timeOf(free, 128 * KiB).toFixed(0)} ms`);
    assert.deepEqual(seen, ['clip.mp4', 'clip.mp4']);
  });

  it('a paced client that leaves is let go at once: no wait for the next slot, file closed', async () => {
    const server = await serve(createStreamHandler({ root, rate: { bytesPerSecond: KiB }, openFileCache: false }));
    const file = fixtures.file('root/leaving.mp4', 2 * MiB); // its own: the other tests' caches hold clip.mp4
    await new Promise<void>((resolve, reject) => {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/?path=leaving.mp4', agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
    });
    // Paced at 1 KiB/s the next slot is a second away; the pause must end with the client.
    assert.equal(await settle(() => openFdsTo(file), 0, 300), 0);
  });

  it('100 paced clients: memory stays flat (nothing read ahead), descriptors go when they leave', async () => {
    const big = fixtures.sparse('root/big.mp4', 256 * MiB, [{ offset: 0, length: 4096 }]);
    const server = await serve(createStreamHandler({ root, rate: { bytesPerSecond: 64 * KiB, burstBytes: 64 * KiB }, openFileCache: false }));
    const before = process.memoryUsage().arrayBuffers;
    const requests: http.ClientRequest[] = [];
    let received = 0;
    for (let i = 0; i < 100; i++) {
      const req = http.get({ host: '127.0.0.1', port: server.port, path: '/?path=big.mp4', agent: false }, (res) => {
        res.on('data', (chunk: Buffer) => (received += chunk.length));
      });
      req.on('error', () => {});
      requests.push(req);
    }
    const startedAt = performance.now();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    // On a loaded machine not every connection is open after 1 s; wait (bounded) for the rest.
    let open = await openFdsTo(big);
    while (open < 100 && performance.now() - startedAt < 10_000) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      open = await openFdsTo(big);
    }
    const elapsedS = (performance.now() - startedAt) / 1000;
    const grown = process.memoryUsage().arrayBuffers - before;
    assert.equal(open, 100, 'every paced download still running');
    for (const req of requests) req.destroy();
    // Each client: the 64 KiB burst, then 64 KiB/s: about 128 KiB each after 1 s, not 256 MiB
    // (the bound is 368 KiB a client at 1 s, and grows by the rate if the wait ran longer).
    const bound = 100 * (64 * KiB * (1 + Math.max(1, elapsedS)) + 240 * KiB);
    assert.ok(received < bound, `clients received ${(received / MiB).toFixed(1)} MiB`);
    assert.ok(received > 100 * 64 * KiB, `clients received only ${(received / MiB).toFixed(1)} MiB`);
    assert.ok(grown < 32 * MiB, `buffers grew by ${(grown / MiB).toFixed(1)} MiB for 100 paced downloads`);
    assert.equal(await settle(() => openFdsTo(big), 0, 2000), 0);
  });
});
