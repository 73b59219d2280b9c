import { resolveSendOptions, type ResolvedSendOptions, type SendOptions } from './options.ts';
import { answer, openAndServe } from './respond.ts';
import { answerPreflight, attachCors } from './preflight.ts';
import { createExchange, type ExchangeOptions } from './exchange.ts';
import { awaitTurn } from './fairness.ts';
import type { StreamOutcome, StreamRequest, StreamResponse } from '../types.ts';

// Options objects are usually module constants: validate each one once, not per request.
const resolvedCache = new WeakMap<SendOptions, ResolvedSendOptions>();
const NO_OPTIONS: SendOptions = Object.freeze({});
// streamFile neither logs nor checks links: it never asks who is watching.
const NO_VIEWER: ExchangeOptions = Object.freeze({ identify: undefined, trustProxy: [] });

/**
 * Streams one file you chose to a request, for your own routes: the same Range, conditional
 * request and HEAD handling as `createStreamHandler`, without its URL parsing and confinement.
 *
 * `absolutePath` is trusted: never build it from request input without confining it yourself
 * (that is what `createStreamHandler` is for). Answers every case itself (404 for a missing
 * file, 405 for a method other than GET/HEAD, 416 …) and resolves, never rejects, with what was
 * sent, once the response is finished or the client has gone.
 *
 * @example
 * app.get('/watch/:id', async (req, res) => {
 *   const video = await db.video(req.params.id);
 *   await streamFile(req, res, video.absolutePath, { maxChunkSize: 8 * 1024 * 1024 });
 * });
 */
export async function streamFile(
  req: StreamRequest,
  res: StreamResponse,
  absolutePath: string,
  options: SendOptions = NO_OPTIONS,
): Promise<StreamOutcome> {
  const exchange = createExchange(req, res, NO_VIEWER);
  let resolved = resolvedCache.get(options);
  if (resolved === undefined) {
    resolved = resolveSendOptions(options);
    resolvedCache.set(options, resolved);
  }
  const preflight = resolved.cors === undefined ? undefined : answerPreflight(req, res, resolved.cors);
  if (preflight !== undefined) return { status: preflight, bytesSent: 0, aborted: false, size: undefined, ranges: undefined };
  attachCors(req, res, resolved.cors);
  if (req.method !== 'GET' && req.method !== 'HEAD') return answer(req, res, 405, ['Allow', 'GET, HEAD']);
  const served = (await awaitTurn(req, res, resolved.turns)) && !exchange.connection.closed
    ? await openAndServe(exchange, { path: absolutePath, fileName: absolutePath }, resolved)
    : undefined;
  return served ?? { status: 0, bytesSent: 0, aborted: true, size: undefined, ranges: undefined };
}
