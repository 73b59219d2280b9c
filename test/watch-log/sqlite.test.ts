import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// A Node.js without node:sqlite (before 22.13, or 24 with --no-experimental-sqlite, which is how
// this test gets one): the watch log fails with one line naming the version and --no-log, and
// streaming without the log still starts.
const MAIN = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
const SAMPLE = fileURLToPath(new URL('../../sample', import.meta.url));
const NO_SQLITE = ['--no-experimental-sqlite'];
const MESSAGE = /^the watch log needs node:sqlite, in Node\.js 22\.13\.0 or later \(this is Node\.js v\d+\.\d+\.\d+\); upgrade Node\.js, or run without the watch log \(--no-log\)$/;

async function run(args: readonly string[], untilLine?: RegExp): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [...NO_SQLITE, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 20_000 });
  let stdout = '';
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  child.stdout.setEncoding('utf8').on('data', (text: string) => {
    stdout += text;
    if (untilLine?.test(stdout)) child.kill('SIGTERM');
  });
  const [code] = (await once(child, 'exit')) as [number | null];
  return { code, stdout, stderr };
}

describe('without node:sqlite', () => {
  it('WatchLog.open rejects with the one clear line', async () => {
    const { code, stdout } = await run([
      '--input-type=module',
      '-e',
      `import('${new URL('../../src/watch-log/watch-log.ts', import.meta.url).href}').then((m) => m.WatchLog.open(':memory:')).catch((err) => console.log(err.message))`,
    ]);
    assert.equal(code, 0);
    assert.match(stdout.trim(), MESSAGE);
  });

  it('sage-stream serve (logging by default) exits 2 (a start-up error) with that line and nothing else', async () => {
    const { code, stderr } = await run([MAIN, 'serve', SAMPLE, '--port', '0', '--log', join(tmpdir(), 'sage-stream-no-sqlite.db')]);
    assert.equal(code, 2);
    const lines = stderr.trim().split('\n');
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0]!.replace(/^sage-stream: /, ''), MESSAGE);
  });

  it('sage-stream serve --no-log starts', async () => {
    const { stdout } = await run([MAIN, 'serve', SAMPLE, '--port', '0', '--no-log'], /^videos /m);
    assert.match(stdout, /^stream {2}http:\/\/127\.0\.0\.1:\d+\/api\/stream\?path=sample\.mp4$/m);
  });
});
