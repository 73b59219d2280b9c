// The load generator process: `node bench/load.ts '<LoadJob as JSON>'`. It prints progress lines
// and then one result line (LoadMessage JSON) on stdout, and exits.
//
// A raw node:net keep-alive HTTP/1.1 client, one request in flight per connection (as wrk does):
// much cheaper than node:http, which matters when client and server share two cores. Every
// response is checked before it counts: status, Content-Length, Content-Range, the exact number
// of body bytes, and the first and last byte of every chunk against the file's known contents.
import { openSync, readSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { byteAt, patternBlock } from './data.ts';
import type { AbortJob, ErrorCounts, LoadJob, LoadMessage, LoadResult, RequestJob, SlowJob, Target } from './protocol.ts';

const HOST = '127.0.0.1';
const HEAD_END = Buffer.from('\r\n\r\n');
const MAX_HEAD = 16 * 1024;
const MAX_ERRORS = 1000;
const PROGRESS_INTERVAL_MS = 500;
const CHECK_BLOCK = 64 * 1024;
const CHECK_BLOCKS_KEPT = 256;
const pattern = patternBlock();

/**
 * The expected byte at an offset: the bench pattern, or (`--file`) the user's file, read in
 * 64 KiB blocks of which the last 256 used are kept.
 */
function createByteSource(path: string | undefined): (offset: number) => number {
  if (path === undefined) return (offset) => byteAt(pattern, offset);
  const fd = openSync(path, 'r');
  const blocks = new Map<number, Buffer>();
  return (offset) => {
    const index = Math.floor(offset / CHECK_BLOCK);
    let block = blocks.get(index);
    if (block === undefined) {
      block = Buffer.allocUnsafe(CHECK_BLOCK);
      const n = readSync(fd, block, 0, CHECK_BLOCK, index * CHECK_BLOCK);
      block = block.subarray(0, n);
      if (blocks.size >= CHECK_BLOCKS_KEPT) blocks.delete(blocks.keys().next().value ?? 0);
    } else blocks.delete(index);
    blocks.set(index, block);
    return block[offset - index * CHECK_BLOCK] ?? -1;
  };
}
let expectedByte: (offset: number) => number = (offset) => byteAt(pattern, offset);

/** What a response must look like to count. */
type Expected = { readonly status: 200 | 206; readonly start: number; readonly length: number; readonly contentRange: string | undefined };
type Head = { readonly status: number; readonly contentLength: number; readonly contentRange: string | undefined; readonly close: boolean };

/** Counts errors by message, keeping the first few distinct messages. */
class ErrorLog {
  count = 0;
  readonly #samples: Record<string, number> = {};
  add(message: string): void {
    this.count++;
    const known = this.#samples[message];
    if (known !== undefined) this.#samples[message] = known + 1;
    else if (Object.keys(this.#samples).length < 8) this.#samples[message] = 1;
  }
  get samples(): ErrorCounts {
    return { ...this.#samples };
  }
}

function send(message: LoadMessage): void {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

function requestText(target: Target, range: string | undefined): string {
  return `GET ${target.path} HTTP/1.1\r\nHost: ${HOST}:${target.port}\r\n${range === undefined ? '' : `Range: ${range}\r\n`}\r\n`;
}

function parseHead(text: string): Head {
  const lines = text.split('\r\n');
  const status = Number((lines[0] ?? '').slice(9, 12));
  let contentLength = -1;
  let contentRange: string | undefined;
  let close = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (name === 'content-length') contentLength = Number(value);
    else if (name === 'content-range') contentRange = value;
    else if (name === 'connection') close = value.toLowerCase() === 'close';
    else if (name === 'transfer-encoding') contentLength = -1;
  }
  return { status, contentLength, contentRange, close };
}

/** Why a head does not match what was asked, or undefined when it does. */
function checkHead(head: Head, want: Expected): string | undefined {
  if (head.status !== want.status) return `status ${head.status}, want ${want.status}`;
  if (head.contentLength !== want.length) return `Content-Length ${head.contentLength}, want ${want.length}`;
  if (want.contentRange !== undefined && head.contentRange !== want.contentRange) return `Content-Range ${head.contentRange ?? '(none)'}, want ${want.contentRange}`;
  return undefined;
}

/** Checks the first and last byte of a piece of body that starts at file offset `offset`. */
function checkBytes(chunk: Buffer, from: number, to: number, offset: number): boolean {
  return chunk[from] === expectedByte(offset) && chunk[to - 1] === expectedByte(offset + (to - from) - 1);
}

/**
 * Reads one HTTP/1.1 response after another from a socket, checking each against what was asked.
 * `onBody` sees every piece of body, `onDone` every complete response, `onError` the first thing
 * wrong (after which the connection is useless).
 */
class ResponseReader {
  want: Expected | undefined;
  head: Head | undefined;
  #pending: Buffer | undefined;
  #remaining = 0;
  #offset = 0;
  readonly #onBody: (bytes: number) => void;
  readonly #onDone: (head: Head) => void;
  readonly #onError: (message: string) => void;

  constructor(onBody: (bytes: number) => void, onDone: (head: Head) => void, onError: (message: string) => void) {
    this.#onBody = onBody;
    this.#onDone = onDone;
    this.#onError = onError;
  }

  expect(want: Expected): void {
    this.want = want;
    this.head = undefined;
  }

  /** Feeds bytes from the socket; returns false after an error. */
  push(data: Buffer): boolean {
    let chunk = data;
    let pos = 0;
    while (pos < chunk.length) {
      const want = this.want;
      if (want === undefined) return this.#fail('bytes after the end of a response');
      if (this.head === undefined) {
        const buf = this.#pending === undefined ? chunk.subarray(pos) : Buffer.concat([this.#pending, chunk.subarray(pos)]);
        const end = buf.indexOf(HEAD_END);
        if (end < 0) {
          if (buf.length > MAX_HEAD) return this.#fail('response head too long');
          this.#pending = Buffer.from(buf);
          return true;
        }
        this.#pending = undefined;
        const head = parseHead(buf.toString('latin1', 0, end));
        const wrong = checkHead(head, want);
        if (wrong !== undefined) return this.#fail(wrong);
        this.head = head;
        this.#remaining = head.contentLength;
        this.#offset = want.start;
        chunk = buf;
        pos = end + HEAD_END.length;
      } else {
        const n = Math.min(this.#remaining, chunk.length - pos);
        if (!checkBytes(chunk, pos, pos + n, this.#offset)) return this.#fail(`wrong bytes near file offset ${this.#offset}`);
        this.#remaining -= n;
        this.#offset += n;
        pos += n;
        this.#onBody(n);
      }
      if (this.#remaining === 0 && this.head !== undefined) {
        const head = this.head;
        this.want = undefined;
        this.head = undefined;
        this.#onDone(head);
      }
    }
    return true;
  }

  #fail(message: string): false {
    this.want = undefined;
    this.#onError(message);
    return false;
  }
}

/** xorshift32: cheap, and the same ranges in every run. */
function createRandom(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

function nextRequest(job: RequestJob, random: () => number): { text: string; want: Expected } {
  const size = job.fileSize;
  const range = job.range;
  const partial = (start: number, end: number): { text: string; want: Expected } => ({
    text: requestText(job, `bytes=${start}-${range.kind === 'open' ? '' : end}`),
    want: { status: 206, start, length: end - start + 1, contentRange: `bytes ${start}-${end}/${size}` },
  });
  switch (range.kind) {
    case 'none':
      return { text: requestText(job, undefined), want: { status: 200, start: 0, length: size, contentRange: undefined } };
    case 'open':
      return partial(range.start, size - 1);
    case 'fixed':
      return partial(range.start, Math.min(range.end, size - 1));
    case 'random': {
      const start = Math.floor(random() * (size - range.length + 1));
      return partial(start, start + range.length - 1);
    }
  }
}

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? 0;
}

function runRequests(job: RequestJob): Promise<LoadResult> {
  const random = createRandom(job.seed);
  const errors = new ErrorLog();
  const latencies: number[] = [];
  const sockets = new Map<Socket, ResponseReader>();
  const started = performance.now();
  let counting = job.warmupMs === 0;
  let countFrom = started;
  let completed = 0;
  let bodyBytes = 0;
  let running = true;
  let awaitingFirst = false;
  return new Promise((resolve) => {
    const finish = (): void => {
      if (!running) return;
      running = false;
      clearInterval(progress);
      clearTimeout(warmup);
      clearTimeout(deadline);
      let cutOff = 0;
      for (const [socket, reader] of sockets) {
        if (reader.head !== undefined) cutOff++;
        socket.destroy();
      }
      const sorted = Float64Array.from(latencies).sort();
      resolve({
        kind: 'requests',
        client: 'node',
        elapsedMs: performance.now() - countFrom,
        completed,
        cutOff,
        bodyBytes,
        errors: errors.count,
        errorSamples: errors.samples,
        p50Ms: percentile(sorted, 0.5),
        p99Ms: percentile(sorted, 0.99),
      });
    };
    const fail = (message: string): void => {
      errors.add(message);
      if (errors.count >= MAX_ERRORS) finish();
    };
    const open = (): void => {
      if (!running) return;
      const socket = connect({ host: HOST, port: job.port, noDelay: true });
      let sentAt = 0;
      let errored = false;
      const issue = (): void => {
        const { text, want } = nextRequest(job, random);
        reader.expect(want);
        sentAt = performance.now();
        socket.write(text);
      };
      const reader = new ResponseReader(
        (n) => {
          if (counting) bodyBytes += n;
          if (awaitingFirst && job.unit === 'bytes') finish();
        },
        (head) => {
          if (counting) {
            completed++;
            latencies.push(performance.now() - sentAt);
            if (completed >= job.maxRequests || awaitingFirst) return finish();
          }
          // Connection: close → the 'close' handler opens a new connection.
          if (running && !head.close) issue();
        },
        (message) => {
          fail(message);
          socket.destroy();
        },
      );
      sockets.set(socket, reader);
      socket.on('connect', issue);
      socket.on('data', (data: Buffer) => {
        reader.push(data);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => {
        errored = true;
        if (running) fail(`socket error ${err.code ?? err.message}`);
      });
      socket.on('close', () => {
        sockets.delete(socket);
        if (!running) return;
        if (!errored && reader.want !== undefined) fail(reader.head === undefined ? 'connection closed before the response' : 'connection closed mid-body');
        setImmediate(open);
      });
    };
    for (let i = 0; i < job.connections; i++) open();
    const warmup = setTimeout(() => {
      counting = true;
      countFrom = performance.now();
      completed = 0;
      bodyBytes = 0;
      latencies.length = 0;
    }, job.warmupMs);
    let deadline = setTimeout(function end(): void {
      // Nothing counted yet: go on until something is (at most 9 more durations).
      if (performance.now() - countFrom < job.durationMs * 10 && (job.unit === 'responses' ? completed === 0 : bodyBytes === 0)) {
        awaitingFirst = true;
        deadline = setTimeout(finish, job.durationMs * 9);
        return;
      }
      finish();
    }, job.warmupMs + job.durationMs);
    const progress = setInterval(() => {
      send({ progress: { elapsedMs: performance.now() - started, done: completed, errors: errors.count } });
    }, PROGRESS_INTERVAL_MS);
  });
}

function runSlow(job: SlowJob): Promise<LoadResult> {
  const errors = new ErrorLog();
  const size = job.fileSize;
  const want: Expected = { status: 200, start: 0, length: size, contentRange: undefined };
  type Client = { socket: Socket; readThisTick: number; paused: boolean; ok: boolean };
  const clients: Client[] = [];
  const started = performance.now();
  let bodyBytes = 0;
  let running = true;
  return new Promise((resolve) => {
    for (let i = 0; i < job.clients; i++) {
      const socket = connect({ host: HOST, port: job.port });
      const client: Client = { socket, readThisTick: 0, paused: false, ok: false };
      clients.push(client);
      const reader = new ResponseReader(
        (n) => {
          bodyBytes += n;
          client.ok = true;
        },
        () => undefined,
        (message) => {
          errors.add(message);
          socket.destroy();
        },
      );
      reader.expect(want);
      socket.on('connect', () => socket.write(requestText(job, undefined)));
      socket.on('data', (data: Buffer) => {
        if (!reader.push(data)) return;
        client.readThisTick += data.length;
        if (client.readThisTick >= job.bytesPerTick) {
          client.paused = true;
          socket.pause();
        }
      });
      socket.on('error', () => undefined);
      socket.on('close', () => {
        if (running && reader.want !== undefined) errors.add(reader.head === undefined ? 'connection closed before the response' : 'connection closed mid-body');
      });
    }
    const tick = setInterval(() => {
      for (const client of clients) {
        client.readThisTick = 0;
        if (client.paused) {
          client.paused = false;
          client.socket.resume();
        }
      }
    }, job.tickMs);
    const progress = setInterval(() => {
      send({ progress: { elapsedMs: performance.now() - started, done: bodyBytes, errors: errors.count } });
    }, PROGRESS_INTERVAL_MS);
    setTimeout(() => {
      running = false;
      clearInterval(tick);
      clearInterval(progress);
      for (const client of clients) client.socket.destroy();
      resolve({
        kind: 'slow',
        clients: job.clients,
        ok: clients.filter((c) => c.ok).length,
        bodyBytes,
        elapsedMs: performance.now() - started,
        errors: errors.count,
        errorSamples: errors.samples,
      });
    }, job.durationMs);
  });
}

function runAborts(job: AbortJob): Promise<LoadResult> {
  const errors = new ErrorLog();
  const request = requestText(job, undefined);
  const started = performance.now();
  let launched = 0;
  let finished = 0;
  let ok = 0;
  return new Promise((resolve) => {
    const progress = setInterval(() => {
      send({ progress: { elapsedMs: performance.now() - started, done: finished, errors: errors.count } });
    }, PROGRESS_INTERVAL_MS);
    const launch = (): void => {
      if (launched >= job.total) return;
      launched++;
      const socket = connect({ host: HOST, port: job.port });
      let settled = false;
      const settle = (error: string | undefined): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        if (error === undefined) ok++;
        else errors.add(error);
        finished++;
        if (finished === job.total) {
          clearInterval(progress);
          resolve({ kind: 'abort', attempted: job.total, ok, elapsedMs: performance.now() - started, errors: errors.count, errorSamples: errors.samples });
        } else launch();
      };
      const timer = setTimeout(() => settle('no first chunk before the timeout'), job.timeoutMs);
      socket.on('connect', () => socket.write(request));
      socket.once('data', (data: Buffer) => {
        const status = data.toString('latin1', 0, 12);
        settle(status === 'HTTP/1.1 200' ? undefined : `first chunk starts ${JSON.stringify(status)}, want "HTTP/1.1 200"`);
      });
      socket.on('error', (err: NodeJS.ErrnoException) => settle(`socket error ${err.code ?? err.message}`));
      socket.on('close', () => settle('connection closed before the response'));
    };
    for (let i = 0; i < job.concurrency; i++) launch();
  });
}

function run(job: LoadJob): Promise<LoadResult> {
  switch (job.kind) {
    case 'requests':
      return runRequests(job);
    case 'slow':
      return runSlow(job);
    case 'abort':
      return runAborts(job);
  }
}

const job = JSON.parse(process.argv[2] ?? 'null') as LoadJob | null;
if (job === null) {
  process.stderr.write("usage: node bench/load.ts '<LoadJob JSON>'\n");
  process.exit(2);
}
expectedByte = createByteSource(job.check);
send({ result: await run(job) });
process.exit(0);
