import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { exitWithin, serveCli } from '../helpers/cli.ts';
import { createFixtures } from '../helpers/fixtures.ts';

// The CLI shutting down under a download in flight: SIGTERM lets it finish, or cuts a stalled one after the grace.
// (Split from main.test.ts so that node --test runs the CLI's child-process tests side by side.)
const BIG_SIZE = 64 * 1024 * 1024; // more than loopback socket buffers hold, so a stalled client stalls the server

describe('sage-stream (the CLI as a child process): shutdown', { timeout: 120_000 }, () => {
  const fixtures = createFixtures('sage-stream-cli-');
  before(() => {
    fixtures.file('clip.mp4', 5000);
    fixtures.sparse('big.mp4', BIG_SIZE, [{ offset: 0, length: 1024 }]);
  });
  after(() => fixtures.remove());

  it('SIGTERM during a download: the response still completes, then exit 0', async () => {
    const cli = await serveCli([fixtures.dir]);
    const received = new Promise<{ length: number; expected: number }>((resolve, reject) => {
      http
        .get(`${cli.url}api/stream?path=big.mp4`, { agent: false }, (res) => {
          let length = 0;
          res.pause(); // stall until after the signal
          res.on('data', (chunk: Buffer) => (length += chunk.length));
          res.on('end', () => resolve({ length, expected: Number(res.headers['content-length']) }));
          res.on('error', reject);
          cli.child.kill('SIGTERM');
          setTimeout(() => res.resume(), 500);
        })
        .on('error', reject);
    });
    const { length, expected } = await received;
    assert.equal(expected, BIG_SIZE);
    assert.equal(length, BIG_SIZE);
    assert.equal((await exitWithin(cli, 3000)).code, 0);
  });

  // The real-time shutdown check, kept short with --shutdown-grace (the default 5 s is the same code).
  it('SIGTERM with a stalled download: cut after the 1 s --shutdown-grace, exit 0', async () => {
    const cli = await serveCli([fixtures.dir, '--shutdown-grace', '1']);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get(`${cli.url}api/stream?path=big.mp4`, { agent: false }, resolve).on('error', reject);
    });
    res.pause(); // never read: the server blocks on backpressure
    let length = 0;
    res.on('data', (chunk: Buffer) => (length += chunk.length));
    const closed = new Promise<boolean>((resolve) => {
      res.on('error', () => {}); // "aborted": expected
      res.on('close', () => resolve(res.complete));
    });
    cli.child.kill('SIGTERM');
    const { code, elapsedMs } = await exitWithin(cli, 8000);
    assert.equal(code, 0);
    assert.ok(elapsedMs >= 900 && elapsedMs < 3000, `exited after ${elapsedMs} ms`);
    res.resume(); // only now does the client read up to the server's close
    assert.equal(await closed, false, 'a stalled download completed');
    assert.ok(length < BIG_SIZE, `${length} bytes`);
  });
});
