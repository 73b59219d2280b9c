import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, renameSync, rmSync, symlinkSync, truncateSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { readdir, readlink } from 'node:fs/promises';
import { after, afterEach, before, describe, it } from 'node:test';
import { createStreamHandler, type StreamHandler } from '../../src/serve/handler.ts';
import { openConfined } from '../../src/files/confine.ts';
import { OpenFileCache, type FileLease } from '../../src/files/open-file-cache.ts';
import type { Confinement } from '../../src/files/request-path.ts';
import { createFixtures, pattern, type Fixtures } from '../helpers/fixtures.ts';
import { settle, start, type TestServer } from '../helpers/server.ts';

// Descriptors of this process open on `path`, including one whose file was deleted or renamed
// away ("path (deleted)"), which is exactly the kind a cache must not keep forever.
async function fdsOn(path: string): Promise<number> {
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === path || target === `${path} (deleted)`) count++;
  }
  return count;
}

async function contents(lease: FileLease): Promise<Buffer> {
  const size = Number(lease.file.stats.size);
  const buffer = Buffer.alloc(size);
  await lease.file.handle.read(buffer, 0, size, 0);
  return buffer;
}

function leased(result: FileLease | string): FileLease {
  assert.notEqual(typeof result, 'string', `expected a lease, got ${String(result)}`);
  return result as FileLease;
}

describe('openConfined with an OpenFileCache', () => {
  let fixtures: Fixtures;
  let confinement: Confinement;
  let outside: Fixtures;
  const caches: OpenFileCache[] = [];
  const newCache = (options = { maxFiles: 8, inactiveMs: 60_000 }): OpenFileCache => {
    const cache = new OpenFileCache(options);
    caches.push(cache);
    return cache;
  };

  before(() => {
    fixtures = createFixtures();
    outside = createFixtures('sage-stream-outside-');
    confinement = { realRoot: fixtures.dir, symlinks: 'inside-root', dotfiles: 'deny' };
  });
  afterEach(async () => {
    await Promise.all(caches.splice(0).map((cache) => cache.close()));
  });
  after(() => {
    fixtures.remove();
    outside.remove();
  });

  it('without a cache, every open is its own descriptor, closed on release', async () => {
    const path = fixtures.file('plain.bin', 1000);
    const first = leased(await openConfined('plain.bin', confinement, undefined));
    const second = leased(await openConfined('plain.bin', confinement, undefined));
    assert.notEqual(first.file.handle.fd, second.file.handle.fd);
    assert.equal(await fdsOn(path), 2);
    await first.release();
    await second.release();
    await second.release(); // idempotent
    assert.equal(await fdsOn(path), 0);
  });

  it('a file asked for again is served from the descriptor already open', async () => {
    const path = fixtures.file('hot.bin', 5000);
    const cache = newCache();
    const first = leased(await openConfined('hot.bin', confinement, cache));
    await first.release();
    for (let i = 0; i < 20; i++) {
      const again = leased(await openConfined('hot.bin', confinement, cache));
      assert.equal(again.file.handle, first.file.handle);
      assert.deepEqual(await contents(again), pattern(0, 4999));
      await again.release();
    }
    assert.equal(await fdsOn(path), 1, 'one descriptor for all 21 requests');
    await cache.close();
    assert.equal(await fdsOn(path), 0, 'close() closes it');
  });

  it('500 concurrent first opens of one file share one descriptor (single flight), each with its own lease', async () => {
    const path = fixtures.file('stampede.bin', 3000);
    const cache = newCache();
    const leases = (await Promise.all(Array.from({ length: 500 }, () => openConfined('stampede.bin', confinement, cache)))).map(leased);
    assert.equal(new Set(leases.map((lease) => lease.file.handle.fd)).size, 1);
    assert.equal(await fdsOn(path), 1, 'one descriptor for 500 misses');
    for (const lease of leases.slice(0, 250)) await lease.release();
    await cache.close(); // evicted, but 250 responses still read it
    assert.equal(await fdsOn(path), 1);
    assert.deepEqual(await contents(leases[499]!), pattern(0, 2999));
    for (const lease of leases.slice(250)) await lease.release();
    assert.equal(await fdsOn(path), 0, 'closed once the last lease is released');
  });

  it('concurrent misses share a verdict and an error too', async () => {
    mkdirSync(fixtures.path('a-folder'), { recursive: true });
    const cache = newCache();
    const verdicts = await Promise.all(Array.from({ length: 20 }, () => openConfined('a-folder', confinement, cache)));
    assert.deepEqual(new Set(verdicts), new Set(['not-a-file']));
    const missing = await Promise.allSettled(Array.from({ length: 20 }, () => openConfined('nope.bin', confinement, cache)));
    assert.deepEqual(new Set(missing.map((m) => m.status === 'rejected' && (m.reason as NodeJS.ErrnoException).code)), new Set(['ENOENT']));
    assert.equal(cache.size, 0);
    fixtures.file('nope.bin', 10);
    const later = leased(await openConfined('nope.bin', confinement, cache));
    assert.deepEqual(await contents(later), pattern(0, 9), 'a failed flight is not remembered');
    await later.release();
  });

  const changes: ReadonlyArray<{ name: string; change: (path: string) => void; expected: Buffer }> = [
    {
      name: 'rewritten in place with the same size',
      change: (path) => {
        writeFileSync(path, Buffer.alloc(3000, 7));
        utimesSync(path, new Date(), new Date(Date.now() + 5000)); // a distinct mtime even on coarse clocks
      },
      expected: Buffer.alloc(3000, 7),
    },
    { name: 'truncated', change: (path) => truncateSync(path, 100), expected: pattern(0, 99) },
    {
      name: 'replaced by rename',
      change: (path) => {
        writeFileSync(`${path}.new`, Buffer.from('the new version'));
        renameSync(`${path}.new`, path);
      },
      expected: Buffer.from('the new version'),
    },
    {
      name: 'only its metadata changed (ctime)',
      change: (path) => chmodSync(path, 0o640),
      expected: pattern(0, 2999),
    },
  ];
  for (const { name, change, expected } of changes) {
    it(`a file ${name} is opened afresh; the stale descriptor is closed`, async () => {
      const file = `changed-${name.replaceAll(' ', '-')}.bin`;
      const path = fixtures.file(file, 3000);
      const cache = newCache();
      const first = leased(await openConfined(file, confinement, cache));
      await first.release();
      change(path);
      const second = leased(await openConfined(file, confinement, cache));
      assert.notEqual(second.file.handle, first.file.handle);
      assert.deepEqual(await contents(second), expected);
      await second.release();
      assert.equal(await settle(() => fdsOn(path), 1), 1, 'only the new descriptor stays open');
    });
  }

  it('a deleted file is a 404 (ENOENT) and its descriptor is closed at once', async () => {
    const path = fixtures.file('deleted.bin', 3000);
    const cache = newCache();
    await leased(await openConfined('deleted.bin', confinement, cache)).release();
    unlinkSync(path);
    await assert.rejects(openConfined('deleted.bin', confinement, cache), { code: 'ENOENT' });
    assert.equal(await settle(() => fdsOn(path), 0), 0);
    assert.equal(cache.size, 0);
  });

  it('a folder swapped for a link out of root is refused, never served from the old descriptor or the new file', async () => {
    mkdirSync(fixtures.path('swap'));
    fixtures.file('swap/clip.bin', 3000);
    outside.write('swap/clip.bin', Buffer.alloc(3000, 0x58));
    const cache = newCache();
    const first = leased(await openConfined('swap/clip.bin', confinement, cache));
    await first.release();
    renameSync(fixtures.path('swap'), fixtures.path('swap-old'));
    symlinkSync(outside.path('swap'), fixtures.path('swap'));
    assert.equal(await openConfined('swap/clip.bin', confinement, cache), 'forbidden');
    assert.equal(cache.size, 0);
    assert.equal(await settle(() => fdsOn(fixtures.path('swap-old/clip.bin')), 0), 0);
    rmSync(fixtures.path('swap'));
  });

  it('a folder is not a file, cached or not', async () => {
    mkdirSync(fixtures.path('a-folder'), { recursive: true });
    assert.equal(await openConfined('a-folder', confinement, newCache()), 'not-a-file');
  });

  it('the least recently used file is closed when the cache is full', async () => {
    const cache = newCache({ maxFiles: 2, inactiveMs: 60_000 });
    const paths = ['lru-a.bin', 'lru-b.bin', 'lru-c.bin'].map((name) => fixtures.file(name, 100));
    for (const name of ['lru-a.bin', 'lru-b.bin', 'lru-a.bin', 'lru-c.bin']) {
      await leased(await openConfined(name, confinement, cache)).release();
    }
    assert.equal(cache.size, 2);
    assert.deepEqual(await Promise.all(paths.map(fdsOn)), [1, 0, 1], 'b was least recently used');
  });

  it('an evicted file still being read stays open until its last lease is released', async () => {
    const cache = newCache({ maxFiles: 1, inactiveMs: 60_000 });
    const busy = fixtures.file('busy.bin', 2000);
    fixtures.file('other.bin', 10);
    const reading = leased(await openConfined('busy.bin', confinement, cache));
    await leased(await openConfined('other.bin', confinement, cache)).release(); // evicts busy.bin
    assert.equal(await fdsOn(busy), 1, 'still open while a response reads it');
    assert.deepEqual(await contents(reading), pattern(0, 1999));
    await reading.release();
    assert.equal(await fdsOn(busy), 0, 'closed by the release that ended its last use');
  });

  it('a file nobody asks for is closed after inactiveMs', async () => {
    // 1 s, not less: on a loaded machine counting /proc/self/fd alone can take a few hundred ms.
    const cache = newCache({ maxFiles: 8, inactiveMs: 1000 });
    const path = fixtures.file('idle.bin', 100);
    await leased(await openConfined('idle.bin', confinement, cache)).release();
    assert.equal(cache.size, 1);
    assert.equal(await fdsOn(path), 1);
    assert.equal(await settle(() => fdsOn(path), 0, 5000), 0);
    assert.equal(cache.size, 0);
  });

  it('after close(), a file leased meanwhile is closed when released and nothing is cached', async () => {
    const cache = newCache();
    const path = fixtures.file('closing.bin', 100);
    const inUse = leased(await openConfined('closing.bin', confinement, cache));
    await cache.close();
    assert.equal(await fdsOn(path), 1);
    await inUse.release();
    assert.equal(await fdsOn(path), 0);
    const late = leased(await openConfined('closing.bin', confinement, cache));
    assert.equal(cache.size, 0);
    await late.release();
    assert.equal(await fdsOn(path), 0);
  });
});

describe('the handler with its open-file cache never serves a stale file', () => {
  let fixtures: Fixtures;
  let server: TestServer;
  let handler: StreamHandler;
  before(async () => {
    fixtures = createFixtures();
    handler = createStreamHandler({ root: fixtures.dir });
    server = await start(handler);
  });
  after(async () => {
    await server.close();
    await handler.close();
    fixtures.remove();
  });

  const rows: ReadonlyArray<{ name: string; change: (path: string) => Buffer | undefined }> = [
    {
      name: 'rewritten in place',
      change: (path) => {
        const next = Buffer.alloc(4000, 0x41);
        writeFileSync(path, next);
        return next;
      },
    },
    {
      name: 'truncated',
      change: (path) => {
        truncateSync(path, 10);
        return pattern(0, 9);
      },
    },
    {
      name: 'replaced by rename',
      change: (path) => {
        const next = Buffer.from('a new file under the old name');
        writeFileSync(`${path}.tmp`, next);
        renameSync(`${path}.tmp`, path);
        return next;
      },
    },
    {
      name: 'deleted',
      change: (path) => {
        unlinkSync(path);
        return undefined;
      },
    },
  ];
  for (const { name, change } of rows) {
    it(`a file ${name} between two requests: the second sees the change`, async () => {
      const file = `served-${name.replaceAll(' ', '-')}.bin`;
      const path = fixtures.file(file, 4000);
      const first = await server.request(`/?path=${file}`, { Range: 'bytes=0-' });
      assert.equal(first.status, 206);
      assert.deepEqual(first.body, pattern(0, 3999));
      const expected = change(path);
      const second = await server.request(`/?path=${file}`);
      if (expected === undefined) {
        assert.equal(second.status, 404);
        assert.equal(await settle(() => fdsOn(path), 0), 0, 'the deleted file is not kept open');
        return;
      }
      assert.equal(second.status, 200);
      assert.deepEqual(second.body, expected);
      assert.notEqual(second.headers.etag, first.headers.etag);
      // A resume with the old ETag must not splice old and new: If-Range fails, the whole new file comes.
      const resumed = await server.request(`/?path=${file}`, { Range: 'bytes=5-', 'If-Range': String(first.headers.etag) });
      assert.equal(resumed.status, 200);
      assert.deepEqual(resumed.body, expected);
    });
  }
});
