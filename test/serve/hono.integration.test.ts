import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve, type ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { createFetchHandler, createFetchMiddleware } from '../../src/serve/fetch-handler.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdsTo, settle } from '../helpers/server.ts';

const SIZE = 1000;
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', SIZE);
fixtures.write('secret.txt', 'TOP-SECRET');
const big = fixtures.sparse('root/big.mp4', 64 * 1024 * 1024, []);

describe('Hono on @hono/node-server', () => {
  const media = createFetchHandler({ root, mode: 'path', prefix: '/media', openFileCache: false });
  const passOn = createFetchMiddleware({ root, mode: 'path', prefix: '/maybe' });
  let server: ServerType;
  let origin: string;
  before(async () => {
    const app = new Hono();
    app.get('/media/*', (c) => media(c.req.raw));
    app.get('/maybe/*', async (c, next) => (await passOn(c.req.raw)) ?? next());
    app.get('/maybe/*', (c) => c.text('hono fallback', 404));
    await new Promise<void>((resolve) => {
      server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }, () => resolve());
    });
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    (server as Server).closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    await media.close();
    await passOn.close();
    fixtures.remove();
  });

  it("app.get('/media/*', c => media(c.req.raw)): a range → 206, exact bytes", async () => {
    const res = await fetch(`${origin}/media/clip.mp4`, { headers: { range: 'bytes=500-' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 500-999/${SIZE}`);
    assert.equal(res.headers.get('content-length'), '500');
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), pattern(500, 999));
  });

  it('HEAD keeps Content-Length and sends no body; If-None-Match → 304', async () => {
    const head = await fetch(`${origin}/media/clip.mp4`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(SIZE));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
    const etag = head.headers.get('etag') ?? '';
    assert.equal((await fetch(`${origin}/media/clip.mp4`, { headers: { 'if-none-match': etag } })).status, 304);
  });

  it('a traversal attempt stays inside root', async () => {
    const res = await fetch(`${origin}/media/..%2fsecret.txt`);
    assert.equal(res.status, 400);
    assert.ok(!(await res.text()).includes('TOP-SECRET'));
  });

  it('createFetchMiddleware falls through to the next Hono handler', async () => {
    assert.deepEqual(Buffer.from(await (await fetch(`${origin}/maybe/clip.mp4`)).arrayBuffer()), pattern(0, SIZE - 1));
    const missing = await fetch(`${origin}/maybe/nope.mp4`);
    assert.equal(missing.status, 404);
    assert.equal(await missing.text(), 'hono fallback');
  });

  it('a client that leaves mid-body releases the file', async () => {
    const controller = new AbortController();
    const res = await fetch(`${origin}/media/big.mp4`, { signal: controller.signal });
    await res.body!.getReader().read();
    controller.abort();
    assert.equal(await settle(() => openFdsTo(big), 0), 0);
  });
});
