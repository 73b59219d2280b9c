// sage-stream under test: `node bench/servers/sage.ts <root> [workers]`. Serves `<root>` in path
// mode at /f/<name> on 127.0.0.1, port 0, and prints a ServerReady line. With `workers`, a
// node:cluster primary forks that many workers sharing the port (round-robin, Node's default).
import cluster from 'node:cluster';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { ServerReady } from '../protocol.ts';
import { exitWithParent, withEventLoopReport } from './common.ts';

// The compiled package when the suite built one (bench/build.ts), as users run it; else src/.
const entry = process.env['SAGE_STREAM_BENCH_ENTRY'];
const { createStreamHandler } = (await import(entry === undefined ? '../../src/index.ts' : pathToFileURL(entry).href)) as typeof import('../../src/index.ts');

const root = process.argv[2];
const workers = Number(process.argv[3] ?? 0);
if (root === undefined || !Number.isInteger(workers) || workers < 0) {
  process.stderr.write('usage: node bench/servers/sage.ts <root> [workers]\n');
  process.exit(2);
}

function ready(message: ServerReady): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

// The parent holds our stdin: when it goes away, so do we.
if (cluster.isPrimary) exitWithParent();

if (workers > 0 && cluster.isPrimary) {
  const pids: number[] = [];
  let port = 0;
  cluster.on('listening', (worker, address) => {
    pids.push(worker.process.pid ?? 0);
    port = address.port;
    if (pids.length === workers) ready({ port, pids: [process.pid, ...pids] });
  });
  cluster.on('exit', (_worker, code, signal) => {
    // A signal is the bench stopping the whole group; anything else is a crash.
    if (signal === null) process.stderr.write(`sage worker exited (${code}), stopping\n`);
    process.exit(signal === null ? 1 : 0);
  });
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  const server = http.createServer(withEventLoopReport(createStreamHandler({ root, mode: 'path', prefix: '/f' })));
  server.listen(0, '127.0.0.1', () => {
    if (cluster.isPrimary) ready({ port: (server.address() as AddressInfo).port, pids: [process.pid] });
  });
}
