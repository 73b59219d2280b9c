import { randomBytes } from 'node:crypto';
import type { BigIntStats } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { debuglog } from 'node:util';
import { statusForFsError } from '../errors.ts';
import { etagFor } from '../http/etag.ts';
import { ServerResponse } from 'node:http';
import { BufferPool } from '../files/buffer-pool.ts';
import { readChunkInto } from '../files/file-iterator.ts';
import { READ_FLAGS } from '../files/confine.ts';
import type { OpenFile } from '../files/open-file-cache.ts';
import { Pacer } from './rate-limit.ts';
import type { ResolvedSendOptions } from './options.ts';
import type { ResponseSink, StreamOutcome, StreamRequest } from '../types.ts';
import { evaluatePreconditions, httpDate, isRangeAllowed, type Validators } from '../http/preconditions.ts';
import type { ByteRange, RangeResult } from '../http/range.ts';
import { NOSNIFF, destroyResponse, reportError, sendStatus } from './responses.ts';

const debug = debuglog('sage-stream');



/** Tracks whether the client has gone; set up synchronously when the request arrives. */
export type Connection = { closed: boolean };

/**
 * Starts watching a response for the client going away. Call it before the first `await`,
 * or a close that happens meanwhile goes unseen (the destroyed checks cover that case).
 */
export function watchConnection(res: ResponseSink): Connection {
  const connection: Connection = { closed: isDestroyed(res) };
  res.once('close', () => {
    connection.closed = true;
  });
  return connection;
}

function isDestroyed(res: ResponseSink): boolean {
  if ('destroyed' in res && res.destroyed) return true;
  return (res as { stream?: { destroyed: boolean } }).stream?.destroyed === true;
}

/** The file `openAndServe` opens, and what to do when it is not there or not allowed. */
export type OpenTarget = {
  readonly path: string;
  /** The name its media type is looked up by (and `rate` is given). */
  readonly fileName: string;
  /** Answers the 404 case (middleware passes it on instead). */
  readonly notFound?: (() => StreamOutcome | undefined) | undefined;
  /**
   * Last say once the file's validators are known, before preconditions: a status refuses the
   * request with it (e.g. an expired signed link that still has a grace rule to meet).
   */
  readonly admit?: ((validators: Required<Validators>) => number | undefined) | undefined;
};

/**
 * Opens a file, serves it with `serveOpenFile` and closes it whatever happens. File-system
 * errors before the headers become 403/404 (or 500, reported to onError).
 */
export async function openAndServe(
  req: StreamRequest,
  res: ResponseSink,
  connection: Connection,
  target: OpenTarget,
  options: ResolvedSendOptions,
): Promise<StreamOutcome | undefined> {
  const notFound = target.notFound ?? (() => answer(req, res, 404));
  let handle: FileHandle | undefined;
  try {
    handle = await open(target.path, READ_FLAGS);
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) return notFound(); // a directory, FIFO or device: nothing to stream
    if (connection.closed) return undefined; // the client left while we were opening
    return await serveOpenFile(req, res, connection, { handle, stats }, target.fileName, options, target.admit);
  } catch (err) {
    return answerFsError(req, res, err, options, notFound);
  } finally {
    await handle?.close();
  }
}

/**
 * Answers a file-system error that came before the headers: 404 through `notFound` (middleware
 * passes it on), 403, or 500 reported to onError.
 */
export function answerFsError(
  req: StreamRequest,
  res: ResponseSink,
  err: unknown,
  options: ResolvedSendOptions,
  notFound: () => StreamOutcome | undefined,
): StreamOutcome | undefined {
  const status = statusForFsError(err);
  if (status === 500) reportError(options, err, req);
  return status === 404 ? notFound() : answer(req, res, status);
}

/**
 * Answers a GET or HEAD with an open regular file: validators, conditional requests (RFC 9110
 * §13.2.2), ranges (§14) and the body, honouring backpressure and stopping as soon as the client
 * leaves. Resolves, never rejects; the caller closes the file once it has.
 */
export async function serveOpenFile(
  req: StreamRequest,
  res: ResponseSink,
  connection: Connection,
  file: OpenFile,
  fileName: string,
  options: ResolvedSendOptions,
  admit?: OpenTarget['admit'],
): Promise<StreamOutcome> {
  const { handle, stats } = file;
  const size = Number(stats.size);
  const validators = validatorsFor(stats);
  const { headers } = req;
  // The refusal depends on this request (its link), not on the file: no cache may keep it.
  const refusal = admit?.(validators);
  if (refusal !== undefined) return answer(req, res, refusal, ['Cache-Control', 'no-store']);

  // §13.2.2: preconditions first, decided from metadata alone (the body is never read).
  const precondition = evaluatePreconditions(
    {
      ifMatch: headers['if-match'],
      ifNoneMatch: headers['if-none-match'],
      ifModifiedSince: headers['if-modified-since'],
      ifUnmodifiedSince: headers['if-unmodified-since'],
    },
    validators,
  );
  if (precondition === 'precondition-failed') return answer(req, res, 412);
  if (precondition === 'not-modified') {
    res.writeHead(304, cacheHeaders(validators, options));
    res.end();
    debug('%s %s → 304', req.method, req.url);
    return outcome(304, 0, false, size);
  }

  // §14.2: Range is defined for GET only; If-Range decides whether it still applies.
  const rangeHeader = req.method === 'GET' ? headers.range : undefined;
  const range: RangeResult =
    rangeHeader !== undefined && isRangeAllowed(singleValue(headers['if-range']), validators)
      ? options.rangeParser.parse(rangeHeader, size)
      : { kind: 'absent' };

  const contentType = options.mediaTypeFor(fileName);
  const fileHeaders = [
    'Accept-Ranges', 'bytes',
    ...(validators.lastModifiedStrong ? ['Last-Modified', httpDate(validators.lastModifiedMs)] : []),
    ...cacheHeaders(validators, options),
    ...NOSNIFF,
  ];
  switch (range.kind) {
    case 'absent':
    case 'ignored':
      res.writeHead(200, ['Content-Type', contentType, 'Content-Length', String(size), ...fileHeaders]);
      return sendBody(req, res, connection, handle, fileName, 200, size, [{ start: 0, end: size - 1 }], [], options);
    case 'unsatisfiable':
      return answer(req, res, 416, ['Content-Range', `bytes */${size}`, 'Accept-Ranges', 'bytes']);
    case 'partial': {
      const ranges = capOpenEnded(range.ranges, range.openEnded, options.maxChunkSize);
      if (ranges.length === 1) {
        const { start, end } = ranges[0]!;
        res.writeHead(206, [
          'Content-Type', contentType,
          'Content-Length', String(end - start + 1),
          'Content-Range', `bytes ${start}-${end}/${size}`,
          ...fileHeaders,
        ]);
        return sendBody(req, res, connection, handle, fileName, 206, size, ranges, [], options);
      }
      const multipart = layoutMultipart(ranges, size, contentType);
      res.writeHead(206, [
        'Content-Type', `multipart/byteranges; boundary=${multipart.boundary}`,
        'Content-Length', String(multipart.length),
        ...fileHeaders,
      ]);
      return sendBody(req, res, connection, handle, fileName, 206, size, ranges, multipart.framing, options);
    }
    default:
      return assertNever(range);
  }
}

/**
 * The ETag and Last-Modified of a file. A modification time in the future is replaced by now
 * (RFC 9110 §8.8.2.1). Last-Modified counts as strong only once its second is over: a file
 * written twice within one second would otherwise have one date for two contents, and a resume
 * with `If-Range: <date>` could splice them (§8.8.2.2, §13.1.5; pinned by the handler tests
 * "a file modified this second …").
 */
function validatorsFor(stats: BigIntStats): Required<Validators> {
  const nowMs = Date.now();
  const lastModifiedMs = Math.min(Number(stats.mtimeMs), nowMs);
  return {
    etag: etagFor(stats),
    lastModifiedMs,
    lastModifiedStrong: Math.floor(lastModifiedMs / 1000) < Math.floor(nowMs / 1000),
  };
}

function cacheHeaders(validators: Validators, options: ResolvedSendOptions): string[] {
  return options.cacheControl === undefined
    ? ['ETag', validators.etag]
    : ['ETag', validators.etag, 'Cache-Control', options.cacheControl];
}

/** Answers with a status and no file body, returning the outcome to report. */
export function answer(
  req: StreamRequest,
  res: ResponseSink,
  status: number,
  extraHeaders: readonly string[] = [],
): StreamOutcome {
  debug('%s %s → %d', req.method, req.url, status);
  sendStatus(req, res, status, extraHeaders);
  return outcome(status, 0, false, undefined);
}

function outcome(
  status: number,
  bytesSent: number,
  aborted: boolean,
  size: number | undefined,
  ranges?: readonly ByteRange[],
): StreamOutcome {
  return { status, bytesSent, aborted, size, ranges };
}

// An open-ended range may be capped (the seed's STREAM_MAX_LOAD_VOLUME); exactly maxChunkSize bytes.
function capOpenEnded(
  ranges: readonly ByteRange[],
  openEnded: boolean,
  maxChunkSize: number | undefined,
): readonly ByteRange[] {
  const only = ranges[0];
  if (!openEnded || maxChunkSize === undefined || ranges.length !== 1 || only === undefined) return ranges;
  if (only.end - only.start + 1 <= maxChunkSize) return ranges;
  return [{ start: only.start, end: only.start + maxChunkSize - 1 }];
}

type MultipartLayout = { readonly boundary: string; readonly framing: readonly Buffer[]; readonly length: number };

/**
 * Lays out a multipart/byteranges body (RFC 9110 §14.6): one framing buffer before each part
 * and one after the last, so the exact Content-Length is known before a byte is read.
 */
function layoutMultipart(ranges: readonly ByteRange[], size: number, contentType: string): MultipartLayout {
  const boundary = randomBytes(16).toString('hex'); // random: it cannot be predicted into a file's bytes
  const framing: Buffer[] = [];
  let length = 0;
  ranges.forEach(({ start, end }, i) => {
    const head = Buffer.from(
      `${i === 0 ? '' : '\r\n'}--${boundary}\r\nContent-Type: ${contentType}\r\nContent-Range: bytes ${start}-${end}/${size}\r\n\r\n`,
    );
    framing.push(head);
    length += head.length + (end - start + 1);
  });
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  framing.push(tail);
  return { boundary, framing, length: length + tail.length };
}

/**
 * Streams the ranges (with their multipart framing, if any) after the headers were written.
 * Waits for 'drain' whenever the socket is backed up, so memory stays flat for any client speed.
 */
async function sendBody(
  req: StreamRequest,
  res: ResponseSink,
  connection: Connection,
  handle: FileHandle,
  fileName: string,
  status: 200 | 206,
  size: number,
  ranges: readonly ByteRange[],
  framing: readonly Buffer[],
  options: ResolvedSendOptions,
): Promise<StreamOutcome> {
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

/** A read in flight: the size asked for and the buffer it fills. */
type PendingRead = { readonly size: number; readonly buffer: Buffer; readonly chunk: Promise<Buffer> };

function startRead(handle: FileHandle, position: number, size: number, pool: BufferPool | undefined): PendingRead {
  const buffer = pool === undefined ? Buffer.allocUnsafeSlow(size) : pool.take(size);
  const chunk = readChunkInto(handle, buffer, position, size);
  chunk.catch(() => undefined); // awaited later, or dropped when the client left: never unhandled
  return { size, buffer, chunk };
}

/** Read buffers reused across responses: at most 8 MiB of them wait idle. */
const BUFFER_POOL = new BufferPool(16 * 1024, 8 * 1024 * 1024);

/**
 * Memory that reads larger than `chunkSize` may pin in this process at once: bytes read and
 * handed to `res.write` whose write has not completed. A slow client backs up with whatever chunk
 * it was sent last, so without a bound, 200 clients that slow down after a fast start would pin
 * 200 large chunks.
 */
export const LARGE_READ_BUDGET: number = 32 * 1024 * 1024;
let largeReadBytesPinned = 0;

/** A client whose socket drains a chunk within this is keeping up; one that takes longer is not. */
const PROMPT_DRAIN_MS = 20;
/** Reads grow only once this much went out with prompt drains: more than socket buffers hold. */
const GROWTH_AFTER_BYTES = 16 * 1024 * 1024;
/** A range of up to this many `chunkSize`s is read in one go. */
const SHORT_RANGE_CHUNKS = 4;

/**
 * Picks each read's size from the client's pace (FACTS: read size is the throughput knob, and
 * memory its price): it doubles from `chunkSize` up to `maxReadSize` while the socket drains each
 * chunk promptly, falls back to `chunkSize` as soon as one waits, and stays there while the
 * process-wide budget for large reads is spent. (`res.write` returning true is no signal: it is
 * false for any chunk above the socket's 16 KiB high-water mark, however fast the client.)
 */
class ReadSizer {
  readonly #min: number;
  readonly #max: number;
  #size: number;
  #pinned = 0; // this response's share of largeReadBytesPinned
  #read = 0; // bytes read so far

  constructor(res: ResponseSink, min: number, max: number) {
    this.#min = min;
    this.#max = max;
    this.#size = min;
    // 'close' comes after the last write callback, or instead of it when the client left.
    if (max > min) res.once('close', () => this.#unpin(this.#pinned));
  }

  /** How many bytes to read next, `remaining` being what is left of the range. */
  next(remaining: number): number {
    // A short range is read whole (a 256 KiB seek is one read); a long one starts small.
    const size = this.#read === 0 && remaining <= SHORT_RANGE_CHUNKS * this.#min ? remaining : Math.min(remaining, this.#size);
    this.#read += size;
    if (size <= this.#min) return size;
    if (largeReadBytesPinned + size > LARGE_READ_BUDGET) return Math.min(remaining, this.#min);
    largeReadBytesPinned += size; // a read larger than `chunkSize` is always a pinned one
    this.#pinned += size;
    return size;
  }

  /** Whether the client drains chunks promptly (reads have grown): then reading ahead pays. */
  get keepingUp(): boolean {
    return this.#size > this.#min;
  }

  /**
   * The write callback for a chunk: it unpins a large one once written, and hands the buffer back
   * to the pool, but only after a write that succeeded (see `BufferPool`).
   */
  written(read: PendingRead, pool: BufferPool | undefined): ((err?: Error | null) => void) | undefined {
    const large = read.size > this.#min;
    if (!large && pool === undefined) return undefined;
    return (err) => {
      if (large) this.#unpin(read.size);
      if (!err) pool?.give(read.buffer);
    };
  }

  /**
   * Grows while the socket keeps up, shrinks when a chunk took long to drain. Not before
   * `GROWTH_AFTER_BYTES`: socket buffers (several MiB on loopback) take the start of any response
   * at once, so early drains say nothing about the client.
   */
  adapt(drainMs: number): void {
    if (drainMs >= PROMPT_DRAIN_MS) this.#size = this.#min;
    else if (this.#read >= GROWTH_AFTER_BYTES) this.#size = Math.min(this.#size * 2, this.#max);
  }

  #unpin(length: number): void {
    const unpinned = Math.min(length, this.#pinned);
    this.#pinned -= unpinned;
    largeReadBytesPinned -= unpinned;
  }
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

// Node joins repeated headers it knows; an array here means a field that must not repeat did.
function singleValue(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
