import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, utimesSync, writeFileSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { createFixtures, pattern, type Fixtures } from '../helpers/fixtures.ts';
import { findNginx, startNginx, type RunningNginx } from '../helpers/nginx.ts';
import { start, type TestServer } from '../helpers/server.ts';

// sage-stream behind nginx as a caching reverse proxy with the slice module, the way video is
// served at scale: every response is compared byte for byte with the file, and every request that
// reaches sage-stream is counted, so "served from cache" is proven, not inferred from a header.
//
// Needs nginx built with --with-http_slice_module (Debian's `nginx`). Without it the file is
// skipped, unless SAGE_STREAM_REQUIRE_NGINX=1 (set by .ci/run), which makes it fail instead.

const REQUIRE_NGINX = process.env['SAGE_STREAM_REQUIRE_NGINX'] === '1';
const nginxBinary = findNginx();
const missing =
  nginxBinary === undefined
    ? 'nginx is not installed'
    : nginxBinary.hasSlice
      ? undefined
      : `${nginxBinary.path} (${nginxBinary.version}) was built without --with-http_slice_module`;
const skip = missing === undefined ? false : `${missing} (SAGE_STREAM_REQUIRE_NGINX=1 makes this a failure)`;

if (missing !== undefined && REQUIRE_NGINX) {
  it('nginx with the slice module is installed (SAGE_STREAM_REQUIRE_NGINX=1)', () => {
    assert.fail(`${missing}: install Debian's nginx package (apt-get install nginx), or unset SAGE_STREAM_REQUIRE_NGINX to skip`);
  });
}

const SLICE = 256 * 1024; // small slices, so a 1 MiB file spans several
const SIZE = 4 * SLICE + 12_345; // 5 slices, the last one short
const MTIME_S = 1_700_000_000; // in the past, so Last-Modified is sent (and strong)
/** What the origin declares: browsers revalidate every time, shared caches keep it s-maxage seconds. */
const SHARED_CACHE = (seconds: number): string => `public, max-age=0, s-maxage=${seconds}, must-revalidate`;
const SHORT_S = 1; // the freshness of the /short/ route, for the file-change cases

/** One request that reached sage-stream; `status` is read after nginx has answered the client. */
type OriginRequest = {
  readonly origin: 'a' | 'b';
  readonly method: string;
  readonly url: string;
  readonly range: string | undefined;
  readonly ifNoneMatch: string | undefined;
  readonly status: number;
};

/** A response through the proxy; `complete` is false when the connection broke before its end. */
type Fetched = {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
  readonly complete: boolean;
};

/** The bytes [start, end] of the file after it was rewritten: every byte differs from before. */
function changed(start: number, end: number): Buffer {
  return pattern(start + 100, end + 100);
}

/** The slice-aligned Range headers nginx sends upstream for the bytes [start, end]. */
function slicesOf(start: number, end: number): string[] {
  const out: string[] = [];
  for (let s = Math.floor(start / SLICE) * SLICE; s <= end; s += SLICE) out.push(`bytes=${s}-${s + SLICE - 1}`);
  return out;
}

describe('behind nginx as a caching proxy (slice module)', { skip }, () => {
  let fixtures: Fixtures;
  let originA: TestServer;
  let originB: TestServer;
  let nginx: RunningNginx | undefined;
  const seen: OriginRequest[] = [];

  /** Sends a request to nginx on a fresh connection and reads what arrives, even a broken body. */
  function fetch(path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Fetched> {
    return new Promise((resolve) => {
      const req = http.request(`${nginx!.origin}${path}`, { method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        const done = (complete: boolean) => () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks), complete });
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', done(true));
        res.on('error', done(false)); // 'aborted': fewer bytes than Content-Length
      });
      // No response at all (reset before the headers): status 0.
      req.on('error', () => resolve({ status: 0, headers: {}, body: Buffer.alloc(0), complete: false }));
      req.end();
    });
  }

  /**
   * Waits until nginx has stored these slices of `path` (its `$uri$is_args$args`). A response can
   * end before its last slice is stored (a short range ends mid-slice while nginx still reads the
   * rest of that slice from upstream), and a request arriving meanwhile would be a second MISS.
   * A cache file appears under its key's md5 (levels=1:2) only once complete.
   */
  async function untilCached(path: string, slices: readonly string[]): Promise<void> {
    const deadline = Date.now() + 5000;
    for (const slice of slices) {
      const md5 = createHash('md5').update(`${path}${slice}`).digest('hex');
      const file = `${nginx!.dir}/cache/${md5.slice(-1)}/${md5.slice(-3, -1)}/${md5}`;
      while (!existsSync(file)) {
        if (Date.now() > deadline) throw new Error(`nginx never stored ${path} ${slice}`);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    }
  }

  /** Runs `send` and returns it with the requests that reached sage-stream meanwhile. */
  async function counting<T>(send: () => Promise<T>): Promise<{ res: T; upstream: OriginRequest[] }> {
    const mark = seen.length;
    const res = await send();
    return { res, upstream: seen.slice(mark) };
  }

  function origin(name: 'a' | 'b', root: string): Promise<TestServer> {
    const cachedLong = createStreamHandler({ root, cacheControl: SHARED_CACHE(60) });
    const cachedShort = createStreamHandler({ root, cacheControl: SHARED_CACHE(SHORT_S) });
    const defaults = createStreamHandler({ root, mode: 'path', prefix: '/default' });
    return start((req, res) => {
      const url = req.url ?? '/';
      const range = req.headers.range;
      const ifNoneMatch = req.headers['if-none-match'];
      // Read lazily: by the time nginx has answered the client, writeHead has been called.
      seen.push({ origin: name, method: req.method ?? '', url, range, ifNoneMatch, get status() { return res.statusCode; } });
      if (url.startsWith('/default/')) defaults(req, res);
      else if (url.startsWith('/short/')) cachedShort(req, res);
      else cachedLong(req, res);
    });
  }

  before(async () => {
    fixtures = createFixtures('sage-stream-proxy-');
    for (const name of ['video.mp4', 'replica.mp4', 'changing.mp4', 'steady.mp4', 'splice.mp4', 'head.mp4', 'whole.mp4', 'first.mp4']) {
      fixtures.file(`a/${name}`, SIZE);
      utimesSync(fixtures.path(`a/${name}`), MTIME_S, MTIME_S);
    }
    for (let i = 0; i < ranges.length; i++) {
      fixtures.file(`a/row-${i}.mp4`, SIZE);
      utimesSync(fixtures.path(`a/row-${i}.mp4`), MTIME_S, MTIME_S);
    }
    // A second machine's copy: same bytes, same mtime (as rsync -t or cp -p leave it), other inode.
    fixtures.write('b/.keep', '');
    copyFileSync(fixtures.path('a/replica.mp4'), fixtures.path('b/replica.mp4'));
    utimesSync(fixtures.path('b/replica.mp4'), MTIME_S, MTIME_S);

    originA = await origin('a', fixtures.path('a'));
    originB = await origin('b', fixtures.path('b'));
    const a = `127.0.0.1:${originA.port}`;
    const b = `127.0.0.1:${originB.port}`;
    nginx = await startNginx(nginxBinary!.path, ({ dir }) => ({
      http: `
  proxy_cache_path ${dir}/cache levels=1:2 keys_zone=sage:1m max_size=256m inactive=10m use_temp_path=off;
  upstream sage_replicas { server ${a}; server ${b}; }
  upstream sage_pinned { hash $uri$is_args$args consistent; server ${a}; server ${b}; }`,
      server: `
    slice ${SLICE / 1024}k;
    proxy_cache sage;
    proxy_cache_key $uri$is_args$args$slice_range;
    proxy_set_header Range $slice_range;
    proxy_http_version 1.1;
    proxy_cache_valid 200 206 10m;
    proxy_cache_revalidate on;
    proxy_cache_lock on;
    add_header X-Cache-Status $upstream_cache_status always;
    location / { proxy_pass http://${a}; }
    location /ignore-cc/ { proxy_pass http://${a}/default/; proxy_ignore_headers Cache-Control; }
    location /no-slice/ { slice 0; proxy_pass http://${a}/; }
    location /replicas/ { proxy_pass http://sage_replicas/; }
    location /pinned/ { proxy_pass http://sage_pinned/; }`,
    }));
  });

  after(async () => {
    await nginx?.stop();
    await originA?.close();
    await originB?.close();
    fixtures?.remove();
  });

  // Each row has its own file, so its cold request finds nothing cached. nginx fetches the slices
  // the range touches, plus the first one for a suffix range (it needs the size to place it).
  const ranges: ReadonlyArray<{ name: string; range: string; start: number; end: number; firstSlice?: true }> = [
    { name: 'the first KiB', range: 'bytes=0-1023', start: 0, end: 1023 },
    { name: 'Safari\'s probe', range: 'bytes=0-1', start: 0, end: 1 },
    { name: 'inside the second slice', range: 'bytes=300000-300999', start: 300_000, end: 300_999 },
    { name: 'across one slice boundary', range: 'bytes=262000-262300', start: 262_000, end: 262_300 },
    { name: 'across three boundaries', range: 'bytes=200000-800000', start: 200_000, end: 800_000 },
    { name: 'exactly one slice', range: `bytes=${SLICE}-${2 * SLICE - 1}`, start: SLICE, end: 2 * SLICE - 1 },
    { name: 'the last bytes', range: `bytes=${SIZE - 1000}-${SIZE - 1}`, start: SIZE - 1000, end: SIZE - 1 },
    { name: 'a suffix', range: 'bytes=-500', start: SIZE - 500, end: SIZE - 1, firstSlice: true },
    { name: 'open-ended across a boundary', range: 'bytes=1000000-', start: 1_000_000, end: SIZE - 1 },
    { name: 'a last position past the end', range: `bytes=${SIZE - 21}-99999999`, start: SIZE - 21, end: SIZE - 1 },
  ];

  describe('cold cache, then warm: the proxy serves exact bytes and stops asking', () => {
    ranges.forEach(({ name, range, start, end, firstSlice }, i) => {
      const fetched = [...(firstSlice ? slicesOf(0, 0) : []), ...slicesOf(start, end)];
      it(`${name} (${range}) → MISS fetching ${fetched.length} slice(s), then HIT with no upstream request`, async () => {
        const path = `/?path=row-${i}.mp4`;
        const cold = await counting(() => fetch(path, { range }));
        assert.equal(cold.res.status, 206);
        assert.equal(cold.res.headers['x-cache-status'], 'MISS');
        assert.equal(cold.res.headers['content-range'], `bytes ${start}-${end}/${SIZE}`);
        assert.equal(cold.res.headers['content-length'], String(end - start + 1));
        assert.deepEqual(cold.res.body, pattern(start, end));
        assert.deepEqual(cold.upstream.map((r) => r.range).sort(), fetched.sort());
        assert.deepEqual(cold.upstream.map((r) => r.status), cold.upstream.map(() => 206));
        await untilCached(path, fetched);

        const warm = await counting(() => fetch(path, { range }));
        assert.equal(warm.res.status, 206);
        assert.equal(warm.res.headers['x-cache-status'], 'HIT');
        assert.equal(warm.res.headers['content-range'], `bytes ${start}-${end}/${SIZE}`);
        assert.deepEqual(warm.res.body, pattern(start, end));
        assert.equal(warm.res.headers.etag, cold.res.headers.etag);
        assert.deepEqual(warm.upstream, []);
      });
    });

    it('X-Cache-Status is the first slice\'s: HIT although the later slices were fetched now', async () => {
      await fetch('/?path=first.mp4', { range: 'bytes=0-9' });
      await untilCached('/?path=first.mp4', slicesOf(0, 0));
      const { res, upstream } = await counting(() => fetch('/?path=first.mp4'));
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-cache-status'], 'HIT');
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      assert.deepEqual(upstream.map((r) => r.range).sort(), slicesOf(SLICE, SIZE - 1).sort());
    });

    it('a full GET → 200 with every byte (5 slices fetched), then HIT with no upstream request', async () => {
      const cold = await counting(() => fetch('/?path=video.mp4'));
      assert.equal(cold.res.status, 200);
      assert.equal(cold.res.headers['content-length'], String(SIZE));
      assert.equal(cold.res.headers['content-type'], 'video/mp4');
      assert.equal(cold.res.headers['accept-ranges'], 'bytes');
      assert.equal(cold.res.headers['cache-control'], SHARED_CACHE(60));
      assert.equal(cold.res.headers['last-modified'], new Date(MTIME_S * 1000).toUTCString());
      assert.deepEqual(cold.res.body, pattern(0, SIZE - 1));
      assert.deepEqual(cold.upstream.map((r) => r.range).sort(), slicesOf(0, SIZE - 1).sort());
      await untilCached('/?path=video.mp4', slicesOf(0, SIZE - 1));

      const warm = await counting(() => fetch('/?path=video.mp4'));
      assert.equal(warm.res.status, 200);
      assert.equal(warm.res.headers['x-cache-status'], 'HIT');
      assert.deepEqual(warm.res.body, pattern(0, SIZE - 1));
      assert.deepEqual(warm.upstream, []);
    });

    it('any range over cached slices is cut from the cache: HIT, no upstream request', async () => {
      for (const [start, end] of [[5, 5], [SLICE - 1, SLICE], [123_456, 987_654], [0, SIZE - 1]] as const) {
        const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { range: `bytes=${start}-${end}` }));
        assert.equal(res.status, 206, `bytes=${start}-${end}`);
        assert.deepEqual(res.body, pattern(start, end), `bytes=${start}-${end}`);
        assert.deepEqual(upstream, []);
      }
    });

    it('without the slice module, 10 bytes cost the whole file: nginx drops Range to fill its cache', async () => {
      const { res, upstream } = await counting(() => fetch('/no-slice/?path=whole.mp4', { range: 'bytes=0-9' }));
      assert.equal(res.status, 206);
      assert.deepEqual(res.body, pattern(0, 9));
      assert.deepEqual(upstream.map((r) => `${r.range} → ${r.status}`), ['undefined → 200']);
    });

    it('the default Cache-Control (max-age=0) is not stored by nginx: every request goes upstream', async () => {
      for (let i = 0; i < 2; i++) {
        const { res, upstream } = await counting(() => fetch('/default/video.mp4'));
        assert.equal(res.status, 200);
        assert.equal(res.headers['x-cache-status'], 'MISS');
        assert.equal(res.headers['cache-control'], 'public, max-age=0, must-revalidate');
        assert.deepEqual(res.body, pattern(0, SIZE - 1));
        assert.equal(upstream.length, 5, 'each slice fetched again, unconditionally');
        assert.ok(upstream.every((r) => r.ifNoneMatch === undefined));
      }
    });

    it('the default Cache-Control with proxy_ignore_headers Cache-Control: cached for proxy_cache_valid', async () => {
      const cold = await counting(() => fetch('/ignore-cc/video.mp4', { range: 'bytes=100-200' }));
      assert.equal(cold.res.status, 206);
      assert.deepEqual(cold.res.body, pattern(100, 200));
      assert.equal(cold.upstream.length, 1);
      await untilCached('/ignore-cc/video.mp4', slicesOf(100, 200));
      const warm = await counting(() => fetch('/ignore-cc/video.mp4', { range: 'bytes=100-200' }));
      assert.equal(warm.res.headers['x-cache-status'], 'HIT');
      assert.deepEqual(warm.res.body, pattern(100, 200));
      // Browsers still get max-age=0 and revalidate with the proxy, which answers them itself.
      assert.equal(warm.res.headers['cache-control'], 'public, max-age=0, must-revalidate');
      assert.deepEqual(warm.upstream, []);
    });
  });

  describe('other requests through the warm proxy', () => {
    let etag = '';
    before(async () => {
      const res = await fetch('/?path=video.mp4'); // cached by the cases above; warms it when run alone
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      await untilCached('/?path=video.mp4', slicesOf(0, SIZE - 1));
      etag = String(res.headers.etag);
    });

    it('HEAD → 200, the full Content-Length and the ETag, no body, no upstream request', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', {}, 'HEAD'));
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], String(SIZE));
      assert.equal(res.headers.etag, etag);
      assert.equal(res.body.length, 0);
      assert.deepEqual(upstream, []);
    });

    it('a cold HEAD → nginx fetches the first slice with GET (proxy_cache_convert_head) and sends no body', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=head.mp4', {}, 'HEAD'));
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], String(SIZE));
      assert.equal(res.body.length, 0);
      assert.deepEqual(upstream.map((r) => `${r.method} ${r.range}`), [`GET ${slicesOf(0, 0)[0]}`]);
      await untilCached('/?path=head.mp4', slicesOf(0, 0));
      const get = await counting(() => fetch('/?path=head.mp4', { range: 'bytes=0-99' }));
      assert.deepEqual(get.res.body, pattern(0, 99));
      assert.deepEqual(get.upstream, []);
    });

    it('a range from the end of the file (inside the cached last slice) → 416 from the proxy itself', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { range: `bytes=${SIZE}-` }));
      assert.equal(res.status, 416);
      assert.equal(res.headers['content-range'], `bytes */${SIZE}`);
      assert.deepEqual(upstream, []);
    });

    it('a range past every slice → sage-stream\'s 416 (bytes */size), asked each time: a 416 is not stored', async () => {
      for (let i = 0; i < 2; i++) {
        const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { range: 'bytes=2000000-' }));
        assert.equal(res.status, 416);
        assert.equal(res.headers['content-range'], `bytes */${SIZE}`);
        assert.deepEqual(upstream.map((r) => `${r.range} → ${r.status}`), [`${slicesOf(2_000_000, 2_000_000)[0]} → 416`]);
      }
    });

    it('If-None-Match with the current ETag → 304 from the proxy itself', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { 'if-none-match': etag }));
      assert.equal(res.status, 304);
      assert.equal(res.headers.etag, etag);
      assert.equal(res.body.length, 0);
      assert.deepEqual(upstream, []);
    });

    it('If-None-Match with the current ETag and a Range → 304 (preconditions before Range)', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { 'if-none-match': etag, range: 'bytes=0-9' }));
      assert.equal(res.status, 304);
      assert.equal(res.body.length, 0);
      assert.deepEqual(upstream, []);
    });

    it('If-Modified-Since with the Last-Modified date → 304', async () => {
      const since = new Date(MTIME_S * 1000).toUTCString();
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { 'if-modified-since': since }));
      assert.equal(res.status, 304);
      assert.deepEqual(upstream, []);
    });

    it('If-None-Match with another ETag → 200 and every byte', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { 'if-none-match': '"other"' }));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      assert.deepEqual(upstream, []);
    });

    it('If-Match with another ETag → 412', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { 'if-match': '"other"' }));
      assert.equal(res.status, 412);
      assert.deepEqual(upstream, []);
    });

    it('If-Range with the current ETag → 206 with the range; with an old one → 200 and every byte', async () => {
      const same = await fetch('/?path=video.mp4', { 'if-range': etag, range: 'bytes=262100-262200' });
      assert.equal(same.status, 206);
      assert.deepEqual(same.body, pattern(262_100, 262_200));
      const stale = await fetch('/?path=video.mp4', { 'if-range': '"old"', range: 'bytes=262100-262200' });
      assert.equal(stale.status, 200);
      assert.deepEqual(stale.body, pattern(0, SIZE - 1));
    });

    it('several ranges → 200 and every byte (the slice module serves one range at most)', async () => {
      const { res, upstream } = await counting(() => fetch('/?path=video.mp4', { range: 'bytes=0-9,500000-500009' }));
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      assert.deepEqual(upstream, []);
    });
  });

  describe('the file changes (new ETag) while slices are cached', () => {
    const path = (name: string): string => `/short/?path=${name}`;
    let oldEtag = '';
    let steadyEtag = '';
    let warmStartMs = 0;
    let warmEndMs = 0;

    /** Rewrites a file in place with other bytes of the same size and a new mtime, so its ETag changes. */
    function rewrite(name: string): void {
      writeFileSync(fixtures.path(`a/${name}`), changed(0, SIZE - 1));
      utimesSync(fixtures.path(`a/${name}`), MTIME_S + 1000, MTIME_S + 1000);
    }

    // nginx keeps a response fresh until its whole-second clock passes (second it arrived) +
    // s-maxage: so everything warmed up is fresh until this second boundary after the warm-up
    // started, and stale from this one after it ended.
    const freshUntilMs = (): number => (Math.floor(warmStartMs / 1000) + SHORT_S + 1) * 1000;
    async function waitUntilStale(): Promise<void> {
      const staleAtMs = (Math.floor(warmEndMs / 1000) + SHORT_S + 1) * 1000 + 20;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, staleAtMs - Date.now())));
    }

    before(async () => {
      // Start early in a second, so the "still fresh" cases have more than a second to run.
      if (Date.now() % 1000 > 800) await new Promise((resolve) => setTimeout(resolve, 1000 - (Date.now() % 1000)));
      warmStartMs = Date.now();
      const changing = await fetch(path('changing.mp4'));
      assert.deepEqual(changing.body, pattern(0, SIZE - 1));
      oldEtag = String(changing.headers.etag);
      const steady = await fetch(path('steady.mp4'));
      assert.deepEqual(steady.body, pattern(0, SIZE - 1));
      steadyEtag = String(steady.headers.etag);
      // Only the second slice of splice.mp4.
      const second = await fetch(path('splice.mp4'), { range: `bytes=${SLICE}-${SLICE + 99}` });
      assert.deepEqual(second.body, pattern(SLICE, SLICE + 99));
      await untilCached(path('changing.mp4'), slicesOf(0, SIZE - 1));
      await untilCached(path('steady.mp4'), slicesOf(0, SIZE - 1));
      await untilCached(path('splice.mp4'), slicesOf(SLICE, SLICE));
      warmEndMs = Date.now();
      rewrite('changing.mp4');
      rewrite('splice.mp4');
    });

    it('while the cached copy is fresh (s-maxage), the proxy serves the old version, whole and consistent', async () => {
      const { res, upstream } = await counting(() => fetch(path('changing.mp4')));
      assert.ok(Date.now() < freshUntilMs(), 'ran while the cached slices were fresh');
      assert.equal(res.headers['x-cache-status'], 'HIT');
      assert.equal(res.headers.etag, oldEtag);
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      assert.deepEqual(upstream, []);
    });

    it('a range needing a new slice next to a cached old one fails rather than splice two versions', async () => {
      // The first slice is fetched now (new ETag); the second comes from the cache (old ETag).
      const { res, upstream } = await counting(() => fetch(path('splice.mp4'), { range: 'bytes=262000-262300' }));
      assert.ok(Date.now() < freshUntilMs(), 'ran while the cached slices were fresh');
      assert.deepEqual(upstream.map((r) => r.range), [slicesOf(0, 0)[0]]);
      assert.equal(res.complete, false, 'the transfer must break: no response, or fewer bytes than Content-Length');
      if (res.status !== 0) {
        assert.equal(res.status, 206);
        assert.equal(res.headers['content-length'], '301');
        assert.ok(res.body.length < 301);
      }
      // Whatever did arrive is the new file at the right offsets, never a byte of the old one.
      assert.deepEqual(res.body, changed(262_000, 262_000 + res.body.length - 1));
      assert.match(nginx!.errorLog(), /etag mismatch in slice response/);
    });

    it('once stale, an unchanged file is revalidated: every slice gets a 304, the body is the same bytes', async () => {
      await waitUntilStale();
      const { res, upstream } = await counting(() => fetch(path('steady.mp4')));
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-cache-status'], 'REVALIDATED');
      assert.equal(res.headers.etag, steadyEtag);
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      assert.equal(upstream.length, 5);
      for (const r of upstream) {
        assert.equal(r.ifNoneMatch, steadyEtag);
        assert.equal(r.status, 304);
      }
    });

    it('once stale, a changed file → the new bytes and the new ETag, each slice refetched (206 to If-None-Match)', async () => {
      await waitUntilStale();
      const { res, upstream } = await counting(() => fetch(path('changing.mp4')));
      assert.equal(res.status, 200);
      assert.equal(res.headers['x-cache-status'], 'EXPIRED');
      assert.notEqual(res.headers.etag, oldEtag);
      assert.deepEqual(res.body, changed(0, SIZE - 1));
      assert.equal(upstream.length, 5);
      for (const r of upstream) {
        assert.equal(r.ifNoneMatch, oldEtag);
        assert.equal(r.status, 206);
      }
      const warm = await counting(() => fetch(path('changing.mp4'), { range: 'bytes=262000-262300' }));
      assert.equal(warm.res.headers['x-cache-status'], 'HIT');
      assert.deepEqual(warm.res.body, changed(262_000, 262_300));
      assert.deepEqual(warm.upstream, []);
    });

    it('once the old slice is stale too, the range that failed → the new bytes, whole', async () => {
      await waitUntilStale();
      const { res } = await counting(() => fetch(path('splice.mp4'), { range: 'bytes=262000-262300' }));
      assert.equal(res.status, 206);
      assert.equal(res.complete, true);
      assert.deepEqual(res.body, changed(262_000, 262_300));
    });
  });

  describe('several origin machines behind one proxy', () => {
    it('each URL pinned to one origin (hash … consistent): slices agree, every byte arrives', async () => {
      const { res, upstream } = await counting(() => fetch('/pinned/?path=replica.mp4'));
      assert.equal(res.status, 200);
      assert.equal(res.complete, true);
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
      assert.equal(new Set(upstream.map((r) => r.origin)).size, 1);
    });

    it('round-robin over two copies (same bytes, same mtime): slices from both join into one body', async () => {
      const { res, upstream } = await counting(() => fetch('/replicas/?path=replica.mp4'));
      assert.deepEqual(new Set(upstream.map((r) => r.origin)), new Set(['a', 'b']));
      assert.equal(res.complete, true, 'nginx: "etag mismatch in slice response"');
      assert.deepEqual(res.body, pattern(0, SIZE - 1));
    });
  });
});
