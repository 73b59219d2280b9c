import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { readSignedLink } from '../../src/serve/signed-url.ts';
import { WatchLog } from '../../src/watch-log/watch-log.ts';
import { exitWithin, get, runCli, serveCli } from '../helpers/cli.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';

// The CLI with its watch log, admin viewer and signed links.
// (Split from main.test.ts so that node --test runs the CLI's child-process tests side by side.)
const BIG_SIZE = 64 * 1024 * 1024;
const SIGNING_SECRET = 'cli-test-signing-secret-0123456789abcdef';

describe('sage-stream (the CLI as a child process): log, admin, signing', { timeout: 120_000 }, () => {
  const fixtures = createFixtures('sage-stream-cli-');
  before(() => {
    fixtures.file('clip.mp4', 5000);
    fixtures.sparse('big.mp4', BIG_SIZE, [{ offset: 0, length: 1024 }]); // the same folder as the shutdown tests' (the page lists both)
  });
  after(() => fixtures.remove());

  it('--log FILE: entries the log could not write are reported on stderr, with the count (issue 9)', async () => {
    const db = join(fixtures.dir, 'cli-locked.db');
    const cli = await serveCli([fixtures.dir, '--log', db]);
    const holder = new DatabaseSync(db); // another writer holding the lock through the shutdown
    holder.exec('BEGIN EXCLUSIVE');
    try {
      assert.equal((await get(`${cli.url}api/stream?path=clip.mp4`, { Range: 'bytes=0-9' })).status, 206);
      cli.child.kill('SIGTERM');
      assert.equal((await exitWithin(cli, 6000)).code, 0);
    } finally {
      holder.exec('ROLLBACK');
      holder.close();
    }
    assert.match(cli.stderr(), /^\S+ sage-stream: "watch log dropped 1 entry \(database failed at close\); 1 in all"$/m);
  });

  it('--log FILE: streamed requests are recorded, and SIGTERM flushes them before exit', async () => {
    const db = join(fixtures.dir, 'cli-watch.db');
    const cli = await serveCli([fixtures.dir, '--log', db]);
    try {
      for (const range of ['bytes=0-99', 'bytes=100-199']) {
        const got = await get(`${cli.url}api/stream?path=clip.mp4`, { Range: range });
        assert.equal(got.status, 206);
      }
      assert.equal((await get(`${cli.url}videos/clip.mp4`, {}, 'HEAD')).status, 200); // HEAD: not a watch
    } finally {
      cli.child.kill('SIGTERM');
    }
    assert.equal((await exitWithin(cli, 3000)).code, 0);
    const log = await WatchLog.open(db);
    try {
      assert.deepEqual(log.requests({ sort: 'startedAt', order: 'asc' }).rows.map((r) => [r.path, r.range, r.bytesSent]), [
        ['clip.mp4', 'bytes=0-99', 100],
        ['clip.mp4', 'bytes=100-199', 100],
      ]);
      assert.equal(log.sessions().total, 1);
    } finally {
      log.close();
    }
  });

  it('/admin: the viewer needs the token; without --admin-token a fresh one is written to <log>.admin-token (0600), not printed', async () => {
    const chosen = await serveCli([fixtures.dir, '--log', join(fixtures.dir, 'admin-a.db'), '--admin-token', 'let-me-in-please-0123']);
    const made = await serveCli([fixtures.dir, '--log', join(fixtures.dir, 'admin-b.db')]);
    try {
      assert.equal(chosen.lines.get('admin'), `${chosen.url}admin`, 'a chosen token is never printed');
      assert.equal((await get(`${chosen.url}admin/api/sessions`)).status, 401);
      assert.equal((await get(`${chosen.url}admin/api/sessions?token=wrong`)).status, 403);
      assert.equal((await get(`${chosen.url}api/stream?path=clip.mp4`, { Range: 'bytes=0-9' })).status, 206);
      let sessions: { total: number; rows: Array<{ path: string }> } = { total: 0, rows: [] };
      for (let i = 0; i < 40 && sessions.total === 0; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100)); // the log flushes once a second
        const got = await get(`${chosen.url}admin/api/sessions`, { Authorization: 'Bearer let-me-in-please-0123' });
        assert.equal(got.status, 200);
        sessions = JSON.parse(got.body.toString()) as typeof sessions;
      }
      assert.equal(sessions.total, 1);
      assert.equal(sessions.rows[0]?.path, 'clip.mp4');
      // A made-up token is not printed: it is in a 0600 file next to the log, which the line names.
      const tokenFile = `${join(fixtures.dir, 'admin-b.db')}.admin-token`;
      const token = readFileSync(tokenFile, 'utf8').trim();
      assert.match(token, /^[\w-]{20,}$/);
      assert.equal(statSync(tokenFile).mode & 0o777, 0o600);
      assert.equal(made.lines.get('admin'), `${made.url}admin`);
      assert.ok(made.stdout().includes(`(token in ${tokenFile})`), made.stdout());
      assert.ok(!made.stdout().includes(token), 'the token is not on stdout');
      const page = await get(`${made.url}admin?token=${token}`);
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.equal((await get(`${made.url}admin`)).status, 401);
    } finally {
      chosen.child.kill('SIGTERM');
      made.child.kill('SIGTERM');
    }
    assert.equal((await exitWithin(chosen, 3000)).code, 0);
    assert.equal((await exitWithin(made, 3000)).code, 0);
  });

  it('sign prints a URL that serve --signing-secret-file accepts; unsigned and tampered URLs get 403', async () => {
    const secretFile = fixtures.write('signing.key', `${SIGNING_SECRET}\n`);
    const cli = await serveCli([fixtures.dir, '--signing-secret-file', secretFile]);
    try {
      assert.equal(cli.lines.get('page'), 'off');
      const base = cli.lines.get('stream')?.replace(/\?.*$/, '') ?? '';
      assert.match(base, /^http:\/\/127\.0\.0\.1:\d+\/api\/stream$/);
      const signed = await runCli(['sign', 'clip.mp4', '--expires-in', '2h', '--secret-file', secretFile, '--base', base]);
      assert.equal(signed.code, 0, signed.stderr);
      assert.equal(signed.stderr, '');
      assert.match(signed.stdout, /^http:\/\/127\.0\.0\.1:\d+\/api\/stream\?path=clip\.mp4&expires=\d+&sig=[\w-]{43}\n$/);
      const url = signed.stdout.trim();
      const link = readSignedLink(url);
      assert.ok(typeof link === 'object');
      assert.ok(Math.abs(link.expires - (Date.now() / 1000 + 7200)) < 10, 'two hours from now');
      const got = await get(url, { Range: 'bytes=100-199' });
      assert.equal(got.status, 206);
      assert.deepEqual(got.body, pattern(100, 199));
      assert.equal((await get(`${base}?path=clip.mp4`)).status, 403);
      assert.equal((await get(url.replace('clip.mp4', 'big.mp4'))).status, 403);
      // The same secret from the environment, bound to the test client's address.
      const fromEnv = await runCli(['sign', 'clip.mp4', '--expires-in', '60', '--base', base, '--bind-ip', '127.0.0.1'], {
        SAGE_STREAM_SIGNING_SECRET: SIGNING_SECRET,
      });
      assert.equal(fromEnv.code, 0, fromEnv.stderr);
      assert.match(fromEnv.stdout, /&bind=ip&sig=/);
      assert.equal((await get(fromEnv.stdout.trim())).status, 200);
    } finally {
      cli.child.kill('SIGTERM');
    }
    assert.equal((await exitWithin(cli, 3000)).code, 0);
  });
});
