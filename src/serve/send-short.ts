import { debuglog } from 'node:util';
import { BLOCK_CACHE_MAX_BODY, versionKey, type BlockCache } from '../files/block-cache.ts';
import type { OpenFile } from '../files/open-file-cache.ts';
import type { ByteRange } from '../http/range.ts';
import type { ResponseSink, StreamOutcome, StreamRequest } from '../types.ts';
import type { Connection } from './connection.ts';
import type { ResolvedSendOptions } from './options.ts';
import { reportError, sendStatus } from './responses.ts';
import { outcome } from './send-body.ts';

const debug = debuglog('sage-stream');

/**
 * Whether a body of `length` bytes is answered by `sendShort`: a GET, the block cache on, a
 * short non-empty body, and no pacing (a paced response goes through the body loop's pacer).
 */
export function isShortBody(
  req: StreamRequest,
  length: number,
  options: ResolvedSendOptions,
): options is ResolvedSendOptions & { readonly blockCache: BlockCache } {
  return options.blockCache !== undefined && length > 0 && length <= BLOCK_CACHE_MAX_BODY && req.method === 'GET' && options.rate === undefined;
}

/**
 * Answers a short 200 or single-range 206 from the block cache, reading the blocks it lacks,
 * then writes status line, headers and body in one `res.end(body)` (one socket write instead
 * of one for the headers and one per chunk).
 *
 * The bytes are in hand before the headers go out, so a read that fails (the file was cut short
 * since its stat) is still a clean 500 rather than a broken transfer. The caller's stat is the
 * one the cache is keyed by (see `versionKey`), so a changed file is never answered from blocks
 * of its former version.
 */
export async function sendShort(
  req: StreamRequest,
  res: ResponseSink,
  connection: Connection,
  file: OpenFile,
  status: 200 | 206,
  headers: string[],
  range: ByteRange,
  options: ResolvedSendOptions & { readonly blockCache: BlockCache },
): Promise<StreamOutcome> {
  const { blockCache } = options;
  const size = Number(file.stats.size);
  const served = status === 206 ? [range] : undefined;
  const version = versionKey(file.stats);
  let body = blockCache.peek(version, range.start, range.end);
  if (body === undefined) {
    try {
      body = await blockCache.read(file.handle, version, size, range.start, range.end);
    } catch (err) {
      reportError(options, err, req);
      if (connection.closed) return outcome(status, 0, true, size, served);
      sendStatus(req, res, 500);
      return outcome(500, 0, false, size);
    }
    if (connection.closed) return outcome(status, 0, true, size, served); // the client left during the read
  }
  res.writeHead(status, headers);
  res.end(body);
  debug('%s %s → %d, %d bytes in one write', req.method, req.url, status, body.length);
  return outcome(status, body.length, false, size, served);
}
