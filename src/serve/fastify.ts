import type { IncomingMessage, ServerResponse } from 'node:http';
import { createStreamHandler } from './handler.ts';
import type { StreamHandlerOptions } from './options.ts';

/** The parts of a Fastify instance the plugin uses, so sage-stream never imports fastify. */
export type FastifyInstanceLike = {
  route(route: {
    readonly method: string[];
    readonly url: string;
    readonly handler: (request: { readonly raw: IncomingMessage }, reply: FastifyReplyLike) => void;
  }): unknown;
  addHook(name: 'onClose', hook: () => Promise<void>): unknown;
};

/** The parts of a Fastify reply the plugin uses. */
export type FastifyReplyLike = { readonly raw: ServerResponse; callNotFound(): unknown };

/** `StreamHandlerOptions`, and the Fastify route the files are served on. */
export type FastifyStreamOptions = StreamHandlerOptions & {
  /**
   * The route's URL. Default in path mode: `${prefix}/*`; required in query mode (e.g. `'/stream'`).
   */
  readonly url?: string | undefined;
};

/**
 * A Fastify plugin serving files with `createStreamHandler`'s rules on one GET/HEAD route. What
 * the handler would pass to `next()` (a missing file, a path outside `prefix`, a query without the
 * parameter) goes to Fastify's not-found handler (`reply.callNotFound()`), so your
 * `setNotFoundHandler` answers it. The handler writes to `reply.raw` itself (ranges, conditionals,
 * backpressure); Fastify's `onResponse` hooks and request log still see every response.
 * Register it without a `prefix` of Fastify's own: the route is the full path (`prefix` here).
 *
 * @example
 * import Fastify from 'fastify';
 * import { sageStreamFastify } from 'sage-stream';
 * const app = Fastify();
 * await app.register(sageStreamFastify({ root: './videos', mode: 'path', prefix: '/media' }));
 */
export function sageStreamFastify(options: FastifyStreamOptions): (fastify: FastifyInstanceLike) => Promise<void> {
  const { url = options.mode === 'path' ? `${options.prefix ?? ''}/*` : undefined, ...handlerOptions } = options;
  if (url === undefined) throw new TypeError("options.url is required in query mode, e.g. '/stream'");
  const handler = createStreamHandler(handlerOptions);
  return async (fastify) => {
    fastify.route({
      method: ['GET', 'HEAD'],
      url,
      handler: (request, reply) => handler(request.raw, reply.raw, () => void reply.callNotFound()),
    });
    fastify.addHook('onClose', () => handler.close());
  };
}
