import type { LoadJob, RangeSpec, Target } from './protocol.ts';

/** Every knob of a run; `--quick`, the defaults and the test's tiny preset differ only here. */
export type BenchConfig = {
  readonly fileSize: number;
  readonly reps: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Per run, on top of the duration. */
  readonly maxRequests: number;
  readonly seekLength: number;
  readonly tinyLength: number;
  readonly slowClients: number;
  readonly slowDurationMs: number;
  readonly slowBytesPerTick: number;
  readonly slowTickMs: number;
  readonly aborts: number;
  readonly abortConcurrency: number;
  /** How long the memory scenarios wait after the clients left before the "after" figures. */
  readonly settleMs: number;
  /** Workers of the N-worker cluster in scenario 7. */
  readonly workers: number;
  /** Whether the cold-cache scenario empties the page cache (machine-wide: off in the test's preset). */
  readonly dropCaches: boolean;
};

function size(bytes: number): string {
  return bytes % KIB === 0 ? `${bytes / KIB} KiB` : `${bytes} B`;
}

export type ScenarioId = 'full1' | 'full4' | 'browser' | 'seek' | 'tiny' | 'slow' | 'abort' | 'cold' | 'cluster';
export type Metric = 'MB/s' | 'req/s' | 'memory';

/** A named, parameterised workload. */
export type Scenario = {
  readonly id: ScenarioId;
  /** The numbering. */
  readonly number: string;
  readonly title: (config: BenchConfig) => string;
  readonly metric: Metric;
  /** 'references': sage, naive, nginx; 'cluster': sage with 1 worker and with N. */
  readonly servers: 'references' | 'cluster';
  readonly job: (config: BenchConfig, target: Target, seed: number) => LoadJob;
  /** Drop the page cache before the load and read the servers' event-loop delay. */
  readonly cold?: true;
};

/** Whether each run of the scenario gets a server process of its own. */
export function isFresh(scenario: Scenario): boolean {
  return scenario.metric === 'memory' || scenario.servers === 'cluster' || scenario.cold === true;
}

const KIB = 1024;

function requests(config: BenchConfig, target: Target, seed: number, connections: number, range: RangeSpec): LoadJob {
  const unit = range.kind === 'random' || range.kind === 'fixed' ? 'responses' : 'bytes';
  return { kind: 'requests', ...target, connections, range, seed, warmupMs: config.warmupMs, durationMs: config.durationMs, maxRequests: config.maxRequests, unit };
}

/** The scenarios in the order they run. */
export const SCENARIOS: readonly Scenario[] = [
  {
    id: 'full1',
    number: '1a',
    title: () => 'full file, no Range, 1 connection',
    metric: 'MB/s',
    servers: 'references',
    job: (config, target, seed) => requests(config, target, seed, 1, { kind: 'none' }),
  },
  {
    id: 'full4',
    number: '1b',
    title: () => 'full file, no Range, 4 connections',
    metric: 'MB/s',
    servers: 'references',
    job: (config, target, seed) => requests(config, target, seed, 4, { kind: 'none' }),
  },
  {
    id: 'browser',
    number: '2',
    title: () => 'browser first request `bytes=0-`, 16 connections',
    metric: 'MB/s',
    servers: 'references',
    job: (config, target, seed) => requests(config, target, seed, 16, { kind: 'open', start: 0 }),
  },
  {
    id: 'seek',
    number: '3',
    title: (config) => `seeking: random ${size(config.seekLength)} ranges, 32 connections`,
    metric: 'req/s',
    servers: 'references',
    job: (config, target, seed) => requests(config, target, seed, 32, { kind: 'random', length: config.seekLength }),
  },
  {
    id: 'tiny',
    number: '4',
    title: (config) => `tiny ranges \`bytes=0-${config.tinyLength - 1}\`, 64 connections`,
    metric: 'req/s',
    servers: 'references',
    job: (config, target, seed) => requests(config, target, seed, 64, { kind: 'fixed', start: 0, end: config.tinyLength - 1 }),
  },
  {
    id: 'slow',
    number: '5',
    title: (config) =>
      `${config.slowClients} slow clients (${config.slowBytesPerTick / KIB} KiB per ${config.slowTickMs} ms) for ${config.slowDurationMs / 1000} s, then all abort`,
    metric: 'memory',
    servers: 'references',
    job: (config, target) => ({
      kind: 'slow',
      ...target,
      clients: config.slowClients,
      durationMs: config.slowDurationMs,
      bytesPerTick: config.slowBytesPerTick,
      tickMs: config.slowTickMs,
    }),
  },
  {
    id: 'abort',
    number: '6',
    title: (config) => `${config.aborts} requests aborted after the first chunk (${config.abortConcurrency} at a time)`,
    metric: 'memory',
    servers: 'references',
    job: (config, target) => ({ kind: 'abort', ...target, total: config.aborts, concurrency: config.abortConcurrency, timeoutMs: 10_000 }),
  },
  {
    id: 'cluster',
    number: '7',
    title: (config) => `tiny ranges \`bytes=0-${config.tinyLength - 1}\`, 64 connections: sage 1 worker vs ${config.workers} (node:cluster)`,
    metric: 'req/s',
    servers: 'cluster',
    job: (config, target, seed) => requests(config, target, seed, 64, { kind: 'fixed', start: 0, end: config.tinyLength - 1 }),
  },
  {
    id: 'cold',
    number: '8',
    title: (config) => `cold cache: random ${size(config.seekLength)} ranges, 32 connections, fresh server, page cache dropped`,
    metric: 'req/s',
    servers: 'references',
    cold: true,
    job: (config, target, seed) => requests({ ...config, warmupMs: 0 }, target, seed, 32, { kind: 'random', length: config.seekLength }),
  },
];

/** `--scenario` accepts the ids above, plus `full` for both full-file runs. */
export function selectScenarios(names: readonly string[] | undefined): readonly Scenario[] {
  if (names === undefined) return SCENARIOS;
  const wanted = new Set(names.flatMap((name) => (name === 'full' ? ['full1', 'full4'] : [name])));
  for (const name of wanted) {
    if (!SCENARIOS.some((scenario) => scenario.id === name)) {
      throw new TypeError(`--scenario: unknown scenario ${JSON.stringify(name)} (known: full, ${SCENARIOS.map((s) => s.id).join(', ')})`);
    }
  }
  return SCENARIOS.filter((scenario) => wanted.has(scenario.id));
}
