import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { LoadJob, LoadMessage, LoadResult, ServerReady } from './protocol.ts';

const STOP_GRACE_MS = 2000;
const READY_TIMEOUT_MS = 20_000;
const LOAD_SCRIPT = fileURLToPath(new URL('./load.ts', import.meta.url));

/** A server under test, running in its own process (group). */
export type ServerHandle = {
  readonly name: string;
  readonly port: number;
  /** The processes whose memory and fds are reported (nginx: its workers; cluster: all). */
  pids(): readonly number[];
  stop(): Promise<void>;
};

// Every child we started, so that an exit or Ctrl-C never leaves one behind.
const groups = new Set<number>();
const loads = new Set<ChildProcess>();
const scratch = new Set<string>();

function killAll(): void {
  for (const pid of groups) killGroup(pid, 'SIGKILL');
  for (const child of loads) child.kill('SIGKILL');
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
}

/** Removes `dir` on exit unless `release` was called first (after removing it yourself). */
export function removeOnExit(dir: string): { release(): void } {
  scratch.add(dir);
  return { release: () => scratch.delete(dir) };
}
process.on('exit', killAll);

/** Kills `child` too if we exit while it runs. */
export function track(child: ChildProcess): void {
  loads.add(child);
  child.once('exit', () => loads.delete(child));
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * Starts `command` as the leader of its own process group (detached), so stopping it also stops
 * whatever it forked: cluster workers, nginx workers.
 */
export function spawnGroup(command: string, args: readonly string[]): ChildProcess {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'], detached: true });
  const pid = child.pid;
  if (pid !== undefined) {
    groups.add(pid);
    child.once('exit', () => groups.delete(pid));
  }
  return child;
}

/** Stops a process group: SIGTERM, then SIGKILL if it is still there after a grace period. */
export async function stopGroup(child: ChildProcess): Promise<void> {
  const pid = child.pid;
  if (pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(pid, 'SIGKILL'), STOP_GRACE_MS);
  await exited;
  clearTimeout(timer);
  // Workers of a group whose leader exited first.
  killGroup(pid, 'SIGKILL');
  groups.delete(pid);
}

/** Starts a Node server script that prints a ServerReady line (bench/servers/*.ts). */
export async function startNodeServer(name: string, script: string, args: readonly string[]): Promise<ServerHandle> {
  const child = spawnGroup(process.execPath, [script, ...args]);
  const ready = await new Promise<ServerReady>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name}: no ready line within ${READY_TIMEOUT_MS} ms`)), READY_TIMEOUT_MS);
    child.once('exit', (code) => reject(new Error(`${name}: exited (${code}) before it was ready`)));
    createInterface({ input: child.stdout! }).once('line', (line) => {
      clearTimeout(timer);
      resolve(JSON.parse(line) as ServerReady);
    });
  });
  return { name, port: ready.port, pids: () => ready.pids, stop: () => stopGroup(child) };
}

/** Memory and open files of a set of processes, summed. */
export type ProcessSample = { readonly rssBytes: number; readonly fds: number };

/** Reads VmRSS from /proc/<pid>/status and counts /proc/<pid>/fd, summed over `pids`. */
export function sampleProcesses(pids: readonly number[]): ProcessSample {
  let rssBytes = 0;
  let fds = 0;
  for (const pid of pids) {
    try {
      const status = readFileSync(`/proc/${pid}/status`, 'latin1');
      const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
      rssBytes += Number(match?.[1] ?? 0) * 1024;
      fds += readdirSync(`/proc/${pid}/fd`).length;
    } catch {
      // The process is gone (or this is not Linux): it counts for nothing.
    }
  }
  return { rssBytes, fds };
}

/** Samples `pids` every `intervalMs` and keeps the peaks, until stopped. */
export function watchPeaks(pids: readonly number[], intervalMs: number): { stop(): ProcessSample } {
  let rssBytes = 0;
  let fds = 0;
  const take = (): void => {
    const sample = sampleProcesses(pids);
    rssBytes = Math.max(rssBytes, sample.rssBytes);
    fds = Math.max(fds, sample.fds);
  };
  take();
  const timer = setInterval(take, intervalMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return { rssBytes, fds };
    },
  };
}

/** The children of `pid` (nginx's workers), from /proc. */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Runs one job in a fresh load-generator process (bench/load.ts) and returns its result. */
export async function runLoad(
  job: LoadJob,
  onProgress: (elapsedMs: number, done: number, errors: number) => void,
  { script = LOAD_SCRIPT, exitGraceMs = STOP_GRACE_MS }: { readonly script?: string; readonly exitGraceMs?: number } = {},
): Promise<LoadResult> {
  const child = spawn(process.execPath, [script, JSON.stringify(job)], { stdio: ['ignore', 'pipe', 'inherit'] });
  track(child);
  let result: LoadResult | undefined;
  let stuck: NodeJS.Timeout | undefined;
  createInterface({ input: child.stdout }).on('line', (line) => {
    const message = JSON.parse(line) as LoadMessage;
    if ('result' in message) {
      result = message.result;
      // Node can deadlock in its own exit (nodejs/node#54918: the main thread joins a platform
      // worker that never returns; seen here once in a few hundred runs). The result is in: kill a child
      // that has not exited within the grace period instead of waiting for ever.
      stuck = setTimeout(() => child.kill('SIGKILL'), exitGraceMs);
    } else onProgress(message.progress.elapsedMs, message.progress.done, message.progress.errors);
  });
  const code = await new Promise<number | null>((resolve) => child.once('close', resolve));
  clearTimeout(stuck);
  if (result === undefined) throw new Error(`load generator exited (${code}) without a result`);
  return result;
}
