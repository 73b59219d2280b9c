import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, truncateSync } from 'node:fs';
import { createFetchHandler, createFetchMiddleware, streamFileResponse } from '../../src/serve/fetch-handler.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdCount, openFdsTo, settle } from '../helpers/server.ts';

// The shared rows (ranges, multipart, preconditions, confinement…) run in fetch-handler.table.test.ts;
// these are what only a fetch body has: pull, cancel, the Request given to callbacks, passing on.
const MiB = 1024 * 1024;
const CHUNK = 64 * 1024;
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', 1000);
const big = fixtures.sparse('root/big.mp4', 256 * MiB, [{ offset: 0, length: CHUNK }]);
const ORIGIN = 'http://127.0.0.1';
after(() => fixtures.remove());

async function bodyOf(response: Response): Promise<Buffer> {
  return Buffer.from(await response.arrayBuffer());
}

/** Bytes this process has read through read/pread so far (Linux /proc/self/io `rchar`). */
function bytesReadByProcess(): number {
  const match = /^rchar: (\d+)$/m.exec(readFileSync('/proc/self/io', 'latin1'));
  return Number(match?.[1]);
}

describe('createFetchHandler: Request in, Response out', () => {
  const handler = createFetchHandler({ root, openFileCache: false });
  after(() => handler.close());

  it('a range is a 206 with the exact bytes', async () => {
    const response = await handler(new Request(`${ORIGIN}/?path=clip.mp4`, { headers: { range: 'bytes=10-19' } }));
    assert.equal(response.status, 206);
    assert.equal(response.headers.get('content-range'), 'bytes 10-19/1000');
    assert.equal(response.headers.get('content-length'), '10');
    assert.deepEqual(await bodyOf(response), pattern(10, 19));
  });

  it('HEAD has the headers of GET and a null body', async () => {
    const response = await handler(new Request(`${ORIGIN}/?path=clip.mp4`, { method: 'HEAD' }));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-length'), '1000');
    assert.equal(response.body, null);
  });

  it('304 has a null body (a null body status in the Fetch standard)', async () => {
    const first = await handler(new Request(`${ORIGIN}/?path=clip.mp4`));
    await bodyOf(first);
    const etag = first.headers.get('etag') ?? '';
    const response = await handler(new Request(`${ORIGIN}/?path=clip.mp4`, { headers: { 'if-none-match': etag } }));
    assert.equal(response.status, 304);
    assert.equal(response.body, null);
  });

  it('a missing file is a 404 Response, another method a 405', async () => {
    const missing = await handler(new Request(`${ORIGIN}/?path=nope.mp4`));
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), 'Not Found\n');
    const post = await handler(new Request(`${ORIGIN}/?path=clip.mp4`, { method: 'POST', body: 'x' }));
    assert.equal(post.status, 405);
    assert.equal(post.headers.get('allow'), 'GET, HEAD');
  });

  it('a request whose signal aborted before the answer stops and opens nothing', async () => {
    const controller = new AbortController();
    controller.abort();
    const response = await handler(new Request(`${ORIGIN}/?path=big.mp4`, { signal: controller.signal }));
    assert.equal(response.status, 499);
    assert.equal(await settle(() => openFdsTo(big), 0), 0);
  });
});

describe('the body stream', () => {
  const handler = createFetchHandler({ root, openFileCache: false, chunkSize: CHUNK, maxReadSize: CHUNK });
  after(() => handler.close());

  it('cancelling the body closes the file', async () => {
    const response = await handler(new Request(`${ORIGIN}/?path=big.mp4`));
    const reader = response.body!.getReader();
    const first = await reader.read();
    assert.deepEqual(Buffer.from(first.value!).subarray(0, 1000), pattern(0, 999));
    assert.equal(await openFdsTo(big), 1, 'the file is open while its body is being read');
    await reader.cancel();
    assert.equal(await settle(() => openFdsTo(big), 0), 0);
  });

  it('a slow consumer: bytes read from disk stay within a few chunks of bytes consumed', async () => {
    const response = await handler(new Request(`${ORIGIN}/?path=big.mp4`));
    const reader = response.body!.getReader();
    const before = bytesReadByProcess();
    let consumed = 0;
    let worst = 0;
    for (let i = 0; i < 40; i++) {
      const { value } = await reader.read();
      consumed += value!.length;
      // Give the producer every chance to run ahead before measuring.
      await new Promise((resolve) => setTimeout(resolve, 5));
      worst = Math.max(worst, bytesReadByProcess() - before - consumed);
    }
    await reader.cancel();
    assert.ok(consumed >= 40 * CHUNK - CHUNK, `consumed ${consumed}`);
    // The chunk held, the one queued, the read in flight, and a margin for the process's other
    // reads that rchar also counts (under a loaded suite one run saw 3.4 chunks; unbounded is 64).
    assert.ok(worst <= 4 * CHUNK, `read ${worst} bytes ahead of the consumer (limit ${4 * CHUNK})`);
  });

  it('200 cancelled bodies leak no descriptor', async () => {
    const baseline = await openFdCount();
    for (let i = 0; i < 200; i++) {
      const response = await handler(new Request(`${ORIGIN}/?path=big.mp4`, { headers: { range: `bytes=${i * CHUNK}-` } }));
      const reader = response.body!.getReader();
      await reader.read();
      await reader.cancel();
    }
    assert.equal(await settle(() => openFdsTo(big), 0), 0);
    assert.ok((await settle(openFdCount, baseline)) <= baseline, 'descriptors back to the baseline');
  });

  it('a file that shrinks mid-body breaks the stream instead of ending it short', async () => {
    const shrinking = fixtures.file('root/shrinking.mp4', 1024 * 1024);
    const errors: unknown[] = [];
    const strict = createFetchHandler({ root, openFileCache: false, chunkSize: CHUNK, maxReadSize: CHUNK, onError: (err) => errors.push(err) });
    const response = await strict(new Request(`${ORIGIN}/?path=shrinking.mp4`));
    const reader = response.body!.getReader();
    await reader.read();
    truncateSync(shrinking, 100 * 1024);
    let received = 0;
    await assert.rejects(async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        received += value.length;
      }
    });
    assert.ok(received < 1024 * 1024);
    assert.equal(errors.length, 1, 'the short read went to onError');
    assert.equal(await settle(() => openFdsTo(shrinking), 0), 0);
    await strict.close();
  });

  it('multipart bodies arrive whole through the stream', async () => {
    const response = await handler(new Request(`${ORIGIN}/?path=clip.mp4`, { headers: { range: 'bytes=0-1,5-6' } }));
    assert.equal(response.status, 206);
    const body = await bodyOf(response);
    assert.equal(String(body.length), response.headers.get('content-length'));
    assert.ok(body.includes(pattern(5, 6)));
  });
});

describe('callbacks are given the fetch Request', () => {
  it('permission checks and onError see the Request', async () => {
    const seen: unknown[] = [];
    const errors: unknown[] = [];
    const handler = createFetchHandler({
      root,
      permissions: [
        (request) => (seen.push(request), request.headers.get('x-user') === 'alice'),
        () => {
          throw new Error('db down');
        },
      ],
      onError: (err, request) => errors.push([err, request]),
    });
    const request = new Request(`${ORIGIN}/?path=clip.mp4`, { headers: { 'x-user': 'alice' } });
    assert.equal((await handler(request)).status, 500);
    assert.equal(seen[0], request);
    assert.equal((errors[0] as unknown[])[1], request);
    assert.equal((await handler(new Request(`${ORIGIN}/?path=clip.mp4`))).status, 403);
    await handler.close();
  });

  it('rate as a function of the Request paces its response', async () => {
    const handler = createFetchHandler({ root, rate: (request) => (request.headers.has('x-slow') ? { bytesPerSecond: 1e9 } : undefined) });
    const response = await handler(new Request(`${ORIGIN}/?path=clip.mp4`, { headers: { 'x-slow': '1' } }));
    assert.deepEqual(await bodyOf(response), pattern(0, 999));
    await handler.close();
  });
});

describe('createFetchMiddleware passes on with null', () => {
  const media = createFetchMiddleware({ root, mode: 'path', prefix: '/media' });
  after(() => media.close());
  const rows: ReadonlyArray<[string, string, number | null]> = [
    ['GET', '/media/clip.mp4', 200],
    ['GET', '/media/nope.mp4', null],
    ['GET', '/other/clip.mp4', null],
    ['POST', '/media/clip.mp4', null],
    ['GET', '/media/.git/config', 403],
  ];
  for (const [method, path, want] of rows) {
    it(`${method} ${path} → ${want ?? 'null'}`, async () => {
      const response = await media(new Request(`${ORIGIN}${path}`, method === 'POST' ? { method, body: 'x' } : { method }));
      assert.equal(response?.status ?? null, want);
      if (want === 200) assert.deepEqual(await bodyOf(response!), pattern(0, 999));
    });
  }
});

describe('streamFileResponse', () => {
  const path = fixtures.path('root/clip.mp4');
  it('serves a range of the file you chose', async () => {
    const response = await streamFileResponse(new Request(`${ORIGIN}/any`, { headers: { range: 'bytes=-10' } }), path);
    assert.equal(response.status, 206);
    assert.deepEqual(await bodyOf(response), pattern(990, 999));
  });
  it('answers a missing file with 404 and another method with 405', async () => {
    assert.equal((await streamFileResponse(new Request(`${ORIGIN}/`), fixtures.path('nope'))).status, 404);
    assert.equal((await streamFileResponse(new Request(`${ORIGIN}/`, { method: 'DELETE' }), path)).status, 405);
  });
  it('closes the file when the body is cancelled', async () => {
    const response = await streamFileResponse(new Request(`${ORIGIN}/`), big, { chunkSize: CHUNK });
    const reader = response.body!.getReader();
    await reader.read();
    await reader.cancel();
    assert.equal(await settle(() => openFdsTo(big), 0), 0);
  });
});
