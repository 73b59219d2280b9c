import { debuglog } from 'node:util';
import type { ResponseSink, StreamRequest } from '../types.ts';
import { attachCorsHeaders, isPreflight, type CorsPolicy } from './cors.ts';
import { sendStatus } from './responses.ts';

const debug = debuglog('sage-stream');

/**
 * Answers a CORS preflight (OPTIONS with Access-Control-Request-Method) and returns the status
 * sent, or returns undefined for any other request. An allowed origin gets 204 with the methods (GET, HEAD),
 * the request headers players send (Range, If-Range, the conditionals, plus `allowHeaders`) and
 * Max-Age; the methods and headers are the same whatever was asked, and the browser refuses the
 * request itself if it wanted more. A disallowed origin gets 403 without any CORS header.
 */
export function answerPreflight(req: StreamRequest, res: ResponseSink, policy: CorsPolicy): 204 | 403 | undefined {
  if (!isPreflight(req)) return undefined;
  const headers = policy.preflightHeadersFor(req);
  if (headers === undefined) {
    debug('%s %s → 403, origin %s not allowed', req.method, req.url, req.headers.origin);
    sendStatus(req, res, 403, policy.headersFor(req)); // only Vary: Origin, when the policy names origins
    return 403;
  }
  debug('%s %s → 204 (preflight)', req.method, req.url);
  res.writeHead(204, [...headers]);
  res.end();
  return 204;
}

/** Decides the CORS headers of this request's response, which every head written for it carries. */
export function attachCors(req: StreamRequest, res: ResponseSink, policy: CorsPolicy | undefined): void {
  if (policy !== undefined) attachCorsHeaders(res, policy.headersFor(req));
}
