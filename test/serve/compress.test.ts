import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { open } from 'node:fs/promises';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { brotliDecompressSync, gunzipSync } from 'node:zlib';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { CompressedCache, resolveCompress, type CompressOption } from '../../src/serve/compress.ts';
import { processMetrics } from '../../src/serve/metrics.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { serverPool, type Received, type TestServer } from '../helpers/server.ts';

// A playlist-like text file: long enough that compression clearly pays.
const PLAYLIST = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...Array.from({ length: 2000 }, (_, i) => `#EXTINF:4.000,\nsegment-${i}.ts`)].join('\n');
const fixtures = createFixtures();
const root = fixtures.path('root');
fixtures.write('root/index.m3u8', PLAYLIST);
fixtures.write('root/subs.vtt', `WEBVTT\n\n${'00:00.000 --> 00:01.000\nhello\n\n'.repeat(200)}`);
fixtures.write('root/manifest.mpd', `<?xml version="1.0"?><MPD>${'<S t="0" d="4"/>'.repeat(500)}</MPD>`);
fixtures.file('root/clip.mp4', 50_000);
fixtures.write('root/big.json', JSON.stringify({ a: 'x'.repeat(5000) }));
fixtures.write('root/unread.m3u8', PLAYLIST);
fixtures.write('root/changing.srt', '1\n00:00:00,000 --> 00:00:01,000\nfirst version\n'.repeat(50));
const DECODE = { br: brotliDecompressSync, gzip: gunzipSync } as const;

after(() => fixtures.remove());

describe('compression of text manifests and captions', () => {
  const pool = serverPool();
  let server: TestServer;
  let off: TestServer;
  let small: TestServer;
  let cors: TestServer;
  const get = (path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Received> => server.request(path, headers, method);
  before(async () => {
    server = await pool.serve(createStreamHandler({ root }));
    off = await pool.serve(createStreamHandler({ root, compress: false }));
    small = await pool.serve(createStreamHandler({ root, compress: { maxFileSize: 1000 } }));
    cors = await pool.serve(createStreamHandler({ root, cors: { origin: 'https://page.test' } }));
  });
  after(() => pool.closeAll());

  for (const name of ['index.m3u8', 'subs.vtt', 'manifest.mpd', 'big.json']) {
    for (const coding of ['br', 'gzip'] as const) {
      it(`${name}, Accept-Encoding ${coding}: byte-exact after decompression, Content-Length of the coded body`, async () => {
        const want = readFileSync(fixtures.path(`root/${name}`));
        const res = await get(`/?path=${name}`, { 'accept-encoding': coding === 'br' ? 'gzip, deflate, br' : 'gzip' });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], coding);
        assert.equal(res.headers['content-length'], String(res.body.length));
        assert.equal(res.headers.vary, 'Accept-Encoding');
        assert.equal(res.headers['accept-ranges'], undefined);
        assert.ok(res.body.length < want.length / 2, `${res.body.length} bytes for ${want.length}`);
        assert.deepEqual(DECODE[coding](res.body), want);
      });
    }
  }

  it('each coding has its own strong ETag, and identity keeps its own', async () => {
    const tags = await Promise.all(['br', 'gzip', 'identity'].map(async (coding) => (await get('/?path=index.m3u8', { 'accept-encoding': coding })).headers.etag));
    const [br, gzip, identity] = tags as [string, string, string];
    assert.match(identity, /^"[^"]+"$/);
    assert.equal(br, `${identity.slice(0, -1)}-br"`);
    assert.equal(gzip, `${identity.slice(0, -1)}-gz"`);
  });

  it('If-None-Match with the coded tag → 304 with that tag and Vary; the identity tag does not match', async () => {
    const first = await get('/?path=index.m3u8', { 'accept-encoding': 'br' });
    const tag = String(first.headers.etag);
    const again = await get('/?path=index.m3u8', { 'accept-encoding': 'br', 'if-none-match': tag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    assert.equal(again.headers.etag, tag);
    assert.equal(again.headers.vary, 'Accept-Encoding');
    const identityTag = tag.replace(/-br"$/, '"');
    const other = await get('/?path=index.m3u8', { 'accept-encoding': 'br', 'if-none-match': identityTag });
    assert.equal(other.status, 200);
    assert.deepEqual(brotliDecompressSync(other.body), Buffer.from(PLAYLIST));
    const gz = await get('/?path=index.m3u8', { 'accept-encoding': 'gzip', 'if-none-match': tag });
    assert.equal(gz.status, 200, 'the br tag must not validate the gzip body');
    assert.equal(gz.headers['content-encoding'], 'gzip');
  });

  it('HEAD: the headers of the coded GET (same Content-Length and ETag), no body', async () => {
    const getRes = await get('/?path=subs.vtt', { 'accept-encoding': 'br' });
    const head = await get('/?path=subs.vtt', { 'accept-encoding': 'br' }, 'HEAD');
    assert.equal(head.status, 200);
    assert.equal(head.body.length, 0);
    assert.equal(head.headers['content-encoding'], 'br');
    assert.equal(head.headers['content-length'], getRes.headers['content-length']);
    assert.equal(head.headers.etag, getRes.headers.etag);
  });

  it('a Range request gets identity bytes with 206 (and Vary), whatever it accepts', async () => {
    const res = await get('/?path=index.m3u8', { 'accept-encoding': 'br, gzip', range: 'bytes=10-99' });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers['content-range'], `bytes 10-99/${Buffer.byteLength(PLAYLIST)}`);
    assert.deepEqual(res.body, Buffer.from(PLAYLIST).subarray(10, 100));
    assert.equal(res.headers.vary, 'Accept-Encoding');
    assert.doesNotMatch(String(res.headers.etag), /-(br|gz)"$/);
  });

  const identity: ReadonlyArray<{ name: string; server: () => TestServer; path: string; headers: Record<string, string>; vary: string | undefined }> = [
    { name: 'no Accept-Encoding', server: () => server, path: 'index.m3u8', headers: {}, vary: 'Accept-Encoding' },
    { name: 'br;q=0, gzip;q=0', server: () => server, path: 'index.m3u8', headers: { 'accept-encoding': 'br;q=0, gzip;q=0' }, vary: 'Accept-Encoding' },
    { name: 'compress: false', server: () => off, path: 'index.m3u8', headers: { 'accept-encoding': 'br' }, vary: undefined },
    { name: 'a file over maxFileSize', server: () => small, path: 'index.m3u8', headers: { 'accept-encoding': 'br' }, vary: undefined },
  ];
  for (const row of identity) {
    it(`${row.name} → identity 200, byte-exact`, async () => {
      const res = await row.server().request(`/?path=${row.path}`, row.headers);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-encoding'], undefined);
      assert.deepEqual(res.body, Buffer.from(PLAYLIST));
      assert.equal(res.headers['accept-ranges'], 'bytes');
      assert.equal(res.headers.vary, row.vary);
    });
  }

  it('media files are never compressed', async () => {
    const res = await get('/?path=clip.mp4', { 'accept-encoding': 'br, gzip' });
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers.vary, undefined);
    assert.deepEqual(res.body, pattern(0, 49_999));
  });

  it('a changed file gets new compressed bytes and a new ETag (the cache is keyed on validators)', async () => {
    const path = fixtures.path('root/changing.srt');
    const before = await get('/?path=changing.srt', { 'accept-encoding': 'br' });
    const second = '1\n00:00:00,000 --> 00:00:01,000\nsecond version!\n'.repeat(60);
    writeFileSync(path, second);
    utimesSync(path, 1_800_000_000, 1_800_000_000);
    const after = await get('/?path=changing.srt', { 'accept-encoding': 'br' });
    assert.notEqual(after.headers.etag, before.headers.etag);
    assert.deepEqual(brotliDecompressSync(after.body), Buffer.from(second));
  });

  it('a 304 or 412 is decided from the coded ETag without compressing (nothing read); then the 200 compresses', async () => {
    const identityTag = String((await get('/?path=unread.m3u8', { 'accept-encoding': 'identity' }, 'HEAD')).headers.etag);
    const readBefore = processMetrics().readBytes;
    const notModified = await get('/?path=unread.m3u8', { 'accept-encoding': 'br', 'if-none-match': identityTag.replace(/"$/, '-br"') });
    assert.equal(notModified.status, 304);
    assert.equal(notModified.headers.vary, 'Accept-Encoding');
    const failed = await get('/?path=unread.m3u8', { 'accept-encoding': 'br', 'if-match': '"other"' });
    assert.equal(failed.status, 412);
    assert.equal(failed.headers.vary, 'Accept-Encoding');
    assert.equal(processMetrics().readBytes, readBefore, 'the file was read (compressed) for a 304 or 412');
    const full = await get('/?path=unread.m3u8', { 'accept-encoding': 'br', 'if-match': identityTag.replace(/"$/, '-br"') });
    assert.equal(full.status, 200);
    assert.deepEqual(brotliDecompressSync(full.body), Buffer.from(PLAYLIST));
    assert.ok(processMetrics().readBytes >= readBefore + PLAYLIST.length, 'the 200 read the file to compress it');
  });

  it('a 416 for a compressible file says Vary: Accept-Encoding too; with CORS, in the one Vary field', async () => {
    const unsatisfiable = await get('/?path=index.m3u8', { 'accept-encoding': 'br', range: 'bytes=999999-' });
    assert.equal(unsatisfiable.status, 416);
    assert.equal(unsatisfiable.headers.vary, 'Accept-Encoding');
    const failed = await cors.request('/?path=index.m3u8', { origin: 'https://page.test', 'accept-encoding': 'br', 'if-match': '"other"' });
    assert.equal(failed.status, 412);
    assert.equal(failed.headers.vary, 'Accept-Encoding, Origin');
    assert.equal(failed.headers['access-control-allow-origin'], 'https://page.test');
    const media = await get('/?path=clip.mp4', { 'accept-encoding': 'br', 'if-match': '"other"' });
    assert.equal(media.status, 412);
    assert.equal(media.headers.vary, undefined, 'media answers do not vary with Accept-Encoding');
  });

  it('with CORS: one Vary field naming both, and Content-Encoding exposed', async () => {
    const res = await cors.request('/?path=index.m3u8', { origin: 'https://page.test', 'accept-encoding': 'br' });
    assert.equal(res.status, 200);
    assert.equal(res.headers.vary, 'Origin, Accept-Encoding');
    assert.equal(res.headers['access-control-allow-origin'], 'https://page.test');
    assert.match(String(res.headers['access-control-expose-headers']), /, Content-Encoding$/);
    assert.deepEqual(brotliDecompressSync(res.body), Buffer.from(PLAYLIST));
  });
});

describe('over node:http2 (h2c)', () => {
  it('a preflight, then a brotli playlist with CORS headers and one Vary field, then an identity range', async () => {
    const handler = createStreamHandler({ root, cors: { origin: 'https://page.test' } });
    const server = http2.createServer(handler);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const client = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    const get = (headers: http2.OutgoingHttpHeaders) =>
      new Promise<{ headers: http2.IncomingHttpHeaders; body: Buffer }>((resolve, reject) => {
        const stream = client.request({ origin: 'https://page.test', ...headers });
        const chunks: Buffer[] = [];
        let responseHeaders: http2.IncomingHttpHeaders = {};
        stream.on('response', (h) => (responseHeaders = h));
        stream.on('data', (chunk: Buffer) => chunks.push(chunk));
        stream.on('end', () => resolve({ headers: responseHeaders, body: Buffer.concat(chunks) }));
        stream.on('error', reject);
      });
    try {
      const preflight = await get({ ':method': 'OPTIONS', ':path': '/?path=index.m3u8', 'access-control-request-method': 'GET' });
      assert.equal(preflight.headers[':status'], 204);
      assert.equal(preflight.headers['access-control-allow-origin'], 'https://page.test');
      const br = await get({ ':path': '/?path=index.m3u8', 'accept-encoding': 'br' });
      assert.equal(br.headers[':status'], 200);
      assert.equal(br.headers['content-encoding'], 'br');
      assert.equal(br.headers.vary, 'Origin, Accept-Encoding');
      assert.equal(br.headers['access-control-allow-origin'], 'https://page.test');
      assert.deepEqual(brotliDecompressSync(br.body), Buffer.from(PLAYLIST));
      const part = await get({ ':path': '/?path=index.m3u8', 'accept-encoding': 'br', range: 'bytes=0-6' });
      assert.equal(part.headers[':status'], 206);
      assert.deepEqual(part.body, Buffer.from('#EXTM3U'));
    } finally {
      client.destroy();
      await new Promise((resolve) => server.close(resolve));
      await handler.close();
    }
  });
});

describe('CompressedCache', () => {
  it('compresses a file once per version: a second get is the same bytes', async () => {
    const cache = new CompressedCache(1024 * 1024, 1024 * 1024);
    const handle = await open(fixtures.path('root/index.m3u8'));
    try {
      const size = Buffer.byteLength(PLAYLIST);
      const [a, b] = await Promise.all([cache.get(handle, 'index.m3u8', '"t"', size, 'br'), cache.get(handle, 'index.m3u8', '"t"', size, 'br')]);
      assert.equal(a, b); // one compression shared by concurrent requests
      assert.equal(await cache.get(handle, 'index.m3u8', '"t"', size, 'br'), a);
      assert.notEqual(await cache.get(handle, 'index.m3u8', '"t2"', size, 'br'), a, 'new validators, new entry');
    } finally {
      await handle.close();
    }
  });

  it('stays within its byte budget, dropping the least recently used first', async () => {
    const handle = await open(fixtures.path('root/index.m3u8'));
    try {
      const size = Buffer.byteLength(PLAYLIST);
      const one = (await new CompressedCache(size, size).get(handle, 'x', '"0"', size, 'gzip')).length;
      const cache = new CompressedCache(size, one * 2); // room for two bodies
      const first = await cache.get(handle, 'x', '"1"', size, 'gzip');
      await cache.get(handle, 'x', '"2"', size, 'gzip');
      assert.equal(await cache.get(handle, 'x', '"1"', size, 'gzip'), first); // "1" is now the most recent
      await cache.get(handle, 'x', '"3"', size, 'gzip'); // evicts "2"
      assert.ok(cache.bytes <= one * 2, `${cache.bytes} bytes held`);
      assert.equal(await cache.get(handle, 'x', '"1"', size, 'gzip'), first);
    } finally {
      await handle.close();
    }
  });

  it('a file shorter than its stat said rejects, and is not cached', async () => {
    const cache = new CompressedCache(1024 * 1024, 1024 * 1024);
    const handle = await open(fixtures.path('root/subs.vtt'));
    try {
      await assert.rejects(cache.get(handle, 'subs.vtt', '"t"', 10_000_000, 'br'), /shrank/);
      assert.equal(cache.bytes, 0);
    } finally {
      await handle.close();
    }
  });

  const misuse: ReadonlyArray<{ option: unknown; message: RegExp }> = [
    { option: 'yes', message: /^options\.compress must be true, false or/ },
    { option: { maxFileSize: -1 }, message: /^options\.compress\.maxFileSize must be an integer >= 0/ },
    { option: { cacheBytes: 1.5 }, message: /^options\.compress\.cacheBytes must be an integer >= 0/ },
  ];
  for (const { option, message } of misuse) {
    it(`compress: ${JSON.stringify(option)} → TypeError`, () => {
      assert.throws(() => resolveCompress(option as CompressOption), { name: 'TypeError', message });
    });
  }
});
