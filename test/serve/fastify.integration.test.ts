import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import Fastify, { type FastifyInstance } from 'fastify';
import { sageStreamFastify } from '../../src/serve/fastify.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { openFdsTo, settle } from '../helpers/server.ts';

const SIZE = 1000;
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', SIZE);
fixtures.write('secret.txt', 'TOP-SECRET');

describe('Fastify: app.register(sageStreamFastify(options))', () => {
  let app: FastifyInstance;
  let origin: string;
  const completed: number[] = [];
  before(async () => {
    app = Fastify();
    await app.register(sageStreamFastify({ root, mode: 'path', prefix: '/media', openFileCache: false }));
    await app.register(sageStreamFastify({ root, url: '/stream' }));
    app.get('/other', async () => 'other route');
    app.setNotFoundHandler((_request, reply) => reply.code(404).send('fastify not found'));
    app.addHook('onResponse', async (_request, reply) => void completed.push(reply.statusCode));
    origin = await app.listen({ port: 0, host: '127.0.0.1' });
  });
  after(async () => {
    await app.close();
    fixtures.remove();
  });

  it('a range → 206 with the exact bytes', async () => {
    const res = await fetch(`${origin}/media/clip.mp4`, { headers: { range: 'bytes=100-199' } });
    assert.equal(res.status, 206);
    assert.equal(res.headers.get('content-range'), `bytes 100-199/${SIZE}`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), pattern(100, 199));
    assert.ok(completed.includes(206), "Fastify's onResponse hook saw the response");
  });

  it('the whole file, and HEAD with no body', async () => {
    const res = await fetch(`${origin}/media/clip.mp4`);
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), pattern(0, SIZE - 1));
    const head = await fetch(`${origin}/media/clip.mp4`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers.get('content-length'), String(SIZE));
    assert.equal((await head.arrayBuffer()).byteLength, 0);
  });

  it('If-None-Match → 304; a stale If-Range → 200 and the whole file', async () => {
    const etag = (await fetch(`${origin}/media/clip.mp4`, { method: 'HEAD' })).headers.get('etag') ?? '';
    assert.equal((await fetch(`${origin}/media/clip.mp4`, { headers: { 'if-none-match': etag } })).status, 304);
    const stale = await fetch(`${origin}/media/clip.mp4`, { headers: { range: 'bytes=0-9', 'if-range': '"old"' } });
    assert.equal(stale.status, 200);
    assert.deepEqual(Buffer.from(await stale.arrayBuffer()), pattern(0, SIZE - 1));
  });

  it("a missing file falls through to Fastify's not-found handler", async () => {
    const res = await fetch(`${origin}/media/nope.mp4`);
    assert.equal(res.status, 404);
    assert.equal(await res.text(), 'fastify not found');
  });

  it('query mode on its own route; without the parameter it falls through too', async () => {
    const res = await fetch(`${origin}/stream?path=clip.mp4`, { headers: { range: 'bytes=-5' } });
    assert.deepEqual(Buffer.from(await res.arrayBuffer()), pattern(SIZE - 5, SIZE - 1));
    assert.equal(await (await fetch(`${origin}/stream`)).text(), 'fastify not found');
    assert.equal(await (await fetch(`${origin}/other`)).text(), 'other route');
  });

  it('a traversal attempt never reaches outside root', async () => {
    for (const path of ['/media/..%2fsecret.txt', '/stream?path=../secret.txt', '/stream?path=/etc/hostname']) {
      const res = await fetch(`${origin}${path}`);
      const body = await res.text();
      assert.ok([400, 403, 404].includes(res.status), `${path} → ${res.status}`);
      assert.ok(!body.includes('TOP-SECRET'));
    }
  });

  it('a client that leaves mid-body releases the file', async () => {
    const big = fixtures.sparse('root/big.mp4', 64 * 1024 * 1024, []);
    const controller = new AbortController();
    const res = await fetch(`${origin}/media/big.mp4`, { signal: controller.signal });
    const reader = res.body!.getReader();
    await reader.read();
    controller.abort();
    await reader.cancel().catch(() => undefined);
    assert.equal(await settle(() => openFdsTo(big), 0), 0);
  });
});

describe('sageStreamFastify misuse', () => {
  it('query mode without url throws at setup', () => {
    assert.throws(() => sageStreamFastify({ root }), /options\.url is required/);
  });
});
