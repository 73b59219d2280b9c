import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { byteAt, ensureBenchFile, patternBlock } from '../bench/data.ts';
import type { BenchMeta, SummaryRow } from '../bench/report.ts';
import { SCENARIOS } from '../bench/scenarios.ts';

// The bench suite's own checks, on a tiny configuration: real server processes, the real load
// generator, a few hundred requests. No figure is asserted, only that every scenario ran, every
// response was checked (bench-broken.test.ts: a wrong server is caught).
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUN = join(ROOT, 'bench', 'run.ts');

// The runs below start when the file loads (the bad-flag ones beside the tiny run; the broken
// server's check is bench-broken.test.ts); each describe's before() awaits its own.
const dir = mkdtempSync(join(tmpdir(), 'sage-stream-bench-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Generous: the tiny preset runs beside every other test file (8 at a time), which can starve it.
function runCli(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [RUN, ...args], { encoding: 'utf8', timeout: 240_000 }, (err, stdout, stderr) =>
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : 1, stdout, stderr }),
    );
  });
}

const SVG_COPY = join(dir, 'docs', 'chart.svg');
const TINY_JSON = join(dir, 'tiny.json');
const tinyRun = runCli(['--tiny', '--servers', 'sage,send,ceiling', '--client', 'node', '--dir', join(dir, 'files'), '--json', TINY_JSON, '--svg', SVG_COPY]);
const BAD_FLAGS = [['--bogus'], ['--reps', 'x'], ['--servers', 'nope'], ['--file', '/nonexistent/file']] as const;
const badRuns = BAD_FLAGS.map((args) => runCli(args));

describe('bench file', () => {
  it('holds exactly the bytes byteAt() predicts, block stamps included', async () => {
    const file = await ensureBenchFile(join(dir, 'pattern'), 3 * 65536 + 100);
    const data = readFileSync(file.path);
    const pattern = patternBlock();
    assert.equal(data.length, file.size);
    for (const offset of [0, 7, 8, 65535, 65536, 65543, 2 * 65536 + 3, data.length - 1]) {
      assert.equal(data[offset], byteAt(pattern, offset), `offset ${offset}`);
    }
    assert.equal((await ensureBenchFile(join(dir, 'pattern'), file.size)).created, false);
  });
});

describe('npm run bench -- --tiny (sage, send, ceiling)', () => {
  let out: { summary: SummaryRow[]; meta: BenchMeta };
  let stdout: string;
  let stderr: string;
  before(async () => {
    const run = await tinyRun;
    assert.equal(run.code, 0, run.stderr);
    ({ stdout, stderr } = run);
    out = JSON.parse(readFileSync(TINY_JSON, 'utf8')) as typeof out;
  });

  it('prints the Node version first, then the tables', () => {
    assert.match(stdout, /^- Node v\d+/);
    assert.match(stdout, /page cache: warm/);
    assert.match(stdout, /\| 1a \| full file/);
    assert.match(stdout, /RSS MiB before → peak → after/);
  });

  it('shows progress on stderr with scenario, server and an ETA', () => {
    assert.match(stderr, /\[\d+\/\d+ · rep 1\/1\] 4 tiny · (sage|send|ceiling): done, 0 errors · ETA \d+ s/);
  });

  it('writes the ratio chart to the --svg path', () => {
    const svg = readFileSync(SVG_COPY, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, />sage</);
    assert.match(svg, /×<\/text>/);
  });

  it('compares with send and the ceiling in the same round', () => {
    const row = out.summary.find((r) => r.scenario === 'tiny' && r.server === 'sage');
    assert.deepEqual(row?.ratios.map((r) => r.against), ['send', 'ceiling']);
    assert.ok(out.summary.find((r) => r.scenario === 'cold' && r.server === 'sage')?.eventLoopP99Ms !== undefined, 'event-loop p99 reported');
    assert.equal(out.summary.some((r) => r.server === 'ceiling' && r.metric === 'memory'), false, 'ceiling n/a in memory scenarios');
  });

  for (const scenario of SCENARIOS) {
    const servers = scenario.servers === 'cluster' ? ['sage ×1', 'sage ×2'] : scenario.metric === 'memory' || scenario.cold === true ? ['sage', 'send'] : ['sage', 'send', 'ceiling'];
    for (const server of servers) {
      it(`${scenario.id} · ${server}: ran, counted, no errors`, () => {
        const row = out.summary.find((r) => r.scenario === scenario.id && r.server === server);
        assert.ok(row, 'row present');
        assert.equal(row.errors, 0, JSON.stringify(row.errorSamples));
        assert.ok(row.checked + row.cutOff > 0, 'something was checked');
        if (scenario.metric === 'memory') assert.ok((row.memory?.fdsBefore ?? 0) > 0, 'fds sampled');
        else assert.ok((row.value?.median ?? 0) > 0, 'non-zero figure');
      });
    }
  }
});

describe('bad flags', () => {
  BAD_FLAGS.forEach((args, i) => {
    it(`${args.join(' ')}: one line on stderr, exit 2`, async () => {
      const run = await badRuns[i]!;
      assert.equal(run.code, 2);
      assert.equal(run.stderr.trim().split('\n').length, 1, run.stderr);
      assert.match(run.stderr, /^bench: /);
    });
  });
});
