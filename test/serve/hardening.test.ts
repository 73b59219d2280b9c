import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { constants, symlinkSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { streamFile } from '../../src/serve/stream-file.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { serverPool, type Received } from '../helpers/server.ts';

// Issue 9's smaller defects, each pinned through a real server: representation headers on 304,
// trailing slashes, documents a browser could render, FIFOs and devices.
const SIZE = 1000;
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', SIZE);
fixtures.file('root/movies/a.mp4', SIZE);
fixtures.write('root/manifest.mpd', '<MPD xmlns="urn:mpeg:dash:schema:mpd:2011"/>');
fixtures.write('root/logo.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>');
fixtures.write('root/page.html', '<script>alert(1)</script>');
fixtures.write('root/feed.xml', '<x/>');
execFileSync('mkfifo', [fixtures.path('root/pipe.mp4')]);
execFileSync('mkfifo', [fixtures.path('outside-pipe.mp4')]);
symlinkSync('/dev/zero', fixtures.path('root/zero.mp4'));
symlinkSync('pipe.mp4', fixtures.path('root/pipe-link.mp4'));

const pool = serverPool();
after(async () => {
  await pool.closeAll();
  fixtures.remove();
});

// What an application typically sets before handing the response over.
const APP_HEADERS: Readonly<Record<string, string>> = {
  'Content-Type': 'text/html; charset=utf-8',
  'Content-Encoding': 'gzip',
  'Content-Language': 'fr',
  'Content-Range': 'bytes 0-4/5',
  'Content-Length': '5',
  'Content-Location': '/clip',
};

function withAppHeaders(serve: (req: IncomingMessage, res: ServerResponse) => void, extra: Record<string, string> = {}) {
  return (req: IncomingMessage, res: ServerResponse): void => {
    for (const [name, value] of Object.entries({ ...APP_HEADERS, ...extra })) res.setHeader(name, value);
    serve(req, res);
  };
}

const REPRESENTATION = ['content-type', 'content-length', 'content-encoding', 'content-language', 'content-range', 'transfer-encoding'];

function assertNotModified(res: Received, etag: string): void {
  assert.equal(res.status, 304);
  for (const name of REPRESENTATION) assert.equal(res.headers[name], undefined, `${name} on a 304`);
  assert.equal(res.headers.etag, etag);
  assert.equal(res.headers['content-location'], '/clip', 'Content-Location is not a representation header: it stays');
  assert.equal(res.body.length, 0);
}

describe('304 carries no representation headers the application set (RFC 9110 §15.4.5)', () => {
  const routes = {
    handler: () => withAppHeaders(createStreamHandler({ root }), { 'Transfer-Encoding': 'chunked' }),
    streamFile: () => withAppHeaders((req, res) => void streamFile(req, res, `${root}/clip.mp4`), { 'Transfer-Encoding': 'chunked' }),
  };
  for (const [name, make] of Object.entries(routes)) {
    it(`${name}: If-None-Match → 304 without Content-Type/Length/Encoding/Language/Range`, async () => {
      const server = await pool.serve(make());
      const first = await server.request('/?path=clip.mp4', {}, 'HEAD');
      const etag = first.headers.etag!;
      assertNotModified(await server.request('/?path=clip.mp4', { 'if-none-match': etag }), etag);
      assertNotModified(await server.request('/?path=clip.mp4', { 'if-none-match': etag }, 'HEAD'), etag);
    });
  }

  it('a 200 or 206 is framed by us, whatever the application set first; its Content-Encoding stays', async () => {
    const server = await pool.serve(withAppHeaders(createStreamHandler({ root }), { 'Transfer-Encoding': 'chunked' }));
    const res = await server.request('/?path=clip.mp4');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'video/mp4');
    assert.equal(res.headers['content-length'], String(SIZE));
    assert.equal(res.headers['content-range'], undefined);
    assert.equal(res.headers['transfer-encoding'], undefined);
    assert.equal(res.headers['content-encoding'], 'gzip', "e.g. a pre-compressed file: the app's call on a 200");
    assert.deepEqual(res.body, pattern(0, SIZE - 1));
    const part = await server.request('/?path=clip.mp4', { range: 'bytes=10-19' });
    assert.equal(part.status, 206);
    assert.equal(part.headers['content-type'], 'video/mp4');
    assert.equal(part.headers['content-range'], `bytes 10-19/${SIZE}`);
    assert.deepEqual(part.body, pattern(10, 19));
  });

  it('a 404 answer drops them too: its body is ours', async () => {
    const server = await pool.serve(withAppHeaders(createStreamHandler({ root })));
    const res = await server.request('/?path=missing.mp4');
    assert.equal(res.status, 404);
    assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers['content-language'], undefined);
    assert.equal(res.headers['content-range'], undefined);
    assert.equal(res.body.toString(), 'Not Found\n');
  });
});

describe('a trailing slash names a folder: clip.mp4/ is 404, not the file', () => {
  const cases: ReadonlyArray<{ name: string; options: Parameters<typeof createStreamHandler>[0]; url: string }> = [
    { name: 'query mode', options: { root }, url: '/?path=clip.mp4/' },
    { name: 'query mode, %2F', options: { root }, url: '/?path=movies%2Fa.mp4%2F' },
    { name: 'query mode, /.', options: { root }, url: '/?path=movies/a.mp4/.' },
    { name: 'path mode', options: { root, mode: 'path' }, url: '/clip.mp4/' },
    { name: 'path mode under a prefix', options: { root, mode: 'path', prefix: '/v' }, url: '/v/movies/a.mp4/' },
  ];
  for (const { name, options, url } of cases) {
    it(`${name}: ${url} → 404 (GET and HEAD), next() as middleware`, async () => {
      const server = await pool.serve(createStreamHandler(options));
      for (const method of ['GET', 'HEAD']) {
        const res = await server.request(url, {}, method);
        assert.equal(res.status, 404, method);
        assert.notEqual(res.headers['content-type'], 'video/mp4');
      }
      const handler = createStreamHandler(options);
      const middleware = await pool.serve((req, res) => handler(req, res, () => res.writeHead(418).end('next')));
      const passed = await middleware.request(url);
      assert.equal(passed.status, 418);
      assert.equal(passed.body.toString(), 'next');
      // Without the slash the same file is served.
      const plain = await server.request(url.replace(/(%2F|\/\.?)$/, ''));
      assert.equal(plain.status, 200);
      assert.deepEqual(plain.body, pattern(0, SIZE - 1));
    });
  }
});

describe('documents a browser could render get Content-Security-Policy: sandbox', () => {
  const cases: ReadonlyArray<{ file: string; type: string; sandbox: boolean }> = [
    { file: 'manifest.mpd', type: 'application/dash+xml', sandbox: true },
    { file: 'logo.svg', type: 'image/svg+xml', sandbox: true },
    { file: 'page.html', type: 'application/octet-stream', sandbox: true },
    { file: 'feed.xml', type: 'application/octet-stream', sandbox: true },
    { file: 'clip.mp4', type: 'video/mp4', sandbox: false },
  ];
  for (const { file, type, sandbox } of cases) {
    it(`${file} (${type}) → ${sandbox ? 'sandbox' : 'no CSP'}, nosniff, bytes intact (200 and 206)`, async () => {
      const server = await pool.serve(createStreamHandler({ root, mediaTypes: { svg: 'image/svg+xml' } }));
      const whole = await server.request(`/?path=${file}`);
      assert.equal(whole.status, 200);
      assert.equal(whole.headers['content-type'], type);
      assert.equal(whole.headers['content-security-policy'], sandbox ? 'sandbox' : undefined);
      assert.equal(whole.headers['x-content-type-options'], 'nosniff');
      const part = await server.request(`/?path=${file}`, { range: 'bytes=1-3' });
      assert.equal(part.status, 206);
      assert.equal(part.headers['content-security-policy'], sandbox ? 'sandbox' : undefined);
      assert.deepEqual(part.body, whole.body.subarray(1, 4));
    });
  }

  it('streamFile adds it too', async () => {
    const server = await pool.serve((req, res) => void streamFile(req, res, `${root}/logo.svg`));
    const res = await server.request('/');
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-security-policy'], 'sandbox');
  });
});

/**
 * Starts a writer on `fifo` that blocks (in the thread pool) until some reader opens it, and
 * tells afterwards whether one had. `finish()` opens a reader itself to let the writer go.
 */
function fifoWriter(fifo: string): { readonly opened: () => boolean; finish(): Promise<void> } {
  let reader = false;
  const writing = open(fifo, 'w').then((handle) => {
    reader = true;
    return handle;
  });
  return {
    opened: () => reader,
    async finish() {
      const own = await open(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
      const handles: FileHandle[] = [own, await writing];
      await Promise.all(handles.map((h) => h.close()));
    },
  };
}

// The writer's open returns in the kernel the moment a reader opens, before any 404 is written;
// a few turns of the loop let its completion land.
async function settleLoop(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await new Promise((resolve) => setImmediate(resolve));
}

describe('FIFOs and devices are never opened', () => {
  const rows: ReadonlyArray<{ name: string; fifo: string; make: () => (req: IncomingMessage, res: ServerResponse) => void; url: string; status: number }> = [
    { name: 'handler, a FIFO in root', fifo: 'root/pipe.mp4', make: () => createStreamHandler({ root, openFileCache: false }), url: '/?path=pipe.mp4', status: 404 },
    { name: 'handler (cached), a link to a FIFO in root', fifo: 'root/pipe.mp4', make: () => createStreamHandler({ root }), url: '/?path=pipe-link.mp4', status: 404 },
    { name: 'streamFile, a FIFO', fifo: 'outside-pipe.mp4', make: () => (req, res) => void streamFile(req, res, fixtures.path('outside-pipe.mp4')), url: '/', status: 404 },
  ];
  for (const { name, fifo, make, url, status } of rows) {
    it(`${name} → ${status}, and its writer never sees a reader`, async () => {
      const writer = fifoWriter(fixtures.path(fifo));
      try {
        const server = await pool.serve(make());
        const res = await server.request(url);
        assert.equal(res.status, status);
        assert.equal(res.body.toString(), 'Not Found\n');
        await settleLoop();
        assert.equal(writer.opened(), false, 'the server opened the FIFO');
      } finally {
        await writer.finish();
      }
    });
  }

  it('/dev/zero through a link: 403 by the handler (outside root), 404 by streamFile, nothing read', async () => {
    const handler = await pool.serve(createStreamHandler({ root }));
    const viaHandler = await handler.request('/?path=zero.mp4');
    assert.equal(viaHandler.status, 403);
    const direct = await pool.serve((req, res) => void streamFile(req, res, fixtures.path('root/zero.mp4')));
    const viaStreamFile = await direct.request('/');
    assert.equal(viaStreamFile.status, 404);
    assert.equal(viaStreamFile.body.toString(), 'Not Found\n');
  });
});
