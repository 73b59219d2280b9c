import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, exitWithin, get, isListening, runCli, serveCli } from '../helpers/cli.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';

// The CLI started as `sage-stream`: usage, flag errors, serving, signals, ports and workers.
// (Split from main.test.ts so that node --test runs the CLI's child-process tests side by side.)
const SAMPLE = readFileSync(join(ROOT, 'sample', 'sample.mp4'));
const BIG_SIZE = 64 * 1024 * 1024;

describe('sage-stream (the CLI as a child process)', { timeout: 120_000 }, () => {
  const fixtures = createFixtures('sage-stream-cli-');
  before(() => {
    fixtures.file('clip.mp4', 5000);
    fixtures.sparse('big.mp4', BIG_SIZE, [{ offset: 0, length: 1024 }]); // the same folder as the shutdown tests' (the page lists both)
  });
  after(() => fixtures.remove());

  it('--help prints the usage and exits 0', async () => {
    const { code, stdout, stderr } = await runCli(['--help']);
    assert.equal(code, 0);
    assert.match(stdout, /^Usage: sage-stream \[serve\] \[dir\] \[options\]/);
    assert.match(stdout, /^ {7}sage-stream sign <file> --expires-in <duration> \[options\]$/m);
    const flags = ['--port', '--host', '--log', '--no-log', '--log-max-age-days', '--log-max-rows', '--max-chunk', '--prefix', '--admin-token', '--workers', '--signing-secret-file'];
    for (const flag of [...flags, '--expires-in', '--expires-at', '--secret-file', '--bind-ip', '--bind-user', '--mode', '--base']) {
      assert.ok(stdout.includes(flag), `${flag} is not in the usage`);
    }
    assert.equal(stderr, '');
  });

  const errors: ReadonlyArray<{ args: string[]; message: RegExp }> = [
    { args: ['serve', '--bogus'], message: /unknown option '--bogus'/ },
    { args: ['serve', '--port', '99999'], message: /--port must be an integer from 0 to 65535/ },
    { args: ['serve', '--port', 'http'], message: /--port must be/ },
    { args: ['serve', 'no-such-folder'], message: /folder not found: .*no-such-folder/ },
    { args: ['serve', 'package.json'], message: /not a folder: .*package\.json/ },
    { args: [], message: /missing command/ },
    { args: ['sign', 'clip.mp4', '--expires-in', '1h'], message: /give --secret-file <file> or set SAGE_STREAM_SIGNING_SECRET/ },
  ];
  for (const { args, message } of errors) {
    it(`${args.join(' ') || '(nothing)'} → one line on stderr, exit 2`, async () => {
      const { code, stdout, stderr } = await runCli(args);
      assert.equal(code, 2);
      assert.equal(stdout, '');
      assert.match(stderr, message);
      assert.match(stderr, /^sage-stream: [^\n]+\n$/);
    });
  }

  it('default folder: prints the URLs and streams the sample with a Range; SIGTERM exits 0', async () => {
    const cli = await serveCli([]);
    try {
      assert.match(cli.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
      assert.doesNotMatch(cli.url, /:0\//);
      const port = new URL(cli.url).port;
      assert.equal(cli.lines.get('stream'), `http://127.0.0.1:${port}/api/stream?path=sample.mp4`);
      assert.equal(cli.lines.get('videos'), `http://127.0.0.1:${port}/videos/sample.mp4`);
      assert.equal(cli.lines.get('admin'), 'off', 'with --no-log there is no log to view');
      const got = await get(`${cli.url}api/stream?path=sample.mp4`, { Range: 'bytes=0-1023' });
      assert.equal(got.status, 206);
      assert.equal(got.headers['content-range'], `bytes 0-1023/${SAMPLE.length}`);
      assert.equal(got.headers['content-type'], 'video/mp4');
      assert.deepEqual(got.body, SAMPLE.subarray(0, 1024));
    } finally {
      cli.child.kill('SIGTERM');
    }
    const { code, elapsedMs } = await exitWithin(cli, 3000);
    assert.equal(code, 0);
    assert.ok(elapsedMs < 2000, `took ${elapsedMs} ms`);
  });

  it('serve <dir>: the page lists the file, path mode serves a Range; SIGINT exits 0', async () => {
    const cli = await serveCli([fixtures.dir]);
    try {
      const page = await get(cli.url);
      assert.equal(page.status, 200);
      assert.match(String(page.headers['content-type']), /^text\/html/);
      assert.match(page.body.toString(), /<a data-play href="\/api\/stream\?path=clip\.mp4">clip\.mp4<\/a>/);
      const got = await get(`${cli.url}videos/clip.mp4`, { Range: 'bytes=10-19' });
      assert.equal(got.status, 206);
      assert.equal(got.headers['content-range'], 'bytes 10-19/5000');
      assert.deepEqual(got.body, pattern(10, 19));
      assert.equal((await get(`${cli.url}nothing-here`)).status, 404);
    } finally {
      cli.child.kill('SIGINT');
    }
    assert.equal((await exitWithin(cli, 3000)).code, 0);
  });

  it('a port in use: one line on stderr, exit 2', async () => {
    const first = await serveCli([fixtures.dir]);
    try {
      const { code, stderr } = await runCli(['serve', fixtures.dir, '--no-log', '--port', new URL(first.url).port]);
      assert.equal(code, 2);
      assert.match(stderr, /^sage-stream: port \d+ on 127\.0\.0\.1 is already in use\n$/);
    } finally {
      first.child.kill('SIGTERM');
    }
    assert.equal((await exitWithin(first, 3000)).code, 0);
  });

  it('--workers 2: both serve Range requests on one port; SIGTERM stops them all, exit 0', async () => {
    const cli = await serveCli([fixtures.dir, '--workers', '2']);
    const port = Number(new URL(cli.url).port);
    try {
      assert.match(cli.stdout(), /^workers 2$/m);
      for (let i = 0; i < 6; i++) {
        const got = await get(`${cli.url}api/stream?path=clip.mp4`, { Range: 'bytes=0-99' });
        assert.equal(got.status, 206);
        assert.deepEqual(got.body, pattern(0, 99));
      }
    } finally {
      cli.child.kill('SIGTERM');
    }
    const { code, elapsedMs } = await exitWithin(cli, 8000);
    assert.equal(code, 0);
    assert.ok(elapsedMs < 3000, `took ${elapsedMs} ms`);
    assert.equal(await isListening(port), false, 'a worker still listens after the primary exited');
  });
});
