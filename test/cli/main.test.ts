import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import {
  DEFAULT_PREFIX,
  SAMPLE_DIR,
  parseCli,
  parseDuration,
  parseSize,
  type CliCommand,
  type ServeConfig,
} from '../../src/cli/args.ts';
import { startServer, startupLines, type RunningServer } from '../../src/cli/demo-server.ts';
import { DEMO_PAGE_CSP } from '../../src/cli/demo-page.ts';
import { createUrlVerifier, readSignedLink, type SignUrlOptions } from '../../src/serve/signed-url.ts';
import { WatchLog } from '../../src/watch-log/watch-log.ts';
import { ROOT, get } from '../helpers/cli.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { settle } from '../helpers/server.ts';

const SAMPLE = readFileSync(join(ROOT, 'sample', 'sample.mp4'));
const SIGNING_SECRET = 'cli-test-signing-secret-0123456789abcdef';
const OLD_SIGNING_SECRET = 'cli-test-old-signing-secret-0123456789ab';

describe('parseSize', () => {
  const cases: ReadonlyArray<{ text: string; want: number | undefined }> = [
    { text: '1', want: 1 },
    { text: '1048576', want: 1048576 },
    { text: '512k', want: 512 * 1024 },
    { text: '512K', want: 512 * 1024 },
    { text: '8M', want: 8 * 1024 * 1024 },
    { text: '8MiB', want: 8 * 1024 * 1024 },
    { text: '8mb', want: 8 * 1024 * 1024 },
    { text: '1G', want: 1024 ** 3 },
    { text: '100B', want: 100 },
    { text: '0', want: undefined },
    { text: '0M', want: undefined },
    { text: '', want: undefined },
    { text: 'M', want: undefined },
    { text: '1.5M', want: undefined },
    { text: '-1', want: undefined },
    { text: '8X', want: undefined },
    { text: '8 M', want: undefined },
    { text: '1T', want: undefined },
    { text: '99999999999999999999', want: undefined },
  ];
  for (const { text, want } of cases) it(`${JSON.stringify(text)} → ${want}`, () => assert.equal(parseSize(text), want));
});

describe('parseDuration', () => {
  const cases: ReadonlyArray<{ text: string; want: number | undefined }> = [
    { text: '3600', want: 3600 },
    { text: '90s', want: 90 },
    { text: '45m', want: 2700 },
    { text: '2h', want: 7200 },
    { text: '7d', want: 604_800 },
    { text: '1', want: 1 },
    { text: '0', want: undefined },
    { text: '0h', want: undefined },
    { text: '', want: undefined },
    { text: 'h', want: undefined },
    { text: '1.5h', want: undefined },
    { text: '2H', want: undefined },
    { text: '-5', want: undefined },
    { text: '2 h', want: undefined },
    { text: '1w', want: undefined },
    { text: '99999999999999999999d', want: undefined },
  ];
  for (const { text, want } of cases) it(`${JSON.stringify(text)} → ${want}`, () => assert.equal(parseDuration(text), want));
});

describe('parseCli', () => {
  const fixtures = createFixtures('sage-stream-cli-args-');
  before(() => {
    fixtures.write('file.mp4', 'x');
    fixtures.write('secret.txt', `${SIGNING_SECRET}\n`);
    fixtures.write('old-secret.txt', `  ${OLD_SIGNING_SECRET}\r\n`);
    fixtures.write('short-secret.txt', 'too short\n');
  });
  after(() => fixtures.remove());
  const cwd = fixtures.dir;
  const defaults: ServeConfig = {
    dir: SAMPLE_DIR,
    port: 8000,
    host: '127.0.0.1',
    prefix: DEFAULT_PREFIX,
    maxChunkSize: undefined,
    log: join(cwd, 'watch.db'),
    logMaxAgeDays: 90,
    logMaxRows: 1_000_000,
    adminToken: undefined,
    signingSecrets: [],
    rate: undefined,
    cors: undefined,
    accessLog: 'combined',
    trustProxy: [],
    tls: undefined,
    cacheControl: undefined,
    shutdownGraceMs: 5000,
  };
  const serve = (config: Partial<ServeConfig>, workers?: number): CliCommand => ({
    kind: 'serve',
    config: { ...defaults, ...config },
    workers,
    showToken: false,
  });
  const sign = (path: string, options: Partial<SignUrlOptions>): CliCommand => ({
    kind: 'sign',
    path,
    options: { secret: SIGNING_SECRET, mode: 'query', base: 'http://127.0.0.1:8000/api/stream', ...options },
  });
  const cases: ReadonlyArray<{ args: string[]; env?: Record<string, string>; want: CliCommand | RegExp }> = [
    { args: ['--help'], want: { kind: 'help' } },
    { args: ['-h'], want: { kind: 'help' } },
    { args: ['serve', '--help'], want: { kind: 'help' } },
    { args: ['serve'], want: serve({}) },
    { args: ['serve', '.'], want: serve({ dir: cwd }) },
    { args: ['serve', cwd, '--port', '0', '--host', '::1'], want: serve({ dir: cwd, port: 0, host: '::1' }) },
    { args: ['serve', '--port=65535'], want: serve({ port: 65535 }) },
    { args: ['serve', '--max-chunk', '8M'], want: serve({ maxChunkSize: 8 * 1024 * 1024 }) },
    { args: ['serve', '--rate', '2M'], want: serve({ rate: { bytesPerSecond: 2 * 1024 * 1024, burstBytes: 0 } }) },
    { args: ['serve', '--rate', '512k', '--burst', '8M'], want: serve({ rate: { bytesPerSecond: 512 * 1024, burstBytes: 8 * 1024 * 1024 } }) },
    { args: ['serve', '--rate', 'fast'], want: /^--rate must be a size per second like 512k or 2M, got 'fast'$/ },
    { args: ['serve', '--rate', '0'], want: /^--rate must be a size per second/ },
    { args: ['serve', '--rate', '1M', '--burst', 'lots'], want: /^--burst must be a size/ },
    { args: ['serve', '--burst', '1M'], want: /^--burst needs --rate$/ },
    { args: ['serve', '--cors'], want: serve({ cors: '*' }) },
    { args: ['serve', '--cors', '*'], want: serve({ cors: '*' }) },
    { args: ['serve', '--cors', '.'], want: serve({ cors: '*', dir: cwd }) }, // a folder is not an origin
    { args: ['serve', '--cors', '--port', '0'], want: serve({ cors: '*', port: 0 }) },
    { args: ['serve', '--cors', 'https://a.test,http://b.test:8080'], want: serve({ cors: ['https://a.test', 'http://b.test:8080'] }) },
    { args: ['serve', '--cors=https://a.test'], want: serve({ cors: ['https://a.test'] }) },
    { args: ['serve', '--cors', 'https://a.test/path'], want: /^--cors: each origin must be an origin like 'https:\/\/example\.com'/ },
    { args: ['serve', '--cors=,'], want: /^--cors takes origins like/ },
    { args: ['sign', 'a.mp4', '--cors'], want: /^--cors is not an option of sign$/ },
    { args: ['serve', '--prefix', '/media/'], want: serve({ prefix: '/media' }) },
    { args: ['serve', '--prefix', '/a/b'], want: serve({ prefix: '/a/b' }) },
    { args: ['serve', '--log', 'plays.db'], want: serve({ log: join(cwd, 'plays.db') }) },
    { args: ['serve', '--no-log'], want: serve({ log: false }) },
    { args: ['serve', '--log-max-age-days', '30', '--log-max-rows', '5000'], want: serve({ logMaxAgeDays: 30, logMaxRows: 5000 }) },
    { args: ['serve', '--log-max-age-days', '0', '--log-max-rows', '0'], want: serve({ logMaxAgeDays: 0, logMaxRows: 0 }) },
    { args: ['serve', '--log-max-age-days', '1.5'], want: /^--log-max-age-days must be a whole number of days \(0 keeps all\), got '1\.5'$/ },
    { args: ['serve', '--log-max-rows', '-1'], want: /^option '--log-max-rows' needs a value/ },
    { args: ['serve', '--log-max-rows', 'many'], want: /^--log-max-rows must be a whole number/ },
    { args: ['serve', '--admin-token', 's3cret-token-0123'], want: serve({ adminToken: 's3cret-token-0123' }) },
    { args: ['serve'], env: { SAGE_STREAM_ADMIN_TOKEN: 'from-env-token-0123' }, want: serve({ adminToken: 'from-env-token-0123' }) },
    { args: ['serve', '--admin-token', 'flag-token-012345'], env: { SAGE_STREAM_ADMIN_TOKEN: 'env' }, want: serve({ adminToken: 'flag-token-012345' }) },
    { args: ['serve', '--admin-token', '0123456789abcdef'], want: serve({ adminToken: '0123456789abcdef' }) }, // exactly 16
    { args: ['serve', '--admin-token', '0123456789abcde'], want: /^--admin-token must be at least 16 characters, got 15$/ },
    { args: ['serve', '--admin-token', 's3cret'], want: /^--admin-token must be at least 16 characters, got 6$/ },
    { args: ['serve'], env: { SAGE_STREAM_ADMIN_TOKEN: 'short' }, want: /^--admin-token must be at least 16 characters, got 5$/ },
    { args: ['serve', '--show-token'], want: { ...serve({}), showToken: true } as CliCommand },
    { args: ['sign', 'a.mp4', '--show-token'], want: /^--show-token is not an option of sign$/ },
    { args: ['serve', '--workers', '2'], want: serve({}, 2) },
    { args: ['serve', '--signing-secret-file', 'secret.txt'], want: serve({ signingSecrets: [SIGNING_SECRET] }) },
    {
      args: ['serve', '--signing-secret-file', 'secret.txt', '--signing-secret-file', 'old-secret.txt'],
      want: serve({ signingSecrets: [SIGNING_SECRET, OLD_SIGNING_SECRET] }),
    },
    { args: ['serve'], env: { SAGE_STREAM_SIGNING_SECRET: SIGNING_SECRET }, want: serve({ signingSecrets: [SIGNING_SECRET] }) },
    {
      args: ['serve', '--signing-secret-file', 'old-secret.txt'],
      env: { SAGE_STREAM_SIGNING_SECRET: SIGNING_SECRET },
      want: serve({ signingSecrets: [OLD_SIGNING_SECRET] }),
    },
    { args: ['serve'], env: { SAGE_STREAM_SIGNING_SECRET: '' }, want: serve({}) },
    { args: ['serve', '--signing-secret-file', 'short-secret.txt'], want: /^--signing-secret-file .*short-secret\.txt: a signing secret must be at least 32 bytes, got 9$/ },
    { args: ['serve', '--signing-secret-file', 'missing.txt'], want: /^--signing-secret-file: cannot read .*missing\.txt \(ENOENT\)$/ },
    { args: ['serve'], env: { SAGE_STREAM_SIGNING_SECRET: 'short' }, want: /^SAGE_STREAM_SIGNING_SECRET: a signing secret must be at least 32 bytes, got 5$/ },
    { args: ['serve', '--expires-in', '2h'], want: /^--expires-in is not an option of serve$/ },
    { args: ['sign', 'a.mp4', '--port', '80', '--expires-in', '60', '--secret-file', 'secret.txt'], want: /^--port is not an option of sign$/ },
    {
      args: ['sign', 'movies/a b.mp4', '--expires-in', '2h', '--secret-file', 'secret.txt'],
      want: sign('movies/a b.mp4', { expiresIn: 7200 }),
    },
    {
      args: ['sign', 'a.mp4', '--expires-in', '90'],
      env: { SAGE_STREAM_SIGNING_SECRET: SIGNING_SECRET },
      want: sign('a.mp4', { expiresIn: 90 }),
    },
    {
      args: ['sign', 'a.mp4', '--expires-at', '2999-01-01T00:00:00Z', '--secret-file', 'old-secret.txt'],
      env: { SAGE_STREAM_SIGNING_SECRET: SIGNING_SECRET },
      want: sign('a.mp4', { expiresAt: new Date('2999-01-01T00:00:00Z'), secret: OLD_SIGNING_SECRET }),
    },
    {
      args: ['sign', 'a.mp4', '--expires-in', '1d', '--secret-file', 'secret.txt', '--bind-ip', '203.0.113.7', '--bind-user', 'alice'],
      want: sign('a.mp4', { expiresIn: 86_400, bind: { ip: '203.0.113.7', user: 'alice' } }),
    },
    {
      args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'secret.txt', '--mode', 'path'],
      want: sign('a.mp4', { expiresIn: 60, mode: 'path', base: 'http://127.0.0.1:8000/videos' }),
    },
    {
      args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'secret.txt', '--base', '/stream'],
      want: sign('a.mp4', { expiresIn: 60, base: '/stream' }),
    },
    { args: ['sign', '--help'], want: { kind: 'help' } },
    { args: ['sign'], want: /^missing file: sage-stream sign <file>/ },
    { args: ['sign', 'a.mp4', 'b.mp4', '--expires-in', '60'], want: /^unexpected argument 'b\.mp4': sign takes one file$/ },
    { args: ['sign', 'a.mp4', '--secret-file', 'secret.txt'], want: /^give either --expires-in or --expires-at$/ },
    { args: ['sign', 'a.mp4', '--secret-file', 'secret.txt', '--expires-in', '1h', '--expires-at', '2999-01-01'], want: /^give either --expires-in or --expires-at$/ },
    { args: ['sign', 'a.mp4', '--secret-file', 'secret.txt', '--expires-in', '2 weeks'], want: /^--expires-in must be a duration like 3600, 90s, 45m, 2h or 7d, got '2 weeks'$/ },
    { args: ['sign', 'a.mp4', '--secret-file', 'secret.txt', '--expires-in', '0'], want: /^--expires-in must be a duration/ },
    { args: ['sign', 'a.mp4', '--secret-file', 'secret.txt', '--expires-at', 'tomorrow'], want: /^--expires-at must be an ISO 8601 date/ },
    { args: ['sign', 'a.mp4', '--secret-file', 'secret.txt', '--expires-at', '2001-01-01T00:00:00Z'], want: /^--expires-at must be in the future/ },
    { args: ['sign', 'a.mp4', '--expires-in', '60'], want: /^give --secret-file <file> or set SAGE_STREAM_SIGNING_SECRET$/ },
    { args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'short-secret.txt'], want: /^--secret-file .*: a signing secret must be at least 32 bytes, got 9$/ },
    { args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'nope.txt'], want: /^--secret-file: cannot read .*nope\.txt \(ENOENT\)$/ },
    { args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'secret.txt', '--bind-ip', 'localhost'], want: /^--bind-ip must be an IP address, got 'localhost'$/ },
    { args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'secret.txt', '--bind-user', ''], want: /^--bind-user must not be empty$/ },
    { args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'secret.txt', '--mode', 'hash'], want: /^--mode must be 'query' or 'path', got 'hash'$/ },
    { args: ['sign', '../etc/passwd', '--expires-in', '60', '--secret-file', 'secret.txt'], want: /^path must name a file below root \(no '\.\.' segment, NUL or backslash\), got "\.\.\/etc\/passwd"$/ },
    { args: ['sign', 'a.mp4', '--expires-in', '60', '--secret-file', 'secret.txt', '--mode', 'path', '--base', '/v?x'], want: /^--base must not carry a query/ },
    { args: [], want: /^missing command/ },
    // `sage-stream DIR` is `serve DIR`: a word that is no folder is a missing folder.
    { args: ['start'], want: /^folder not found: .*start$/ },
    { args: ['serve', 'a', 'b'], want: /^unexpected argument 'b'/ },
    { args: ['serve', '--bogus'], want: /^unknown option '--bogus'$/ },
    { args: ['serve', '-x'], want: /^unknown option '-x'$/ },
    { args: ['serve', '--port'], want: /^option '--port' needs a value$/ },
    { args: ['serve', '--no-log=1'], want: /^option '--no-log' takes no value$/ },
    { args: ['serve', '--port', '--host'], want: /^option '--port' needs a value \(write --port=-… for one starting with -\)$/ },
    { args: ['serve', '--port', '70000'], want: /^--port must be an integer from 0 to 65535, got '70000'$/ },
    { args: ['serve', '--port', '80a'], want: /^--port must be/ },
    { args: ['serve', '--port=-1'], want: /^--port must be an integer/ },
    { args: ['serve', '--port', ''], want: /^--port must be/ },
    { args: ['serve', '--host', ''], want: /^--host must not be empty/ },
    { args: ['serve', '--max-chunk', '8X'], want: /^--max-chunk must be a size/ },
    { args: ['serve', '--max-chunk', '0'], want: /^--max-chunk must be a size/ },
    { args: ['serve', '--prefix', 'videos'], want: /^--prefix must be a URL path/ },
    { args: ['serve', '--prefix', '/'], want: /^--prefix must be a URL path/ },
    { args: ['serve', '--prefix', '/a/../b'], want: /^--prefix must be a URL path/ },
    { args: ['serve', '--prefix', '/a?b'], want: /^--prefix must be a URL path/ },
    { args: ['serve', '--prefix', '/api/stream'], want: /is taken by another route/ },
    { args: ['serve', '--log', 'x.db', '--no-log'], want: /^give either --log <file> or --no-log/ },
    { args: ['serve', '--log', ''], want: /^--log must name a file/ },
    { args: ['serve', '--log', 'missing/x.db'], want: /^--log: folder not found/ },
    { args: ['serve', '--admin-token', 'has space'], want: /^--admin-token must be printable ASCII/ },
    { args: ['serve', '--workers', '0'], want: /^--workers must be an integer from 1 to 64/ },
    { args: ['serve', '--workers', '65'], want: /^--workers must be/ },
    { args: ['serve', '--workers', 'two'], want: /^--workers must be/ },
    { args: ['serve', 'missing'], want: /^folder not found: .*missing$/ },
    { args: ['serve', 'file.mp4'], want: /^not a folder: .*file\.mp4$/ },
    { args: ['serve', 'file.mp4/x'], want: /^folder not found: / },
  ];
  for (const { args, env = {}, want } of cases) {
    it(`${args.join(' ') || '(nothing)'}${Object.keys(env).length > 0 ? ` with ${Object.keys(env).join(', ')}` : ''}`, () => {
      const got = parseCli(args, cwd, env);
      if (want instanceof RegExp) {
        assert.equal(got.kind, 'error');
        if (got.kind === 'error') {
          assert.match(got.message, want);
          assert.doesNotMatch(got.message, /\n/);
        }
      } else {
        assert.deepEqual(got, want);
      }
    });
  }
});

describe('startServer (in-process)', () => {
  const fixtures = createFixtures('sage-stream-serve-');
  let server: RunningServer;
  let capped: RunningServer;

  before(async () => {
    fixtures.file('clip.mp4', 10_000);
    fixtures.file('show/ep 1.webm', 3000);
    fixtures.write('<script>alert(1)</script>.mp4', 'x');
    fixtures.write('.secret.mp4', 'x');
    fixtures.write('notes.txt', 'x');
    server = await startServer({ dir: fixtures.dir, port: 0 });
    capped = await startServer({ dir: fixtures.dir, port: 0, maxChunkSize: 1000, prefix: '/media/' });
  });
  after(async () => {
    await Promise.all([server.close(), capped.close()]);
    fixtures.remove();
  });

  it('reports its URL and the port it got', () => {
    assert.match(server.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    assert.equal(server.url, `http://127.0.0.1:${server.port}/`);
    assert.notEqual(server.port, 0);
  });

  it('GET / → the demo page, listing the media files, escaped, with its headers', async () => {
    const { status, headers, body } = await get(server.url);
    const html = body.toString('utf8');
    assert.equal(status, 200);
    assert.equal(headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(headers['x-content-type-options'], 'nosniff');
    assert.equal(headers['content-security-policy'], DEMO_PAGE_CSP);
    assert.equal(headers['content-length'], String(body.length));
    assert.match(html, /href="\/api\/stream\?path=clip\.mp4"/);
    assert.match(html, /href="\/api\/stream\?path=show%2Fep%201\.webm"/);
    assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;.mp4'));
    assert.ok(!html.includes('<script>alert(1)'));
    assert.ok(!html.includes('secret') && !html.includes('notes.txt'));
  });

  it('HEAD / → the headers, no body', async () => {
    const { status, headers, body } = await get(server.url, {}, 'HEAD');
    assert.equal(status, 200);
    assert.equal(headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(body.length, 0);
  });

  it('POST / → 405 with Allow', async () => {
    const { status, headers } = await get(server.url, {}, 'POST');
    assert.equal(status, 405);
    assert.equal(headers['allow'], 'GET, HEAD');
  });

  const routes: ReadonlyArray<{ path: string; range?: string; status: number; contentRange?: string; body?: Buffer }> = [
    { path: '/api/stream?path=clip.mp4', range: 'bytes=0-1023', status: 206, contentRange: 'bytes 0-1023/10000', body: pattern(0, 1023) },
    { path: '/api/stream/?path=clip.mp4', range: 'bytes=9990-', status: 206, contentRange: 'bytes 9990-9999/10000', body: pattern(9990, 9999) },
    { path: '/api/stream?path=show%2Fep%201.webm', status: 200, body: pattern(0, 2999) },
    { path: '/videos/clip.mp4', range: 'bytes=100-199', status: 206, contentRange: 'bytes 100-199/10000', body: pattern(100, 199) },
    { path: '/videos/show/ep%201.webm', range: 'bytes=-10', status: 206, contentRange: 'bytes 2990-2999/3000', body: pattern(2990, 2999) },
    { path: '/api/stream?path=missing.mp4', status: 404 },
    { path: '/api/stream', status: 400 },
    { path: '/api/stream?path=.secret.mp4', status: 403 },
    { path: '/api/stream?path=../cli.test.ts', status: 400 },
    { path: '/videos/missing.mp4', status: 404 },
    { path: '/videos', status: 404 },
    { path: '/videosX/clip.mp4', status: 404 },
    { path: '/clip.mp4', status: 404 },
    { path: '/admin', status: 404 },
    { path: '/favicon.ico', status: 404 },
  ];
  for (const { path, range, status, contentRange, body } of routes) {
    it(`GET ${path}${range === undefined ? '' : ` (${range})`} → ${status}`, async () => {
      const got = await get(server.url.replace(/\/$/, path), range === undefined ? {} : { Range: range });
      assert.equal(got.status, status);
      if (contentRange !== undefined) assert.equal(got.headers['content-range'], contentRange);
      if (body !== undefined) assert.deepEqual(got.body, body);
      if (status >= 400) assert.equal(got.headers['content-type'], 'text/plain; charset=utf-8');
    });
  }

  it('maxChunkSize caps an open-ended range', async () => {
    const got = await get(`${capped.url}api/stream?path=clip.mp4`, { Range: 'bytes=0-' });
    assert.equal(got.status, 206);
    assert.equal(got.headers['content-range'], 'bytes 0-999/10000');
    assert.deepEqual(got.body, pattern(0, 999));
  });

  it('a custom prefix (trailing slash dropped) replaces /videos', async () => {
    assert.equal((await get(`${capped.url}media/clip.mp4`, { Range: 'bytes=5-9' })).body.length, 5);
    assert.equal((await get(`${capped.url}videos/clip.mp4`)).status, 404);
  });

  it('serves the bundled sample when no dir is given', async () => {
    const sample = await startServer({ port: 0 });
    try {
      const got = await get(`${sample.url}api/stream?path=sample.mp4`, { Range: 'bytes=0-1023' });
      assert.equal(got.status, 206);
      assert.deepEqual(got.body, SAMPLE.subarray(0, 1024));
    } finally {
      await sample.close();
    }
  });

  it('cors: both stream routes answer the named origin (and its preflight), no other; without it, none', async () => {
    const withCors = await startServer({ dir: fixtures.dir, port: 0, cors: ['https://player.test'] });
    try {
      const origin = { Origin: 'https://player.test', Range: 'bytes=0-9' };
      for (const path of ['api/stream?path=clip.mp4', 'videos/clip.mp4']) {
        const got = await get(`${withCors.url}${path}`, origin);
        assert.equal(got.status, 206);
        assert.deepEqual(got.body, pattern(0, 9));
        assert.equal(got.headers['access-control-allow-origin'], 'https://player.test');
        const other = await get(`${withCors.url}${path}`, { Origin: 'https://other.test' });
        assert.equal(other.headers['access-control-allow-origin'], undefined);
        const preflight = await get(`${withCors.url}${path}`, { Origin: 'https://player.test', 'Access-Control-Request-Method': 'GET' }, 'OPTIONS');
        assert.equal(preflight.status, 204);
      }
      assert.equal((await get(`${server.url}videos/clip.mp4`, origin)).headers['access-control-allow-origin'], undefined);
    } finally {
      await withCors.close();
    }
  });

  it('rejects a missing dir (TypeError) and a port in use (EADDRINUSE)', async () => {
    await assert.rejects(startServer({ dir: fixtures.path('nope'), port: 0 }), TypeError);
    await assert.rejects(startServer({ dir: fixtures.dir, port: server.port }), { code: 'EADDRINUSE' });
  });

  it('signingSecrets: stream routes serve signed links only, the demo page is off, startup links are signed', async () => {
    const signed = await startServer({ dir: fixtures.dir, port: 0, signingSecrets: [SIGNING_SECRET] });
    try {
      assert.equal((await get(signed.url)).status, 404);
      assert.equal((await get(`${signed.url}api/stream?path=clip.mp4`)).status, 403);
      assert.equal((await get(`${signed.url}videos/clip.mp4`)).status, 403);
      const lines = await startupLines(signed.url, signed.config);
      assert.equal(lines[1], 'page    off (signed links only: sage-stream sign <file>)');
      const first = '<script>alert(1)</script>.mp4'; // the first file listed (its contents: 'x')
      const verifier = createUrlVerifier({ secrets: [SIGNING_SECRET] });
      for (const [name, line] of [['stream', lines[2]], ['videos', lines[3]]] as const) {
        const url = new RegExp(`^${name} +(\\S+) \\(signed, valid 1 h\\)$`).exec(line ?? '')?.[1] ?? '';
        const link = readSignedLink(url);
        assert.ok(typeof link === 'object', line);
        assert.ok(Math.abs(link.expires - (Date.now() / 1000 + 3600)) < 5, 'an hour from now');
        assert.equal(verifier.check(url, first), 'valid');
        const got = await get(url);
        assert.equal(got.status, 200, url);
        assert.equal(got.body.toString(), 'x');
      }
    } finally {
      await signed.close();
    }
  });

  it('close() ends idle keep-alive connections at once and is idempotent', async () => {
    const other = await startServer({ dir: fixtures.dir, port: 0 });
    const agent = new http.Agent({ keepAlive: true });
    await new Promise<void>((resolve, reject) => {
      http.get(`${other.url}api/stream?path=clip.mp4`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
    });
    const started = Date.now();
    await Promise.all([other.close(), other.close()]);
    assert.ok(Date.now() - started < 1000, `close took ${Date.now() - started} ms`);
    agent.destroy();
  });

  it('logMaxRows / logMaxAgeDays reach the watch log: it is pruned right after start', async () => {
    const db = fixtures.path('retention.db');
    const seed = await WatchLog.open(db);
    const old = Date.now() - 10 * 86_400_000;
    for (let i = 0; i < 30; i++) {
      seed.record({
        path: 'clip.mp4', userId: null, isAuthenticated: false, ip: `10.0.0.${i}`, userAgent: null, status: 206,
        range: null, ranges: [{ start: 0, end: 9 }], bytesSent: 10, aborted: false, size: 10_000,
        startedAt: (i < 5 ? old : Date.now()) + i, durationMs: 1,
      });
    }
    seed.close();
    const running = await startServer({ dir: fixtures.dir, port: 0, log: db, logMaxAgeDays: 7, logMaxRows: 20 });
    const reader = await WatchLog.open(db);
    try {
      await settle(() => reader.requests().total, 20);
      assert.equal(reader.requests({ from: 0, to: Date.now() - 86_400_000 }).total, 0, 'the 10-day-old rows went first');
    } finally {
      reader.close();
      await running.close();
    }
  });
});
