import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { fileURLToPath } from 'node:url';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openConfined } from '../../src/files/confine.ts';
import { OpenFileCache, type FileLease } from '../../src/files/open-file-cache.ts';
import { openFdsTo, receive } from '../helpers/server.ts';

const CHILD = fileURLToPath(new URL('../fixtures/emfile-server.ts', import.meta.url));
const FD_LIMIT = 128;
const CACHED = 40; // files the cache keeps open before descriptors run out
const SIZE = 5000;

function hasPrlimit(): boolean {
  try {
    execFileSync('prlimit', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('EMFILE: out of descriptors, the open-file cache makes room and the open is retried', () => {
  const fixtures = createFixtures('sage-stream-emfile-');
  for (let i = 0; i <= CACHED; i++) fixtures.file(`f${i}.mp4`, SIZE + i);
  after(() => fixtures.remove());

  it(`under a ${FD_LIMIT}-descriptor limit, with ${CACHED} files cached and every other descriptor taken, a new file → 200 byte-exact`, async () => {
    // prlimit where there is one; bash's ulimit otherwise. Either way the child runs Node itself.
    const node = [process.execPath, CHILD, fixtures.dir];
    const [command, ...args] = hasPrlimit()
      ? ['prlimit', `--nofile=${FD_LIMIT}:${FD_LIMIT}`, ...node]
      : ['bash', '-c', `ulimit -n ${FD_LIMIT} && exec "$0" "$@"`, ...node];
    const child = spawn(command!, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 }); // one connection: its descriptor exists before the limit is hit
    try {
      const port = await new Promise<number>((resolve, reject) => {
        child.stdout.setEncoding('utf8').once('data', (text: string) => resolve(Number(text.trim())));
        child.once('exit', (code) => reject(new Error(`child exited ${code}: ${stderr}`)));
      });
      const get = (path: string) => receive(`http://127.0.0.1:${port}`, { path, agent });
      for (let i = 0; i < CACHED; i++) {
        const res = await get(`/?path=f${i}.mp4`);
        assert.equal(res.status, 200, `f${i}.mp4`);
      }
      const exhausted = await get('/exhaust');
      assert.match(exhausted.body.toString(), /^EMFILE after \d+$/);
      const res = await get(`/?path=f${CACHED}.mp4`);
      assert.equal(res.status, 200, stderr);
      assert.equal(res.headers['content-length'], String(SIZE + CACHED));
      assert.deepEqual(res.body, pattern(0, SIZE + CACHED - 1));
      // The cache is usable afterwards: a file it closed is opened again.
      const again = await get('/?path=f0.mp4');
      assert.equal(again.status, 200);
      assert.deepEqual(again.body, pattern(0, SIZE - 1));
    } finally {
      agent.destroy();
      child.kill('SIGKILL');
    }
  });
});

describe('OpenFileCache.closeIdle', () => {
  const fixtures = createFixtures('sage-stream-close-idle-');
  after(() => fixtures.remove());

  it('closes the descriptors no response uses, keeps the leased one, and reports how many', async () => {
    const confinement = { realRoot: fixtures.dir, symlinks: 'inside-root', dotfiles: 'deny' } as const;
    const cache = new OpenFileCache({ maxFiles: 8, inactiveMs: 60_000 });
    const names = ['a.mp4', 'b.mp4', 'c.mp4'];
    for (const name of names) fixtures.file(name, 10);
    const leases: FileLease[] = [];
    for (const name of names) {
      const lease = await openConfined(name, confinement, cache);
      assert.equal(typeof lease, 'object');
      leases.push(lease as FileLease);
    }
    await leases[0]!.release();
    await leases[1]!.release();
    assert.equal(await cache.closeIdle(), 2);
    assert.equal(cache.size, 1);
    assert.equal(await openFdsTo(fixtures.path('a.mp4')), 0);
    assert.equal(await openFdsTo(fixtures.path('c.mp4')), 1, 'in use: still open');
    await leases[2]!.release();
    await cache.close();
    assert.equal(await openFdsTo(fixtures.path('c.mp4')), 0);
  });
});
