import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createFixtures, pattern } from './helpers/fixtures.ts';

// The package as a stranger gets it: `npm pack` (prepare builds dist/), install the tarball into
// a fresh project, type-check a TypeScript consumer against the .d.ts and run a JS consumer.

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const TSC = fileURLToPath(new URL('../node_modules/.bin/tsc', import.meta.url));
const TYPE_ROOTS = fileURLToPath(new URL('../node_modules/@types', import.meta.url));
const MANIFEST: { readonly exports?: unknown; readonly main?: unknown; readonly types?: unknown; readonly bin?: unknown } =
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
const FILE_SIZE = 64;

type Ran = { readonly code: number; readonly stdout: string; readonly stderr: string };

/** Runs a command to completion; a non-zero exit is a result, a failure to start or a timeout throws. */
function run(file: string, args: readonly string[], cwd: string): Promise<Ran> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { cwd, timeout: 60_000, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err === null) return resolve({ code: 0, stdout, stderr });
      if (typeof err.code === 'number') return resolve({ code: err.code, stdout, stderr });
      reject(err);
    });
  });
}

/** Like `run`, but a non-zero exit throws with everything the command printed. */
async function mustRun(file: string, args: readonly string[], cwd: string): Promise<Ran> {
  const ran = await run(file, args, cwd);
  if (ran.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${ran.code}\n${ran.stdout}\n${ran.stderr}`);
  return ran;
}

/** Every string in package.json's `exports`/`main`/`types`/`bin`: files the tarball must hold. */
function entryPoints(value: unknown): string[] {
  if (typeof value === 'string') return [value.replace(/^\.\//, '')];
  if (value === null || typeof value !== 'object') return [];
  return Object.values(value).flatMap(entryPoints);
}

const CONSUMER_TS = `import { createServer } from 'node:http';
import {
  createStreamHandler,
  streamFile,
  RangeParser,
  fileIterator,
  StreamError,
  type RangeResult,
  type StreamHandlerOptions,
} from 'sage-stream';
import { WatchLog, logWatchRequest, type WatchEntry } from 'sage-stream/watch-log';
import { createWatchLogHandler, tokenAuthorizer, type WatchLogViewerOptions } from 'sage-stream/watch-log/viewer';

export const openLog: (path: string) => Promise<WatchLog> = (path) => WatchLog.open(path);
export const logRequest: typeof logWatchRequest = logWatchRequest;
export const entryPath = (entry: WatchEntry): string => entry.path;
export const viewerOptions = (watchLog: WatchLog): WatchLogViewerOptions => ({ watchLog, authorize: tokenAuthorizer('a-long-enough-token-for-the-viewer') });
export const viewer = createWatchLogHandler;

const options: StreamHandlerOptions = { root: '.', mode: 'path', prefix: '/videos', maxRanges: 10, cacheControl: false };
export const server = createServer(createStreamHandler(options));
export const custom = createServer((req, res) => {
  void streamFile(req, res, '/srv/clip.mp4', { chunkSize: 16 * 1024 }).then((outcome) => outcome.bytesSent);
});

export function label(result: RangeResult): string {
  switch (result.kind) {
    case 'partial':
      return result.ranges.map(({ start, end }) => \`\${start}-\${end}\`).join(',');
    case 'absent':
    case 'ignored':
    case 'unsatisfiable':
      return result.kind;
  }
}
export const parsed: string = label(new RangeParser({ maxRanges: 5 }).parse('bytes=0-9', 100));

let total = 0;
for await (const chunk of fileIterator('index.ts', { offset: 0, length: 10, chunkSize: 1024 })) total += chunk.byteLength;
export { total };

const err = new StreamError('ERR_NOT_FOUND', 404, 'no such video');
export const status: 400 | 403 | 404 | 500 = err.status;
export const code: string = err.code;
`;

// Each line is a mistake the .d.ts must catch; if the types were `any`, tsc would accept them all.
const BAD_TS = `import { createStreamHandler, RangeParser } from 'sage-stream';
createStreamHandler({ root: '.', chunksize: 65536 });
new RangeParser().parse(1, 2);
`;

const SUBPATHS_MJS = `import * as log from 'sage-stream/watch-log';
import * as viewer from 'sage-stream/watch-log/viewer';
import * as beacon from 'sage-stream/beacon';
import { Script } from 'node:vm';
new Script(beacon.BEACON_SCRIPT); // the served script, as compiled into dist, still parses
console.log(JSON.stringify({ log: Object.keys(log).sort(), viewer: Object.keys(viewer).sort(), beacon: Object.keys(beacon).sort(), helpers: /__name|__awaiter/.test(beacon.BEACON_SCRIPT) }));
`;

const RUN_MJS = `import { createServer } from 'node:http';
import * as api from 'sage-stream';

const [root, name] = process.argv.slice(2);
const server = createServer(api.createStreamHandler({ root }));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
try {
  const { port } = server.address();
  const res = await fetch(\`http://127.0.0.1:\${port}/?path=\${encodeURIComponent(name)}\`, { headers: { Range: 'bytes=2-5' } });
  const body = Buffer.from(await res.arrayBuffer());
  const exports = Object.keys(api).sort();
  console.log(JSON.stringify({ status: res.status, contentRange: res.headers.get('content-range'), body: [...body], exports }));
} finally {
  server.close();
  server.closeAllConnections();
}
`;

describe('npm pack → install in a fresh project', { timeout: 120_000 }, () => {
  const fixtures = createFixtures('sage-stream-pack-');
  const consumer = fixtures.path('consumer');
  let packed: readonly string[] = [];

  before(async () => {
    const { stdout } = await mustRun('npm', ['pack', '--pack-destination', fixtures.dir, '--json'], ROOT);
    // Lifecycle scripts may print before the JSON; it is the last thing on stdout.
    const json = stdout.slice(stdout.search(/^\[/m));
    const [report] = JSON.parse(json) as Array<{ filename: string; files: Array<{ path: string }> }>;
    assert.ok(report, `npm pack printed no report:\n${stdout}`);
    packed = report.files.map((f) => f.path);

    fixtures.write('consumer/package.json', JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await mustRun('npm', ['install', join(fixtures.dir, report.filename), '--no-audit', '--no-fund', '--offline'], consumer);

    const compilerOptions = {
      target: 'es2024',
      lib: ['es2024'],
      module: 'nodenext',
      strict: true,
      noEmit: true,
      types: ['node'],
      typeRoots: [TYPE_ROOTS],
    };
    fixtures.write('consumer/tsconfig.json', JSON.stringify({ compilerOptions, files: ['index.ts'] }));
    fixtures.write('consumer/tsconfig.bad.json', JSON.stringify({ compilerOptions, files: ['bad.ts'] }));
    fixtures.write('consumer/index.ts', CONSUMER_TS);
    fixtures.write('consumer/bad.ts', BAD_TS);
    fixtures.write('consumer/run.mjs', RUN_MJS);
    fixtures.write('consumer/subpaths.mjs', SUBPATHS_MJS);
    fixtures.file('media/clip.mp4', FILE_SIZE);
  }, { timeout: 120_000 });

  after(() => fixtures.remove());

  it('packs package.json, dist/*.js and dist/*.d.ts, and nothing from src/, test/ or bench/', () => {
    const required = ['package.json', 'dist/index.js', 'dist/index.d.ts'];
    if (existsSync(join(ROOT, 'README.md'))) required.push('README.md');
    for (const file of required) assert.ok(packed.includes(file), `${file} missing from ${packed.join(', ')}`);
    for (const file of new Set([MANIFEST.exports, MANIFEST.main, MANIFEST.types, MANIFEST.bin].flatMap(entryPoints))) {
      assert.ok(packed.includes(file), `package.json points at ${file}, which is not packed`);
    }
    for (const file of packed) {
      assert.doesNotMatch(file, /^(src|test|bench|node_modules)\/|\/node_modules\//, `${file} should not be packed`);
      assert.ok(!/\.[cm]?ts$/.test(file) || /\.d\.[cm]?ts$/.test(file), `TypeScript source ${file} should not be packed`);
      if (file.endsWith('.js')) assert.ok(packed.includes(file.replace(/\.js$/, '.d.ts')), `${file} has no .d.ts`);
    }
  });

  it('type-checks a strict TypeScript consumer against the published .d.ts', async () => {
    const { code, stdout, stderr } = await run(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], consumer);
    assert.equal(code, 0, `tsc reported errors:\n${stdout}${stderr}`);
  });

  it('rejects wrong option names and argument types (the .d.ts is not `any`)', async () => {
    const { code, stdout } = await run(process.execPath, [TSC, '-p', 'tsconfig.bad.json', '--pretty', 'false'], consumer);
    assert.notEqual(code, 0, 'tsc accepted bad.ts');
    assert.match(stdout, /bad\.ts\(2,\d+\): error TS\d+: .*'chunksize'.*StreamHandlerOptions/);
    assert.match(stdout, /bad\.ts\(3,\d+\): error TS2345: .*'number'.*'string/);
    assert.equal(stdout.match(/error TS/g)?.length, 2, stdout);
  });

  it('serves a Range request from plain JS importing the package by name', async () => {
    const { stdout } = await mustRun(process.execPath, ['run.mjs', fixtures.path('media'), 'clip.mp4'], consumer);
    const got = JSON.parse(stdout) as { status: number; contentRange: string | null; body: number[]; exports: string[] };
    assert.equal(got.status, 206);
    assert.equal(got.contentRange, `bytes 2-5/${FILE_SIZE}`);
    assert.deepEqual(Buffer.from(got.body), pattern(2, 5));
    for (const name of ['createStreamHandler', 'streamFile', 'RangeParser', 'fileIterator', 'StreamError']) {
      assert.ok(got.exports.includes(name), `${name} is not exported at runtime: ${got.exports.join(', ')}`);
    }
  });

  it('imports sage-stream/watch-log, sage-stream/watch-log/viewer and sage-stream/beacon from plain JS', async () => {
    const { stdout } = await mustRun(process.execPath, ['subpaths.mjs'], consumer);
    const got = JSON.parse(stdout) as { log: string[]; viewer: string[]; beacon: string[]; helpers: boolean };
    assert.deepEqual(got.beacon, ['BEACON_PATH', 'BEACON_SCRIPT', 'BEACON_SCRIPT_PATH', 'attachBeacon']);
    assert.equal(got.helpers, false, 'the compiled beacon must not call a transpiler helper');
    for (const name of ['WatchLog', 'createWatchLog', 'logWatchRequest']) assert.ok(got.log.includes(name), `${name}: ${got.log.join(', ')}`);
    for (const name of ['createWatchLogHandler', 'tokenAuthorizer']) assert.ok(got.viewer.includes(name), `${name}: ${got.viewer.join(', ')}`);
  });
});
