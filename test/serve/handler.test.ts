import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, symlinkSync, utimesSync } from 'node:fs';
import { once } from 'node:events';
import net from 'node:net';
import { Worker } from 'node:worker_threads';
import { HANDLER_UNDER_TEST, header, listenerUnderTest } from '../helpers/handler-under-test.ts';
import type { StreamHandlerOptions } from '../../src/serve/options.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { parseMultipart } from '../helpers/multipart.ts';
import { start, rawRequest, type Received, type TestServer } from '../helpers/server.ts';

const SIZE = 1000;
const SECRET = 'TOP-SECRET-OUTSIDE-ROOT';
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', SIZE);
fixtures.file('root/movies/big movie.webm', 100_000);
fixtures.file('root/empty.mp4', 0);
fixtures.file('root/seg.ts', 10);
fixtures.file('root/noext', 10);
fixtures.file('root/.hidden.mp4', 10);
fixtures.file('root/.git/config', 10);
fixtures.file('root/%2e%2e/x.mp4', 10); // a real folder literally named "%2e%2e"
mkdirSync(fixtures.path('root/dir'));
fixtures.write('secret.txt', SECRET);
fixtures.write('root-evil/f.mp4', SECRET); // shares root's name as a prefix
symlinkSync('../secret.txt', fixtures.path('root/link-out.mp4'));
symlinkSync('..', fixtures.path('root/link-dir-out'));
symlinkSync('../root-evil/f.mp4', fixtures.path('root/link-evil.mp4'));
symlinkSync('clip.mp4', fixtures.path('root/link-in.mp4'));
symlinkSync('loop-b', fixtures.path('root/loop-a'));
symlinkSync('loop-a', fixtures.path('root/loop-b'));
execFileSync('mkfifo', [fixtures.path('root/pipe.mp4')]);
symlinkSync('.hidden.mp4', fixtures.path('root/dotlink.mp4')); // a plain name for a dotfile
// A fixed mtime, so date validators can be written down.
const MTIME_S = 1_700_000_000;
utimesSync(fixtures.path('root/clip.mp4'), MTIME_S, MTIME_S + 0.5);
const LAST_MODIFIED = new Date(MTIME_S * 1000).toUTCString();

const servers: TestServer[] = [];
async function serve(options: Partial<StreamHandlerOptions> = {}): Promise<TestServer> {
  const server = await start(listenerUnderTest({ root, ...options }));
  servers.push(server);
  return server;
}
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fixtures.remove();
});

function assertNoLeak(res: Received): void {
  assert.ok(!res.body.includes(SECRET), 'the body must not contain bytes from outside root');
  assert.ok(!res.body.includes(fixtures.dir), 'the body must not contain a server path');
}

describe('full file', () => {
  let server: TestServer;
  before(async () => (server = await serve()));

  it('GET → 200 with the exact bytes and every file header', async () => {
    const res = await server.request('/?path=clip.mp4');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, pattern(0, SIZE - 1));
    assert.equal(res.headers['content-length'], String(SIZE));
    assert.equal(res.headers['content-type'], 'video/mp4');
    assert.equal(res.headers['accept-ranges'], 'bytes');
    assert.match(res.headers.etag ?? '', /^"[!#-~]+"$/); // strong: no W/ prefix
    assert.equal(res.headers['last-modified'], LAST_MODIFIED);
    assert.equal(res.headers['cache-control'], 'public, max-age=0, must-revalidate');
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['content-range'], undefined);
  });

  it('HEAD → GET\'s headers and no body', async () => {
    const get = await server.request('/?path=clip.mp4');
    const head = await server.request('/?path=clip.mp4', {}, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    for (const name of ['content-length', 'content-type', 'accept-ranges', 'etag', 'last-modified', 'cache-control']) {
      assert.equal(head.headers[name], get.headers[name], name);
    }
  });

  it('a file with a space in a nested folder, encoded two ways', async () => {
    for (const path of ['/?path=movies/big%20movie.webm', '/?path=movies%2Fbig+movie.webm']) {
      const res = await server.request(path);
      assert.equal(res.status, 200, path);
      assert.equal(res.headers['content-type'], 'video/webm');
      assert.deepEqual(res.body, pattern(0, 99_999));
    }
  });

  it('an empty file → 200, Content-Length 0', async () => {
    const res = await server.request('/?path=empty.mp4');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
    assert.equal(res.body.length, 0);
  });

  it('an empty file with a Range → 200, not 416', async () => {
    const res = await server.request('/?path=empty.mp4', { range: 'bytes=0-' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-length'], '0');
  });

  const types: ReadonlyArray<[string, string]> = [
    ['seg.ts', 'video/mp2t'],
    ['noext', 'application/octet-stream'],
  ];
  for (const [name, type] of types) {
    it(`${name} is served as ${type}`, async () => {
      const res = await server.request(`/?path=${name}`);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], type);
      assert.deepEqual(res.body, pattern(0, 9));
    });
  }
});

type RangeRow = {
  readonly range: string;
  readonly status: 200 | 206 | 416;
  /** Inclusive byte ranges expected in the body (one → single part, several → multipart). */
  readonly parts?: ReadonlyArray<readonly [number, number]>;
};
const RANGE_ROWS: readonly RangeRow[] = [
  { range: 'bytes=0-0', status: 206, parts: [[0, 0]] },
  { range: 'bytes=0-1', status: 206, parts: [[0, 1]] }, // Safari's probe: two bytes
  { range: 'bytes=0-', status: 206, parts: [[0, 999]] },
  { range: 'bytes=500-', status: 206, parts: [[500, 999]] },
  { range: 'bytes=-100', status: 206, parts: [[900, 999]] },
  { range: 'bytes=-5000', status: 206, parts: [[0, 999]] },
  { range: 'bytes=900-5000', status: 206, parts: [[900, 999]] },
  { range: 'bytes=999-999', status: 206, parts: [[999, 999]] },
  { range: 'Bytes=10-19', status: 206, parts: [[10, 19]] },
  { range: 'bytes=0-99999999999999999999999', status: 206, parts: [[0, 999]] },
  { range: 'bytes=0-9,20-29', status: 206, parts: [[0, 9], [20, 29]] },
  { range: 'bytes=20-29,0-9,-10', status: 206, parts: [[20, 29], [0, 9], [990, 999]] }, // request order, §15.3.7.2
  { range: 'bytes=-10,40-49,0-9,10-19', status: 206, parts: [[990, 999], [40, 49], [0, 19]] },
  { range: 'bytes=0-9,5-19', status: 206, parts: [[0, 19]] },
  { range: 'bytes=0-9,10-19', status: 206, parts: [[0, 19]] },
  { range: 'bytes=1000-', status: 416 },
  { range: 'bytes=1000-2000', status: 416 },
  { range: 'bytes=-0', status: 416 },
  { range: 'bytes=5-3', status: 416 },
  { range: 'bytes=99999999999999999999999-', status: 416 },
  { range: 'bytes=abc', status: 200 },
  { range: 'bytes=1a-5', status: 200 },
  { range: 'bytes=', status: 200 },
  { range: 'bytes=--1', status: 200 },
  { range: 'items=0-5', status: 200 },
  { range: `bytes=${'0-0,'.repeat(1000)}0-0`, status: 200 }, // too many ranges
  { range: 'bytes=0-999,0-999', status: 200 }, // more bytes than the file: amplification
];

describe('Range (RFC 9110 §14)', () => {
  let server: TestServer;
  before(async () => (server = await serve()));

  for (const row of RANGE_ROWS) {
    const label = row.range.length > 40 ? `${row.range.slice(0, 40)}…` : row.range;
    it(`GET ${label} → ${row.status}`, async () => {
      const res = await server.request('/?path=clip.mp4', { range: row.range });
      assert.equal(res.status, row.status);
      assert.equal(res.headers['accept-ranges'], 'bytes');
      if (row.status === 200) {
        assert.equal(res.headers['content-length'], String(SIZE));
        assert.deepEqual(res.body, pattern(0, SIZE - 1));
      } else if (row.status === 416) {
        assert.equal(res.headers['content-range'], `bytes */${SIZE}`);
        assertNoLeak(res);
      } else if (row.parts?.length === 1) {
        const [start, end] = row.parts[0]!;
        assert.equal(res.headers['content-range'], `bytes ${start}-${end}/${SIZE}`);
        assert.equal(res.headers['content-length'], String(end - start + 1));
        assert.equal(res.headers['content-type'], 'video/mp4');
        assert.deepEqual(res.body, pattern(start, end));
      } else {
        assert.equal(res.headers['content-range'], undefined);
        assert.equal(res.headers['content-length'], String(res.body.length));
        const parts = parseMultipart(res.body, res.headers['content-type'] ?? '');
        assert.equal(parts.length, row.parts!.length);
        parts.forEach((part, i) => {
          const [start, end] = row.parts![i]!;
          assert.equal(part.headers['content-type'], 'video/mp4');
          assert.equal(part.headers['content-range'], `bytes ${start}-${end}/${SIZE}`);
          assert.deepEqual(part.body, pattern(start, end));
        });
      }
    });
    it(`HEAD ${label} → 200 (Range is for GET only)`, async () => {
      const res = await server.request('/?path=clip.mp4', { range: row.range }, 'HEAD');
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], String(SIZE));
      assert.equal(res.headers['content-range'], undefined);
      assert.equal(res.body.length, 0);
    });
  }

  it('a 5 GiB sparse file is read exactly at offsets above 2^32', async () => {
    const size = 5 * 2 ** 30;
    const offset = 2 ** 32 + 12_345;
    fixtures.sparse('root/huge.mp4', size, [{ offset, length: 100_000 }]);
    const res = await server.request('/?path=huge.mp4', { range: `bytes=${offset}-${offset + 99_999}` });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes ${offset}-${offset + 99_999}/${size}`);
    assert.deepEqual(res.body, pattern(offset, offset + 99_999));
    const tail = await server.request('/?path=huge.mp4', { range: 'bytes=-10' });
    assert.equal(tail.headers['content-range'], `bytes ${size - 10}-${size - 1}/${size}`);
    assert.deepEqual(tail.body, Buffer.alloc(10));
    const head = await server.request('/?path=huge.mp4', {}, 'HEAD');
    assert.equal(head.headers['content-length'], String(size));
  });
});

describe('maxChunkSize caps open-ended ranges only', () => {
  let server: TestServer;
  before(async () => (server = await serve({ maxChunkSize: 256 })));
  const rows: ReadonlyArray<{ range: string | undefined; status: number; start: number; end: number }> = [
    { range: 'bytes=100-', status: 206, start: 100, end: 355 }, // exactly 256 bytes, not 257
    { range: 'bytes=0-', status: 206, start: 0, end: 255 },
    { range: 'bytes=900-', status: 206, start: 900, end: 999 }, // shorter than the cap
    { range: 'bytes=0-999', status: 206, start: 0, end: 999 }, // explicit: honoured exactly
    { range: 'bytes=-600', status: 206, start: 400, end: 999 }, // suffix: explicit length
    { range: undefined, status: 200, start: 0, end: 999 }, // no Range: the whole file
  ];
  for (const row of rows) {
    it(`${row.range ?? '(no Range)'} → ${row.start}-${row.end}`, async () => {
      const res = await server.request('/?path=clip.mp4', row.range === undefined ? {} : { range: row.range });
      assert.equal(res.status, row.status);
      if (row.status === 206) assert.equal(res.headers['content-range'], `bytes ${row.start}-${row.end}/${SIZE}`);
      assert.equal(res.headers['content-length'], String(row.end - row.start + 1));
      assert.deepEqual(res.body, pattern(row.start, row.end));
    });
  }
});

describe('conditional requests (RFC 9110 §13)', () => {
  let server: TestServer;
  let etag = '';
  before(async () => {
    server = await serve();
    etag = (await server.request('/?path=clip.mp4', {}, 'HEAD')).headers.etag ?? '';
    assert.ok(etag.startsWith('"'));
  });
  const later = new Date((MTIME_S + 60) * 1000).toUTCString();
  const earlier = new Date((MTIME_S - 60) * 1000).toUTCString();
  type Row = { name: string; headers: (etag: string) => Record<string, string>; status: number; body?: [number, number] };
  const rows: readonly Row[] = [
    { name: 'If-None-Match: current etag → 304', headers: (e) => ({ 'if-none-match': e }), status: 304 },
    { name: 'If-None-Match: weak form of it → 304 (weak comparison)', headers: (e) => ({ 'if-none-match': `W/${e}` }), status: 304 },
    { name: 'If-None-Match: in a list → 304', headers: (e) => ({ 'if-none-match': `"x", ${e}` }), status: 304 },
    { name: 'If-None-Match: * → 304', headers: () => ({ 'if-none-match': '*' }), status: 304 },
    { name: 'If-None-Match: other → 200', headers: () => ({ 'if-none-match': '"other"' }), status: 200, body: [0, 999] },
    { name: 'If-Modified-Since: later → 304', headers: () => ({ 'if-modified-since': later }), status: 304 },
    { name: 'If-Modified-Since: same second → 304', headers: () => ({ 'if-modified-since': LAST_MODIFIED }), status: 304 },
    { name: 'If-Modified-Since: earlier → 200', headers: () => ({ 'if-modified-since': earlier }), status: 200, body: [0, 999] },
    { name: 'If-Modified-Since: garbage → 200', headers: () => ({ 'if-modified-since': 'yesterday' }), status: 200, body: [0, 999] },
    { name: 'If-None-Match wins over If-Modified-Since', headers: () => ({ 'if-none-match': '"other"', 'if-modified-since': later }), status: 200, body: [0, 999] },
    { name: 'If-Match: current → 200', headers: (e) => ({ 'if-match': e }), status: 200, body: [0, 999] },
    { name: 'If-Match: * → 200', headers: () => ({ 'if-match': '*' }), status: 200, body: [0, 999] },
    { name: 'If-Match: other → 412', headers: () => ({ 'if-match': '"other"' }), status: 412 },
    { name: 'If-Match: weak form → 412 (strong comparison)', headers: (e) => ({ 'if-match': `W/${e}` }), status: 412 },
    { name: 'If-Match failing wins over If-None-Match matching', headers: (e) => ({ 'if-match': '"other"', 'if-none-match': e }), status: 412 },
    { name: 'If-Unmodified-Since: earlier → 412', headers: () => ({ 'if-unmodified-since': earlier }), status: 412 },
    { name: 'If-Unmodified-Since: later → 200', headers: () => ({ 'if-unmodified-since': later }), status: 200, body: [0, 999] },
    { name: 'If-Unmodified-Since ignored when If-Match is present', headers: (e) => ({ 'if-match': e, 'if-unmodified-since': earlier }), status: 200, body: [0, 999] },
    { name: 'If-Range: current etag → 206', headers: (e) => ({ 'if-range': e, range: 'bytes=10-19' }), status: 206, body: [10, 19] },
    { name: 'If-Range: stale etag → 200 full', headers: () => ({ 'if-range': '"stale"', range: 'bytes=10-19' }), status: 200, body: [0, 999] },
    { name: 'If-Range: weak etag → 200 full', headers: (e) => ({ 'if-range': `W/${e}`, range: 'bytes=10-19' }), status: 200, body: [0, 999] },
    { name: 'If-Range: exact Last-Modified → 206', headers: () => ({ 'if-range': LAST_MODIFIED, range: 'bytes=10-19' }), status: 206, body: [10, 19] },
    { name: 'If-Range: a later date → 200 full', headers: () => ({ 'if-range': later, range: 'bytes=10-19' }), status: 200, body: [0, 999] },
    { name: 'If-Range without Range → 200', headers: () => ({ 'if-range': '"stale"' }), status: 200, body: [0, 999] },
    { name: '304 beats an unsatisfiable Range', headers: (e) => ({ 'if-none-match': e, range: 'bytes=5000-' }), status: 304 },
  ];
  for (const row of rows) {
    for (const method of ['GET', 'HEAD'] as const) {
      it(`${method} ${row.name}`, async () => {
        const res = await server.request('/?path=clip.mp4', row.headers(etag), method);
        assert.equal(res.status, method === 'HEAD' && row.status === 206 ? 200 : row.status);
        if (res.status === 304) {
          assert.equal(res.headers.etag, etag);
          assert.equal(res.headers['cache-control'], 'public, max-age=0, must-revalidate');
          assert.equal(res.body.length, 0);
        } else if (res.status === 412) {
          assertNoLeak(res);
          assert.ok(!res.body.includes(pattern(0, 15)));
        } else if (method === 'GET') {
          const [start, end] = row.body!;
          assert.deepEqual(res.body, pattern(start, end));
        } else {
          assert.equal(res.body.length, 0);
        }
      });
    }
  }

  it('a file modified this second has no Last-Modified yet, and a date If-Range gets the whole file', async () => {
    // A file can change twice within one second: a date handed out now could later name the
    // wrong contents, so it is not a strong validator (RFC 9110 §8.8.2.2, §13.1.5).
    fixtures.file('root/fresh.mp4', 100);
    const now = new Date();
    const res = await server.request('/?path=fresh.mp4');
    assert.equal(res.status, 200);
    assert.equal(res.headers['last-modified'], undefined);
    assert.ok(res.headers.etag);
    const resume = await server.request('/?path=fresh.mp4', { 'if-range': now.toUTCString(), range: 'bytes=50-' });
    assert.equal(resume.status, 200);
    assert.deepEqual(resume.body, pattern(0, 99));
    const byTag = await server.request('/?path=fresh.mp4', { 'if-range': res.headers.etag ?? '', range: 'bytes=50-' });
    assert.equal(byTag.status, 206, 'the strong ETag still keeps the range');
    assert.deepEqual(byTag.body, pattern(50, 99));
  });

  it('a modification time in the future is never sent as Last-Modified', async () => {
    fixtures.file('root/future.mp4', 10);
    const year2100 = Date.UTC(2100, 0, 1) / 1000;
    utimesSync(fixtures.path('root/future.mp4'), year2100, year2100);
    const res = await server.request('/?path=future.mp4');
    assert.equal(res.status, 200);
    const sent = res.headers['last-modified'];
    assert.ok(sent === undefined || Date.parse(sent) <= Date.now(), `Last-Modified: ${sent}`);
  });

  it('the ETag changes when the file changes, and the old one no longer matches', async () => {
    fixtures.file('root/changing.mp4', 100);
    const first = await server.request('/?path=changing.mp4');
    fixtures.write('root/changing.mp4', pattern(1, 100)); // same size, new content and mtime
    const second = await server.request('/?path=changing.mp4', { 'if-none-match': first.headers.etag ?? '' });
    assert.equal(second.status, 200);
    assert.notEqual(second.headers.etag, first.headers.etag);
    assert.deepEqual(second.body, pattern(1, 100));
    const resume = await server.request('/?path=changing.mp4', { 'if-range': first.headers.etag ?? '', range: 'bytes=50-' });
    assert.equal(resume.status, 200, 'a stale If-Range must get the whole new file');
    assert.deepEqual(resume.body, pattern(1, 100));
  });
});

describe('methods and errors', () => {
  let server: TestServer;
  before(async () => (server = await serve()));
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) {
    it(`${method} → 405 with Allow: GET, HEAD`, async () => {
      const res = await server.request('/?path=clip.mp4', {}, method);
      assert.equal(res.status, 405);
      assert.equal(res.headers.allow, 'GET, HEAD');
      assertNoLeak(res);
    });
  }
  const rows: ReadonlyArray<[string, number]> = [
    ['/', 400],
    ['/?path=', 400],
    ['/?other=clip.mp4', 400],
    ['/?path=missing.mp4', 404],
    ['/?path=dir', 404],
    ['/?path=dir/', 404],
    ['/?path=clip.mp4/x', 404], // ENOTDIR
    ['/?path=pipe.mp4', 404], // a FIFO must not hang the open
    ['/?path=loop-a', 404],
    [`/?path=${'a'.repeat(5000)}`, 404], // ENAMETOOLONG
  ];
  for (const [path, status] of rows) {
    it(`${path.slice(0, 60)} → ${status}, plain text, no path in the body`, async () => {
      const res = await server.request(path);
      assert.equal(res.status, status);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assertNoLeak(res);
    });
  }
});

describe('confinement: nothing from outside root', () => {
  let server: TestServer;
  let strict: TestServer;
  before(async () => {
    server = await serve();
    strict = await serve({ symlinks: 'deny' });
  });
  const secretPath = encodeURIComponent(fixtures.path('secret.txt'));
  const rows: ReadonlyArray<[string, number]> = [
    ['/?path=../secret.txt', 400],
    ['/?path=..%2Fsecret.txt', 400],
    ['/?path=%2e%2e/secret.txt', 400],
    ['/?path=%2E%2E%2Fsecret.txt', 400],
    ['/?path=movies/../../secret.txt', 400],
    ['/?path=./../secret.txt', 400],
    ['/?path=..%5Csecret.txt', 400],
    ['/?path=a%5C..%5C..%5Csecret.txt', 400],
    ['/?path=clip.mp4%00.txt', 400],
    ['/?path=%00', 400],
    ['/?path=%E0%A4%A', 400],
    ['/?path=%', 400],
    ['/?path=clip.mp4&path=../secret.txt', 400],
    [`/?path=${secretPath}`, 404], // an absolute path is relative to root
    ['/?path=/etc/passwd', 404],
    ['/?path=%252e%252e%252fsecret.txt', 404], // decoded once: a literal "%2e%2e/secret.txt"
    ['/?path=.hidden.mp4', 403],
    ['/?path=.git/config', 403],
    ['/?path=movies/.%2e/secret.txt', 400],
    ['/?path=link-out.mp4', 403],
    ['/?path=link-dir-out/secret.txt', 403],
    ['/?path=link-evil.mp4', 403],
    ['/?path=dotlink.mp4', 403],
  ];
  for (const [path, status] of rows) {
    it(`${path.slice(0, 70)} → ${status}`, async () => {
      const res = await server.request(path);
      assert.equal(res.status, status);
      assertNoLeak(res);
    });
  }

  it('a double-encoded name is served only as the literal folder it names', async () => {
    const res = await server.request('/?path=%252e%252e/x.mp4');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, pattern(0, 9));
  });

  it('a folder swapped for a link out of root while requests run never leaks a byte', async () => {
    // The path is checked, then opened: a folder on the way can be swapped in between. A worker
    // thread swaps root/swap between a real folder and a link to outside until the requests are
    // done: 3,000 of them (about 100 land while the real folder is in place), at most 1.4 s.
    fixtures.write('root/swap/secret.txt', 'INSIDE');
    fixtures.write('outside/secret.txt', SECRET);
    const stop = new Int32Array(new SharedArrayBuffer(4));
    const swapper = new Worker(
      `const fs = require('node:fs');
       const { dir, outside, stop } = require('node:worker_threads').workerData;
       while (Atomics.load(stop, 0) === 0) {
         fs.renameSync(dir, dir + '.real'); fs.symlinkSync(outside, dir);
         fs.unlinkSync(dir); fs.renameSync(dir + '.real', dir);
       }`,
      { eval: true, workerData: { dir: fixtures.path('root/swap'), outside: fixtures.path('outside'), stop } },
    );
    const exited = new Promise((resolve) => swapper.once('exit', resolve));
    const seen = new Map<string, number>();
    const until = Date.now() + 1400;
    for (let answered = 0; answered < 3000 && Date.now() < until; answered += 8) {
      const batch = await Promise.all(Array.from({ length: 8 }, () => server.request('/?path=swap/secret.txt')));
      for (const res of batch) {
        const key = `${res.status} ${res.status === 200 ? res.body.toString() : ''}`;
        seen.set(key, (seen.get(key) ?? 0) + 1);
      }
    }
    Atomics.store(stop, 0, 1);
    await exited;
    assert.equal(seen.get(`200 ${SECRET}`), undefined, JSON.stringify([...seen]));
    assert.ok((seen.get('200 INSIDE') ?? 0) > 0, `the inside file was served too: ${JSON.stringify([...seen])}`);
  });

  it('a Unix socket inside root is a 404, not a 500', async () => {
    const socketServer = net.createServer().listen(fixtures.path('root/sock.mp4'));
    await once(socketServer, 'listening');
    try {
      const res = await server.request('/?path=sock.mp4');
      assert.equal(res.status, 404);
    } finally {
      socketServer.close();
    }
  });

  it('a symlink inside root is followed by default', async () => {
    const res = await server.request('/?path=link-in.mp4');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, pattern(0, SIZE - 1));
  });

  it("symlinks: 'deny' refuses even a link inside root", async () => {
    assert.equal((await strict.request('/?path=link-in.mp4')).status, 403);
    assert.equal((await strict.request('/?path=clip.mp4')).status, 200);
  });

  it("dotfiles: 'allow' serves a dotfile", async () => {
    const open = await serve({ dotfiles: 'allow' });
    const res = await open.request('/?path=.hidden.mp4');
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, pattern(0, 9));
    assert.equal((await open.request('/?path=../secret.txt')).status, 400);
  });

  it('raw request targets that http clients would normalise', async () => {
    for (const target of ['/?path=../secret.txt', '/?path=..\\secret.txt', '/../?path=../secret.txt']) {
      const text = await rawRequest(server.port, `GET ${target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      assert.match(text, /^HTTP\/1\.1 400 /, target);
      assert.ok(!text.includes(SECRET));
    }
  });
});

describe('path mode', () => {
  let server: TestServer;
  before(async () => (server = await serve({ mode: 'path', prefix: '/videos' })));
  const rows: ReadonlyArray<[string, number]> = [
    ['/videos/clip.mp4', 200],
    ['/videos/movies/big%20movie.webm', 200],
    ['/videos/clip.mp4?path=../secret.txt', 200], // the query is not the file name here
    ['/videos', 404],
    ['/videos/', 404],
    ['/videosX/clip.mp4', 404],
    ['/other/clip.mp4', 404],
    // A fetch Request's URL has its dot segments resolved by the URL parser: '/secret.txt' is outside the prefix.
    ['/videos/../secret.txt', HANDLER_UNDER_TEST === 'fetch' ? 404 : 400],
    ['/videos/%2e%2e/secret.txt', HANDLER_UNDER_TEST === 'fetch' ? 404 : 400],
    ['/videos/..%2fsecret.txt', 400],
    ['/videos/link-out.mp4', 403],
    ['/videos/.git/config', 403],
  ];
  for (const [path, status] of rows) {
    it(`${path} → ${status}`, async () => {
      const res = await server.request(path);
      assert.equal(res.status, status);
      assertNoLeak(res);
      if (status === 200) assert.ok(res.body.length > 0);
    });
  }
  it('HLS-style relative segment URLs resolve below the prefix', async () => {
    const res = await server.request('/videos/seg.ts', { range: 'bytes=2-5' });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-type'], 'video/mp2t');
    assert.deepEqual(res.body, pattern(2, 5));
  });
});

describe('permission checks', () => {
  it('all checks must allow; a refusal is 403 before the file is touched', async () => {
    const seen: string[] = [];
    const server = await serve({
      permissions: [
        (_req, file) => (seen.push(file.path), true),
        async (req) => header(req, 'x-user') === 'alice',
      ],
    });
    const denied = await server.request('/?path=missing.mp4');
    assert.equal(denied.status, 403, 'refused before existence is revealed');
    const allowed = await server.request('/?path=clip.mp4', { 'x-user': 'alice' });
    assert.equal(allowed.status, 200);
    assert.deepEqual(allowed.body, pattern(0, SIZE - 1));
    assert.equal(allowed.headers['cache-control'], 'private, max-age=0, must-revalidate');
    assert.deepEqual(seen, ['missing.mp4', 'clip.mp4']);
  });

  it('a check may choose the status (401 with a challenge, 404)', async () => {
    const server = await serve({ permissions: [(req) => (header(req, 'authorization') ? 404 : 401)] });
    const unauthorized = await server.request('/?path=clip.mp4');
    assert.equal(unauthorized.status, 401);
    assert.equal(unauthorized.headers['www-authenticate'], 'Bearer realm="sage-stream"'); // RFC 9110 §15.5.2
    assert.equal((await server.request('/?path=clip.mp4', { authorization: 'x' })).status, 404);
  });

  it('a check may answer with a status and headers of its own', async () => {
    const server = await serve({
      permissions: [() => ({ status: 401, headers: { 'WWW-Authenticate': 'Basic realm="videos"' } })],
    });
    const res = await server.request('/?path=clip.mp4');
    assert.equal(res.status, 401);
    assert.equal(res.headers['www-authenticate'], 'Basic realm="videos"');
  });

  it('a check that throws → 500 and onError, the server keeps serving', async () => {
    const errors: unknown[] = [];
    let calls = 0;
    const server = await serve({
      permissions: [() => { if (calls++ === 0) throw new Error('db down'); return true; }],
      onError: (err) => errors.push(err),
    });
    const res = await server.request('/?path=clip.mp4');
    assert.equal(res.status, 500);
    assert.ok(!res.body.includes('db down'));
    assert.equal((errors[0] as Error).message, 'db down');
    assert.equal((await server.request('/?path=clip.mp4')).status, 200);
  });
});
