import { get } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { BenchFile } from './data.ts';
import { runLoad, sampleProcesses, startNodeServer, watchPeaks, type ProcessSample, type ServerHandle } from './processes.ts';
import type { LoadResult, RequestJob } from './protocol.ts';
import type { BenchConfig, Scenario, ScenarioId } from './scenarios.ts';
import { startNginx } from './servers/nginx.ts';
import { runWrk } from './wrk.ts';

const SAMPLE_INTERVAL_MS = 100;

/** How to start one server under test. */
export type ServerSpec =
  | { readonly name: string; readonly kind: 'node'; readonly script: string; readonly args: readonly string[] }
  | { readonly name: string; readonly kind: 'nginx'; readonly binary: string };

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

const SERVERS_DIR = fileURLToPath(new URL('./servers/', import.meta.url));

/** The standard servers by name: sage, naive, nginx (given its binary). */
export function serverSpecs(names: readonly string[], root: string, nginx: string | undefined): ServerSpec[] {
  return names.flatMap((name): ServerSpec[] => {
    switch (name) {
      case 'sage':
        return [{ name, kind: 'node', script: `${SERVERS_DIR}sage.ts`, args: [root] }];
      case 'naive':
        return [{ name, kind: 'node', script: `${SERVERS_DIR}naive.ts`, args: [root] }];
      case 'nginx':
        return nginx === undefined ? [] : [{ name, kind: 'nginx', binary: nginx }];
      default:
        throw new TypeError(`--servers: unknown server ${JSON.stringify(name)} (known: sage, naive, nginx)`);
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
  const total = plan.config.reps * plan.scenarios.reduce((n, s) => n + (s.servers === 'cluster' ? plan.clusterServers : plan.servers).length, 0);
  for (let rep = 1; rep <= config.reps; rep++) {
    const shared = new Map<string, ServerHandle>();
    try {
      for (const scenario of plan.scenarios) {
        const fresh = scenario.metric === 'memory' || scenario.servers === 'cluster';
        const specs = rotate(scenario.servers === 'cluster' ? plan.clusterServers : plan.servers, rep - 1);
        for (const spec of specs) {
          const prefix = `[${records.length + 1}/${total} · rep ${rep}/${config.reps}] ${scenario.number} ${scenario.id} · ${spec.name}`;
          plan.log(`${prefix}: starting`, true);
          let server = fresh ? undefined : shared.get(spec.name);
          if (server === undefined) {
            server = await start(spec, file.dir);
            if (!fresh) shared.set(spec.name, server);
          }
          try {
            const pids = server.pids();
            const job = scenario.job(config, { port: server.port, path: `/f/${encodeURIComponent(file.name)}`, fileSize: file.size }, rep);
            if (fresh) {
              await prime(server.port, job.path);
              await sleep(100);
            }
            const before = sampleProcesses(pids);
            const peaks = watchPeaks(pids, SAMPLE_INTERVAL_MS);
            const unit = scenario.metric === 'memory' ? (job.kind === 'slow' ? 'bytes' : 'aborted') : 'responses';
            const onProgress = (elapsedMs: number, done: number, errors: number): void =>
              plan.log(`${prefix}: ${(elapsedMs / 1000).toFixed(1)} s, ${done} ${unit}, ${errors} errors`, true);
            const result =
              plan.client === 'wrk' && job.kind === 'requests' ? await runWrk(job as RequestJob, onProgress) : await runLoad(job, onProgress);
            let after: ProcessSample | undefined;
            if (scenario.metric === 'memory') {
              await sleep(config.settleMs);
              after = sampleProcesses(pids);
            }
            records.push({ rep, scenario: scenario.id, server: spec.name, result, before, peak: peaks.stop(), after });
            plan.log(`${prefix}: done, ${result.errors} errors`, false);
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
