// CPU time a server spends per request, from /proc: `node bench/cpu-per-request.ts [--servers a,b]
// [--range tiny|seek] [--requests N] [--reps N]`. Less sensitive to a busy machine than req/s:
// the load client runs in its own process and only the server's user + system time is counted.
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildForBench, ENTRY_VARIABLE } from './build.ts';
import { ensureBenchFile, warmPageCache } from './data.ts';
import { runLoad, startNodeServer } from './processes.ts';
import type { RangeSpec } from './protocol.ts';

const { values } = parseArgs({
  options: {
    servers: { type: 'string', default: 'sage,ceiling' },
    range: { type: 'string', default: 'tiny' },
    requests: { type: 'string', default: '20000' },
    reps: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    baseline: { type: 'string' }, // another checkout: its src/ is built and run as server 'baseline'
  },
});
const entries: Record<string, string> = { sage: buildForBench() }; // sage as users run it
if (values.baseline !== undefined) entries['baseline'] = buildForBench(values.baseline);
const TICKS_PER_SECOND = 100; // getconf CLK_TCK on Linux
const requests = Number(values.requests);
const size = 256 * 1024 * 1024;
const dir = join(tmpdir(), 'sage-stream-bench');
const file = await ensureBenchFile(dir, size);
await warmPageCache(file.path);
const range: RangeSpec = values.range === 'seek' ? { kind: 'random', length: 256 * 1024 } : { kind: 'fixed', start: 0, end: 1023 };

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime
}

const scripts: Record<string, string[]> = {
  sage: ['bench/servers/sage.ts', dir],
  baseline: ['bench/servers/sage.ts', dir],
  ceiling: ['bench/servers/ceiling.ts', dir, file.name, String(values.range === 'seek' ? size : 64 * 1024)],
  send: ['bench/servers/send.ts', dir],
};
const results: Record<string, number[]> = {};
for (let rep = 0; rep < Number(values.reps); rep++) {
  for (const name of values.servers.split(',')) {
    const [script, ...args] = scripts[name]!;
    if (entries[name] !== undefined) process.env[ENTRY_VARIABLE] = entries[name];
    const server = await startNodeServer(name, script!, args);
    const pid = server.pids()[0]!;
    const job = {
      kind: 'requests' as const, port: server.port, path: `/f/${encodeURIComponent(file.name)}`, fileSize: size,
      connections: Number(values.connections), warmupMs: 0, durationMs: 60_000, maxRequests: 2000, range, seed: rep + 1, unit: 'responses' as const,
    };
    await runLoad(job, () => {}); // warm-up: JIT, caches
    const before = cpuTicks(pid);
    const started = performance.now();
    const result = (await runLoad({ ...job, maxRequests: requests }, () => {})) as import('./protocol.ts').RequestResult;
    const elapsed = performance.now() - started;
    const us = ((cpuTicks(pid) - before) / TICKS_PER_SECOND / result.completed) * 1e6;
    (results[name] ??= []).push(us);
    process.stderr.write(`${name}: ${us.toFixed(1)} µs CPU/request, ${(result.completed / (elapsed / 1000)).toFixed(0)} req/s, errors ${result.errors}\n`);
    await server.stop();
  }
}
for (const [name, list] of Object.entries(results)) {
  const sorted = [...list].sort((a, b) => a - b);
  console.log(`${name}: median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(1)} µs CPU/request (${sorted.map((v) => v.toFixed(1)).join(', ')})`);
}
