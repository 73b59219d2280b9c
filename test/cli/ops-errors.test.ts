import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { createFixtures } from '../helpers/fixtures.ts';
import { receive } from '../helpers/server.ts';
import { startCli, stopCli, waitForOutput } from '../helpers/cli.ts';

const fixtures = createFixtures('sage-stream-cli-errors-');
fixtures.file('media/clip.mp4', 1000);
after(() => fixtures.remove());

describe('the CLI reports our errors and honours --cache-control', { timeout: 60_000 }, () => {
  it('an error of ours is one timestamped line on stderr with the request line, sig= redacted', async () => {
    const cli = await startCli([fixtures.path('media'), '-p', '0', '--no-log', '--access-log', 'off']);
    try {
      const url = cli.lines.get('page')!;
      // The folder goes away under the running server: listing it for the page fails, server-side.
      rmSync(fixtures.path('media'), { recursive: true });
      const got = await receive(url, { path: '/?expires=1&sig=s3cr3tSig', agent: false });
      assert.equal(got.status, 500);
      assert.equal(got.body.toString(), 'Internal Server Error\n');
      const stderr = await waitForOutput(cli, cli.stderr, (text) => text.includes('sage-stream: "GET"'));
      const line = stderr.split('\n').find((l) => l.includes('sage-stream: "GET"'))!;
      assert.match(line, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z sage-stream: "GET" "\/\?expires=1&sig=REDACTED": "ENOENT[^"]*"$/);
      assert.doesNotMatch(stderr, /s3cr3tSig/);
    } finally {
      await stopCli(cli);
    }
  });

  it('--cache-control sets the file responses\' Cache-Control', async () => {
    fixtures.file('media2/clip.mp4', 1000);
    const cli = await startCli([fixtures.path('media2'), '-p', '0', '--no-log', '--access-log', 'off', '--cache-control', 'public, max-age=86400, immutable']);
    try {
      const got = await receive(cli.lines.get('page')!, { path: '/api/stream?path=clip.mp4', headers: { Range: 'bytes=0-9' }, agent: false });
      assert.equal(got.status, 206);
      assert.equal(got.headers['cache-control'], 'public, max-age=86400, immutable');
    } finally {
      await stopCli(cli);
    }
  });
});
