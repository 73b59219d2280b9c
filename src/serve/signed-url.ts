import { timingSafeEqual } from 'node:crypto';
import { strongMatch } from '../http/etag.ts';
import type { StreamRequest } from '../types.ts';
import type { Exchange } from './exchange.ts';
import type { Validators } from '../http/preconditions.ts';
import { eachQueryPair } from '../http/query.ts';
import {
  BIND_VALUES,
  canonicalIp,
  EXPIRES_TEXT,
  hmac,
  NO_BINDING,
  normalisedPath,
  secretKey,
  signedMessage,
  SIGNATURE_BYTES,
  SIGNATURE_TEXT,
  type Binding,
  type BoundValues,
} from './url-signature.ts';

export { MIN_SECRET_BYTES, type Binding, type BoundValues } from './url-signature.ts';

/**
 * How long after its expiry a signed link still serves a resumed range (see `admitResume`):
 * three hours, the length of a long film, so a playback started the second before expiry can
 * finish. It only ever helps a client that already fetched this exact file while the link was
 * valid, and that client could have downloaded the whole file then.
 */
export const DEFAULT_GRACE_SECONDS: number = 3 * 3600;
/** The query parameters a signed link adds; a handler's `param` must not be one of them. */
export const SIGNATURE_PARAMS: readonly string[] = Object.freeze(['expires', 'bind', 'sig']);

/** How `signPath` signs: the secret, when the link expires (one of the two), what it is bound to. */
export type SignOptions = {
  /** The signing secret, at least 32 bytes (a string counts its UTF-8 bytes). */
  readonly secret: string | Buffer;
  /** Seconds from now until the link expires (a whole number >= 1). */
  readonly expiresIn?: number | undefined;
  /** When the link expires; rounded down to the second. */
  readonly expiresAt?: Date | undefined;
  /** Binds the link to one client address and/or one authenticated user id. */
  readonly bind?: BoundValues | undefined;
  /** The clock in ms, for tests. Default `Date.now`. */
  readonly now?: (() => number) | undefined;
};

/** How `signUrl` builds the URL around the signature: as the handler's `mode`, `param` and `prefix`. */
export type SignUrlOptions = SignOptions & {
  /** `'query'` (`<base>?path=a.mp4&…`) or `'path'` (`<base>/a.mp4?…`). Default `'query'`. */
  readonly mode?: 'query' | 'path' | undefined;
  /** The query parameter naming the file in query mode. Default `'path'`. */
  readonly param?: string | undefined;
  /**
   * What the file goes after: the stream endpoint in query mode (`'/api/stream'`,
   * `'https://media.example/api/stream'`), the handler's prefix in path mode (`'/videos'`).
   * Default `''` (a relative URL: `?path=…`, or `/a.mp4?…`).
   */
  readonly base?: string | undefined;
};

/** The handler's `signed` option: every request must then carry a valid signature. */
export type SignedOptions = {
  /**
   * Secrets a signature may be made with, each at least 32 bytes. All of them verify, so a new
   * secret can be added (and used to sign) before an old one is removed: key rotation.
   */
  readonly secrets: readonly (string | Buffer)[];
  /**
   * Seconds after expiry during which a resumed range (`Range` with an `If-Range` entity-tag
   * strongly matching the file's current ETag) is still served; 0 turns the grace off.
   * Default `DEFAULT_GRACE_SECONDS` (3 h).
   */
  readonly graceSeconds?: number | undefined;
  /** The clock in ms, for tests. Default `Date.now`. */
  readonly now?: (() => number) | undefined;
};

/**
 * What a signed link is worth for one request: `'valid'`; `'grace'` (expired, within the grace
 * period: only a resume passes, see `admitResume`); `'expired'` (genuine but past its grace:
 * 410); `'missing'` (no signature parameters), `'malformed'` (a bad, repeated or non-canonical
 * parameter) or `'mismatch'` (the signature does not match this path, expiry, binding or any
 * secret): 403.
 */
export type SignatureCheck = 'valid' | 'grace' | 'expired' | 'missing' | 'malformed' | 'mismatch';

/** The signature parameters of a URL, parsed but not yet verified. */
export type SignedLink = {
  readonly expires: number;
  readonly bind: readonly Binding[];
  readonly signature: Buffer;
};

/** Checks signed links against a set of secrets; made once by `createUrlVerifier`. */
export type UrlVerifier = {
  readonly graceSeconds: number;
  /**
   * Checks the signature parameters in `url` (a request target such as `req.url`) for the file
   * `path`, normalised as the handler normalises it, and the values the link may be bound to.
   */
  check(url: string, path: string, bound?: BoundValues): SignatureCheck;
  /** The same for a link already read with `readSignedLink`. */
  verify(link: SignedLink, path: string, bound: BoundValues): SignatureCheck;
};

/**
 * Signs a file path and returns the URL for it: the path, its expiry (Unix seconds) and an
 * HMAC-SHA256 signature (base64url) over both and the bound values, which the handler's
 * `signed` option verifies before it touches the disk.
 *
 * The path is normalised exactly as the handler normalises a request (`a//b.mp4` and
 * `./a/b.mp4` sign `a/b.mp4`); a `..` segment, NUL or backslash is a TypeError, as is a bad
 * expiry or a secret shorter than 32 bytes. The URL says which values are bound (`bind=ip`),
 * never the values themselves.
 *
 * @example
 * signUrl('movies/my clip.mp4', { secret, expiresIn: 3 * 3600, base: '/api/stream' });
 * // '/api/stream?path=movies/my%20clip.mp4&expires=1767225600&sig=kR2…'
 * signUrl('show/index.m3u8', { secret, expiresIn: 600, mode: 'path', base: '/videos', bind: { ip: '203.0.113.7' } });
 * // '/videos/show/index.m3u8?expires=1767215400&bind=ip&sig=…'
 */
export function signUrl(path: string, options: SignUrlOptions): string {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object with { secret, expiresIn }');
  const { mode = 'query', param = 'path', base = '' } = options;
  const normalised = normalisedPath(path);
  if (typeof base !== 'string') throw new TypeError(`options.base must be a string, got ${typeof base}`);
  const signature = signPath(normalised, options);
  switch (mode) {
    case 'query': {
      if (typeof param !== 'string' || param === '' || SIGNATURE_PARAMS.includes(param)) {
        throw new TypeError(`options.param must be a non-empty string other than ${SIGNATURE_PARAMS.join(', ')}, got ${JSON.stringify(param)}`);
      }
      // '/' needs no escape in a query (RFC 3986 §3.4); kept readable.
      const value = encodeURIComponent(normalised).replaceAll('%2F', '/');
      return `${base}${base.includes('?') ? '&' : '?'}${encodeURIComponent(param)}=${value}&${signature}`;
    }
    case 'path': {
      if (base.includes('?') || base.includes('#')) {
        throw new TypeError(`options.base must not carry a query or fragment in path mode, got ${JSON.stringify(base)}`);
      }
      const segments = normalised.split('/').map(encodeURIComponent).join('/');
      return `${base.replace(/\/+$/, '')}/${segments}?${signature}`;
    }
    default:
      throw new TypeError(`options.mode must be one of 'query', 'path', got ${String(mode)}`);
  }
}

/**
 * Signs a file path and returns only the signature parameters, `expires=…[&bind=…]&sig=…`,
 * for a URL you build yourself: append them to the query of the URL that names `path`.
 *
 * @example
 * const url = `/stream/${id}?${signPath('movies/a.mp4', { secret, expiresIn: 7200 })}`;
 */
export function signPath(path: string, options: SignOptions): string {
  if (options === null || typeof options !== 'object') throw new TypeError('options must be an object with { secret, expiresIn }');
  const normalised = normalisedPath(path);
  const key = secretKey(options.secret, 'options.secret');
  const expires = expiryOf(options);
  const { bind: values = {} } = options;
  if (values === null || typeof values !== 'object') throw new TypeError('options.bind must be an object');
  const bind: Binding[] = [];
  const bound: { ip?: string; user?: string } = {};
  if (values.ip !== undefined) {
    const ip = typeof values.ip === 'string' ? canonicalIp(values.ip) : undefined;
    if (ip === undefined) throw new TypeError(`options.bind.ip must be an IP address, got ${JSON.stringify(values.ip)}`);
    bind.push('ip');
    bound.ip = ip;
  }
  if (values.user !== undefined) {
    if (typeof values.user !== 'string' || values.user === '') {
      throw new TypeError(`options.bind.user must be a non-empty string, got ${JSON.stringify(values.user)}`);
    }
    bind.push('user');
    bound.user = values.user;
  }
  const sig = hmac(key, signedMessage(normalised, expires, bind, bound)).toString('base64url');
  return `expires=${expires}${bind.length > 0 ? `&bind=${bind.join(',')}` : ''}&sig=${sig}`;
}

/**
 * Creates the verifier for a set of secrets: `check(url, path, bound)` → `SignatureCheck`.
 * The handler's `signed` option makes one; use it yourself in front of `streamFile`.
 *
 * The signature is checked first, against every secret, each with `crypto.timingSafeEqual` on
 * two 32-byte HMACs (a byte-by-byte compare would let a client find the right signature for
 * any path one byte at a time). Only a genuine signature is then told apart as expired, so
 * '410 Gone' is never an answer to a forgery.
 *
 * @example
 * const verifier = createUrlVerifier({ secrets: [process.env.SIGNING_SECRET] });
 * if (verifier.check(req.url, 'movies/a.mp4') !== 'valid') return res.writeHead(403).end();
 */
export function createUrlVerifier(options: SignedOptions): UrlVerifier {
  return resolveSigned(options, 'options');
}

/**
 * Validates the `signed` option (or `createUrlVerifier`'s options), naming `name` in any
 * TypeError, and returns the verifier with its keys made once.
 */
export function resolveSigned(options: SignedOptions, name: string): UrlVerifier {
  if (options === null || typeof options !== 'object') throw new TypeError(`${name} must be an object with { secrets }`);
  const { secrets, graceSeconds = DEFAULT_GRACE_SECONDS, now = Date.now } = options;
  if (!Array.isArray(secrets) || secrets.length === 0) {
    throw new TypeError(`${name}.secrets must be a non-empty array of strings or Buffers`);
  }
  const keys = Object.freeze(secrets.map((secret: unknown, i) => secretKey(secret, `${name}.secrets[${i}]`)));
  if (!Number.isSafeInteger(graceSeconds) || graceSeconds < 0) {
    throw new TypeError(`${name}.graceSeconds must be an integer >= 0, got ${String(graceSeconds)}`);
  }
  if (typeof now !== 'function') throw new TypeError(`${name}.now must be a function, got ${typeof now}`);

  const verify = (link: SignedLink, path: string, bound: BoundValues): SignatureCheck => {
    const values: { ip?: string; user?: string } = {};
    if (link.bind.includes('ip')) {
      const ip = bound.ip === undefined ? undefined : canonicalIp(bound.ip);
      if (ip === undefined) return 'mismatch';
      values.ip = ip;
    }
    if (link.bind.includes('user')) {
      if (bound.user === undefined || bound.user === '') return 'mismatch';
      values.user = bound.user;
    }
    const message = signedMessage(path, link.expires, link.bind, values);
    // Equal lengths by construction (readSignedLink accepts 32 bytes only), so this never throws.
    // It stops at the first match: only a genuine signature ends early, and which secret made it is no secret.
    if (!keys.some((key) => timingSafeEqual(hmac(key, message), link.signature))) return 'mismatch';
    const nowSeconds = Math.floor(now() / 1000);
    if (nowSeconds < link.expires) return 'valid';
    return nowSeconds < link.expires + graceSeconds ? 'grace' : 'expired';
  };
  return Object.freeze({
    graceSeconds,
    verify,
    check(url: string, path: string, bound: BoundValues = {}): SignatureCheck {
      const link = readSignedLink(url);
      return typeof link === 'string' ? link : verify(link, path, bound);
    },
  });
}

/**
 * Reads `expires`, `bind` and `sig` from a request target's query. Each may appear once, in its
 * one canonical spelling (`expires` a plain decimal, `bind` `ip`, `user` or `ip,user`, `sig`
 * 43 base64url characters that re-encode to themselves); anything else is `'malformed'`, and no
 * signature parameter at all is `'missing'`. Other parameters are ignored (and not signed).
 */
export function readSignedLink(url: string): SignedLink | 'missing' | 'malformed' {
  let expiresText: string | undefined;
  let bindText: string | undefined;
  let sigText: string | undefined;
  let repeated = false;
  // Canonical values need no decoding: a %-escaped one fails the checks below.
  eachQueryPair(url, (key, value) => {
    if (key === 'expires') {
      repeated = expiresText !== undefined;
      expiresText = value;
    } else if (key === 'bind') {
      repeated = bindText !== undefined;
      bindText = value;
    } else if (key === 'sig') {
      repeated = sigText !== undefined;
      sigText = value;
    }
    return repeated;
  });
  if (repeated) return 'malformed';
  if (expiresText === undefined && bindText === undefined && sigText === undefined) return 'missing';
  if (expiresText === undefined || sigText === undefined) return 'malformed';
  if (!EXPIRES_TEXT.test(expiresText) || !SIGNATURE_TEXT.test(sigText)) return 'malformed';
  const bind = bindText === undefined ? NO_BINDING : BIND_VALUES[bindText];
  if (bind === undefined) return 'malformed';
  const signature = Buffer.from(sigText, 'base64url');
  // The last character carries 2 spare bits: only the spelling with them zero is accepted.
  if (signature.length !== SIGNATURE_BYTES || signature.toString('base64url') !== sigText) return 'malformed';
  return { expires: Number(expiresText), bind, signature };
}

/**
 * Checks the signed link of a request for the normalised `path`: reads the parameters, then the
 * values the link says it is bound to (the exchange's address, through `trustProxy`, and the user
 * id from `identify(req)`, which must report an authenticated viewer), then verifies.
 *
 * A user-bound link on a handler without `identify` is a `'mismatch'` (403), not a reported
 * error: any client can write `bind=user` into a URL. Rejects only when `identify` throws.
 */
export async function checkSignedRequest(exchange: Exchange, path: string, verifier: UrlVerifier): Promise<SignatureCheck> {
  const link = readSignedLink(exchange.req.url ?? '/');
  if (typeof link === 'string') return link;
  const bound: { ip?: string; user?: string } = {};
  if (link.bind.includes('ip')) bound.ip = exchange.ip();
  if (link.bind.includes('user')) {
    const who = await exchange.viewer();
    if (who?.isAuthenticated !== true || who.userId === null) return 'mismatch';
    bound.user = String(who.userId);
  }
  return verifier.verify(link, path, bound);
}

/**
 * The `admit` hook for a link in its grace period: the request passes only when it resumes
 * this exact file, a GET with `Range` and an `If-Range` entity-tag that strongly matches the
 * current ETag (RFC 9110 §13.1.5); anything else is 410. A date in If-Range does not count: a
 * client that only knows Last-Modified may never have held the file.
 */
export function admitResume(req: StreamRequest): (validators: Validators) => number | undefined {
  return (validators) => {
    const ifRange = req.headers['if-range'];
    const resumes =
      req.method === 'GET' && req.headers.range !== undefined && typeof ifRange === 'string' && strongMatch(ifRange, validators.etag);
    return resumes ? undefined : 410;
  };
}

function expiryOf(options: SignOptions): number {
  const { expiresIn, expiresAt, now = Date.now } = options;
  if (typeof now !== 'function') throw new TypeError(`options.now must be a function, got ${typeof now}`);
  const nowMs = now();
  if ((expiresIn === undefined) === (expiresAt === undefined)) {
    throw new TypeError('options.expiresIn or options.expiresAt must be given, not both');
  }
  let expires: number;
  if (expiresIn !== undefined) {
    if (!Number.isSafeInteger(expiresIn) || expiresIn < 1) {
      throw new TypeError(`options.expiresIn must be a whole number of seconds >= 1, got ${String(expiresIn)}`);
    }
    expires = Math.floor(nowMs / 1000) + expiresIn;
  } else {
    const ms = expiresAt instanceof Date ? expiresAt.getTime() : Number.NaN;
    if (Number.isNaN(ms) || ms <= nowMs) {
      throw new TypeError(`options.expiresAt must be a valid Date in the future, got ${String(expiresAt)}`);
    }
    expires = Math.floor(ms / 1000);
  }
  if (!EXPIRES_TEXT.test(String(expires))) throw new TypeError(`options.expiresIn/expiresAt is too far away: ${expires}`);
  return expires;
}
