import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { once } from 'node:events';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdCount, serverPool, settle } from '../helpers/server.ts';
import { MiB, REQUESTS, assertBounded, expected, rangeOf, readResponses, sleep, startChild, writeFairRoot, type Child } from '../helpers/fairness.ts';

const fixtures = createFixtures();
const root = writeFairRoot(fixtures);
const { serve, closeAll } = serverPool();
after(async () => {
  await closeAll();
  fixtures.remove();
});

describe('fairness: one connection cannot pin the server', { timeout: 60_000 }, () => {
  let child: Child;
  before(async () => {
    child = await startChild(root, 'http1');
  });
  after(() => child.close());

  it(`${REQUESTS} pipelined range requests on one connection, unread for 1.5 s: a few fds, < 16 MiB held, then every body byte-exact`, async () => {
    const socket = net.connect(child.port, '127.0.0.1');
    await once(socket, 'connect');
    // Warm up on this connection (code loaded, the file cached), then measure from there.
    socket.write(`GET /?path=huge.bin HTTP/1.1\r\nHost: x\r\nRange: ${rangeOf(0)}\r\n\r\n`);
    const [warm] = await readResponses(socket, 1, Buffer.alloc(0));
    assert.ok(warm!.equals(expected(0)), 'warm-up body');
    socket.pause();
    const baseline = await child.stats();
    const requests = Array.from({ length: REQUESTS }, (_, i) => `GET /?path=huge.bin HTTP/1.1\r\nHost: x\r\nRange: ${rangeOf(i)}\r\n\r\n`);
    socket.write(requests.join(''));
    await sleep(1500); // before the fix 1.5 s was enough to pile up over 100 MiB (checked by skipping awaitTurn)
    const held = await child.stats();
    console.log(`# http1 pipelined: ${baseline.fds} → ${held.fds} fds, +${((held.rss - baseline.rss) / MiB).toFixed(1)} MiB RSS, +${((held.held - baseline.held) / MiB).toFixed(1)} MiB heap+buffers`);
    const reading = readResponses(socket, REQUESTS, Buffer.alloc(0));
    socket.resume();
    const bodies = await reading;
    socket.destroy();
    for (let i = 0; i < REQUESTS; i++) assert.ok(bodies[i]!.equals(expected(i)), `body ${i} byte-exact`);
    assertBounded(baseline, held);
  });
});


describe('fairness: a queued response and sendTimeoutMs', { timeout: 20_000 }, () => {
  const SEND_TIMEOUT_MS = 200;
  const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;

  it('a response queued longer than sendTimeoutMs behind a paced one is still served whole, and the connection stays usable', { timeout: 5000 }, async () => {
    const server = await serve(
      createStreamHandler({
        root,
        sendTimeoutMs: SEND_TIMEOUT_MS,
        // ~0.5 s for the first response: longer than the timeout, though its client reads all along.
        rate: (req) => (req.url?.includes('slow') === true ? { bytesPerSecond: 200_000, burstBytes: 0 } : undefined),
      }),
    );
    const socket = net.connect(server.port, '127.0.0.1');
    await once(socket, 'connect');
    socket.write(get('/?path=clip.mp4&slow') + get('/?path=clip.mp4'));
    const [slow, queued] = await readResponses(socket, 2, Buffer.alloc(0), 200);
    assert.ok(slow!.equals(pattern(0, 99_999)), 'the paced response');
    assert.ok(queued!.equals(pattern(0, 99_999)), 'the queued response, byte-exact');
    socket.write(get('/?path=clip.mp4'));
    const [again] = await readResponses(socket, 1, Buffer.alloc(0), 200);
    assert.ok(again!.equals(pattern(0, 99_999)), 'the same connection serves the next request');
    socket.destroy();
  });

  it('a client that reads nothing: the response writing is cut after sendTimeoutMs, the queued ones end with its connection, and no descriptor stays', { timeout: 5000 }, async () => {
    const server = await serve(createStreamHandler({ root, sendTimeoutMs: SEND_TIMEOUT_MS, openFileCache: false }));
    fixtures.sparse('root/stall.bin', 64 * MiB, []);
    const baseline = await openFdCount();
    const socket = net.connect(server.port, '127.0.0.1');
    socket.on('error', () => {});
    await once(socket, 'connect');
    socket.pause();
    socket.write(Array.from({ length: 50 }, () => get('/?path=stall.bin')).join(''));
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    const closed = once(socket, 'close');
    await sleep(SEND_TIMEOUT_MS * 3);
    socket.resume(); // a paused socket never reports the server's close
    await closed; // the server ended it: nothing hangs open
    const heads = Buffer.concat(received).toString('latin1').match(/HTTP\/1\.1 \d{3} /g) ?? [];
    assert.deepEqual(heads, ['HTTP/1.1 200 '], 'the cut response only; nothing of the queued ones went out');
    // The client's own descriptor is gone too, so the count is back to where it was.
    assert.ok((await settle(openFdCount, baseline)) <= baseline, 'no descriptor left open');
  });
});

describe('fairness: many requests queued on one connection', { timeout: 10_000 }, () => {
  it('50 pipelined requests: no MaxListenersExceededWarning (one close listener per socket), every body byte-exact', async () => {
    const server = await serve(createStreamHandler({ root }));
    const warnings: string[] = [];
    const onWarning = (warning: Error): void => void warnings.push(warning.name);
    process.on('warning', onWarning);
    try {
      const socket = net.connect(server.port, '127.0.0.1');
      await once(socket, 'connect');
      const ranges = Array.from({ length: 50 }, (_, i) => ({ start: i * 1000, end: i * 1000 + 999 }));
      socket.write(ranges.map(({ start, end }) => `GET /?path=clip.mp4 HTTP/1.1\r\nHost: x\r\nRange: bytes=${start}-${end}\r\n\r\n`).join(''));
      const bodies = await readResponses(socket, ranges.length, Buffer.alloc(0));
      ranges.forEach(({ start, end }, i) => assert.ok(bodies[i]!.equals(pattern(start, end)), `response ${i}`));
      socket.destroy();
      await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    } finally {
      process.off('warning', onWarning);
    }
    assert.deepEqual(warnings.filter((name) => name === 'MaxListenersExceededWarning'), []);
  });
});

