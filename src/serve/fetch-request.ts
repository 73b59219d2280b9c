import type { StreamRequest } from '../types.ts';

/** What a fetch handler may be told beside the Request: the runtime knows the client's address. */
export type FetchContext = {
  /** The client's address (Deno: `info.remoteAddr.hostname`, Bun: `server.requestIP(req)?.address`). */
  readonly ip?: string | undefined;
};

/**
 * The request head the core reads: method, request target, lower-case headers, peer address.
 * It is all of `StreamRequest` that src/serve, src/http and the watch log touch (pinned by the
 * fetch handler running the same test table as the node:http one).
 */
type RequestHead = {
  readonly method: string;
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly socket: { readonly remoteAddress: string | undefined };
};

const ORIGINALS = new WeakMap<object, Request>();

/**
 * Presents a fetch `Request` as the request head the node:http path reads, so both run one
 * decision core. `url` becomes the request target (path and query), as `req.url` is in node:http.
 * Headers come as the Fetch API combines them (repeats joined with ", "), which is also how
 * node:http joins the fields the core reads.
 */
export function toStreamRequest(request: Request, context: FetchContext | undefined): StreamRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of request.headers) headers[name] = value;
  const head: RequestHead = { method: request.method, url: requestTarget(request.url), headers, socket: { remoteAddress: context?.ip } };
  ORIGINALS.set(head, request);
  // The one cast between the two worlds: RequestHead is the part of StreamRequest the core uses.
  return head as unknown as StreamRequest;
}

/** The fetch `Request` a head made by `toStreamRequest` stands for (callbacks are given it). */
export function requestOf(req: StreamRequest): Request {
  const request = ORIGINALS.get(req);
  if (request === undefined) throw new TypeError('not a request made by the fetch handler');
  return request;
}

// 'http://host:8000/a/b?c' → '/a/b?c', without the cost of new URL() on every request.
function requestTarget(url: string): string {
  const scheme = url.indexOf('://');
  if (scheme === -1) return url.startsWith('/') ? url : `/${url}`;
  const slash = url.indexOf('/', scheme + 3);
  if (slash !== -1) return url.slice(slash);
  const query = url.indexOf('?', scheme + 3);
  return query === -1 ? '/' : `/${url.slice(query)}`;
}
