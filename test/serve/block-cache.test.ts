import assert from 'node:assert/strict';
import { renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { after, describe, it } from 'node:test';
import { createStreamHandler, type StreamHandler } from '../../src/serve/handler.ts';
import type { StreamHandlerOptions } from '../../src/serve/options.ts';
import { BLOCK_SIZE } from '../../src/files/block-cache.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { serverPool, type TestServer } from '../helpers/server.ts';

const fixtures = createFixtures();
const pool = serverPool();
after(async () => {
  await pool.closeAll();
  fixtures.remove();
});

const SIZE = 200_000;
const MTIME_S = 1_700_000_000; // whole seconds, so a restored mtime is the same to the nanosecond

/** The pattern's bytes inverted: same length, other contents. */
function other(start: number, end: number): Buffer {
  return Buffer.from(pattern(start, end).map((byte) => 255 - byte));
}

async function serve(options: Partial<StreamHandlerOptions> = {}): Promise<{ server: TestServer; handler: StreamHandler }> {
  const handler = createStreamHandler({ root: fixtures.dir, ...options });
  return { server: await pool.serve(handler), handler };
}

let files = 0;
function freshFile(size = SIZE): string {
  const name = `f${files++}.bin`;
  fixtures.file(name, size);
  utimesSync(fixtures.path(name), MTIME_S, MTIME_S);
  return name;
}

// Each change must be seen by the very next request, with and without the open-file cache.
const changes: ReadonlyArray<{ name: string; change(path: string): void; want: { size: number; body: (s: number, e: number) => Buffer }; etagChanges: boolean }> = [
  {
    name: 'rewritten in place, same size, mtime restored (only ctime moves)',
    change: (path) => {
      writeFileSync(path, other(0, SIZE - 1));
      utimesSync(path, MTIME_S, MTIME_S);
    },
    want: { size: SIZE, body: other },
    etagChanges: false, // the ETag is size and mtime (etag.ts): the bytes are what must change
  },
  {
    name: 'truncated and rewritten shorter',
    change: (path) => writeFileSync(path, other(0, 599)),
    want: { size: 600, body: other },
    etagChanges: true,
  },
  {
    name: 'renamed over by another file of the same size and mtime',
    change: (path) => {
      writeFileSync(`${path}.new`, other(0, SIZE - 1));
      utimesSync(`${path}.new`, MTIME_S, MTIME_S);
      renameSync(`${path}.new`, path);
    },
    want: { size: SIZE, body: other },
    etagChanges: false,
  },
  {
    name: 'touched: mtime only',
    change: (path) => utimesSync(path, MTIME_S + 10, MTIME_S + 10),
    want: { size: SIZE, body: pattern },
    etagChanges: true,
  },
];

describe('block cache: a changed file is never served from its old blocks', () => {
  for (const openFileCache of [undefined, false] as const) {
    for (const { name, change, want, etagChanges } of changes) {
      it(`${name}${openFileCache === false ? ' (openFileCache: false)' : ''}`, async () => {
        const { server, handler } = await serve(openFileCache === false ? { openFileCache } : {});
        const file = freshFile();
        const url = `/?path=${file}`;
        for (let i = 0; i < 2; i++) {
          const res = await server.request(url, { Range: 'bytes=0-1023' });
          assert.equal(res.status, 206);
          assert.deepEqual(res.body, pattern(0, 1023));
        }
        assert.equal(handler.blockCacheStats()?.hits, 1, 'the second request came from the cache');
        const etagBefore = (await server.request(url, { Range: 'bytes=0-1023' })).headers.etag;

        change(fixtures.path(file));
        const end = Math.min(1023, want.size - 1);
        const res = await server.request(url, { Range: 'bytes=0-1023' });
        assert.equal(res.status, 206);
        assert.equal(res.headers['content-range'], `bytes 0-${end}/${want.size}`);
        assert.deepEqual(res.body, want.body(0, end));
        if (etagChanges) assert.notEqual(res.headers.etag, etagBefore);
        else assert.equal(res.headers.etag, etagBefore);
        assert.equal(handler.blockCacheStats()?.misses, 2, 'the changed file was read again');
        // And from the cache again, still the new bytes.
        assert.deepEqual((await server.request(url, { Range: `bytes=10-${end}` })).body, want.body(10, end));
      });
    }
  }
});

describe('block cache: what it holds', () => {
  it('respects maxBytes while serving more blocks than fit, every body byte-exact', async () => {
    const maxBytes = 4 * BLOCK_SIZE;
    const { server, handler } = await serve({ blockCache: { maxBytes } });
    const file = freshFile(32 * BLOCK_SIZE);
    for (let round = 0; round < 2; round++) {
      for (let i = 0; i < 32; i++) {
        const start = i * BLOCK_SIZE + 1000;
        const res = await server.request(`/?path=${file}`, { Range: `bytes=${start}-${start + 2047}` });
        assert.equal(res.status, 206);
        assert.deepEqual(res.body, pattern(start, start + 2047));
        const held = handler.blockCacheStats()?.bytes ?? 0;
        assert.ok(held <= maxBytes, `holds ${held} bytes > ${maxBytes}`);
      }
    }
    assert.deepEqual(handler.blockCacheStats(), { hits: 0, misses: 64, bytes: maxBytes, blocks: 4, maxBytes });
  });

  it('a short whole file (200) is cached; a long range and HEAD are not', async () => {
    const { server, handler } = await serve();
    const small = freshFile(5000);
    const big = freshFile(SIZE);
    for (let i = 0; i < 2; i++) {
      const res = await server.request(`/?path=${small}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], '5000');
      assert.deepEqual(res.body, pattern(0, 4999));
    }
    assert.deepEqual(handler.blockCacheStats(), { hits: 1, misses: 1, bytes: 5000, blocks: 1, maxBytes: 64 * 1024 * 1024 });
    const long = await server.request(`/?path=${big}`, { Range: 'bytes=100-150000' });
    assert.deepEqual(long.body, pattern(100, 150_000));
    const head = await server.request(`/?path=${big}`, {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(handler.blockCacheStats()?.bytes, 5000);
  });

  it('blockCache: false serves every body from the file', async () => {
    const { server, handler } = await serve({ blockCache: false });
    const file = freshFile();
    assert.deepEqual((await server.request(`/?path=${file}`, { Range: 'bytes=0-1023' })).body, pattern(0, 1023));
    writeFileSync(fixtures.path(file), other(0, SIZE - 1));
    utimesSync(fixtures.path(file), MTIME_S, MTIME_S);
    assert.deepEqual((await server.request(`/?path=${file}`, { Range: 'bytes=0-1023' })).body, other(0, 1023));
    assert.equal(handler.blockCacheStats(), undefined);
  });

  it('bad options throw at setup, naming the option', () => {
    assert.throws(() => createStreamHandler({ root: fixtures.dir, blockCache: { maxBytes: 100 } }), /options\.blockCache\.maxBytes must be an integer >= 65536, got 100/);
    assert.throws(() => createStreamHandler({ root: fixtures.dir, blockCache: 5 as never }), /options\.blockCache must be false or \{ maxBytes\? \}/);
    assert.equal(statSync(fixtures.dir).isDirectory(), true);
  });
});
