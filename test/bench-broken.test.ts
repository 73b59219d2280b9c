import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { escapeXml, ratioChart } from '../bench/chart.ts';
import { ensureBenchFile, userFile, type BenchFile } from '../bench/data.ts';
import { markdown, summarise, type BenchMeta, type SummaryRow } from '../bench/report.ts';
import { selectScenarios, type BenchConfig } from '../bench/scenarios.ts';
import { runBench } from '../bench/suite.ts';

// The bench suite catches a wrong server: a real server process that answers wrongly, the real
// load generator. (Split from bench.test.ts so that it runs beside the tiny preset.)
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BROKEN = join(ROOT, 'test', 'fixtures', 'bench-broken-server.ts');
const SIZE = 1024 * 1024;

const dir = mkdtempSync(join(tmpdir(), 'sage-stream-bench-broken-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

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
  // Its own file since the split (bench.test.ts holds the tiny run), so node --test runs the two
  // side by side; maxRequests, not the 200 ms duration, bounds each scenario here.
  const brokenRun = (async () => {
    const benchFile = await ensureBenchFile(join(dir, 'broken'), SIZE);
    const servers = [{ name: 'broken', kind: 'node', script: BROKEN, args: [benchFile.dir] }] as const;
    const records = await runBench({ config, scenarios, servers, clusterServers: [], file: benchFile, client: 'node', log: () => undefined });
    return { benchFile, records };
  })();
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
    };
    const text = markdown(meta, config, rows);
    assert.match(text, /\| 4 \| tiny ranges .* \| broken \| ⚠ /);
    assert.match(text, /\*\*Failed the checks\*\* .*broken in 4 tiny/);
  });

  it('--file: bodies are checked against the user\'s own bytes', async () => {
    const own = join(dir, 'own');
    mkdirSync(own, { recursive: true });
    writeFileSync(join(own, 'film.mp4'), randomBytes(SIZE));
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
