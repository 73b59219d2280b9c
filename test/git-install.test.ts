import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// Installing from a git URL before any registry release: `npm run git-release` makes a tagged
// commit with dist/ built; `npm install git+file://…#semver:^<version>` of it, in a fresh
// project without network, must import and serve a 206. The repository copied is this working
// tree (its tracked and new files), so the test sees uncommitted changes too.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const VERSION: string = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).version;
const hasGit = (() => {
  try {
    execFileSync('git', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const GIT_ENV = { GIT_AUTHOR_NAME: 'test', GIT_AUTHOR_EMAIL: 'test@example.invalid', GIT_COMMITTER_NAME: 'test', GIT_COMMITTER_EMAIL: 'test@example.invalid' };

function run(file: string, args: readonly string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 120_000, env: { ...process.env, ...GIT_ENV } }, (err, stdout, stderr) => {
      if (err === null) resolve(stdout);
      else reject(new Error(`${file} ${args.join(' ')} failed: ${err.message}\n${stdout}\n${stderr}`));
    });
  });
}

const CONSUMER = `import http from 'node:http';
import { readFileSync } from 'node:fs';
import { createStreamHandler } from 'sage-stream';
const root = new URL('./node_modules/sage-stream/sample/', import.meta.url).pathname;
const server = http.createServer(createStreamHandler({ root })).listen(0, '127.0.0.1', async () => {
  const res = await fetch(\`http://127.0.0.1:\${server.address().port}/?path=sample.mp4\`, { headers: { range: 'bytes=100-1123' } });
  const body = Buffer.from(await res.arrayBuffer());
  const want = readFileSync(root + 'sample.mp4').subarray(100, 1124);
  console.log(JSON.stringify({ status: res.status, range: res.headers.get('content-range'), exact: body.equals(want) }));
  server.close();
});
`;

describe('npm install from a git URL', { skip: hasGit ? false : 'git is not installed', timeout: 240_000 }, () => {
  let scratch = '';
  let repo = '';
  let project = '';
  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'sage-stream-git-'));
    repo = join(scratch, 'sage-stream');
    project = join(scratch, 'consumer');
    // Tracked and new (not ignored) files as they are now; a file deleted but not yet committed is left out.
    const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8' });
    const tracked = files.split('\0').filter((file) => file !== '' && file !== 'node_modules' && existsSync(join(ROOT, file)));
    for (const file of tracked) {
      mkdirSync(dirname(join(repo, file)), { recursive: true });
      cpSync(join(ROOT, file), join(repo, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(repo, 'node_modules')); // tsc for the build
    await run('git', ['init', '-q'], repo);
    await run('git', ['add', '-A'], repo);
    await run('git', ['commit', '-qm', 'snapshot'], repo);
    await run('npm', ['run', 'git-release'], repo);
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true }));
    writeFileSync(join(project, 'consumer.mjs'), CONSUMER);
  });
  after(() => {
    if (scratch !== '') rmSync(scratch, { recursive: true, force: true });
  });

  it('git-release leaves HEAD source only and tags a commit with dist/ and no build scripts', async () => {
    assert.equal(await run('git', ['ls-tree', '--name-only', 'HEAD', 'dist'], repo), '');
    assert.match(await run('git', ['ls-tree', '-r', '--name-only', `v${VERSION}`, 'dist'], repo), /^dist\/index\.js$/m);
    const released = JSON.parse(await run('git', ['show', `v${VERSION}:package.json`], repo));
    assert.equal(released.scripts.prepare, undefined);
    assert.equal(await run('git', ['rev-parse', 'dist'], repo), await run('git', ['rev-parse', `v${VERSION}^{commit}`], repo));
  });

  it(`npm install git+file://…#semver:^${VERSION} offline, then import and serve a byte-exact 206`, async () => {
    await run('npm', ['install', '--offline', '--no-audit', '--no-fund', `git+file://${repo}#semver:^${VERSION}`], project);
    const manifest = JSON.parse(readFileSync(join(project, 'node_modules/sage-stream/package.json'), 'utf8'));
    assert.equal(manifest.version, VERSION);
    const out = JSON.parse(await run(process.execPath, ['consumer.mjs'], project));
    assert.deepEqual(out, { status: 206, range: 'bytes 100-1123/' + readFileSync(join(ROOT, 'sample/sample.mp4')).length, exact: true });
    assert.match(await run(join(project, 'node_modules/.bin/sage-stream'), ['--help'], project), /^Usage: sage-stream \[serve\]/);
  });
});
