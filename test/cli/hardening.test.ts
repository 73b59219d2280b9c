import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmodSync, readFileSync, statSync, truncateSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseCli } from '../../src/cli/args.ts';
import { redactUrl } from '../../src/http/access-log.ts';
import { startServer } from '../../src/cli/demo-server.ts';
import { MAX_SECRET_FILE_BYTES } from '../../src/cli/secret-file.ts';
import { signUrl } from '../../src/serve/signed-url.ts';
import { createFixtures } from '../helpers/fixtures.ts';

// Issue 9's CLI findings: bounded secret files, start-up errors, token handling, redaction.
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(ROOT, 'src', 'cli', 'main.ts');
const SECRET = 'cli-hardening-signing-secret-0123456789';
const NOBODY = 65534;

const fixtures = createFixtures('sage-stream-cli-hardening-');
fixtures.file('media/clip.mp4', 1000);
after(() => fixtures.remove());

type Run = { readonly code: number | null; readonly stdout: string; readonly stderr: string };

/** Runs the CLI to its exit (bounded), optionally as another user. */
function runCli(args: readonly string[], options: { readonly uid?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      process.execPath,
      [CLI, ...args],
      {
        cwd: ROOT,
        timeout: 20_000,
        maxBuffer: 1024 * 1024,
        env: { ...process.env, SAGE_STREAM_ADMIN_TOKEN: '', SAGE_STREAM_SIGNING_SECRET: '' },
        ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.uid }),
      },
      (_err, stdout, stderr) => resolve({ code: child.exitCode, stdout, stderr }),
    );
  });
}

describe('secret files are read to a few KiB at most', () => {
  it(`a ${MAX_SECRET_FILE_BYTES + 1}-byte file is refused; ${MAX_SECRET_FILE_BYTES} bytes with a trailing newline are fine`, () => {
    const big = fixtures.write('big.key', 'k'.repeat(MAX_SECRET_FILE_BYTES + 1));
    const fits = fixtures.write('fits.key', `${'k'.repeat(MAX_SECRET_FILE_BYTES - 1)}\n`);
    const refused = parseCli(['serve', fixtures.path('media'), '--signing-secret-file', big], fixtures.dir, {});
    assert.deepEqual(refused, { kind: 'error', message: `--signing-secret-file ${big}: a secret file holds at most ${MAX_SECRET_FILE_BYTES} bytes` });
    const accepted = parseCli(['serve', fixtures.path('media'), '--signing-secret-file', fits], fixtures.dir, {});
    assert.equal(accepted.kind, 'serve');
    assert.deepEqual(accepted.kind === 'serve' ? accepted.config.signingSecrets : [], ['k'.repeat(MAX_SECRET_FILE_BYTES - 1)]);
  });

  for (const args of [['serve', '--signing-secret-file', '/dev/zero'], ['sign', 'clip.mp4', '--expires-in', '1h', '--secret-file', '/dev/zero']]) {
    it(`${args.join(' ')} → one clear line, exit 2 (no 4.6 GB read)`, async () => {
      const { code, stdout, stderr } = await runCli(args);
      assert.equal(code, 2, stderr);
      assert.equal(stdout, '');
      assert.match(stderr, /^sage-stream: --(signing-)?secret-file \/dev\/zero: a secret file holds at most 4096 bytes \(see sage-stream --help\)\n$/);
    });
  }
});

describe('serve: start-up errors', () => {
  it('a folder that exists but cannot be read → one line, exit 2 (as nobody when run as root)', async () => {
    fixtures.file('locked/clip.mp4', 10);
    chmodSync(fixtures.dir, 0o755); // mkdtemp makes it 0700: nobody could not even stat the folder
    chmodSync(fixtures.path('locked'), 0o000);
    try {
      const asRoot = process.getuid?.() === 0;
      const { code, stdout, stderr } = await runCli(['serve', fixtures.path('locked'), '--no-log', '--port', '0'], asRoot ? { uid: NOBODY } : {});
      assert.equal(code, 2, stderr);
      assert.equal(stdout, '');
      assert.match(stderr, /^sage-stream: cannot read folder .*locked \(EACCES\) \(see sage-stream --help\)\n$/);
    } finally {
      chmodSync(fixtures.path('locked'), 0o755);
    }
  });
});

describe('the admin token', () => {
  it('--show-token puts the generated token in the admin URL (it is also in the 0600 file)', async () => {
    const log = fixtures.path('show.db');
    const child = execFile(process.execPath, [CLI, 'serve', fixtures.path('media'), '--port', '0', '--log', log, '--show-token'], {
      cwd: ROOT,
      env: { ...process.env, SAGE_STREAM_ADMIN_TOKEN: '' },
    });
    try {
      let stdout = '';
      const admin = await new Promise<string>((resolve, reject) => {
        child.stdout?.on('data', (text: Buffer) => {
          stdout += text.toString();
          const line = /^admin +(\S+)$/m.exec(stdout);
          if (line?.[1] !== undefined) resolve(line[1]);
        });
        child.once('exit', (code) => reject(new Error(`exited ${code} before printing the admin line`)));
      });
      const token = readFileSync(`${log}.admin-token`, 'utf8').trim();
      assert.equal(statSync(`${log}.admin-token`).mode & 0o777, 0o600);
      assert.ok(admin.endsWith(`/admin?token=${token}`), admin);
    } finally {
      child.kill('SIGTERM');
    }
  });
});

describe('signed links are not printed in full in error lines', () => {
  const rows: ReadonlyArray<{ url: string; want: string }> = [
    { url: '/api/stream?path=a.mp4&expires=1&sig=abcDEF_-123', want: '/api/stream?path=a.mp4&expires=1&sig=REDACTED' },
    { url: '/videos/a.mp4?sig=abc&expires=1', want: '/videos/a.mp4?sig=REDACTED&expires=1' },
    { url: '/api/stream?path=a.mp4&sig=abc#x', want: '/api/stream?path=a.mp4&sig=REDACTED#x' },
    { url: '/api/stream?path=sig=x.mp4', want: '/api/stream?path=sig=x.mp4' },
    { url: '/api/stream?path=a.mp4', want: '/api/stream?path=a.mp4' },
  ];
  for (const { url, want } of rows) it(`${url} → ${want}`, () => assert.equal(redactUrl(url), want));

  it("a read error on a signed link: the server's stderr line keeps the path, not the sig", async () => {
    const big = fixtures.sparse('media/big.mp4', 64 * 1024 * 1024, [{ offset: 0, length: 1024 }]);
    const server = await startServer({ dir: fixtures.path('media'), port: 0, signingSecrets: [SECRET] });
    const lines: string[] = [];
    let sig = '';
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    }) as typeof process.stderr.write;
    try {
      const url = signUrl('big.mp4', { secret: SECRET, expiresIn: 600, base: `${server.url}api/stream` });
      sig = new URL(url).searchParams.get('sig') ?? '';
      assert.ok(sig.length > 20);
      await new Promise<void>((resolve, reject) => {
        http.get(url, (res) => {
          assert.equal(res.statusCode, 200);
          res.pause(); // the server fills the socket and waits; then the file shrinks under it
          truncateSync(big, 1024);
          res.resume();
          res.on('close', resolve);
          res.on('error', () => resolve());
        }).on('error', reject);
      });
      for (let i = 0; i < 100 && lines.length === 0; i++) await new Promise((resolve) => setImmediate(resolve));
    } finally {
      process.stderr.write = write;
      await server.close(0);
    }
    const text = lines.join('');
    assert.match(text, /sage-stream: "GET" "\/api\/stream\?path=big\.mp4&expires=\d+&sig=REDACTED": /);
    assert.ok(!text.includes(sig), text);
  });
});
