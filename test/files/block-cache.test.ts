import assert from 'node:assert/strict';
import { truncateSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { after, describe, it } from 'node:test';
import { BLOCK_SIZE, BlockCache, versionKey } from '../../src/files/block-cache.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';

const fixtures = createFixtures();
after(() => fixtures.remove());

describe('BlockCache', () => {
  it('reads the blocks a range touches once, then answers it from memory, byte-exact', async () => {
    const path = fixtures.file('two-blocks.bin', 3 * BLOCK_SIZE + 10);
    const version = versionKey(await stat(path, { bigint: true }));
    const cache = new BlockCache({ maxBytes: 8 * BLOCK_SIZE });
    const handle = await open(path);
    try {
      const start = BLOCK_SIZE - 100;
      const end = BLOCK_SIZE + 99; // straddles blocks 0 and 1
      assert.equal(cache.peek(version, start, end), undefined);
      assert.deepEqual(await cache.read(handle, version, 3 * BLOCK_SIZE + 10, start, end), pattern(start, end));
      assert.deepEqual(cache.peek(version, start, end), pattern(start, end));
      assert.deepEqual(cache.peek(version, 5, 5), pattern(5, 5));
      assert.deepEqual(await cache.read(handle, version, 3 * BLOCK_SIZE + 10, 3 * BLOCK_SIZE, 3 * BLOCK_SIZE + 9), pattern(3 * BLOCK_SIZE, 3 * BLOCK_SIZE + 9));
      assert.deepEqual(cache.stats, { hits: 2, misses: 2, bytes: 2 * BLOCK_SIZE + 10, blocks: 3, maxBytes: 8 * BLOCK_SIZE });
    } finally {
      await handle.close();
    }
  });

  it('never holds more than maxBytes, dropping the least recently used block first', async () => {
    const size = 16 * BLOCK_SIZE;
    const path = fixtures.file('sixteen-blocks.bin', size);
    const version = versionKey(await stat(path, { bigint: true }));
    const cache = new BlockCache({ maxBytes: 3 * BLOCK_SIZE + 5 });
    const handle = await open(path);
    try {
      for (let i = 0; i < 16; i++) {
        const at = i * BLOCK_SIZE + 7;
        assert.deepEqual(await cache.read(handle, version, size, at, at + 99), pattern(at, at + 99));
        assert.ok(cache.stats.bytes <= 3 * BLOCK_SIZE + 5, `holds ${cache.stats.bytes} bytes after block ${i}`);
      }
      assert.equal(cache.stats.bytes, 3 * BLOCK_SIZE); // blocks 13, 14, 15
      assert.notEqual(cache.peek(version, 13 * BLOCK_SIZE, 13 * BLOCK_SIZE), undefined); // now the newest
      assert.deepEqual(await cache.read(handle, version, size, 0, 99), pattern(0, 99)); // one more: 14 goes
      assert.equal(cache.peek(version, 14 * BLOCK_SIZE, 14 * BLOCK_SIZE), undefined);
      assert.notEqual(cache.peek(version, 13 * BLOCK_SIZE, 13 * BLOCK_SIZE), undefined);
      assert.notEqual(cache.peek(version, 15 * BLOCK_SIZE, 15 * BLOCK_SIZE), undefined);
      assert.equal(cache.stats.bytes, 3 * BLOCK_SIZE);
    } finally {
      await handle.close();
    }
  });

  it('a file shorter than its stat said: ERR_FILE_TRUNCATED, and nothing cached', async () => {
    const size = 2 * BLOCK_SIZE;
    const path = fixtures.file('shrinks.bin', size);
    const version = versionKey(await stat(path, { bigint: true }));
    const handle = await open(path);
    try {
      truncateSync(path, BLOCK_SIZE + 10);
      const cache = new BlockCache({ maxBytes: 8 * BLOCK_SIZE });
      await assert.rejects(cache.read(handle, version, size, BLOCK_SIZE, BLOCK_SIZE + 100), { code: 'ERR_FILE_TRUNCATED' });
      assert.equal(cache.stats.bytes, 0);
    } finally {
      await handle.close();
    }
  });

  it('concurrent misses of one block share one read', async () => {
    const path = fixtures.file('shared.bin', BLOCK_SIZE);
    const version = versionKey(await stat(path, { bigint: true }));
    const cache = new BlockCache({ maxBytes: 8 * BLOCK_SIZE });
    const handle = await open(path);
    let reads = 0;
    const read = handle.read.bind(handle);
    // Counting the positional reads made through this handle (the cache's only way to the file).
    Object.assign(handle, { read: (...args: Parameters<typeof read>) => (reads++, read(...args)) });
    try {
      const bodies = await Promise.all([1, 2, 3, 4].map((n) => cache.read(handle, version, BLOCK_SIZE, n, n + 10)));
      bodies.forEach((body, i) => assert.deepEqual(body, pattern(i + 1, i + 11)));
      assert.equal(reads, 1);
    } finally {
      await handle.close();
    }
  });
});
