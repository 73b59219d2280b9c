import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { escapeXml, ratioChart } from '../bench/chart.ts';
import { byteAt, ensureBenchFile, patternBlock, userFile, type BenchFile } from '../bench/data.ts';
import { markdown, summarise, type BenchMeta, type SummaryRow } from '../bench/report.ts';
import { SCENARIOS, selectScenarios, type BenchConfig } from '../bench/scenarios.ts';
import { runLoad } from '../bench/processes.ts';
import { runBench } from '../bench/suite.ts';

// The bench suite's own checks, on a tiny configuration: real server processes, the real load
// generator, a few hundred requests. No figure is asserted, only that every scenario ran, every
// response was checked, and a wrong server is caught.
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const RUN = join(ROOT, 'bench', 'run.ts');
const BROKEN = join(ROOT, 'test', 'fixtures', 'bench-broken-server.ts');
const STUCK_LOAD = join(ROOT, 'test', 'fixtures', 'bench-stuck-load.ts');
const SIZE = 1024 * 1024;

// The runs below start when the file loads (the bad-flag ones beside the tiny run, the broken
// server after it); each describe's before() awaits its own.
const dir = mkdtempSync(join(tmpdir(), 'sage-stream-bench-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

// Generous: the tiny preset runs beside every other test file (4 at a time), which can starve it.
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

describe('the load generator process', () => {
  it('is killed once its result is in and it has not exited within the grace period', async () => {
    const job = { kind: 'abort', port: 1, path: '/', fileSize: 1, total: 1, concurrency: 1, timeoutMs: 1000 } as const;
    const result = await runLoad(job, () => undefined, { script: STUCK_LOAD, exitGraceMs: 50 });
    assert.deepEqual(result, { done: 1 });
  });
});

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

describe('a wrong server is caught', () => {
  const config: BenchConfig = {
    fileSize: SIZE,
    reps: 1,
    warmupMs: 0,
    durationMs: 200,
    maxRequests: 50,
    seekLength: 4096,
    tinyLength: 1024,
    slowClients: 2,
    slowDurationMs: 100,
    slowBytesPerTick: 65536,
    slowTickMs: 100,
    aborts: 4,
    abortConcurrency: 2,
    settleMs: 0,
    workers: 2,
    dropCaches: false,
  };
  const scenarios = selectScenarios(['full1', 'browser', 'seek', 'tiny']);
  let rows: SummaryRow[];
  let file: BenchFile;
  // After the tiny run, not beside it: on a loaded 2-core machine two runs at once can starve
  // a 100 ms run of any response at all.
  const brokenRun = tinyRun.then(async () => {
    const benchFile = await ensureBenchFile(join(dir, 'broken'), SIZE);
    const servers = [{ name: 'broken', kind: 'node', script: BROKEN, args: [benchFile.dir] }] as const;
    const records = await runBench({ config, scenarios, servers, clusterServers: [], file: benchFile, client: 'node', log: () => undefined });
    return { benchFile, records };
  });
  before(async () => {
    const { benchFile, records } = await brokenRun;
    file = benchFile;
    rows = summarise(records, scenarios, config);
  });

  const cases = [
    { scenario: 'full1', error: /connection closed mid-body/ },
    { scenario: 'browser', error: /Content-Range bytes 0-1048574\/1048576, want bytes 0-1048575\/1048576/ },
    { scenario: 'seek', error: /wrong bytes near file offset/ },
    { scenario: 'tiny', error: /status 200, want 206/ },
  ] as const;
  for (const { scenario, error } of cases) {
    it(`${scenario}: errors counted, nothing passes`, () => {
      const row = rows.find((r) => r.scenario === scenario);
      assert.ok(row);
      assert.ok(row.errors > 0);
      assert.equal(row.checked, 0);
      assert.match(Object.keys(row.errorSamples).join('\n'), error);
    });
  }

  it('flags the figure in the markdown', () => {
    const meta: BenchMeta = {
      command: 'test',
      startedAt: '',
      node: process.version,
      cpus: 1,
      platform: '',
      memory: '',
      loadAverage: '',
      file: { path: file.path, size: file.size, created: true },
      pageCache: 'warm',
      client: 'node',
      nginx: 'not selected',
      sage: 'compiled',
    };
    const text = markdown(meta, config, rows);
    assert.match(text, /\| 4 \| tiny ranges .* \| broken \| ⚠ /);
    assert.match(text, /\*\*Failed the checks\*\* .*broken in 4 tiny/);
  });

  it('--file: bodies are checked against the user\'s own bytes', async () => {
    const own = join(dir, 'own');
    mkdirSync(own, { recursive: true });
    // Random bytes, but no byte equal to the one before it: the broken server's body, one byte
    // further on, then fails on the first byte of every chunk (with plain random bytes about one
    // response in 65,536 passed the first-and-last-byte check by chance, and once did in CI).
    const bytes = randomBytes(SIZE);
    for (let i = 1; i < bytes.length; i++) if (bytes[i] === bytes[i - 1]) bytes[i] = bytes[i]! ^ 1;
    writeFileSync(join(own, 'film.mp4'), bytes);
    const ownFile = await userFile(join(own, 'film.mp4'));
    const seek = selectScenarios(['seek']);
    const servers = [{ name: 'broken', kind: 'node', script: BROKEN, args: [ownFile.dir] }] as const;
    const records = await runBench({ config, scenarios: seek, servers, clusterServers: [], file: ownFile, client: 'node', log: () => undefined });
    const [row] = summarise(records, seek, config);
    assert.equal(row?.checked, 0);
    assert.match(Object.keys(row?.errorSamples ?? {}).join('\n'), /wrong bytes near file offset/);
  });

  it('marks the failure in the chart, labels escaped', () => {
    const svg = ratioChart(rows, 'a <b> & "c"');
    assert.match(svg, /a &lt;b&gt; &amp; &quot;c&quot;/);
    assert.match(svg, /failed/);
    assert.equal(escapeXml(`<'&">`), '&lt;&apos;&amp;&quot;&gt;');
  });
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
