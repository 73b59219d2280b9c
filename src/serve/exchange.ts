import { clientIp } from '../http/client-ip.ts';
import type { IdentifyViewer, RequestFacts, StreamRequest, StreamResponse, Viewer } from '../types.ts';
import { watchConnection, type Connection } from './connection.ts';

/**
 * One request on its way through the handler: the request and response, whether the client is
 * still there, and the facts about it worked out once (arrival time, client address through
 * `trustProxy`, the viewer from `identify`), so no step re-reads `req` or asks `identify` twice,
 * and the watch log records what was true when the request arrived.
 */
export type Exchange = RequestFacts & {
  readonly req: StreamRequest;
  readonly res: StreamResponse;
  readonly connection: Connection;
};

/** How an exchange finds the client's address and the viewer. */
export type ExchangeOptions = {
  readonly identify: IdentifyViewer | undefined;
  readonly trustProxy: readonly string[];
};

/**
 * Starts the exchange for a request as it arrives; call it before the first `await`, so a
 * client that leaves meanwhile is seen (see `watchConnection`). The address is resolved on first
 * use and kept: read it at once when it will be needed after the response, since a closed socket
 * no longer knows it.
 */
export function createExchange(req: StreamRequest, res: StreamResponse, options: ExchangeOptions): Exchange {
  const { identify, trustProxy } = options;
  let ip: string | undefined;
  let viewer: Promise<Viewer | null | undefined> | undefined;
  const range = req.headers.range;
  return {
    req,
    res,
    connection: watchConnection(res),
    startedAt: Date.now(),
    method: req.method ?? 'GET',
    range: typeof range === 'string' ? range : undefined,
    userAgent: req.headers['user-agent'],
    ip: () => (ip ??= clientIp(req, trustProxy)),
    // Called at once (as an `await identify(req)` would), and a throw becomes the rejection.
    viewer: () => (viewer ??= identify === undefined ? Promise.resolve(undefined) : new Promise((resolve) => resolve(identify(req)))),
  };
}
