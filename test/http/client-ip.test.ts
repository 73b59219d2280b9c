import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { clientIp, createProxyTrust } from '../../src/http/client-ip.ts';

const trustCases: ReadonlyArray<{ list: readonly string[]; ip: string; want: boolean }> = [
  { list: ['10.0.0.0/8'], ip: '10.200.3.4', want: true },
  { list: ['10.0.0.0/8'], ip: '11.0.0.1', want: false },
  { list: ['192.168.1.7'], ip: '192.168.1.7', want: true },
  { list: ['192.168.1.7'], ip: '192.168.1.8', want: false },
  { list: ['loopback'], ip: '127.0.0.1', want: true },
  { list: ['loopback'], ip: '127.8.9.10', want: true },
  { list: ['loopback'], ip: '::1', want: true },
  { list: ['loopback'], ip: '10.0.0.1', want: false },
  { list: ['private'], ip: '172.20.0.5', want: true },
  { list: ['private'], ip: '172.32.0.5', want: false },
  { list: ['private'], ip: '192.168.0.1', want: true },
  { list: ['private'], ip: 'fd12::1', want: true },
  { list: ['private'], ip: '8.8.8.8', want: false },
  { list: ['private'], ip: '127.0.0.1', want: false },
  { list: ['fd00::/8'], ip: 'fd00::abcd', want: true },
  { list: ['fd00::/8'], ip: 'fe00::1', want: false },
  { list: ['10.0.0.0/8'], ip: 'not-an-ip', want: false },
  { list: [], ip: '127.0.0.1', want: false },
];

describe('createProxyTrust', () => {
  for (const { list, ip, want } of trustCases) {
    it(`[${list.join(', ')}] ${want ? 'trusts' : 'does not trust'} ${ip}`, () => assert.equal(createProxyTrust(list).trusts(ip), want));
  }
  for (const bad of ['10.0.0.0/33', '::/129', 'localhost', '10.0.0/8', '', 'public']) {
    it(`refuses ${JSON.stringify(bad)} with a TypeError naming it`, () => {
      assert.throws(() => createProxyTrust([bad]), (err: unknown) => err instanceof TypeError && err.message.includes(`'${bad}'`));
    });
  }
});

function request(peer: string, xff?: string): IncomingMessage {
  return { socket: { remoteAddress: peer }, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } } as unknown as IncomingMessage;
}

describe('clientIp with ranges', () => {
  const rows: ReadonlyArray<{ name: string; peer: string; xff?: string; trust: readonly string[]; want: string }> = [
    { name: 'a peer inside a trusted CIDR: the forwarded client', peer: '10.1.1.1', xff: '203.0.113.9', trust: ['10.0.0.0/8'], want: '203.0.113.9' },
    { name: 'a peer outside it: the header is ignored', peer: '10.1.1.1', xff: '203.0.113.9', trust: ['192.168.0.0/16'], want: '10.1.1.1' },
    { name: 'IPv4-mapped IPv6 peer matched as IPv4', peer: '::ffff:127.0.0.1', xff: '198.51.100.2', trust: ['loopback'], want: '198.51.100.2' },
    { name: 'a chain of private proxies is skipped', peer: '127.0.0.1', xff: '198.51.100.2, 10.0.0.3, 192.168.4.4', trust: ['loopback', 'private'], want: '198.51.100.2' },
    { name: 'a spoofed left entry stays behind the first untrusted hop', peer: '127.0.0.1', xff: '1.1.1.1, 198.51.100.2', trust: ['loopback'], want: '198.51.100.2' },
    { name: 'mapped hops in the header are matched as IPv4', peer: '127.0.0.1', xff: '198.51.100.2, ::ffff:10.0.0.3', trust: ['loopback', 'private'], want: '198.51.100.2' },
  ];
  for (const row of rows) it(row.name, () => assert.equal(clientIp(request(row.peer, row.xff), row.trust), row.want));
  it('takes a ProxyTrust as well as a list', () => {
    assert.equal(clientIp(request('10.9.9.9', '203.0.113.1'), createProxyTrust(['private'])), '203.0.113.1');
  });
});
