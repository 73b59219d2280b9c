import type { FileHandle } from 'node:fs/promises';
import { ServerResponse } from 'node:http';
import { BufferPool } from '../files/buffer-pool.ts';
import { readChunkInto } from '../files/file-iterator.ts';
import type { ByteRange } from '../http/range.ts';
import type { ResponseSink, StreamOutcome } from '../types.ts';
import type { Connection } from './connection.ts';
import type { Exchange } from './exchange.ts';
import type { ResolvedSendOptions } from './options.ts';
import { Pacer } from './rate-limit.ts';
import { ReadSizer, type PendingRead } from './read-sizer.ts';
import { destroyResponse, reportError } from './responses.ts';
import { debug } from './debug.ts';

/** Read buffers reused across responses: at most 8 MiB of them wait idle. */
const BUFFER_POOL = new BufferPool(16 * 1024, 8 * 1024 * 1024);

export function outcome(
  status: number,
  bytesSent: number,
  aborted: boolean,
  size: number | undefined,
  ranges?: readonly ByteRange[],
): StreamOutcome {
  return { status, bytesSent, aborted, size, ranges };
}

/** What the response decision hands the body loop: the open file and the bytes to send. */
export type BodyPlan = {
  readonly handle: FileHandle;
  /** The name `rate` is chosen by. */
  readonly fileName: string;
  readonly status: 200 | 206;
  readonly size: number;
  readonly ranges: readonly ByteRange[];
  /** Multipart framing: one buffer before each range and one after the last; empty otherwise. */
  readonly framing: readonly Buffer[];
};

/**
 * Streams the ranges (with their multipart framing, if any) after the headers were written.
 * Waits for 'drain' whenever the socket is backed up, so memory stays flat for any client speed.
 */
export async function sendBody(exchange: Exchange, plan: BodyPlan, options: ResolvedSendOptions): Promise<StreamOutcome> {
  const { req, connection } = exchange;
  const res: ResponseSink = exchange.res;
  const { handle, fileName, status, size, ranges, framing } = plan;
  const served = status === 206 ? ranges : undefined;
  if (req.method === 'HEAD') {
    res.end();
    return outcome(status, 0, false, size, served);
  }
  const reads = new ReadSizer(res, options.chunkSize, options.maxReadSize);
  // node:http calls a write's callback once the socket is done with the buffer; for other
  // responses (http2) that is not certain, so their buffers are never reused.
  const pool = res instanceof ServerResponse ? BUFFER_POOL : undefined;
  const rate = options.rate?.(req, fileName);
  const pacer = rate === undefined ? undefined : new Pacer(rate);
  let bytesSent = 0;
  try {
    for (let i = 0; i < ranges.length; i++) {
      const { start, end } = ranges[i]!;
      const head = framing[i];
      if (head !== undefined && !(await write(res, connection, head, options.sendTimeoutMs))) break;
      let position = start; // the next byte to send
      let ahead: PendingRead | undefined; // the next chunk, read while the last one drains
      while (position <= end && !connection.closed) {
        if (pacer !== undefined) {
          const delayMs = pacer.delayMs(bytesSent, performance.now());
          if (delayMs > 0 && !(await paused(delayMs, res, connection))) break;
        }
        const wanted = Math.min(end - position + 1, pacer?.chunkLimit(bytesSent) ?? Infinity);
        const read = ahead ?? startRead(handle, position, reads.next(wanted), pool);
        ahead = undefined;
        const chunk = await read.chunk;
        if (connection.closed) break;
        position += chunk.length;
        bytesSent += chunk.length;
        const flushed = res.write(chunk, reads.written(read, pool));
        // Read ahead for a client that keeps up; never while paced (nothing is read before it is due).
        if (pacer === undefined && reads.keepingUp && position <= end) {
          ahead = startRead(handle, position, reads.next(end - position + 1), pool);
        }
        if (flushed) continue;
        const waitStartMs = performance.now();
        if (!(await drained(res, connection, options.sendTimeoutMs))) break;
        reads.adapt(performance.now() - waitStartMs);
      }
      if (connection.closed) break;
    }
    const tail = framing[ranges.length];
    if (tail !== undefined) await write(res, connection, tail, options.sendTimeoutMs);
  } catch (err) {
    // Headers are out: the only honest signal left is a broken connection.
    destroyResponse(res);
    reportError(options, err, req);
    debug('%s %s → %d, failed after %d bytes: %s', req.method, req.url, status, bytesSent, String(err));
    return outcome(status, bytesSent, true, size, served);
  }
  if (connection.closed) {
    debug('%s %s → %d, client left after %d bytes', req.method, req.url, status, bytesSent);
    return outcome(status, bytesSent, true, size, served);
  }
  res.end();
  debug('%s %s → %d, %d bytes', req.method, req.url, status, bytesSent);
  return outcome(status, bytesSent, false, size, served);
}

/**
 * Sends a body held in memory (a compressed manifest) after its headers, with the same drain,
 * disconnect and send-timeout rules as a file body; HEAD sends none.
 */
export async function sendBuffer(
  { req, res, connection }: Exchange,
  body: Buffer,
  size: number,
  options: ResolvedSendOptions,
): Promise<StreamOutcome> {
  if (req.method === 'HEAD') {
    res.end();
    return outcome(200, 0, false, size);
  }
  if (!(await write(res, connection, body, options.sendTimeoutMs))) return outcome(200, 0, true, size);
  res.end();
  debug('%s %s → 200, %d bytes compressed', req.method, req.url, body.length);
  return outcome(200, body.length, false, size);
}

function startRead(handle: FileHandle, position: number, size: number, pool: BufferPool | undefined): PendingRead {
  const buffer = pool === undefined ? Buffer.allocUnsafeSlow(size) : pool.take(size);
  const chunk = readChunkInto(handle, buffer, position, size);
  chunk.catch(() => undefined); // awaited later, or dropped when the client left: never unhandled
  return { size, buffer, chunk };
}

/** Waits `ms` (pacing); resolves false at once if the client goes meanwhile. */
function paused(ms: number, res: ResponseSink, connection: Connection): Promise<boolean> {
  if (connection.closed) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const onClose = (): void => {
      clearTimeout(timer);
      resolve(false);
    };
    const timer = setTimeout(() => {
      res.off('close', onClose);
      resolve(true);
    }, ms);
    res.on('close', onClose);
  });
}

/**
 * Writes one chunk; resolves false when the client has gone (now or while waiting to drain).
 */
async function write(res: ResponseSink, connection: Connection, chunk: Buffer, timeoutMs: number): Promise<boolean> {
  if (connection.closed) return false;
  return res.write(chunk) || drained(res, connection, timeoutMs);
}

/**
 * Waits for a backed-up response to drain; resolves false when the client has gone instead.
 * A client that reads nothing for `timeoutMs` is cut off, so it cannot pin a file forever.
 */
function drained(res: ResponseSink, connection: Connection, timeoutMs: number): Promise<boolean> {
  if (connection.closed) return Promise.resolve(false);
  return new Promise<boolean>((resolve) => {
    const done = (drained: boolean) => () => {
      clearTimeout(timer);
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(drained);
    };
    const onDrain = done(true);
    const onClose = done(false);
    const timer =
      timeoutMs > 0
        ? setTimeout(() => {
            debug('send timeout: the client read nothing for %d ms', timeoutMs);
            connection.closed = true; // now, not when 'close' comes: nothing more may be written
            onClose();
            destroyResponse(res);
          }, timeoutMs)
        : undefined;
    res.on('drain', onDrain);
    res.on('close', onClose);
  });
}
