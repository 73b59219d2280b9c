import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import { isIP } from 'node:net';
import { requestedPath } from '../files/request-path.ts';

// The signed message and its parts, shared by signUrl/signPath and the verifier in signed-url.ts:
// one place decides what the HMAC covers and how a path, an address and an expiry are spelled.

/** The shortest signing secret accepted: 32 bytes, the output size of SHA-256 (RFC 2104 §3). */
export const MIN_SECRET_BYTES = 32;

/** What a link can be bound to besides its path and expiry. */
export type Binding = 'ip' | 'user';

/** The values a link is bound to: the client's address and the user id `identify` reports. */
export type BoundValues = { readonly ip?: string | undefined; readonly user?: string | undefined };

// Versioned and length-prefixed (see `signedMessage`): no path, however odd, reads as another.
const MESSAGE_VERSION = 'sage-stream signed-url v1';
/** A signature is one HMAC-SHA256 output. */
export const SIGNATURE_BYTES = 32;
/** How a signature is spelled in a URL. */
export const SIGNATURE_TEXT: RegExp = /^[A-Za-z0-9_-]{43}$/; // 32 bytes in base64url, unpadded
/** How an expiry is spelled in a URL. */
export const EXPIRES_TEXT: RegExp = /^(?:0|[1-9]\d{0,14})$/; // canonical decimal: one spelling per value
/** The `bind` values a link may carry, each in its one spelling. */
export const BIND_VALUES: Readonly<Record<string, readonly Binding[]>> = Object.freeze({
  ip: Object.freeze(['ip'] as const),
  user: Object.freeze(['user'] as const),
  'ip,user': Object.freeze(['ip', 'user'] as const),
});
/** The bindings of a link without `bind`. */
export const NO_BINDING: readonly Binding[] = Object.freeze([]);

/**
 * The bytes the HMAC covers: a version line, then each field as `<UTF-8 byte length>:<value>`,
 * one per line: path, expiry, bound names, bound address, bound user (empty when not bound).
 * The length prefixes make the message unambiguous: a path holding a newline or `12:` cannot
 * shift the fields after it.
 */
export function signedMessage(path: string, expires: number, bind: readonly Binding[], values: BoundValues): string {
  const fields = [path, String(expires), bind.join(','), values.ip ?? '', values.user ?? ''];
  return [MESSAGE_VERSION, ...fields.map((field) => `${Buffer.byteLength(field)}:${field}`)].join('\n');
}

/** HMAC-SHA256 of the message's UTF-8 bytes (RFC 2104). */
export function hmac(key: KeyObject, message: string): Buffer {
  return createHmac('sha256', key).update(message, 'utf8').digest();
}

/** The key for a secret, a string (UTF-8) or Buffer of at least MIN_SECRET_BYTES; a TypeError naming `name` otherwise. */
export function secretKey(secret: unknown, name: string): KeyObject {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.isBuffer(secret) ? secret : undefined;
  if (bytes === undefined) throw new TypeError(`${name} must be a string or a Buffer, got ${typeof secret}`);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw new TypeError(`${name} must be at least ${MIN_SECRET_BYTES} bytes, got ${bytes.length}`);
  }
  return createSecretKey(Buffer.from(bytes)); // a copy: a caller refilling its Buffer changes nothing
}

/** The handler's own normalisation, so signer and verifier can never disagree about a path; a TypeError for a path outside root. */
export function normalisedPath(path: string): string {
  let encoded: string | undefined;
  try {
    encoded = typeof path === 'string' ? encodeURIComponent(path) : undefined;
  } catch {
    // A lone surrogate: not a file name a URL can carry.
  }
  const requested = encoded === undefined ? undefined : requestedPath(`/?p=${encoded}`, { mode: 'query', param: 'p' }, 'allow');
  if (requested?.kind !== 'ok') {
    throw new TypeError(`path must name a file below root (no '..' segment, NUL or backslash), got ${JSON.stringify(path)}`);
  }
  return requested.path;
}

/**
 * One spelling per address, so a link signed for `::FFFF:203.0.113.7` or `2001:DB8:0::1` still
 * matches what the socket reports: IPv4-mapped IPv6 becomes IPv4, IPv6 is compressed and lower
 * case (the WHATWG URL serialisation). Undefined for anything that is not an IP address.
 */
export function canonicalIp(ip: string): string | undefined {
  switch (isIP(ip)) {
    case 4:
      return ip;
    case 6: {
      const lower = ip.toLowerCase();
      if (lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4) return lower.slice(7);
      if (ip.includes('%')) return lower; // a zone index: URL cannot parse it; compare as written
      const host = new URL(`http://[${ip}]/`).hostname.slice(1, -1);
      // '::ffff:203.0.113.7' written in hex ('::ffff:cb00:7107') is IPv4-mapped too.
      const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(host);
      if (mapped === null) return host;
      const high = Number.parseInt(mapped[1]!, 16);
      const low = Number.parseInt(mapped[2]!, 16);
      return `${high >> 8}.${high & 0xff}.${low >> 8}.${low & 0xff}`;
    }
    default:
      return undefined;
  }
}
