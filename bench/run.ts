// `npm run bench [-- flags]`: the benchmark suite. Markdown on stdout, JSON to --json, progress
// on stderr. See README "Performance" for what each scenario measures.
import { accessSync, constants, mkdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { buildForBench, ENTRY_VARIABLE } from './build.ts';
import { chartSubtitle, ratioChart } from './chart.ts';
import { ensureBenchFile, userFile, warmPageCache, type BenchFile } from './data.ts';
import { markdown, summarise, type BenchMeta } from './report.ts';
import { selectScenarios, type BenchConfig } from './scenarios.ts';
import { findNginx, NGINX_SETUP } from './servers/nginx.ts';
import { clusterSpecs, DROP_CACHES, runBench, SERVER_NAMES, serverSpecs } from './suite.ts';
import { WRK_PATH } from './wrk.ts';

const KIB = 1024;
const MIB = 1024 * KIB;
const GIB = 1024 * MIB;

const FULL: BenchConfig = {
  fileSize: GIB,
  reps: 3,
  warmupMs: 1000,
  durationMs: 6000,
  maxRequests: 5_000_000,
  seekLength: 256 * KIB,
  tinyLength: 1024,
  slowClients: 200,
  slowDurationMs: 10_000,
  slowBytesPerTick: 64 * KIB,
  slowTickMs: 100,
  aborts: 500,
  abortConcurrency: 50,
  settleMs: 2000,
  workers: Math.max(2, os.availableParallelism()),
  dropCaches: true,
};
const PRESETS: Readonly<Record<'full' | 'quick' | 'tiny', BenchConfig>> = {
  full: FULL,
  quick: { ...FULL, fileSize: 256 * MIB, reps: 2, warmupMs: 500, durationMs: 1500, slowDurationMs: 4000, settleMs: 1000 },
  // For the test: every code path, a few hundred requests, no figure worth reading.
  tiny: {
    ...FULL,
    fileSize: 4 * MIB,
    reps: 1,
    warmupMs: 0,
    durationMs: 50,
    maxRequests: 100,
    slowClients: 10,
    slowDurationMs: 100,
    aborts: 20,
    abortConcurrency: 5,
    settleMs: 50,
    workers: 2,
    dropCaches: false,
  },
};

const HELP = `npm run bench -- [flags]
  --quick               ~2 min: 256 MiB file, 2 repetitions, 1.5 s per run (default: full, ~10 min)
  --scenario a,b        full (= full1,full4), full1, full4, browser, seek, tiny, slow, abort, cold, cluster
  --servers a,b         sage, send, sirv, fastify-send, ceiling, naive, nginx (default: all; nginx only when installed)
  --client node|wrk     load generator for scenarios 1–4 and 7 (default node; 5–6 always node)
  --file-size SIZE      bench file size, e.g. 256M, 1G (default 1G, quick 256M)
  --duration S          seconds per request run, after the warm-up
  --warmup S            seconds of warm-up per request run
  --reps N              repetitions
  --workers N           scenario 7's N (default: CPU count, at least 2)
  --dir PATH            where bench files are cached (default: $TMPDIR/sage-stream-bench)
  --file PATH           benchmark your own file instead (served from its folder, bodies checked against it)
  --json PATH           JSON results (default bench/results/latest.json)
  --svg PATH            also copy the ratio chart there (always written to bench/results/latest.svg)
  --src                 run sage from src/ (type stripping) instead of compiling it first
  --tiny                the test's preset: tiny file, a few hundred requests`;

function isWritable(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([kmg]?)i?b?$/i.exec(text.trim());
  if (match === null) throw new TypeError(`--file-size must look like 256M or 1G, got ${JSON.stringify(text)}`);
  const unit = { '': 1, k: KIB, m: MIB, g: GIB }[(match[2] ?? '').toLowerCase() as '' | 'k' | 'm' | 'g'];
  return Math.round(Number(match[1]) * unit);
}

function seconds(text: string | undefined, flag: string): number | undefined {
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!(value >= 0)) throw new TypeError(`--${flag} must be a number of seconds, got ${JSON.stringify(text)}`);
  return Math.round(value * 1000);
}

function list(text: string | undefined): string[] | undefined {
  return text === undefined ? undefined : text.split(',').map((s) => s.trim()).filter(Boolean);
}

/** A bad flag: one line on stderr, exit 2. */
function usageError(message: string): never {
  process.stderr.write(`bench: ${message} (npm run bench -- --help)\n`);
  process.exit(2);
}

function parseFlags(): ReturnType<typeof parse> {
  try {
    return parse();
  } catch (err) {
    return usageError((err as Error).message);
  }
}

const parse = () => parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    tiny: { type: 'boolean', default: false },
    src: { type: 'boolean', default: false },
    scenario: { type: 'string' },
    servers: { type: 'string' },
    client: { type: 'string', default: 'node' },
    'file-size': { type: 'string' },
    duration: { type: 'string' },
    warmup: { type: 'string' },
    reps: { type: 'string' },
    workers: { type: 'string' },
    dir: { type: 'string', default: join(os.tmpdir(), 'sage-stream-bench') },
    json: { type: 'string', default: fileURLToPath(new URL('./results/latest.json', import.meta.url)) },
    svg: { type: 'string' },
    file: { type: 'string' },
    help: { type: 'boolean', default: false },
  },
});
const { values: flags } = parseFlags();
if (flags.help) {
  process.stdout.write(`${HELP}\n`);
  process.exit(0);
}

let file: BenchFile | undefined;
let config: BenchConfig;
let scenarios: ReturnType<typeof selectScenarios>;
let wantServers: string[];
const client = flags.client;
try {
const preset = PRESETS[flags.tiny ? 'tiny' : flags.quick ? 'quick' : 'full'];
config = {
  ...preset,
  fileSize: flags['file-size'] === undefined ? preset.fileSize : parseSize(flags['file-size']),
  durationMs: seconds(flags.duration, 'duration') ?? preset.durationMs,
  warmupMs: seconds(flags.warmup, 'warmup') ?? preset.warmupMs,
  reps: flags.reps === undefined ? preset.reps : Number(flags.reps),
  workers: flags.workers === undefined ? preset.workers : Number(flags.workers),
};
if (!Number.isInteger(config.reps) || config.reps < 1) throw new TypeError(`--reps must be an integer >= 1, got ${flags.reps}`);
if (!Number.isInteger(config.workers) || config.workers < 1) throw new TypeError(`--workers must be an integer >= 1, got ${flags.workers}`);
if (flags.file !== undefined) {
  file = await userFile(flags.file).catch((err: NodeJS.ErrnoException) => usageError(err.code === undefined ? err.message : `--file ${flags.file}: ${err.code}`));
  // Scenarios adapt to the file: ranges no longer than a quarter of it.
  config = { ...config, fileSize: file.size, seekLength: Math.max(1, Math.min(config.seekLength, Math.floor(file.size / 4))), tinyLength: Math.min(config.tinyLength, file.size) };
}
if (config.fileSize < config.seekLength) throw new TypeError(`--file-size must be at least ${config.seekLength} bytes`);
if (client !== 'node' && client !== 'wrk') throw new TypeError(`--client must be node or wrk, got ${JSON.stringify(client)}`);
if (client === 'wrk' && WRK_PATH === undefined) throw new TypeError('--client wrk: wrk is not installed');

scenarios = selectScenarios(list(flags.scenario));
wantServers = list(flags.servers) ?? [...SERVER_NAMES];
for (const name of wantServers) if (!SERVER_NAMES.includes(name)) throw new TypeError(`--servers: unknown server ${JSON.stringify(name)} (known: ${SERVER_NAMES.join(', ')})`);
} catch (err) {
  usageError((err as Error).message);
}

const nginx = findNginx();
const interactive = process.stderr.isTTY;
let lastLog = 0;
const runStarted = performance.now();
const log = (message: string, transient: boolean): void => {
  const line = `${((performance.now() - runStarted) / 1000).toFixed(1).padStart(6)} s ${message}`;
  // On a terminal, progress overwrites one line; in a log file, one line every few seconds.
  if (interactive) process.stderr.write(`\r\x1b[K${line}${transient ? '' : '\n'}`);
  else if (!transient || performance.now() - lastLog > 5000) {
    process.stderr.write(`${line}\n`);
    lastLog = performance.now();
  }
};

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  // process.on('exit') in processes.ts kills every child.
  process.on(signal, () => {
    process.stderr.write(`\n${signal}: stopping\n`);
    process.exit(130);
  });
}

const startedAt = new Date().toISOString();
const coldNote = scenarios.some((s) => s.cold === true) ? ` (cold-cache scenario: ${DROP_CACHES} ${!config.dropCaches ? 'left alone by this preset' : isWritable(DROP_CACHES) ? 'writable, dropped before each run' : 'not writable here, so the cache stays warm: read its figures as warm'})` : '';
const loadAtStart = os.loadavg()[0] ?? 0;
log(file === undefined ? `bench file: ${config.fileSize} bytes in ${flags.dir}` : `your file: ${file.path}, ${file.size} bytes`, false);
const benchFile = file ?? (await ensureBenchFile(flags.dir, config.fileSize));
const readRate = await warmPageCache(benchFile.path);
// The ceiling holds the file in memory when that takes at most a quarter of the RAM.
// sage as users run it: compiled (type stripping of src/ would add ~18 MiB to its memory figures).
if (!flags.src && (wantServers.includes('sage') || scenarios.some((s) => s.id === 'cluster'))) {
  log('compiling src/ for sage', false);
  process.env[ENTRY_VARIABLE] = buildForBench();
}
const servers = serverSpecs(wantServers, benchFile, nginx?.path, Math.floor(os.totalmem() / 4));
const clusterServers = clusterSpecs(benchFile.dir, config.workers);

const records = await runBench({ config, scenarios, servers, clusterServers, file: benchFile, client, log });
const meta: BenchMeta = {
  command: `npm run bench${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}`,
  startedAt,
  node: `Node ${process.version}`,
  cpus: os.availableParallelism(),
  platform: `${os.platform()} ${os.arch()}`,
  memory: `${Math.round(os.totalmem() / GIB)} GiB RAM`,
  loadAverage: `${loadAtStart.toFixed(1)} → ${(os.loadavg()[0] ?? 0).toFixed(1)} (1 min, start → end)`,
  file: { path: benchFile.path, size: benchFile.size, created: benchFile.created, own: benchFile.check !== undefined },
  pageCache: `${
    benchFile.size < os.totalmem() / 2
      ? `warm (whole file read just before the run, at ${(readRate / 1e9).toFixed(1)} GB/s)`
      : `maybe cold: the file is over half the RAM (read once before the run, at ${(readRate / 1e9).toFixed(1)} GB/s)`
  }${coldNote}`,
  client:
    client === 'node'
      ? 'node (bench/load.ts: raw node:net keep-alive HTTP/1.1, one process; every response checked: status, Content-Length, Content-Range, byte count, first and last byte of every chunk)'
      : 'wrk -t1 for scenarios 1–4 and 7 (checks: no non-2xx, no socket error, byte count in range); node (bench/load.ts) for 5–6',
  sage: flags.src ? 'src/ through Node\'s type stripping (--src), which adds ~18 MiB to its RSS' : 'compiled from src/ by bench/build.ts, as users run it from dist/',
  nginx: nginx === undefined ? 'not installed' : !wantServers.includes('nginx') ? `${nginx.version}, not selected` : `${nginx.version} (${NGINX_SETUP}); memory and fds are its worker's`,
};

const rows = summarise(records, scenarios, config);
const report = markdown(meta, config, rows);
mkdirSync(dirname(flags.json), { recursive: true });
writeFileSync(flags.json, `${JSON.stringify({ meta, config, summary: rows, runs: records }, null, 2)}\n`);
log(`JSON written to ${flags.json}`, false);
const chart = ratioChart(rows, chartSubtitle(meta));
const svgPaths = [fileURLToPath(new URL('./results/latest.svg', import.meta.url)), ...(flags.svg === undefined ? [] : [flags.svg])];
for (const path of svgPaths) {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, chart);
}
log(`chart written to ${svgPaths.join(' and ')}`, false);
// Exit as soon as the report is out rather than waiting for the event loop to drain: a stray
// handle (or Node's exit deadlock, see processes.ts) must not keep a finished run alive, and
// process.on('exit') still kills anything we started.
process.stdout.write(`${report}\n`, () => process.exit(0));
