import type { IncomingMessage, ServerResponse } from 'node:http';
import { getRequestListener } from '@hono/node-server';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { createFetchHandler, type FetchHandlerOptions } from '../../src/serve/fetch-handler.ts';
import type { StreamHandlerOptions } from '../../src/serve/options.ts';
import type { StreamRequest } from '../../src/types.ts';

/**
 * Which handler a shared table runs against: `node` (createStreamHandler on node:http) or
 * `fetch` (createFetchHandler bridged to node:http by @hono/node-server, a real Request/Response
 * adapter). test/serve/fetch-handler.table.test.ts sets SAGE_HANDLER_UNDER_TEST=fetch and
 * imports handler.test.ts, so both run the very same rows.
 */
export const HANDLER_UNDER_TEST: 'node' | 'fetch' = process.env['SAGE_HANDLER_UNDER_TEST'] === 'fetch' ? 'fetch' : 'node';

/** A node:http listener serving `options` through the handler under test. */
export function listenerUnderTest(options: StreamHandlerOptions): (req: IncomingMessage, res: ServerResponse) => void {
  if (HANDLER_UNDER_TEST === 'node') return createStreamHandler(options);
  // The rows' callbacks read requests through `header()`, so they work given either kind.
  const handler = createFetchHandler(options as unknown as FetchHandlerOptions);
  const listener = getRequestListener((request, env) =>
    handler(request, { ip: env.incoming.socket.remoteAddress }),
  );
  return (req, res) => void listener(req, res);
}

/** A request header as a permission check or `identify` sees it, from node:http or a fetch Request. */
export function header(req: StreamRequest | Request, name: string): string | undefined {
  if (req instanceof Request) return req.headers.get(name) ?? undefined;
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(', ') : value;
}
