// `npm exec -- node --expose-gc --import tsx bench/watch-log-growth.ts [--requests N] [--src DIR]`:
// how far one client can grow the watch log (issue 9). Prints JSON lines:
// - flood: N requests over loopback, each with a new User-Agent and `Range: bytes=-1024` of a
//   sparse 8 GiB file; the request bytes sent against the database file's size after close.
// - queue: 10,000 entries with a 16 KB User-Agent recorded while another writer holds the lock,
//   so nothing is written; the heap they retain (after a GC) and what the queue kept and dropped.
// --src points at another checkout's src/ (e.g. one extracted with `git archive`) to compare.
import http from 'node:http';
import { mkdtempSync, openSync, closeSync, ftruncateSync, rmSync, statSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { requests: { type: 'string' }, src: { type: 'string' } } });
const N = Number(values.requests ?? 5000);
const src = resolve(values.src ?? fileURLToPath(new URL('../src', import.meta.url)));
const { WatchLog } = (await import(pathToFileURL(join(src, 'watch-log/watch-log.ts')).href)) as typeof import('../src/watch-log/watch-log.ts');
const { createStreamHandler } = (await import(pathToFileURL(join(src, 'serve/handler.ts')).href)) as typeof import('../src/serve/handler.ts');
process.stdout.write(`${JSON.stringify({ node: process.version, src })}\n`);

const dir = mkdtempSync(join(tmpdir(), 'sage-stream-wlog-growth-'));
try {
  const SIZE = 8 * 1024 ** 3;
  const fd = openSync(join(dir, 'big.mp4'), 'w');
  ftruncateSync(fd, SIZE);
  closeSync(fd);
  const db = join(dir, 'watch.db');
  const log = await WatchLog.open(db, { onError: () => {} });
  const handler = createStreamHandler({ root: dir, watchLog: log });
  const server = http.createServer((req, res) => handler(req, res));
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  let requestBytes = 0;
  let bodyBytes = 0;
  const one = (i: number): Promise<void> =>
    new Promise((done, fail) => {
      const headers = { Range: 'bytes=-1024', 'User-Agent': `Mozilla/5.0 (flood ${i})` };
      requestBytes += `GET /?path=big.mp4 HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nConnection: keep-alive\r\n`.length;
      for (const [name, value] of Object.entries(headers)) requestBytes += name.length + value.length + 4;
      requestBytes += 2;
      http.get({ port, host: '127.0.0.1', path: '/?path=big.mp4', headers, agent }, (res) => {
        res.on('data', (chunk: Buffer) => (bodyBytes += chunk.length)).on('end', done);
      }).on('error', fail);
    });
  let next = 0;
  await Promise.all(Array.from({ length: 8 }, async () => {
    while (next < N) await one(next++);
  }));
  agent.destroy();
  await new Promise<void>((done) => server.close(() => done()));
  await handler.close();
  log.close();
  if (bodyBytes !== N * 1024) throw new Error(`got ${bodyBytes} body bytes, expected ${N * 1024}`);
  const reader = new DatabaseSync(db, { readOnly: true });
  const counts = reader.prepare('SELECT (SELECT count(*) FROM watch_request) AS requests, (SELECT count(*) FROM watch_session) AS sessions').get();
  reader.close();
  process.stdout.write(`${JSON.stringify({ scenario: 'flood', requests: N, requestBytes, dbBytes: statSync(db).size, ...counts })}\n`);

  const qdb = join(dir, 'queue.db');
  const queue = await WatchLog.open(qdb, { onError: () => {} });
  const holder = new DatabaseSync(qdb);
  holder.exec('BEGIN EXCLUSIVE');
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let i = 0; i < 10_000; i++) {
    // A fresh flat string per entry, as node:http's parser makes each request's header.
    const raw = Buffer.alloc(16_000, 'x');
    raw.write(String(i));
    const userAgent = raw.toString('latin1');
    queue.record({ path: 'big.mp4', userId: null, isAuthenticated: false, ip: '10.0.0.1', userAgent, status: 206,
      range: 'bytes=-1024', ranges: [{ start: SIZE - 1024, end: SIZE - 1 }], bytesSent: 1024, aborted: false,
      size: SIZE, startedAt: Date.now(), durationMs: 1 });
  }
  gc?.();
  // The heap after a full GC: what the queue retains (RSS would also count freed garbage).
  const heapGrowth = process.memoryUsage().heapUsed - before;
  const old = queue as unknown as { pending: number; dropped: number };
  const stats = 'stats' in queue ? queue.stats() : { queued: old.pending, dropped: old.dropped };
  process.stdout.write(`${JSON.stringify({ scenario: 'queue', entries: 10_000, userAgentChars: 16_000, retainedHeapMiB: Math.round(heapGrowth / 2 ** 20), ...stats })}\n`);
  holder.exec('ROLLBACK');
  holder.close();
  queue.close();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
