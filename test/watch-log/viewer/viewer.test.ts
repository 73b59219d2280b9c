import { LOCAL_TIME_SCRIPT, LOCAL_TIME_SCRIPT_SRC } from '../../../src/watch-log/viewer/local-time.ts';
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { DatabaseSync } from 'node:sqlite';
import { WatchLog, type WatchEntry } from '../../../src/watch-log/watch-log.ts';
import { createWatchLogHandler, tokenAuthorizer, type WatchLogViewerOptions } from '../../../src/watch-log/viewer/viewer.ts';
import { createFixtures } from '../../helpers/fixtures.ts';
import { start, type Received, type TestServer } from '../../helpers/server.ts';

const TOKEN = 's3cret-Token_42';
const BEARER = { authorization: `Bearer ${TOKEN}` };
const MIB = 1024 * 1024;
const T0 = Date.UTC(2025, 0, 1);
const HOUR = 3_600_000;

const XSS_PATH = '<script>alert(1)</script>.mp4';
const XSS_USER = `"'><svg onload=alert(2)>`;
const XSS_AGENT = '"><img src=x onerror=alert(1)>';
const XSS_RANGE = 'bytes=0-"><b>x</b>';
// Raw markup that must never reach a page: none has a script (but its own), an img, an svg or a b.
const RAW_PAYLOADS = ['<script', '<img', '<svg', '<b>'];

function entry(overrides: Partial<WatchEntry>): WatchEntry {
  return {
    path: 'movies/a.mp4', userId: null, isAuthenticated: false, ip: '10.0.0.1', userAgent: 'VLC/3.0',
    status: 206, range: null, ranges: [], bytesSent: 0, aborted: false, size: MIB, startedAt: T0, durationMs: 10,
    ...overrides,
  };
}

// One request per viewer, so ips name both the request and its session: .1 is the oldest, .5 the newest.
const ENTRIES: readonly WatchEntry[] = [
  entry({ userId: 'alice', isAuthenticated: true, ip: '10.0.0.1', status: 200, ranges: [{ start: 0, end: MIB - 1 }], bytesSent: MIB }),
  entry({ path: 'movies/b.mp4', userId: 'bob', isAuthenticated: true, ip: '10.0.0.2', startedAt: T0 + HOUR,
    range: 'bytes=0-524287', ranges: [{ start: 0, end: 524287 }], bytesSent: 524288 }),
  entry({ path: 'movies/100%.mp4', ip: '10.0.0.3', startedAt: T0 + 2 * HOUR,
    range: 'bytes=0-65535', ranges: [{ start: 0, end: 65535 }], bytesSent: 65536 }),
  entry({ path: XSS_PATH, userId: XSS_USER, isAuthenticated: true, ip: '10.0.0.4', userAgent: XSS_AGENT,
    startedAt: T0 + 3 * HOUR, range: XSS_RANGE, ranges: [{ start: 0, end: 65535 }], bytesSent: 65536 }),
  entry({ ip: '10.0.0.5', startedAt: T0 + 24 * HOUR, aborted: true, durationMs: 125_000 }),
];

const fixtures = createFixtures('sage-stream-viewer-');
let log: WatchLog;
let server: TestServer;

before(async () => {
  log = await WatchLog.open(':memory:');
  for (const e of ENTRIES) log.record(e);
  log.flush();
  server = await start(createWatchLogHandler({ watchLog: log, authorize: tokenAuthorizer(TOKEN) }));
});
after(async () => {
  await server.close();
  log.close();
  fixtures.remove();
});

function get(path: string, headers: Record<string, string> = BEARER, method = 'GET'): Promise<Received> {
  return server.request(path, headers, method);
}

type Json = { rows: Array<Record<string, unknown>>; total: number; limit: number; offset: number; error?: string };

async function getJson(path: string): Promise<Json> {
  const res = await get(path);
  assert.equal(res.status, 200, res.body.toString());
  assert.equal(res.headers['content-type'], 'application/json; charset=utf-8');
  return JSON.parse(res.body.toString()) as Json;
}

function hrefs(body: string): string[] {
  return [...body.matchAll(/href="([^"]*)"/g)].map((m) => m[1] ?? '');
}

describe('createWatchLogHandler setup', () => {
  const cases: ReadonlyArray<{ name: string; options: unknown; message: RegExp }> = [
    { name: 'authorize missing', options: { watchLog: {} }, message: /options\.authorize is required/ },
    { name: 'authorize not a function', options: { watchLog: {}, authorize: true }, message: /options\.authorize/ },
    { name: 'watchLog missing', options: { authorize: () => true }, message: /options\.watchLog/ },
    { name: 'basePath without a leading slash', options: { watchLog: {}, authorize: () => true, basePath: 'admin' }, message: /options\.basePath/ },
  ];
  for (const { name, options, message } of cases) {
    it(`${name} → TypeError`, () => {
      assert.throws(() => createWatchLogHandler(options as WatchLogViewerOptions), { name: 'TypeError', message });
    });
  }
  it('tokenAuthorizer("") → TypeError', () => {
    assert.throws(() => tokenAuthorizer(''), { name: 'TypeError' });
  });
});

describe('authorization (tokenAuthorizer)', () => {
  const cases: ReadonlyArray<{ name: string; path: string; headers: Record<string, string>; status: number }> = [
    { name: 'no credentials', path: '/admin/', headers: {}, status: 401 },
    { name: 'no credentials, JSON route', path: '/admin/api/sessions', headers: {}, status: 401 },
    { name: 'no credentials, unknown route (authorization comes first)', path: '/admin/nope', headers: {}, status: 401 },
    { name: 'wrong bearer token', path: '/admin/', headers: { authorization: 'Bearer nope' }, status: 403 },
    { name: 'wrong token of the same length', path: '/admin/', headers: { authorization: `Bearer ${TOKEN.slice(0, -1)}x` }, status: 403 },
    { name: 'prefix of the token', path: '/admin/', headers: { authorization: `Bearer ${TOKEN.slice(0, 5)}` }, status: 403 },
    { name: 'token plus a suffix', path: '/admin/', headers: { authorization: `Bearer ${TOKEN}x` }, status: 403 },
    { name: 'token in another scheme', path: '/admin/', headers: { authorization: `Basic ${TOKEN}` }, status: 403 },
    { name: 'bare token without scheme', path: '/admin/', headers: { authorization: TOKEN }, status: 403 },
    { name: 'wrong query token', path: '/admin/?token=nope', headers: {}, status: 403 },
    { name: 'empty query token', path: '/admin/?token=', headers: {}, status: 403 },
    { name: 'right bearer token', path: '/admin/', headers: BEARER, status: 200 },
    { name: 'scheme is case-insensitive', path: '/admin/', headers: { authorization: `bearer ${TOKEN}` }, status: 200 },
    { name: 'right query token', path: `/admin/?token=${TOKEN}`, headers: {}, status: 200 },
    { name: 'right query token, JSON route', path: `/admin/api/videos?token=${TOKEN}`, headers: {}, status: 200 },
    { name: 'wrong header, right query token', path: `/admin/?token=${TOKEN}`, headers: { authorization: 'Bearer nope' }, status: 200 },
  ];
  for (const { name, path, headers, status } of cases) {
    it(`${name} → ${status}`, async () => {
      const res = await get(path, headers);
      assert.equal(res.status, status);
      if (status === 401) assert.equal(res.headers['www-authenticate'], 'Bearer realm="sage-stream"');
      else assert.equal(res.headers['www-authenticate'], undefined);
      if (status !== 200) assert.doesNotMatch(res.body.toString(), /movies\//);
    });
  }

  it('links and the form carry the token when it came by query', async () => {
    const body = (await get(`/admin/requests?token=${TOKEN}&limit=2`, {})).body.toString();
    const links = hrefs(body);
    assert.ok(links.length > 10);
    for (const link of links) assert.match(link, new RegExp(`(\\?|&amp;)token=${TOKEN}$`), link);
    assert.match(body, new RegExp(`<input type="hidden" name="token" value="${TOKEN}">`));
  });

  it('links do not carry a token that came by header', async () => {
    const body = (await get('/admin/requests?limit=2')).body.toString();
    assert.doesNotMatch(body, /token/);
  });

  it('an async authorize is awaited; anything but true refuses', async () => {
    const cases: ReadonlyArray<{ answer: unknown; status: number }> = [
      { answer: true, status: 200 },
      { answer: false, status: 401 },
      { answer: 'yes', status: 401 },
      { answer: 1, status: 401 },
    ];
    for (const { answer, status } of cases) {
      const other = await start(createWatchLogHandler({ watchLog: log, authorize: async () => answer as boolean }));
      try {
        assert.equal((await other.request('/admin/')).status, status, String(answer));
      } finally {
        await other.close();
      }
    }
  });
});

describe('JSON filters, sort and paging (/api/requests)', () => {
  const all = ['10.0.0.5', '10.0.0.4', '10.0.0.3', '10.0.0.2', '10.0.0.1'];
  const cases: ReadonlyArray<{ query: string; ips: string[]; total?: number; limit?: number; offset?: number }> = [
    { query: '', ips: all },
    { query: 'path=movies/a.mp4', ips: ['10.0.0.5', '10.0.0.1'] },
    { query: 'user=alice', ips: ['10.0.0.1'] },
    { query: `user=${encodeURIComponent(XSS_USER)}`, ips: ['10.0.0.4'] },
    { query: 'ip=10.0.0.3', ips: ['10.0.0.3'] },
    { query: 'authenticated=true', ips: ['10.0.0.4', '10.0.0.2', '10.0.0.1'] },
    { query: 'authenticated=false', ips: ['10.0.0.5', '10.0.0.3'] },
    { query: 'from=2025-01-01T01:00:00Z&to=2025-01-01T03:00:00Z', ips: ['10.0.0.3', '10.0.0.2'] },
    { query: `from=${T0 + HOUR}&to=${T0 + 3 * HOUR}`, ips: ['10.0.0.3', '10.0.0.2'] },
    { query: 'from=2025-01-02', ips: ['10.0.0.5'] },
    { query: 'to=2025-01-01T01:00', ips: ['10.0.0.1'] }, // no offset → UTC; `to` is exclusive
    { query: 'from=2025-01-01T02:00%2B01:00&to=2025-01-01T02:00Z', ips: ['10.0.0.2'] }, // 01:00Z ≤ t < 02:00Z
    { query: 'q=%25', ips: ['10.0.0.3'] }, // % is literal
    { query: 'q=_', ips: [] }, // _ is literal too
    { query: 'q=ALICE', ips: ['10.0.0.1'] },
    { query: 'q=onerror', ips: ['10.0.0.4'] }, // matches the user agent
    { query: 'q=a.mp4&authenticated=false', ips: ['10.0.0.5'] },
    { query: 'sort=path&order=asc', ips: ['10.0.0.4', '10.0.0.3', '10.0.0.1', '10.0.0.5', '10.0.0.2'] },
    { query: 'sort=startedAt&order=asc', ips: [...all].reverse() },
    { query: 'sort=bytesSent&order=desc', ips: ['10.0.0.1', '10.0.0.2', '10.0.0.4', '10.0.0.3', '10.0.0.5'] },
    { query: 'sort=durationMs', ips: ['10.0.0.5', '10.0.0.4', '10.0.0.3', '10.0.0.2', '10.0.0.1'] },
    { query: 'sort=bogus', ips: all }, // unknown sort → the default column, newest first
    { query: 'sort=bogus&order=asc', ips: [...all].reverse() }, // … and order still applies
    { query: 'order=asc', ips: [...all].reverse() },
    { query: 'sort=constructor', ips: all },
    { query: 'order=sideways', ips: all },
    { query: 'limit=2', ips: ['10.0.0.5', '10.0.0.4'], total: 5, limit: 2 },
    { query: 'limit=2&offset=2', ips: ['10.0.0.3', '10.0.0.2'], total: 5, limit: 2, offset: 2 },
    { query: 'limit=2&offset=4', ips: ['10.0.0.1'], total: 5, limit: 2, offset: 4 },
    { query: 'offset=10', ips: [], total: 5, offset: 10 },
    { query: 'limit=1000000000', ips: all, limit: 500 }, // clamped
    { query: 'limit=&offset=', ips: all }, // empty = absent
  ];
  for (const { query, ips, total = ips.length, limit = 50, offset = 0 } of cases) {
    it(query === '' ? '(no query)' : query, async () => {
      const json = await getJson(`/admin/api/requests?${query}`);
      assert.deepEqual(json.rows.map((r) => r['ip']), ips);
      assert.deepEqual({ total: json.total, limit: json.limit, offset: json.offset }, { total, limit, offset });
    });
  }
});

describe('JSON sessions and videos', () => {
  it('sessions: one per viewer, with coverage', async () => {
    const json = await getJson('/admin/api/sessions?sort=coverage&order=desc');
    assert.equal(json.total, 5);
    assert.deepEqual(json.rows.map((r) => [r['ip'], r['coverage']]), [
      ['10.0.0.1', 1], ['10.0.0.2', 0.5], ['10.0.0.4', 1 / 16], ['10.0.0.3', 1 / 16], ['10.0.0.5', 0],
    ]);
  });
  it('sessions: filters apply', async () => {
    const json = await getJson('/admin/api/sessions?path=movies/a.mp4&authenticated=true');
    assert.deepEqual(json.rows.map((r) => r['userId']), ['alice']);
  });

  const videos: ReadonlyArray<{ query: string; paths: string[]; total: number }> = [
    { query: 'sort=path&order=asc', paths: [XSS_PATH, 'movies/100%.mp4', 'movies/a.mp4', 'movies/b.mp4'], total: 4 },
    { query: 'sort=path&order=asc&limit=1', paths: [XSS_PATH], total: 4 },
    { query: 'sort=path&order=asc&limit=2&offset=2', paths: ['movies/a.mp4', 'movies/b.mp4'], total: 4 },
    { query: 'sort=path&order=asc&limit=3&offset=3', paths: ['movies/b.mp4'], total: 4 },
    { query: 'offset=10', paths: [], total: 4 },
    { query: 'path=movies/none.mp4', paths: [], total: 0 },
    { query: 'sort=sessions&order=desc&limit=1', paths: ['movies/a.mp4'], total: 4 },
  ];
  for (const { query, paths, total } of videos) {
    it(`videos: ${query}`, async () => {
      const json = await getJson(`/admin/api/videos?${query}`);
      assert.deepEqual(json.rows.map((r) => r['path']), paths);
      assert.equal(json.total, total);
    });
  }
});

describe('bad query parameters → 400', () => {
  const cases: readonly string[] = [
    'limit=-1', 'limit=abc', 'limit=1e9', 'limit=0', 'limit=1.5', 'limit=%201',
    'offset=-1', 'offset=x', 'offset=99999999999999999999',
    'authenticated=yes', 'authenticated=1',
    'from=yesterday', 'from=2025-02-30', 'to=2025-01-01T25:00', 'from=1e3', 'to=2025-1-1',
  ];
  for (const query of cases) {
    it(`${query}: JSON and HTML`, async () => {
      const json = await get(`/admin/api/sessions?${query}`);
      assert.equal(json.status, 400);
      assert.equal(json.headers['content-type'], 'application/json; charset=utf-8');
      assert.equal(typeof (JSON.parse(json.body.toString()) as { error: unknown }).error, 'string');
      const page = await get(`/admin/requests?${query}`);
      assert.equal(page.status, 400);
      assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
      assert.match(page.body.toString(), /class="error"/);
    });
  }
});

describe('HTML views', () => {
  const views: ReadonlyArray<{ path: string; escaped: string[] }> = [
    {
      path: '/admin/',
      escaped: ['&lt;script&gt;alert(1)&lt;/script&gt;.mp4', '&quot;&#39;&gt;&lt;svg onload=alert(2)&gt;', '&quot;&gt;&lt;img src=x onerror=alert(1)&gt;'],
    },
    {
      path: '/admin/requests',
      escaped: ['&lt;script&gt;alert(1)&lt;/script&gt;.mp4', '&quot;&#39;&gt;&lt;svg onload=alert(2)&gt;', 'bytes=0-&quot;&gt;&lt;b&gt;x&lt;/b&gt;'],
    },
    { path: '/admin/videos', escaped: ['&lt;script&gt;alert(1)&lt;/script&gt;.mp4'] },
  ];
  for (const { path, escaped } of views) {
    it(`${path} escapes every value from the log`, async () => {
      const res = await get(path);
      assert.equal(res.status, 200);
      // The page's one script of its own (local times) is a constant; nothing else may be markup.
      const body = res.body.toString().replace(String(LOCAL_TIME_SCRIPT), '');
      for (const raw of RAW_PAYLOADS) assert.ok(!body.includes(raw), `${raw} in ${path}`);
      for (const text of escaped) assert.ok(body.includes(text), `${text} missing from ${path}`);
    });

    it(`${path} escapes the echoed filter values`, async () => {
      const hostile = `"><script>alert(3)</script>`;
      const quote = `'><svg onload=alert(4)>`;
      const query = `?path=${encodeURIComponent(hostile)}&q=${encodeURIComponent(quote)}&sort=${encodeURIComponent(hostile)}&from=`;
      const body = (await get(path + query)).body.toString().replace(String(LOCAL_TIME_SCRIPT), '');
      for (const raw of RAW_PAYLOADS) assert.ok(!body.includes(raw), raw);
      assert.ok(body.includes('name="path" value="&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"'));
      assert.ok(body.includes('name="q" value="&#39;&gt;&lt;svg onload=alert(4)&gt;"'));
      assert.ok(body.includes('name="sort" value="&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"'));
    });

    it(`${path} escapes echoed values on a 400 page`, async () => {
      const res = await get(`${path}?limit=${encodeURIComponent('"><script>alert(5)</script>')}`);
      assert.equal(res.status, 400);
      const body = res.body.toString().replace(String(LOCAL_TIME_SCRIPT), '');
      assert.ok(!body.includes('<script'));
      assert.ok(body.includes('value="&quot;&gt;&lt;script&gt;alert(5)&lt;/script&gt;"'));
    });
  }

  it('sessions: columns, human bytes, clamped bar, truncated user agent', async () => {
    const agent = `Mozilla/5.0 ${'x'.repeat(100)}`;
    const other = await WatchLog.open(':memory:');
    other.record(entry({ userAgent: agent, status: 200, ranges: [{ start: 0, end: MIB - 1 }], bytesSent: 3 * MIB }));
    other.flush();
    const viewer = await start(createWatchLogHandler({ watchLog: other, authorize: () => true }));
    try {
      const body = (await viewer.request('/admin/')).body.toString();
      assert.match(body, /<time datetime="2025-01-01T00:00:00\.000Z">2025-01-01T00:00:00\.000Z<\/time>/);
      assert.match(body, />3\.0 MiB</);
      assert.match(body, /style="width:100\.0%"/);
      assert.ok(body.includes(`<span title="${agent}">${agent.slice(0, 60)}…</span>`));
      assert.ok(!body.includes(`>${agent}<`));
      assert.match(body, /1–1 of 1/);
    } finally {
      await viewer.close();
      other.close();
    }
  });

  it('pagination: totals and prev/next links', async () => {
    const body = (await get('/admin/requests?limit=2&offset=2')).body.toString();
    assert.match(body, /3–4 of 5/);
    assert.ok(body.includes('rel="prev" href="/admin/requests?limit=2"'));
    assert.ok(body.includes('rel="next" href="/admin/requests?limit=2&amp;offset=4"'));
    const last = (await get('/admin/requests?limit=2&offset=4')).body.toString();
    assert.match(last, /5–5 of 5/);
    assert.doesNotMatch(last, /rel="next"/);
    const first = (await get('/admin/requests?limit=2')).body.toString();
    assert.doesNotMatch(first, /rel="prev"/);
  });

  it('sortable headers: the active column flips its order and keeps the filters', async () => {
    const body = (await get('/admin/requests?sort=path&order=asc&ip=10.0.0.1')).body.toString();
    assert.ok(body.includes('<th aria-sort="ascending"><a href="/admin/requests?ip=10.0.0.1&amp;sort=path&amp;order=desc">Video ▲</a></th>'));
    assert.ok(body.includes('href="/admin/requests?ip=10.0.0.1&amp;sort=startedAt&amp;order=desc"'));
  });

  it('the videos view shows totals and an average bar', async () => {
    const body = (await get('/admin/videos?path=movies/a.mp4')).body.toString();
    assert.match(body, /style="width:50\.0%"/); // (1 + 0) / 2
    assert.ok(body.includes('href="/admin/?path=movies%2Fa.mp4"'));
  });
});

describe('headers, methods and routes', () => {
  const routes: ReadonlyArray<{ path: string; type: string }> = [
    { path: '/admin', type: 'text/html; charset=utf-8' },
    { path: '/admin/', type: 'text/html; charset=utf-8' },
    { path: '/admin/requests', type: 'text/html; charset=utf-8' },
    { path: '/admin/videos', type: 'text/html; charset=utf-8' },
    { path: '/admin/api/sessions', type: 'application/json; charset=utf-8' },
    { path: '/admin/api/requests', type: 'application/json; charset=utf-8' },
    { path: '/admin/api/videos', type: 'application/json; charset=utf-8' },
  ];
  for (const { path, type } of routes) {
    it(`GET and HEAD ${path}`, async () => {
      const res = await get(path);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-type'], type);
      assert.ok(String(res.headers['content-security-policy']).startsWith(`default-src 'none'; script-src ${LOCAL_TIME_SCRIPT_SRC}; style-src 'unsafe-inline'`));
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['cache-control'], 'no-store');
      assert.equal(res.headers['referrer-policy'], 'no-referrer');
      assert.equal(res.headers['x-frame-options'], 'DENY');
      assert.equal(Number(res.headers['content-length']), res.body.length);
      const head = await get(path, BEARER, 'HEAD');
      assert.equal(head.status, 200);
      assert.equal(head.body.length, 0);
      assert.equal(head.headers['content-length'], res.headers['content-length']);
      assert.equal(head.headers['content-type'], type);
    });
  }

  const errors: ReadonlyArray<{ method: string; path: string; status: number; json: boolean }> = [
    { method: 'POST', path: '/admin/', status: 405, json: false },
    { method: 'DELETE', path: '/admin/api/requests', status: 405, json: true },
    { method: 'PUT', path: '/admin/videos', status: 405, json: false },
    { method: 'GET', path: '/admin/nope', status: 404, json: false },
    { method: 'GET', path: '/admin/api/nope', status: 404, json: true },
    { method: 'GET', path: '/admin/requests/', status: 404, json: false },
    { method: 'GET', path: '/administrator', status: 404, json: false },
    { method: 'GET', path: '/other', status: 404, json: false },
    { method: 'POST', path: '/admin/nope', status: 404, json: false },
  ];
  for (const { method, path, status, json } of errors) {
    it(`${method} ${path} → ${status}`, async () => {
      const res = await get(path, BEARER, method);
      assert.equal(res.status, status);
      assert.equal(res.headers['content-type'], json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8');
      assert.equal(res.headers['x-content-type-options'], 'nosniff');
      assert.equal(res.headers['allow'], status === 405 ? 'GET, HEAD' : undefined);
    });
  }

  it('basePath is normalised and used for links', async () => {
    const other = await start(createWatchLogHandler({ watchLog: log, authorize: () => true, basePath: '/logs/' }));
    try {
      assert.equal((await other.request('/admin/')).status, 404);
      const res = await other.request('/logs/requests');
      assert.equal(res.status, 200);
      for (const link of hrefs(res.body.toString())) assert.match(link, /^\/logs\//);
    } finally {
      await other.close();
    }
  });
});

describe('failures → 500 with a generic body', () => {
  it('a database that lost its tables', async () => {
    const file = fixtures.path('broken.db');
    const broken = await WatchLog.open(file);
    const db = new DatabaseSync(file);
    db.exec('DROP TABLE watch_request; DROP TABLE watch_session;');
    db.close();
    const seen: unknown[] = [];
    const viewer = await start(createWatchLogHandler({ watchLog: broken, authorize: () => true, onError: (err) => seen.push(err) }));
    try {
      for (const path of ['/admin/', '/admin/requests', '/admin/videos', '/admin/api/sessions', '/admin/api/requests', '/admin/api/videos']) {
        const res = await viewer.request(path);
        assert.equal(res.status, 500, path);
        const body = res.body.toString();
        for (const secret of ['watch_', 'SELECT', 'sqlite', 'broken.db', fixtures.dir]) assert.ok(!body.includes(secret), `${secret} in ${path}`);
        assert.equal(res.headers['cache-control'], 'no-store');
      }
      assert.equal(seen.length, 6);
      assert.match(String(seen[0]), /no such table/);
    } finally {
      await viewer.close();
      broken.close();
    }
  });

  const cases: ReadonlyArray<{ name: string; options: () => Promise<WatchLogViewerOptions> }> = [
    {
      name: 'a closed WatchLog',
      options: async () => {
        const closed = await WatchLog.open(':memory:');
        closed.close();
        return { watchLog: closed, authorize: () => true };
      },
    },
    {
      name: 'a rejected watchLog promise',
      options: async () => ({ watchLog: Promise.reject(new Error('cannot open /secret/path.db')), authorize: () => true }),
    },
    {
      name: 'a throwing authorize',
      options: async () => ({ watchLog: log, authorize: (_req: IncomingMessage): boolean => { throw new Error('/secret/path'); } }),
    },
    {
      name: 'a throwing onError',
      options: async () => {
        const closed = await WatchLog.open(':memory:');
        closed.close();
        return { watchLog: closed, authorize: () => true, onError: () => { throw new Error('boom'); } };
      },
    },
  ];
  for (const { name, options } of cases) {
    it(name, async () => {
      const seen: unknown[] = [];
      const resolved = await options();
      const viewer = await start(createWatchLogHandler({ onError: (err) => seen.push(err), ...resolved }));
      try {
        for (let i = 0; i < 2; i++) {
          const page = await viewer.request('/admin/');
          assert.equal(page.status, 500);
          assert.doesNotMatch(page.body.toString(), /secret|closed|Error:/);
          const json = await viewer.request('/admin/api/videos');
          assert.equal(json.status, 500);
          assert.deepEqual(JSON.parse(json.body.toString()), { error: 'Internal server error.' });
        }
        if (resolved.onError === undefined) assert.equal(seen.length, 4);
      } finally {
        await viewer.close();
      }
    });
  }
});
