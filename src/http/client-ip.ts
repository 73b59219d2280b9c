import { BlockList, isIP } from 'node:net';
import type { StreamRequest } from '../types.ts';

/** Which peers are reverse proxies whose `X-Forwarded-For` is believed. */
export type ProxyTrust = { readonly trusts: (ip: string) => boolean };

/**
 * Named address ranges for `trustProxy`: `loopback` (127.0.0.0/8, ::1) and `private`
 * (RFC 1918, RFC 6598 carrier-grade NAT, IPv6 unique-local fc00::/7 and link-local fe80::/10).
 */
export const PROXY_RANGES: Readonly<Record<'loopback' | 'private', readonly string[]>> = Object.freeze({
  loopback: ['127.0.0.0/8', '::1/128'],
  private: ['10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', '100.64.0.0/10', '169.254.0.0/16', 'fc00::/7', 'fe80::/10'],
});

const CIDR = /^([^/]+)\/(\d{1,3})$/;
// A list given as plain strings is turned into a BlockList once, not per request.
const COMPILED = new WeakMap<readonly string[], ProxyTrust>();

/**
 * Builds the trust test for a `trustProxy` list: each entry is an address (`10.0.0.1`, `::1`), a
 * CIDR range (`10.0.0.0/8`, `fd00::/8`) or a word, `loopback` or `private`. IPv4-mapped IPv6
 * peers (`::ffff:10.0.0.1`, how a dual-stack socket reports IPv4) are matched as IPv4.
 * Misuse (anything else) throws a TypeError naming the entry.
 *
 * @example
 * const trust = createProxyTrust(['loopback', '10.0.0.0/8']);
 * trust.trusts('10.1.2.3'); // true
 */
export function createProxyTrust(entries: readonly string[], name = 'options.trustProxy'): ProxyTrust {
  const list = new BlockList();
  for (const entry of entries) {
    for (const item of entry === 'loopback' || entry === 'private' ? PROXY_RANGES[entry] : [entry]) addEntry(list, item, name);
  }
  return Object.freeze({ trusts: (ip: string): boolean => trustsIp(list, ip) });
}

function addEntry(list: BlockList, entry: string, name: string): void {
  const cidr = CIDR.exec(entry);
  const address = cidr === null ? entry : cidr[1]!;
  const family = isIP(address);
  const bits = cidr === null ? (family === 6 ? 128 : 32) : Number(cidr[2]);
  if (family === 0 || bits > (family === 6 ? 128 : 32)) {
    throw new TypeError(`${name}: '${entry}' is not an IP address, a CIDR range, 'loopback' or 'private'`);
  }
  list.addSubnet(address, bits, family === 6 ? 'ipv6' : 'ipv4');
}

function trustsIp(list: BlockList, ip: string): boolean {
  const family = isIP(ip);
  return family !== 0 && list.check(ip, family === 6 ? 'ipv6' : 'ipv4');
}

/**
 * The client's address: the socket's peer, unless that peer is a trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first address that
 * is not one is the client. A malformed entry stops the walk at the last address we trust to
 * be real, so a client cannot spoof its address by sending the header itself.
 * `trustProxy` is a list as `createProxyTrust` reads it, or what it returned.
 */
export function clientIp(req: StreamRequest, trustProxy: readonly string[] | ProxyTrust): string {
  let ip = normalizeIp(req.socket?.remoteAddress ?? '');
  const trust = toProxyTrust(trustProxy);
  if (trust === undefined || !trust.trusts(ip)) return ip;
  const forwarded = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i]!.trim());
    if (isIP(hop) === 0) break;
    ip = hop;
    if (!trust.trusts(hop)) break;
  }
  return ip;
}

function toProxyTrust(trustProxy: readonly string[] | ProxyTrust): ProxyTrust | undefined {
  if (!Array.isArray(trustProxy)) return trustProxy as ProxyTrust;
  const list = trustProxy as readonly string[];
  if (list.length === 0) return undefined;
  let trust = COMPILED.get(list);
  if (trust === undefined) COMPILED.set(list, (trust = createProxyTrust(list)));
  return trust;
}

// '::ffff:127.0.0.1' is how a dual-stack socket reports an IPv4 peer.
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}
