import { isIP } from 'node:net';
import type { StreamRequest } from '../types.ts';

/**
 * The client's address: the socket's peer, unless that peer is a trusted proxy, in which case
 * X-Forwarded-For is read from the right, skipping trusted proxies, and the first address that
 * is not one is the client. A malformed entry stops the walk at the last address we trust to
 * be real, so a client cannot spoof its address by sending the header itself.
 */
export function clientIp(req: StreamRequest, trustProxy: readonly string[]): string {
  let ip = normalizeIp(req.socket?.remoteAddress ?? '');
  if (trustProxy.length === 0 || !trustProxy.includes(ip)) return ip;
  const forwarded = req.headers['x-forwarded-for'];
  const hops = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? '')).split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = normalizeIp(hops[i]!.trim());
    if (isIP(hop) === 0) break;
    ip = hop;
    if (!trustProxy.includes(hop)) break;
  }
  return ip;
}

// '::ffff:127.0.0.1' is how a dual-stack socket reports an IPv4 peer.
function normalizeIp(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}
