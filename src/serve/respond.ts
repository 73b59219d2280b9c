import { randomBytes } from 'node:crypto';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { statusForFsError } from '../errors.ts';
import { READ_FLAGS } from '../files/confine.ts';
import type { OpenFile } from '../files/open-file-cache.ts';
import type { ResolvedSendOptions } from './options.ts';
import type { ResponseSink, StreamOutcome, StreamRequest } from '../types.ts';
import { httpDate } from '../http/http-date.ts';
import { evaluatePreconditions, isRangeAllowed, type Validators } from '../http/preconditions.ts';
import type { ByteRange, RangeResult } from '../http/range.ts';
import { NOSNIFF, removeRepresentationHeaders, reportError, SANDBOX, sendStatus, withVary } from './responses.ts';
import type { Exchange } from './exchange.ts';
import { outcome, sendBody, sendBuffer } from './send-body.ts';
import { debug } from './debug.ts';
import { encodedEtag, negotiateEncoding, type ContentCoding } from '../http/accept-encoding.ts';
import { corsHeadersOf } from './cors.ts';
import { isShortBody, sendShort } from './send-short.ts';
import { factsOf, type FileFacts } from './file-facts.ts';

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
  exchange: Exchange,
  target: OpenTarget,
  options: ResolvedSendOptions,
): Promise<StreamOutcome | undefined> {
  const { req, connection } = exchange;
  const res: ResponseSink = exchange.res;
  const notFound = target.notFound ?? (() => answer(req, res, 404));
  let handle: FileHandle | undefined;
  try {
    // Never open a FIFO or device (its writer would wake, a device may act on open): stat first.
    if (!(await stat(target.path)).isFile()) return notFound();
    handle = await open(target.path, READ_FLAGS);
    const stats = await handle.stat({ bigint: true });
    if (!stats.isFile()) return notFound(); // a directory, FIFO or device: nothing to stream
    if (connection.closed) return undefined; // the client left while we were opening
    return await serveOpenFile(exchange, { handle, stats }, target, options);
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
  exchange: Exchange,
  file: OpenFile,
  { fileName, admit }: Pick<OpenTarget, 'fileName' | 'admit'>,
  options: ResolvedSendOptions,
): Promise<StreamOutcome> {
  const { req, connection } = exchange;
  const res: ResponseSink = exchange.res;
  const { handle } = file;
  const facts = factsOf(file, fileName, options.mediaTypeFor);
  const size = facts.size;
  const identity = validatorsFor(facts);
  const { headers } = req;
  // The refusal depends on this request (its link), not on the file: no cache may keep it.
  const refusal = admit?.(identity);
  if (refusal !== undefined) return answer(req, res, refusal, ['Cache-Control', 'no-store']);

  // §14.2: Range is defined for GET only; If-Range decides whether it still applies.
  const rangeHeader = req.method === 'GET' ? headers.range : undefined;
  // A manifest or caption file is sent compressed when the client takes it and asks no range
  // (a range is always of the identity bytes); its coded form has its own ETag (§8.8.3).
  const compressible = options.compress?.isCompressible(fileName, size) === true;
  const coding = compressible && rangeHeader === undefined ? negotiateEncoding(singleValue(headers['accept-encoding'])) : undefined;
  let validators = coding === undefined ? identity : { ...identity, etag: encodedEtag(identity.etag, coding) };
  // Every answer about a compressible file varies with Accept-Encoding, a 412 or 416 too.
  const vary = compressible ? VARY_ACCEPT_ENCODING : [];
  const extraHeaders = compressible ? withVary(corsHeadersOf(res), 'Accept-Encoding') : corsHeadersOf(res);

  // §13.2.2: preconditions first, decided from metadata alone (the body is never read, and
  // never compressed for a 304 or 412: the coded form's ETag follows from the coding alone).
  const conditions = {
    ifMatch: headers['if-match'],
    ifNoneMatch: headers['if-none-match'],
    ifModifiedSince: headers['if-modified-since'],
    ifUnmodifiedSince: headers['if-unmodified-since'],
  };
  let precondition = evaluatePreconditions(conditions, validators);
  let compressed: CompressedBody | undefined;
  if (coding !== undefined && precondition !== 'precondition-failed' && precondition !== 'not-modified') {
    compressed = await compressedBody(req, file, fileName, identity.etag, size, options, coding);
    if (compressed === undefined) {
      // Not compressed after all (reported): the identity bytes, judged by their own ETag.
      validators = identity;
      precondition = evaluatePreconditions(conditions, validators);
    }
  }
  if (precondition === 'precondition-failed') return answer(req, res, 412, vary);
  if (precondition === 'not-modified') {
    removeRepresentationHeaders(res, 'all'); // §15.4.5, pinned by test/serve/hardening.test.ts
    res.writeHead(304, [...cacheHeaders(validators, options), ...extraHeaders]);
    res.end();
    debug('%s %s → 304', req.method, req.url);
    return outcome(304, 0, false, size);
  }

  const range: RangeResult =
    rangeHeader !== undefined && isRangeAllowed(singleValue(headers['if-range']), validators)
      ? options.rangeParser.parse(rangeHeader, size)
      : { kind: 'absent' };

  const contentType = facts.contentType;
  removeRepresentationHeaders(res, 'body');
  const fileHeaders = [
    'Accept-Ranges', 'bytes',
    ...(validators.lastModifiedStrong ? ['Last-Modified', httpDate(validators.lastModifiedMs)] : []),
    ...cacheHeaders(validators, options),
    ...NOSNIFF,
    ...(facts.active ? SANDBOX : []),
    ...extraHeaders,
  ];
  if (compressed !== undefined) {
    // No Accept-Ranges: ranges are of the identity bytes, not of this body (nginx's gzip does the same).
    res.writeHead(200, [
      'Content-Type', contentType,
      'Content-Encoding', compressed.coding,
      'Content-Length', String(compressed.body.length),
      ...fileHeaders.slice(2),
    ]);
    return sendBuffer(exchange, compressed.body, size, options);
  }
  switch (range.kind) {
    case 'absent':
    case 'ignored': {
      const headers = ['Content-Type', contentType, 'Content-Length', String(size), ...fileHeaders];
      if (isShortBody(req, size, options)) return sendShort(req, res, connection, file, 200, headers, { start: 0, end: size - 1 }, options);
      res.writeHead(200, headers);
      return sendBody(exchange, { handle, fileName, status: 200, size, ranges: [{ start: 0, end: size - 1 }], framing: [] }, options);
    }
    case 'unsatisfiable':
      return answer(req, res, 416, ['Content-Range', `bytes */${size}`, 'Accept-Ranges', 'bytes', ...vary]);
    case 'partial': {
      const ranges = capOpenEnded(range.ranges, range.openEnded, options.maxChunkSize);
      if (ranges.length === 1) {
        const { start, end } = ranges[0]!;
        const headers = [
          'Content-Type', contentType,
          'Content-Length', String(end - start + 1),
          'Content-Range', `bytes ${start}-${end}/${size}`,
          ...fileHeaders,
        ];
        if (isShortBody(req, end - start + 1, options)) return sendShort(req, res, connection, file, 206, headers, ranges[0]!, options);
        res.writeHead(206, headers);
        return sendBody(exchange, { handle, fileName, status: 206, size, ranges, framing: [] }, options);
      }
      const multipart = layoutMultipart(ranges, size, contentType);
      res.writeHead(206, [
        'Content-Type', `multipart/byteranges; boundary=${multipart.boundary}`,
        'Content-Length', String(multipart.length),
        ...fileHeaders,
      ]);
      return sendBody(exchange, { handle, fileName, status: 206, size, ranges, framing: multipart.framing }, options);
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
function validatorsFor(facts: FileFacts): Required<Validators> {
  const nowMs = Date.now();
  const lastModifiedMs = Math.min(facts.mtimeMs, nowMs);
  return {
    etag: facts.etag,
    lastModifiedMs,
    lastModifiedStrong: Math.floor(lastModifiedMs / 1000) < Math.floor(nowMs / 1000),
  };
}

type CompressedBody = { readonly coding: ContentCoding; readonly body: Buffer };
const VARY_ACCEPT_ENCODING = ['Vary', 'Accept-Encoding'] as const;

/** The file compressed in the negotiated `coding`, or undefined for identity (it failed, reported). */
async function compressedBody(
  req: StreamRequest,
  file: OpenFile,
  fileName: string,
  etag: string,
  size: number,
  options: ResolvedSendOptions,
  coding: ContentCoding,
): Promise<CompressedBody | undefined> {
  if (options.compress === undefined) return undefined;
  try {
    return { coding, body: await options.compress.get(file.handle, fileName, etag, size, coding) };
  } catch (err) {
    reportError(options, err, req); // the file changed while it was read: its identity bytes will tell
    return undefined;
  }
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

// An open-ended range may be capped (django-sage-streaming's STREAM_MAX_LOAD_VOLUME); exactly maxChunkSize bytes.
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

// Node joins repeated headers it knows; an array here means a field that must not repeat did.
function singleValue(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function assertNever(value: never): never {
  throw new Error(`unexpected value ${JSON.stringify(value)}`);
}
