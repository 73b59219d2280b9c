import { writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { BenchFile } from './data.ts';
import { runLoad, sampleProcesses, startNodeServer, watchPeaks, type ProcessSample, type ServerHandle } from './processes.ts';
import type { EventLoopDelay, LoadResult, RequestJob } from './protocol.ts';
import { isFresh, type BenchConfig, type Scenario, type ScenarioId } from './scenarios.ts';
import { startNginx } from './servers/nginx.ts';
import { runWrk } from './wrk.ts';

const SAMPLE_INTERVAL_MS = 100;

/** How to start one server under test. */
export type ServerSpec = (
  | { readonly name: string; readonly kind: 'node'; readonly script: string; readonly args: readonly string[] }
  | { readonly name: string; readonly kind: 'nginx'; readonly binary: string }
) & {
  /** The scenarios this server can run (the ceiling: only where the file fits in memory); default all. */
  readonly scenarios?: readonly ScenarioId[];
};

/** The servers `--servers` knows, in report order. */
export const SERVER_NAMES: readonly string[] = ['sage', 'send', 'sirv', 'fastify-send', 'ceiling', 'naive', 'nginx'];

/** One scenario against one server in one repetition. */
export type RunRecord = {
  readonly rep: number;
  readonly scenario: ScenarioId;
  readonly server: string;
  readonly result: LoadResult;
  /** Server processes before the load, their peaks during it, and (memory scenarios) after it settled. */
  readonly before: ProcessSample;
  readonly peak: ProcessSample;
  readonly after: ProcessSample | undefined;
  /** The server's event-loop delay during the load (Node servers, cold-cache scenario). */
  readonly eventLoop: EventLoopDelay | undefined;
  /** Whether the page cache was dropped first (cold-cache scenario). */
  readonly note?: string;
};

export type BenchPlan = {
  readonly config: BenchConfig;
  readonly scenarios: readonly Scenario[];
  /** sage, naive, nginx (those selected and available). */
  readonly servers: readonly ServerSpec[];
  /** Scenario 7's pair: sage with 1 worker and with N. */
  readonly clusterServers: readonly ServerSpec[];
  readonly file: BenchFile;
  /** Which client runs the request scenarios (1–4, 7); 5 and 6 always use the Node one. */
  readonly client: 'node' | 'wrk';
  readonly log: (line: string, transient: boolean) => void;
};

/** What `drop_caches` managed before a cold-cache run. */
export const DROP_CACHES = '/proc/sys/vm/drop_caches';

const SERVERS_DIR = fileURLToPath(new URL('./servers/', import.meta.url));

/**
 * The standard servers by name. The ceiling holds the file in memory when it is at most
 * `ceilingMaxBytes`; otherwise it runs the tiny-range scenario only (from the file's first 64 KiB).
 */
export function serverSpecs(names: readonly string[], file: BenchFile, nginx: string | undefined, ceilingMaxBytes: number): ServerSpec[] {
  const root = file.dir;
  const REQUEST_SCENARIOS: readonly ScenarioId[] = ['full1', 'full4', 'browser', 'seek', 'tiny'];
  return names.flatMap((name): ServerSpec[] => {
    switch (name) {
      case 'sage':
      case 'send':
      case 'sirv':
      case 'fastify-send':
      case 'naive':
        return [{ name, kind: 'node', script: `${SERVERS_DIR}${name}.ts`, args: [root] }];
      case 'ceiling':
        return [
          {
            name,
            kind: 'node',
            script: `${SERVERS_DIR}ceiling.ts`,
            args: [root, file.name, String(ceilingMaxBytes)],
            scenarios: file.size <= ceilingMaxBytes ? REQUEST_SCENARIOS : ['tiny'],
          },
        ];
      case 'nginx':
        return nginx === undefined ? [] : [{ name, kind: 'nginx', binary: nginx }];
      default:
        throw new TypeError(`--servers: unknown server ${JSON.stringify(name)} (known: ${SERVER_NAMES.join(', ')})`);
    }
  });
}

/** Scenario 7's servers: sage under node:cluster with 1 worker and with `workers`. */
export function clusterSpecs(root: string, workers: number): ServerSpec[] {
  return [1, workers].map((n) => ({ name: `sage ×${n}`, kind: 'node', script: `${SERVERS_DIR}sage.ts`, args: [root, String(n)] }));
}

function start(spec: ServerSpec, root: string): Promise<ServerHandle> {
  return spec.kind === 'nginx' ? startNginx(spec.binary, root) : startNodeServer(spec.name, spec.script, spec.args);
}

function rotate<T>(items: readonly T[], by: number): T[] {
  const shift = items.length === 0 ? 0 : by % items.length;
  return [...items.slice(shift), ...items.slice(0, shift)];
}

/** Empties the page cache (as root), or says why not. */
function dropCaches(): string {
  try {
    writeFileSync(DROP_CACHES, '3\n');
    return 'page cache dropped';
  } catch (err) {
    return `page cache not dropped (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

/** The event-loop report of a Node server under test (bench/servers/common.ts). */
function eventLoop(port: number, reset: boolean): Promise<EventLoopDelay | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: `/__bench/event-loop${reset ? '?reset' : ''}`, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (text += chunk));
      res.once('end', () => resolve(res.statusCode === 200 ? (JSON.parse(text) as EventLoopDelay) : undefined));
    });
    req.once('error', () => resolve(undefined));
  });
}

/** Roughly how long one run takes, for the ETA. */
function estimateMs(scenario: Scenario, config: BenchConfig): number {
  switch (scenario.metric) {
    case 'memory':
      return scenario.id === 'slow' ? config.slowDurationMs + config.settleMs + 800 : 1500 + config.settleMs;
    default:
      return config.warmupMs + config.durationMs + (isFresh(scenario) ? 1200 : 300);
  }
}

function formatEta(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  return s >= 60 ? `${Math.floor(s / 60)} min ${String(s % 60).padStart(2, '0')} s` : `${s} s`;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * One request on a connection that then closes, so that whatever a server opens lazily on its
 * first request (a thread pool, an io_uring fd) is in the "before" figures, not counted as a leak.
 */
function prime(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent: false, headers: { range: 'bytes=0-1023', connection: 'close' } }, (res) => {
      res.resume();
      res.once('end', resolve);
    });
    req.once('error', reject);
  });
}

/**
 * Runs every scenario against every server, interleaved: for each repetition, for each
 * scenario, each server in turn (the order rotates every repetition). The request scenarios
 * (1–4) share one process per server within a repetition, after a warm-up; the memory scenarios
 * (5, 6) and the cluster pair (7) get fresh processes, so their before/after figures are their own.
 */
export async function runBench(plan: BenchPlan): Promise<RunRecord[]> {
  const { config, file } = plan;
  const records: RunRecord[] = [];
  const specsFor = (scenario: Scenario, rep: number): ServerSpec[] =>
    rotate(scenario.servers === 'cluster' ? plan.clusterServers : plan.servers, rep - 1).filter(
      (spec) => spec.scenarios === undefined || spec.scenarios.includes(scenario.id),
    );
  const runs = Array.from({ length: config.reps }, (_, i) => plan.scenarios.flatMap((s) => specsFor(s, i + 1).map(() => estimateMs(s, config)))).flat();
  const total = runs.length;
  const estimatedTotal = runs.reduce((a, b) => a + b, 0);
  const started = performance.now();
  let estimatedDone = 0;
  const eta = (): string => {
    const elapsed = performance.now() - started;
    const pace = estimatedDone === 0 ? 1 : elapsed / estimatedDone;
    return `ETA ${formatEta((estimatedTotal - estimatedDone) * pace)}`;
  };
  for (let rep = 1; rep <= config.reps; rep++) {
    const shared = new Map<string, ServerHandle>();
    try {
      // The shared servers start side by side: each is idle until its turn.
      const sharedSpecs = plan.servers.filter((spec) => plan.scenarios.some((s) => !isFresh(s) && (spec.scenarios === undefined || spec.scenarios.includes(s.id))));
      const launches = await Promise.allSettled(sharedSpecs.map(async (spec) => shared.set(spec.name, await start(spec, file.dir))));
      for (const outcome of launches) if (outcome.status === 'rejected') throw outcome.reason;
      for (const scenario of plan.scenarios) {
        const fresh = isFresh(scenario);
        for (const spec of specsFor(scenario, rep)) {
          const prefix = `[${records.length + 1}/${total} · rep ${rep}/${config.reps}] ${scenario.number} ${scenario.id} · ${spec.name}`;
          plan.log(`${prefix}: starting · ${eta()}`, true);
          let server = fresh ? undefined : shared.get(spec.name);
          if (server === undefined) {
            server = await start(spec, file.dir);
            if (!fresh) shared.set(spec.name, server);
          }
          try {
            const pids = server.pids();
            const job = scenario.job(config, { port: server.port, path: `/f/${encodeURIComponent(file.name)}`, fileSize: file.size, ...(file.check === undefined ? {} : { check: file.check }) }, rep);
            if (fresh) {
              await prime(server.port, job.path);
              await sleep(100);
            }
            let note: string | undefined;
            if (scenario.cold === true) note = config.dropCaches ? dropCaches() : 'page cache not dropped (this preset leaves it alone)';
            const measureLoop = scenario.cold === true && spec.kind === 'node';
            if (measureLoop) await eventLoop(server.port, true);
            const before = sampleProcesses(pids);
            const peaks = watchPeaks(pids, SAMPLE_INTERVAL_MS);
            const unit = scenario.metric === 'memory' ? (job.kind === 'slow' ? 'bytes' : 'aborted') : 'responses';
            const onProgress = (elapsedMs: number, done: number, errors: number): void =>
              plan.log(`${prefix}: ${(elapsedMs / 1000).toFixed(1)} s, ${done} ${unit}, ${errors} errors · ${eta()}`, true);
            const result =
              plan.client === 'wrk' && job.kind === 'requests' && job.check === undefined ? await runWrk(job as RequestJob, onProgress) : await runLoad(job, onProgress);
            const loop = measureLoop ? await eventLoop(server.port, false) : undefined;
            let after: ProcessSample | undefined;
            if (scenario.metric === 'memory') {
              await sleep(config.settleMs);
              after = sampleProcesses(pids);
            }
            records.push({ rep, scenario: scenario.id, server: spec.name, result, before, peak: peaks.stop(), after, eventLoop: loop, ...(note === undefined ? {} : { note }) });
            estimatedDone += estimateMs(scenario, config);
            plan.log(`${prefix}: done, ${result.errors} errors${note === undefined ? '' : `, ${note}`} · ${eta()}`, false);
          } finally {
            if (fresh) await server.stop();
          }
        }
      }
    } finally {
      for (const server of shared.values()) await server.stop();
    }
  }
  return records;
}
