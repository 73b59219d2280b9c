import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { removeOnExit, track } from './processes.ts';
import type { RequestJob, RequestResult } from './protocol.ts';

/** Where wrk is, if it is installed. */
export const WRK_PATH: string | undefined = ['/usr/bin/wrk', '/usr/local/bin/wrk'].find((path) => existsSync(path));

// A response head (status line + headers) is at most this long, for the byte-count check.
const MAX_HEAD = 1024;
const MARK = 'WRK-RESULT ';

/** wrk's Lua script: the Range header of every request, and a JSON line with the summary. */
function script(job: RequestJob): string {
  const range = job.range;
  const size = job.fileSize;
  let request = '';
  switch (range.kind) {
    case 'none':
      break;
    case 'open':
      request = `wrk.headers["Range"] = "bytes=${range.start}-"`;
      break;
    case 'fixed':
      request = `wrk.headers["Range"] = "bytes=${range.start}-${Math.min(range.end, size - 1)}"`;
      break;
    case 'random':
      request = `math.randomseed(${job.seed})
request = function()
  local a = math.random(0, ${size - range.length})
  return wrk.format(nil, nil, { ["Range"] = "bytes=" .. a .. "-" .. (a + ${range.length - 1}) })
end`;
      break;
  }
  return `${request}
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARK}{"requests":%d,"bytes":%d,"durationUs":%d,"status":%d,"connect":%d,"read":%d,"write":%d,"timeout":%d,"p50Us":%d,"p99Us":%d}\\n',
    summary.requests, summary.bytes, summary.duration, e.status, e.connect, e.read, e.write, e.timeout, latency:percentile(50), latency:percentile(99)))
end
`;
}

type WrkSummary = {
  requests: number;
  bytes: number;
  durationUs: number;
  status: number;
  connect: number;
  read: number;
  write: number;
  timeout: number;
  p50Us: number;
  p99Us: number;
};

function wrk(args: readonly string[]): Promise<WrkSummary> {
  return new Promise((resolve, reject) => {
    const child = execFile(WRK_PATH ?? 'wrk', args, { encoding: 'utf8', maxBuffer: 1024 * 1024 }, (err, stdout) => {
      const line = stdout.split('\n').find((l) => l.startsWith(MARK));
      if (line === undefined) reject(err ?? new Error(`wrk printed no summary: ${stdout}`));
      else resolve(JSON.parse(line.slice(MARK.length)) as WrkSummary);
    });
    track(child);
  });
}

/**
 * Runs a request job with wrk (one thread) instead of bench/load.ts: cheaper per request, so the
 * client leaves more CPU to the server. Its checks are coarser than the Node client's: no non-2xx
 * status, no socket error, and a byte count between completed × body and what the responses
 * in flight could add (wrk counts header bytes too, and cannot tell 200 from 206 by itself).
 */
export async function runWrk(job: RequestJob, onProgress: (elapsedMs: number, done: number, errors: number) => void): Promise<RequestResult> {
  const dir = mkdtempSync(join(tmpdir(), 'sage-stream-wrk-'));
  const cleanup = removeOnExit(dir);
  const lua = join(dir, 'bench.lua');
  writeFileSync(lua, script(job));
  const url = `http://127.0.0.1:${job.port}${job.path}`;
  const args = (seconds: number): string[] => ['-t1', `-c${job.connections}`, `-d${seconds}s`, '--timeout', '60s', '-s', lua, url];
  const started = performance.now();
  const timer = setInterval(() => onProgress(performance.now() - started, 0, 0), 500);
  try {
    if (job.warmupMs > 0) await wrk(args(Math.max(1, Math.round(job.warmupMs / 1000))));
    const s = await wrk(args(Math.max(1, Math.round(job.durationMs / 1000))));
    const body = job.range.kind === 'random' ? job.range.length : job.range.kind === 'fixed' ? Math.min(job.range.end, job.fileSize - 1) - job.range.start + 1 : job.fileSize - (job.range.kind === 'open' ? job.range.start : 0);
    const errorSamples: Record<string, number> = {};
    const note = (count: number, message: string): void => {
      if (count > 0) errorSamples[message] = count;
    };
    note(s.status, 'non-2xx/3xx status (wrk)');
    note(s.connect + s.read + s.write, 'socket error (wrk)');
    note(s.timeout, 'timeout (wrk)');
    const low = s.requests * body;
    const high = (s.requests + job.connections) * (body + MAX_HEAD);
    if (s.bytes < low || s.bytes > high) note(Math.max(1, s.requests), `byte count ${s.bytes} outside ${low}…${high} for ${s.requests} responses (wrk)`);
    const errors = Object.values(errorSamples).reduce((a, b) => a + b, 0);
    return {
      kind: 'requests',
      client: 'wrk',
      elapsedMs: s.durationUs / 1000,
      completed: s.requests,
      cutOff: 0,
      // Header bytes included: under 0.1% for the MB/s scenarios, whose bodies are 1 MiB or more.
      bodyBytes: s.bytes,
      errors,
      errorSamples,
      p50Ms: s.p50Us / 1000,
      p99Ms: s.p99Us / 1000,
    };
  } finally {
    clearInterval(timer);
    rmSync(dir, { recursive: true, force: true });
    cleanup.release();
  }
}
