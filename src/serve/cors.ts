import type { StreamRequest } from '../types.ts';

/** Decides whether a request's `Origin` may read the response. */
export type OriginCheck = (origin: string, req: StreamRequest) => boolean;

/**
 * Cross-origin access for players on another origin (Fetch standard, CORS protocol):
 * `true` lets any origin read (`Access-Control-Allow-Origin: *`, no credentials); an object
 * names the origins and whether cookies/authorization may come along.
 */
export type CorsOption =
  | boolean
  | {
      /** `'*'`, one origin, a list, a RegExp (anchored: it must match the whole Origin), or a function. */
      readonly origin: string | readonly string[] | RegExp | OriginCheck;
      /** Sends `Access-Control-Allow-Credentials: true`; never with `'*'`. Default false. */
      readonly credentials?: boolean | undefined;
      /** How long a browser may reuse a preflight answer (`Access-Control-Max-Age`). Default 7200. */
      readonly maxAgeSeconds?: number | undefined;
      /** Request headers a preflight may ask for beyond the range and conditional ones. Default none. */
      readonly allowHeaders?: readonly string[] | undefined;
    };

/** Chromium caps Access-Control-Max-Age at two hours; asking for more buys nothing there. */
export const DEFAULT_CORS_MAX_AGE_SECONDS = 7200;

/** What a player sends that is not CORS-safelisted: seeks with If-Range, revalidation, multi-range. */
export const CORS_ALLOW_HEADERS: readonly string[] = Object.freeze([
  'Range', 'If-Range', 'If-None-Match', 'If-Modified-Since', 'If-Match', 'If-Unmodified-Since',
]);

/** What a player reads of our responses (hls.js and dash.js read Content-Range and Content-Length). */
export const CORS_EXPOSE_HEADERS: readonly string[] = Object.freeze([
  'Content-Range', 'Content-Length', 'Accept-Ranges', 'ETag', 'Last-Modified',
]);

// A serialized origin: scheme "://" host [":" port], or "null". No comma, space or path, so two
// Origin fields joined by Node ("a, b") never pass a RegExp or list check.
const ORIGIN = /^[a-z][a-z0-9+.-]*:\/\/[^\s,/?#]+$/i;
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/i;

/**
 * A validated `cors` option with its constant header values built once: `headersFor` gives
 * the CORS headers of one response, `preflightHeadersFor` those of a 204 answer to a preflight.
 */
export type CorsPolicy = {
  /** CORS headers for an actual response; only `Vary: Origin` (or nothing) when the origin is not allowed. */
  headersFor(req: StreamRequest): readonly string[];
  /** Headers of the 204 answer to a preflight, or undefined when the origin is not allowed. */
  preflightHeadersFor(req: StreamRequest): readonly string[] | undefined;
};

/**
 * Validates a `cors` option once (misuse throws a TypeError naming `options.cors…`) and
 * precomputes its headers. A disallowed origin gets no CORS headers at all, never an echo.
 * With a specific origin list every response says `Vary: Origin`, also those for requests
 * without one, so a shared cache never hands one origin's answer to another.
 */
export function resolveCors(option: CorsOption | undefined, exposeEncoding: boolean): CorsPolicy | undefined {
  if (option === undefined || option === false) return undefined;
  const name = 'options.cors';
  if (option !== true && (option === null || typeof option !== 'object')) {
    throw new TypeError(`${name} must be true, false or { origin, credentials?, maxAgeSeconds?, allowHeaders? }, got ${String(option)}`);
  }
  const { origin = '*', credentials = false, maxAgeSeconds = DEFAULT_CORS_MAX_AGE_SECONDS, allowHeaders = [] } =
    option === true ? {} : option;
  if (typeof credentials !== 'boolean') throw new TypeError(`${name}.credentials must be a boolean, got ${String(credentials)}`);
  if (!Number.isSafeInteger(maxAgeSeconds) || maxAgeSeconds < 0) {
    throw new TypeError(`${name}.maxAgeSeconds must be an integer >= 0, got ${String(maxAgeSeconds)}`);
  }
  if (!Array.isArray(allowHeaders) || allowHeaders.some((h) => typeof h !== 'string' || !TOKEN.test(h))) {
    throw new TypeError(`${name}.allowHeaders must be an array of header names`);
  }
  const allowed = originMatcher(origin, name);
  if (allowed === 'any' && credentials) {
    throw new TypeError(`${name}.credentials cannot be true with origin '*': browsers refuse credentials with a wildcard; name the origins`);
  }
  const expose = [...CORS_EXPOSE_HEADERS, ...(exposeEncoding ? ['Content-Encoding'] : [])].join(', ');
  const withCredentials = credentials ? ['Access-Control-Allow-Credentials', 'true'] : [];
  const preflight = [
    'Access-Control-Allow-Methods', 'GET, HEAD',
    'Access-Control-Allow-Headers', [...CORS_ALLOW_HEADERS, ...allowHeaders].join(', '),
    'Access-Control-Max-Age', String(maxAgeSeconds),
  ];
  if (allowed === 'any') {
    const actual = Object.freeze(['Access-Control-Allow-Origin', '*', 'Access-Control-Expose-Headers', expose]);
    const answer = Object.freeze(['Access-Control-Allow-Origin', '*', ...preflight]);
    return Object.freeze({ headersFor: () => actual, preflightHeadersFor: () => answer });
  }
  const allowedOrigin = (req: StreamRequest): string | undefined => {
    const value = req.headers.origin;
    return typeof value === 'string' && (value === 'null' || ORIGIN.test(value)) && allowed(value, req) ? value : undefined;
  };
  const varyOnly = Object.freeze(['Vary', 'Origin']);
  return Object.freeze({
    headersFor(req: StreamRequest): readonly string[] {
      const value = allowedOrigin(req);
      if (value === undefined) return varyOnly;
      return ['Access-Control-Allow-Origin', value, ...withCredentials, 'Access-Control-Expose-Headers', expose, ...varyOnly];
    },
    preflightHeadersFor(req: StreamRequest): readonly string[] | undefined {
      const value = allowedOrigin(req);
      if (value === undefined) return undefined;
      return ['Access-Control-Allow-Origin', value, ...withCredentials, ...preflight, ...varyOnly];
    },
  });
}

// The CORS headers decided for a response, read by whatever writes its head (sendStatus,
// serveOpenFile). Kept beside the response, not set on it, so a request passed on to `next`
// carries none of ours into the application's other routes.
const ATTACHED = new WeakMap<object, readonly string[]>();
const NONE: readonly string[] = Object.freeze([]);

/** Remembers the CORS headers every head written for `res` must carry. */
export function attachCorsHeaders(res: object, headers: readonly string[]): void {
  ATTACHED.set(res, headers);
}

/** The CORS headers attached to `res` (none when CORS is off or the origin is not allowed). */
export function corsHeadersOf(res: object): readonly string[] {
  return ATTACHED.get(res) ?? NONE;
}

/** True for a CORS preflight: OPTIONS with Access-Control-Request-Method (Fetch §3.2.2). */
export function isPreflight(req: StreamRequest): boolean {
  return req.method === 'OPTIONS' && req.headers['access-control-request-method'] !== undefined;
}

function originMatcher(origin: unknown, name: string): 'any' | OriginCheck {
  if (origin === '*') return 'any';
  if (typeof origin === 'string') {
    checkOrigin(origin, `${name}.origin`);
    const lower = origin.toLowerCase();
    return (value) => value.toLowerCase() === lower;
  }
  if (Array.isArray(origin)) {
    origin.forEach((entry, i) => checkOrigin(entry, `${name}.origin[${i}]`));
    const set = new Set(origin.map((entry: string) => entry.toLowerCase()));
    return (value) => set.has(value.toLowerCase());
  }
  if (origin instanceof RegExp) {
    // Anchored, so /example\.com/ cannot match https://example.com.evil.test; without the g/y
    // flags, so lastIndex never carries over between requests.
    const re = new RegExp(`^(?:${origin.source})$`, origin.flags.replace(/[gy]/g, ''));
    return (value) => re.test(value);
  }
  if (typeof origin === 'function') {
    const check = origin as OriginCheck;
    return (value, req) => check(value, req) === true;
  }
  throw new TypeError(`${name}.origin must be '*', an origin string, an array of them, a RegExp or a function`);
}

function checkOrigin(value: unknown, name: string): void {
  if (typeof value !== 'string' || !ORIGIN.test(value) || value.endsWith('/')) {
    throw new TypeError(`${name} must be an origin like 'https://example.com' (scheme, host, optional port; no path), got ${JSON.stringify(value)}`);
  }
}
