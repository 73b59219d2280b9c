import assert from 'node:assert/strict';
import { fork, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { pattern, type Fixtures } from './fixtures.ts';

// What test/serve/fairness*.test.ts share: the sparse file, the child server, the checks.
export const MiB: number = 1024 * 1024;
export const RANGE: number = 64 * 1024; // bytes per response
export const STRIDE: number = MiB; // each request reads its own MiB of the file
export const MARK = 64; // pattern bytes at the start of each range; the rest is a hole (zeros)
export const REQUESTS = 2000;
export const STREAMS = 1000;

/** Writes `root/huge.bin` (a mark at the start of each request's MiB, holes between) and `root/clip.mp4`. */
export function writeFairRoot(fixtures: Fixtures): string {
  fixtures.sparse(
    'root/huge.bin',
    REQUESTS * STRIDE,
    Array.from({ length: REQUESTS }, (_, i) => ({ offset: i * STRIDE, length: MARK })),
  );
  fixtures.file('root/clip.mp4', 100_000);
  return fixtures.path('root');
}


/** The bytes request `i` must get: its mark, then zeros. */
export function expected(i: number): Buffer {
  const body = Buffer.alloc(RANGE);
  pattern(i * STRIDE, i * STRIDE + MARK - 1).copy(body);
  return body;
}
export const rangeOf: (i: number) => string = (i) => `bytes=${i * STRIDE}-${i * STRIDE + RANGE - 1}`;

export type Stats = { readonly fds: number; readonly rss: number; readonly held: number };
export type Child = { readonly port: number; stats(): Promise<Stats>; close(): Promise<void> };

/** Starts test/fixtures/fair-server.ts in its own process (its memory is what is measured). */
export async function startChild(root: string, protocol: 'http1' | 'h2c'): Promise<Child> {
  const script = fileURLToPath(new URL('../fixtures/fair-server.ts', import.meta.url));
  const child: ChildProcess = fork(script, [root, protocol], { execArgv: ['--expose-gc'], stdio: 'inherit' });
  const [{ port }] = (await once(child, 'message')) as [{ port: number }];
  return {
    port,
    stats: async () => {
      child.send('stats');
      const [stats] = (await once(child, 'message')) as [Stats];
      return stats;
    },
    close: async () => {
      const exited = once(child, 'exit');
      child.disconnect();
      await exited;
    },
  };
}

/**
 * Reads `count` pipelined HTTP/1.1 responses (Content-Length framed) off `socket`, checking each
 * is a 206, and resolves with their bodies.
 */
export function readResponses(socket: net.Socket, count: number, head: Buffer, status = 206): Promise<Buffer[]> {
  const bodies: Buffer[] = [];
  let pending = head;
  return new Promise((resolve, reject) => {
    const take = (chunk: Buffer): void => {
      pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
      try {
        for (;;) {
          const headEnd = pending.indexOf('\r\n\r\n');
          if (headEnd < 0) break;
          const text = pending.subarray(0, headEnd).toString('latin1');
          assert.ok(text.startsWith(`HTTP/1.1 ${status} `), `response ${bodies.length}: ${text.split('\r\n')[0]}`);
          const length = Number(/\r\ncontent-length: (\d+)/i.exec(text)?.[1]);
          if (pending.length < headEnd + 4 + length) break;
          bodies.push(Buffer.from(pending.subarray(headEnd + 4, headEnd + 4 + length)));
          pending = pending.subarray(headEnd + 4 + length);
        }
      } catch (err) {
        reject(err);
      }
      if (bodies.length < count) return;
      socket.off('data', take);
      assert.equal(pending.length, 0, 'nothing after the last response');
      resolve(bodies);
    };
    socket.on('data', take);
    socket.once('close', () => reject(new Error(`connection closed after ${bodies.length} of ${count} responses`)));
    take(Buffer.alloc(0));
  });
}

/**
 * A few descriptors, under 16 MiB of JS heap and buffers held, and under 32 MiB of RSS: Node's
 * own parsing of the same burst with a do-nothing handler already grows RSS by ~20 MiB here
 * (malloc and V8 pages it keeps), so RSS alone cannot go below that floor. Before the fix:
 * +167 MiB RSS over HTTP/1.1, +92 MiB over HTTP/2.
 */
export function assertBounded(baseline: Stats, held: Stats): void {
  assert.ok(held.fds - baseline.fds <= 3, `fds: ${baseline.fds} → ${held.fds}`);
  const heldMiB = (held.held - baseline.held) / MiB;
  assert.ok(heldMiB < 16, `heap + buffers grew ${heldMiB.toFixed(1)} MiB`);
  const rssMiB = (held.rss - baseline.rss) / MiB;
  assert.ok(rssMiB < 32, `RSS grew ${rssMiB.toFixed(1)} MiB`);
}

export const sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
