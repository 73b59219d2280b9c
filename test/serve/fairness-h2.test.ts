import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { MiB, STREAMS, assertBounded, expected, rangeOf, sleep, startChild, writeFairRoot, type Child } from '../helpers/fairness.ts';

// HTTP/2 fairness (split from fairness.test.ts so that node --test runs the two side by side).
const fixtures = createFixtures();
const root = writeFairRoot(fixtures);
after(() => fixtures.remove());

describe('fairness over HTTP/2: one session cannot pin the server', { timeout: 60_000 }, () => {
  let child: Child;
  before(async () => {
    child = await startChild(root, 'h2c');
  });
  after(() => child.close());

  it(`${STREAMS} streams on one session, unread for 1.5 s: a few fds, < 16 MiB held, then every body byte-exact`, async () => {
    const session = http2.connect(`http://127.0.0.1:${child.port}`);
    const get = (i: number): http2.ClientHttp2Stream =>
      session.request({ ':path': '/?path=huge.bin', range: rangeOf(i) });
    const warm = get(0);
    const warmBody: Buffer[] = [];
    for await (const chunk of warm) warmBody.push(chunk as Buffer);
    assert.ok(Buffer.concat(warmBody).equals(expected(0)), 'warm-up body');
    const baseline = await child.stats();
    const streams = Array.from({ length: STREAMS }, (_, i) => {
      const stream = get(i);
      stream.pause();
      const status = once(stream, 'response').then(([headers]) => (headers as http2.IncomingHttpHeaders)[':status']);
      return { stream, status };
    });
    await sleep(1500); // before the fix 1.5 s was enough to pile up over 100 MiB (checked by skipping awaitTurn)
    const held = await child.stats();
    console.log(`# h2c streams: ${baseline.fds} → ${held.fds} fds, +${((held.rss - baseline.rss) / MiB).toFixed(1)} MiB RSS, +${((held.held - baseline.held) / MiB).toFixed(1)} MiB heap+buffers`);
    const bodies = await Promise.all(
      streams.map(async ({ stream, status }) => {
        const chunks: Buffer[] = [];
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        const ended = once(stream, 'end');
        stream.resume();
        await ended;
        assert.equal(await status, 206);
        return Buffer.concat(chunks);
      }),
    );
    session.close();
    for (let i = 0; i < STREAMS; i++) assert.ok(bodies[i]!.equals(expected(i)), `stream ${i} byte-exact`);
    assertBounded(baseline, held);
  });
});


describe('fairness over HTTP/2: maxStreamsPerSession', { timeout: 10_000 }, () => {
  it('a stream waits for a slot while maxStreamsPerSession are busy, and gets it when one is reset; other sessions are not held up', async () => {
    fixtures.sparse('root/h2-big.bin', 64 * MiB, []);
    const server = http2.createServer(createStreamHandler({ root, maxStreamsPerSession: 1 }));
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const origin = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    const session = http2.connect(origin);
    const other = http2.connect(origin);
    const body = async (stream: http2.ClientHttp2Stream): Promise<Buffer> => {
      const chunks: Buffer[] = [];
      for await (const chunk of stream) chunks.push(chunk as Buffer);
      return Buffer.concat(chunks);
    };
    try {
      const big = session.request({ ':path': '/?path=h2-big.bin' });
      big.pause(); // holds the session's only slot: flow control stops it after 64 KiB
      await once(big, 'response');
      let reset = false;
      const waiting = session.request({ ':path': '/?path=clip.mp4' });
      const answered = once(waiting, 'response').then(() => reset);
      // Another session has its own slots.
      assert.ok((await body(other.request({ ':path': '/?path=clip.mp4' }))).equals(pattern(0, 99_999)));
      await sleep(100); // the waiting stream reached the server long ago; it must still be waiting
      reset = true;
      big.close(http2.constants.NGHTTP2_CANCEL);
      assert.equal(await answered, true, 'answered only once the busy stream was reset');
      assert.ok((await body(waiting)).equals(pattern(0, 99_999)));
    } finally {
      session.close();
      other.close();
      server.close();
    }
  });
});
