import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { streamFile } from '../../src/serve/stream-file.ts';
import type { StreamHandlerOptions } from '../../src/serve/options.ts';
import { resolveCors, type CorsOption } from '../../src/serve/cors.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { serverPool, type Received, type TestServer } from '../helpers/server.ts';

const SIZE = 1000;
const PAGE = 'http://player.test:8080';
const OTHER = 'https://evil.test';
const EXPOSE = 'Content-Range, Content-Length, Accept-Ranges, ETag, Last-Modified, Content-Encoding';
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', SIZE);
fixtures.file('root/.hidden.mp4', 10);

after(() => fixtures.remove());

describe('cors option', () => {
  const pool = serverPool();
  const servers = new Map<string, TestServer>();
  const serve = async (name: string, options: Omit<StreamHandlerOptions, 'root'>): Promise<void> => {
    servers.set(name, await pool.serve(createStreamHandler({ root, ...options })));
  };
  const get = (name: string, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Received> =>
    servers.get(name)!.request(path, headers, method);

  before(async () => {
    await serve('any', { cors: true });
    await serve('list', { cors: { origin: [PAGE, 'https://b.test'], credentials: true, maxAgeSeconds: 60 } });
    await serve('regexp', { cors: { origin: /https:\/\/[a-z]+\.example\.com/ } });
    await serve('function', { cors: { origin: (origin) => origin.endsWith('.player.test'), allowHeaders: ['Authorization'] } });
    await serve('off', {});
  });
  after(() => pool.closeAll());

  // Every kind of answer carries the headers for an allowed origin, with the exact body.
  const answers: ReadonlyArray<{ name: string; path: string; headers?: Record<string, string>; status: number; body: Buffer }> = [
    { name: '200', path: '/?path=clip.mp4', status: 200, body: pattern(0, SIZE - 1) },
    { name: '206', path: '/?path=clip.mp4', headers: { range: 'bytes=10-19' }, status: 206, body: pattern(10, 19) },
    { name: '416', path: '/?path=clip.mp4', headers: { range: 'bytes=5000-' }, status: 416, body: Buffer.from('Range Not Satisfiable\n') },
    { name: '404', path: '/?path=missing.mp4', status: 404, body: Buffer.from('Not Found\n') },
    { name: '403', path: '/?path=.hidden.mp4', status: 403, body: Buffer.from('Forbidden\n') },
    { name: '400', path: '/', status: 400, body: Buffer.from('Bad Request\n') },
  ];
  for (const row of answers) {
    // HEAD ignores Range (as before), so the range rows are GET only.
    for (const method of row.headers?.['range'] === undefined ? ['GET', 'HEAD'] : ['GET']) {
      it(`cors: true, ${method} ${row.name}: Allow-Origin *, the headers players read exposed, no Vary: Origin`, async () => {
        const res = await get('any', row.path, { origin: PAGE, ...row.headers }, method);
        assert.equal(res.status, row.status);
        assert.deepEqual(res.body, method === 'HEAD' ? Buffer.alloc(0) : row.body);
        assert.equal(res.headers['access-control-allow-origin'], '*');
        assert.equal(res.headers['access-control-expose-headers'], EXPOSE);
        assert.equal(res.headers['access-control-allow-credentials'], undefined);
        assert.doesNotMatch(String(res.headers.vary ?? ''), /Origin/);
      });
      it(`origin list, ${method} ${row.name}: the origin echoed with credentials and Vary: Origin`, async () => {
        const res = await get('list', row.path, { origin: PAGE, ...row.headers }, method);
        assert.equal(res.status, row.status);
        assert.deepEqual(res.body, method === 'HEAD' ? Buffer.alloc(0) : row.body);
        assert.equal(res.headers['access-control-allow-origin'], PAGE);
        assert.equal(res.headers['access-control-allow-credentials'], 'true');
        assert.equal(res.headers['access-control-expose-headers'], EXPOSE);
        assert.equal(res.headers.vary, 'Origin');
      });
    }
  }

  it('304 carries the CORS headers too', async () => {
    const first = await get('list', '/?path=clip.mp4', { origin: PAGE });
    const res = await get('list', '/?path=clip.mp4', { origin: PAGE, 'if-none-match': String(first.headers.etag) });
    assert.equal(res.status, 304);
    assert.equal(res.body.length, 0);
    assert.equal(res.headers['access-control-allow-origin'], PAGE);
    assert.equal(res.headers.vary, 'Origin');
  });

  const refused: ReadonlyArray<{ server: string; origin: string | undefined }> = [
    { server: 'list', origin: OTHER },
    { server: 'list', origin: undefined },
    { server: 'list', origin: `${PAGE}, ${OTHER}` }, // two Origin fields joined
    { server: 'list', origin: 'null' },
    { server: 'regexp', origin: 'https://a.example.com.evil.test' }, // the RegExp is anchored
    { server: 'regexp', origin: 'http://a.example.com' },
    { server: 'function', origin: 'https://player.test' },
    { server: 'off', origin: PAGE },
  ];
  for (const { server, origin } of refused) {
    it(`${server}: origin ${origin ?? '(none)'} gets the file but no CORS header, never an echo`, async () => {
      const res = await get(server, '/?path=clip.mp4', origin === undefined ? {} : { origin });
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      for (const name of Object.keys(res.headers)) assert.doesNotMatch(name, /^access-control-/);
      assert.equal(res.headers.vary, server === 'off' ? undefined : 'Origin'); // a cache must not mix origins
    });
  }

  const allowed: ReadonlyArray<{ server: string; origin: string }> = [
    { server: 'list', origin: 'https://b.test' },
    { server: 'list', origin: 'HTTP://PLAYER.TEST:8080' },
    { server: 'regexp', origin: 'https://a.example.com' },
    { server: 'function', origin: 'https://www.player.test' },
  ];
  for (const { server, origin } of allowed) {
    it(`${server}: origin ${origin} is allowed and echoed as sent`, async () => {
      const res = await get(server, '/?path=clip.mp4', { origin, range: 'bytes=0-9' });
      assert.equal(res.status, 206);
      assert.deepEqual(res.body, pattern(0, 9));
      assert.equal(res.headers['access-control-allow-origin'], origin);
    });
  }

  describe('preflight', () => {
    const preflight = (server: string, origin: string, path = '/?path=clip.mp4', asked = 'range, if-range'): Promise<Received> =>
      get(server, path, { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': asked }, 'OPTIONS');

    it('cors: true → 204 with methods, the range and conditional headers, Max-Age, no body', async () => {
      const res = await preflight('any', PAGE);
      assert.equal(res.status, 204);
      assert.equal(res.body.length, 0);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD');
      assert.equal(res.headers['access-control-allow-headers'], 'Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since');
      assert.equal(res.headers['access-control-max-age'], '7200');
    });
    it('an origin list → the origin, credentials, its Max-Age and Vary: Origin', async () => {
      const res = await preflight('list', PAGE);
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-origin'], PAGE);
      assert.equal(res.headers['access-control-allow-credentials'], 'true');
      assert.equal(res.headers['access-control-max-age'], '60');
      assert.equal(res.headers.vary, 'Origin');
    });
    it('allowHeaders adds to the allowed request headers; what was asked is never echoed', async () => {
      const res = await preflight('function', 'https://www.player.test', '/?path=clip.mp4', 'authorization, x-evil');
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-headers'], 'Range, If-Range, If-None-Match, If-Modified-Since, If-Match, If-Unmodified-Since, Authorization');
    });
    it('a disallowed origin → 403 without any CORS header', async () => {
      const res = await preflight('list', OTHER);
      assert.equal(res.status, 403);
      assert.deepEqual(res.body, Buffer.from('Forbidden\n'));
      for (const name of Object.keys(res.headers)) assert.doesNotMatch(name, /^access-control-/);
    });
    it('a preflight is answered without asking the disk (a missing file gets 204 too)', async () => {
      assert.equal((await preflight('any', PAGE, '/?path=missing.mp4')).status, 204);
    });
    it('without cors, a preflight is 405 as before', async () => {
      const res = await preflight('off', PAGE);
      assert.equal(res.status, 405);
      assert.equal(res.headers.allow, 'GET, HEAD');
    });
    it('OPTIONS without Access-Control-Request-Method is no preflight: 405 with the CORS headers', async () => {
      const res = await get('any', '/?path=clip.mp4', { origin: PAGE }, 'OPTIONS');
      assert.equal(res.status, 405);
      assert.equal(res.headers['access-control-allow-origin'], '*');
    });
  });

  describe('as middleware', () => {
    let server: TestServer;
    before(async () => {
      const handler = createStreamHandler({ root, mode: 'path', prefix: '/videos', cors: { origin: PAGE } });
      server = await pool.serve((req, res) =>
        handler(req, res, () => {
          res.writeHead(418, { 'Content-Type': 'text/plain' }).end('next');
        }),
      );
    });
    it('a preflight for a path it serves is answered, not passed to next', async () => {
      const res = await server.request('/videos/clip.mp4', { origin: PAGE, 'access-control-request-method': 'GET' }, 'OPTIONS');
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-origin'], PAGE);
    });
    it('a preflight outside its prefix goes to next', async () => {
      const res = await server.request('/api/x', { origin: PAGE, 'access-control-request-method': 'GET' }, 'OPTIONS');
      assert.equal(res.status, 418);
    });
    it('a request passed to next (missing file) carries none of our CORS headers', async () => {
      const res = await server.request('/videos/missing.mp4', { origin: PAGE });
      assert.equal(res.status, 418);
      assert.deepEqual(res.body, Buffer.from('next'));
      for (const name of Object.keys(res.headers)) assert.doesNotMatch(name, /^access-control-/);
    });
  });

  describe('streamFile', () => {
    let server: TestServer;
    const options = { cors: { origin: PAGE } };
    before(async () => {
      server = await pool.serve((req, res) => void streamFile(req, res, fixtures.path('root/clip.mp4'), options));
    });
    it('206 for an allowed origin carries the CORS headers', async () => {
      const res = await server.request('/', { origin: PAGE, range: 'bytes=1-2' });
      assert.equal(res.status, 206);
      assert.deepEqual(res.body, pattern(1, 2));
      assert.equal(res.headers['access-control-allow-origin'], PAGE);
    });
    it('answers a preflight with 204', async () => {
      const res = await server.request('/', { origin: PAGE, 'access-control-request-method': 'GET' }, 'OPTIONS');
      assert.equal(res.status, 204);
      assert.equal(res.headers['access-control-allow-methods'], 'GET, HEAD');
    });
  });

  it('works over a plain http.Server with keep-alive for many requests (headers are not shared between responses)', async () => {
    const a = await get('list', '/?path=clip.mp4', { origin: PAGE });
    const b = await get('list', '/?path=clip.mp4', { origin: 'https://b.test' });
    const c = await get('list', '/?path=clip.mp4', { origin: OTHER });
    assert.deepEqual(
      [a, b, c].map((r) => r.headers['access-control-allow-origin']),
      [PAGE, 'https://b.test', undefined],
    );
  });
});

describe('cors option misuse throws at setup, naming the option', () => {
  const cases: ReadonlyArray<{ option: unknown; message: RegExp }> = [
    { option: { origin: '*', credentials: true }, message: /^options\.cors\.credentials cannot be true with origin '\*'/ },
    { option: { credentials: true }, message: /^options\.cors\.credentials cannot be true with origin '\*'/ },
    { option: { origin: 'example.com' }, message: /^options\.cors\.origin must be an origin like/ },
    { option: { origin: 'https://example.com/' }, message: /^options\.cors\.origin must be an origin like/ },
    { option: { origin: ['https://a.test', 'https://b.test/path'] }, message: /^options\.cors\.origin\[1\] must be an origin/ },
    { option: { origin: 42 }, message: /^options\.cors\.origin must be '\*', an origin string/ },
    { option: { origin: '*', maxAgeSeconds: -1 }, message: /^options\.cors\.maxAgeSeconds must be an integer >= 0/ },
    { option: { origin: '*', allowHeaders: ['Bad Header'] }, message: /^options\.cors\.allowHeaders must be an array of header names/ },
    { option: 'yes', message: /^options\.cors must be true, false or/ },
  ];
  for (const { option, message } of cases) {
    it(`${JSON.stringify(option)} → TypeError`, () => {
      assert.throws(() => resolveCors(option as CorsOption, false), { name: 'TypeError', message });
      assert.throws(() => createStreamHandler({ root, cors: option as CorsOption }), { name: 'TypeError', message });
    });
  }
  it('the constant headers are built once: cors: true gives the same array to every request', () => {
    const policy = resolveCors(true, true)!;
    const req = { headers: { origin: PAGE } } as unknown as http.IncomingMessage;
    assert.equal(policy.headersFor(req), policy.headersFor(req));
  });
});
