import { after, before, describe, it, mock } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { createStreamHandler } from '../../src/serve/handler.ts';
import { header, listenerUnderTest } from '../helpers/handler-under-test.ts';
import type { StreamHandlerOptions } from '../../src/serve/options.ts';
import { requestedPath } from '../../src/files/request-path.ts';
import {
  DEFAULT_GRACE_SECONDS,
  createUrlVerifier,
  readSignedLink,
  signPath,
  signUrl,
  type BoundValues,
  type SignatureCheck,
  type SignUrlOptions,
  type SignedOptions,
} from '../../src/serve/signed-url.ts';
import type { StreamRequest, Viewer } from '../../src/types.ts';
import { createFixtures, pattern } from '../helpers/fixtures.ts';
import { start, type TestServer } from '../helpers/server.ts';

const SECRET = 'test-signing-secret-0123456789abcdef';
const OLD_SECRET = 'old-signing-secret-0123456789abcdef!';
const NEW_SECRET = Buffer.alloc(32, 0xe9); // not UTF-8: its latin1 string is another key
const T0 = 1_700_000_000_000; // ms, a whole second
const EXPIRES = T0 / 1000 + 60; // what expiresIn: 60 gives at T0

// A value of the wrong type, as a JavaScript caller could pass it.
const bad = (value: unknown): never => value as never;

/** The check the handler makes: the path as requestedPath() reads it from the URL, then the verifier. */
function checkUrl(url: string, options: SignedOptions, bound: BoundValues = {}): SignatureCheck {
  const requested = requestedPath(url, { mode: 'query', param: 'path' }, 'allow');
  assert.equal(requested.kind, 'ok', `the test URL names no file: ${url}`);
  return createUrlVerifier(options).check(url, requested.kind === 'ok' ? requested.path : '', bound);
}

const at = (ms: number) => () => ms;
const sign = (path: string, options: Partial<SignUrlOptions> = {}): string =>
  signUrl(path, { secret: SECRET, expiresIn: 60, now: at(T0), ...options });

describe('signUrl: the URL', () => {
  const sig = /[A-Za-z0-9_-]{43}/.source;
  const cases: ReadonlyArray<{ name: string; path: string; options?: Partial<SignUrlOptions>; want: RegExp }> = [
    { name: 'query mode by default', path: 'a/b.mp4', want: new RegExp(`^\\?path=a/b\\.mp4&expires=${EXPIRES}&sig=${sig}$`) },
    { name: 'a base', path: 'a.mp4', options: { base: '/api/stream' }, want: new RegExp(`^/api/stream\\?path=a\\.mp4&expires=${EXPIRES}&sig=${sig}$`) },
    { name: 'a base with a query', path: 'a.mp4', options: { base: 'https://cdn.example/s?v=2' }, want: new RegExp(`^https://cdn\\.example/s\\?v=2&path=a\\.mp4&expires=\\d+&sig=${sig}$`) },
    { name: 'another param', path: 'a.mp4', options: { param: 'file' }, want: new RegExp(`^\\?file=a\\.mp4&expires=\\d+&sig=${sig}$`) },
    { name: 'path mode', path: 'show/ep 1.mp4', options: { mode: 'path', base: '/videos/' }, want: new RegExp(`^/videos/show/ep%201\\.mp4\\?expires=${EXPIRES}&sig=${sig}$`) },
    { name: 'path mode, no base', path: 'a.mp4', options: { mode: 'path' }, want: new RegExp(`^/a\\.mp4\\?expires=\\d+&sig=${sig}$`) },
    { name: 'bound to an address', path: 'a.mp4', options: { bind: { ip: '203.0.113.7' } }, want: new RegExp(`&expires=\\d+&bind=ip&sig=${sig}$`) },
    { name: 'bound to both', path: 'a.mp4', options: { bind: { user: 'alice', ip: '::1' } }, want: new RegExp(`&bind=ip,user&sig=${sig}$`) },
    { name: 'expiresAt, rounded down', path: 'a.mp4', options: { expiresIn: undefined, expiresAt: new Date(T0 + 90_999) }, want: new RegExp(`&expires=${T0 / 1000 + 90}&`) },
    { name: 'expiresIn counts from the current second', path: 'a.mp4', options: { now: at(T0 + 999) }, want: new RegExp(`&expires=${EXPIRES}&`) },
    { name: 'the bound values are not in the URL', path: 'a.mp4', options: { bind: { user: 'alice@example' } }, want: /^(?!.*alice)/ },
  ];
  for (const { name, path, options, want } of cases) it(name, () => assert.match(sign(path, options), want));

  it('signPath gives the signature parameters only', () => {
    assert.equal(`?path=a.mp4&${signPath('a.mp4', { secret: SECRET, expiresIn: 60, now: at(T0) })}`, sign('a.mp4'));
  });

  it('one signature per normalised path: a//b, ./a/b, /a/b, a/b/ all sign a/b', () => {
    for (const path of ['a//b.mp4', './a/b.mp4', '/a/b.mp4', 'a/./b.mp4']) assert.equal(sign(path), sign('a/b.mp4'), path);
  });
});

describe('signUrl misuse → TypeError naming the option', () => {
  const cases: ReadonlyArray<{ name: string; path?: string; options: Partial<SignUrlOptions>; message: RegExp }> = [
    { name: 'a short secret', options: { secret: 'x'.repeat(31) }, message: /^options\.secret must be at least 32 bytes, got 31$/ },
    { name: 'a short Buffer secret', options: { secret: Buffer.alloc(16) }, message: /^options\.secret must be at least 32 bytes/ },
    { name: 'a number secret', options: { secret: bad(12345) }, message: /^options\.secret must be a string or a Buffer/ },
    { name: 'no expiry', options: { expiresIn: undefined }, message: /^options\.expiresIn or options\.expiresAt must be given/ },
    { name: 'both expiries', options: { expiresAt: new Date(T0 + 1e6) }, message: /^options\.expiresIn or options\.expiresAt/ },
    { name: 'expiresIn 0', options: { expiresIn: 0 }, message: /^options\.expiresIn must be a whole number/ },
    { name: 'expiresIn 1.5', options: { expiresIn: 1.5 }, message: /^options\.expiresIn must be/ },
    { name: "expiresIn '60'", options: { expiresIn: bad('60') }, message: /^options\.expiresIn must be/ },
    { name: 'expiresIn too far', options: { expiresIn: Number.MAX_SAFE_INTEGER }, message: /too far away/ },
    { name: 'expiresAt now', options: { expiresIn: undefined, expiresAt: new Date(T0) }, message: /^options\.expiresAt must be a valid Date in the future/ },
    { name: 'expiresAt invalid', options: { expiresIn: undefined, expiresAt: new Date('nope') }, message: /^options\.expiresAt must be/ },
    { name: 'expiresAt a number', options: { expiresIn: undefined, expiresAt: bad(T0 + 1e6) }, message: /^options\.expiresAt must be/ },
    { name: 'bind.ip not an address', options: { bind: { ip: 'example.com' } }, message: /^options\.bind\.ip must be an IP address/ },
    { name: 'bind.user empty', options: { bind: { user: '' } }, message: /^options\.bind\.user must be a non-empty string/ },
    { name: 'bind.user a number', options: { bind: { user: bad(7) } }, message: /^options\.bind\.user must be/ },
    { name: "param 'sig'", options: { param: 'sig' }, message: /^options\.param must be a non-empty string other than/ },
    { name: "mode 'hash'", options: { mode: bad('hash') }, message: /^options\.mode must be one of/ },
    { name: 'a query in a path-mode base', options: { mode: 'path', base: '/v?x=1' }, message: /^options\.base must not carry a query/ },
    { name: 'a .. segment', path: 'a/../b.mp4', options: {}, message: /^path must name a file below root/ },
    { name: 'a NUL byte', path: 'a\0.mp4', options: {}, message: /^path must name a file/ },
    { name: 'a backslash', path: 'a\\b.mp4', options: {}, message: /^path must name a file/ },
    { name: 'an empty path', path: '', options: {}, message: /^path must name a file/ },
    { name: 'only slashes', path: '//', options: {}, message: /^path must name a file/ },
    { name: 'a lone surrogate', path: 'a\ud800.mp4', options: {}, message: /^path must name a file/ },
    { name: 'not a string', path: bad(42), options: {}, message: /^path must name a file/ },
  ];
  it('no options', () => assert.throws(() => signUrl('a.mp4', bad(null)), /^TypeError: options must be an object/));
  for (const { name, path = 'a.mp4', options, message } of cases) {
    it(name, () => assert.throws(() => sign(path, options), (err: unknown) => err instanceof TypeError && message.test(err.message)));
  }
});

describe('createUrlVerifier / the signed option: misuse → TypeError', () => {
  const fixtures = createFixtures('sage-stream-signed-misuse-');
  after(() => fixtures.remove());
  const cases: ReadonlyArray<{ name: string; options: SignedOptions; message: RegExp }> = [
    { name: 'no secrets', options: { secrets: [] }, message: /\.secrets must be a non-empty array/ },
    { name: 'secrets not an array', options: { secrets: bad(SECRET) }, message: /\.secrets must be a non-empty array/ },
    { name: 'a short secret', options: { secrets: [SECRET, 'short'] }, message: /\.secrets\[1\] must be at least 32 bytes, got 5$/ },
    { name: 'a number secret', options: { secrets: [bad(1)] }, message: /\.secrets\[0\] must be a string or a Buffer/ },
    { name: 'graceSeconds -1', options: { secrets: [SECRET], graceSeconds: -1 }, message: /\.graceSeconds must be an integer >= 0/ },
    { name: 'graceSeconds 1.5', options: { secrets: [SECRET], graceSeconds: 1.5 }, message: /\.graceSeconds must be/ },
    { name: 'now not a function', options: { secrets: [SECRET], now: bad(T0) }, message: /\.now must be a function/ },
  ];
  for (const { name, options, message } of cases) {
    it(`${name} (createUrlVerifier: options.…)`, () => {
      assert.throws(() => createUrlVerifier(options), (err: unknown) => err instanceof TypeError && err.message.startsWith('options.') && message.test(err.message));
    });
    it(`${name} (createStreamHandler: options.signed.…)`, () => {
      assert.throws(
        () => createStreamHandler({ root: fixtures.dir, signed: options }),
        (err: unknown) => err instanceof TypeError && err.message.startsWith('options.signed.') && message.test(err.message),
      );
    });
  }
  it('signed: null → TypeError', () => {
    assert.throws(() => createStreamHandler({ root: fixtures.dir, signed: bad(null) }), /^TypeError: options\.signed must be an object/);
  });
  for (const param of ['expires', 'bind', 'sig']) {
    it(`param '${param}' with signed links → TypeError naming options.param`, () => {
      assert.throws(() => createStreamHandler({ root: fixtures.dir, param, signed: { secrets: [SECRET] } }), /^TypeError: options\.param must not be a signature parameter/);
    });
  }
  it("param 'sig' is fine in path mode and without signed links", () => {
    createStreamHandler({ root: fixtures.dir, param: 'sig' });
    createStreamHandler({ root: fixtures.dir, mode: 'path', param: 'sig', signed: { secrets: [SECRET] } });
  });
  it('the default grace is three hours', () => {
    assert.equal(DEFAULT_GRACE_SECONDS, 10_800);
    assert.equal(createUrlVerifier({ secrets: [SECRET] }).graceSeconds, 10_800);
  });
});

describe('tampering with each part', () => {
  const verifier: SignedOptions = { secrets: [SECRET], now: at(T0) };
  const valid = sign('a/b.mp4');
  const bound = sign('a/b.mp4', { bind: { ip: '203.0.113.7' } });
  const sigOf = (url: string): string => /sig=([^&]*)/.exec(url)?.[1] ?? '';
  // Another character in the same place; for the last one, a change in the bits that count.
  const flip = (text: string, i: number): string => text.slice(0, i) + (text[i] === 'A' ? 'Q' : 'A') + text.slice(i + 1);
  const sig = sigOf(valid);
  const cases: ReadonlyArray<{ name: string; url: string; bound?: BoundValues; want: SignatureCheck }> = [
    { name: 'untouched', url: valid, want: 'valid' },
    { name: 'untouched, other parameters around it', url: `${valid}&t=10&utm=x`, want: 'valid' },
    { name: 'another path', url: valid.replace('a/b.mp4', 'a/c.mp4'), want: 'mismatch' },
    { name: 'a path one folder up', url: valid.replace('a/b.mp4', 'b.mp4'), want: 'mismatch' },
    { name: 'the signature of another path', url: valid.replace(sig, sigOf(sign('a/c.mp4'))), want: 'mismatch' },
    { name: 'expires + 1', url: valid.replace(`expires=${EXPIRES}`, `expires=${EXPIRES + 1}`), want: 'mismatch' },
    { name: 'expires - 1', url: valid.replace(`expires=${EXPIRES}`, `expires=${EXPIRES - 1}`), want: 'mismatch' },
    { name: 'expires far in the future', url: valid.replace(`expires=${EXPIRES}`, 'expires=99999999999'), want: 'mismatch' },
    { name: 'expires with a leading zero', url: valid.replace(`expires=${EXPIRES}`, `expires=0${EXPIRES}`), want: 'malformed' },
    { name: 'expires with a plus', url: valid.replace(`expires=${EXPIRES}`, `expires=%2B${EXPIRES}`), want: 'malformed' },
    { name: 'expires in milliseconds', url: valid.replace(`expires=${EXPIRES}`, `expires=${EXPIRES}000`), want: 'mismatch' },
    { name: 'expires empty', url: valid.replace(`expires=${EXPIRES}`, 'expires='), want: 'malformed' },
    { name: 'expires with a fraction', url: valid.replace(`expires=${EXPIRES}`, `expires=${EXPIRES}.0`), want: 'malformed' },
    { name: 'sig: first character changed', url: valid.replace(sig, flip(sig, 0)), want: 'mismatch' },
    { name: 'sig: a middle character changed', url: valid.replace(sig, flip(sig, 21)), want: 'mismatch' },
    { name: 'sig: 42 characters', url: valid.replace(sig, sig.slice(0, 42)), want: 'malformed' },
    { name: 'sig: 44 characters', url: valid.replace(sig, `${sig}A`), want: 'malformed' },
    { name: 'sig: padded', url: valid.replace(sig, `${sig}=`), want: 'malformed' },
    { name: 'sig: 64 hex characters', url: valid.replace(sig, 'ab'.repeat(32)), want: 'malformed' },
    { name: 'sig: garbage', url: valid.replace(sig, '!!!%%%'), want: 'malformed' },
    { name: 'sig: empty', url: valid.replace(sig, ''), want: 'malformed' },
    { name: 'sig: standard base64 (+ and /)', url: valid.replace(sig, sig.replaceAll('-', '+').replaceAll('_', '/').replace(/^./, '+')), want: 'malformed' },
    { name: 'sig: the same bytes, spare bits set', url: valid.replace(sig, spareBitsSet(sig)), want: 'malformed' },
    { name: 'sig: percent-encoded', url: valid.replace(sig, encodeURIComponent(sig).replace(/^./, (c) => `%${c.charCodeAt(0).toString(16)}`)), want: 'malformed' },
    { name: 'bind added to an unbound link', url: valid.replace('&sig=', '&bind=ip&sig='), bound: { ip: '203.0.113.7' }, want: 'mismatch' },
    { name: 'bind removed from a bound link', url: bound.replace('&bind=ip', ''), bound: { ip: '203.0.113.7' }, want: 'mismatch' },
    { name: 'bind ip changed to user', url: bound.replace('bind=ip', 'bind=user'), bound: { user: '203.0.113.7' }, want: 'mismatch' },
    { name: 'bind ip,user reordered', url: bound.replace('bind=ip', 'bind=user,ip'), want: 'malformed' },
    { name: 'bind empty', url: valid.replace('&sig=', '&bind=&sig='), want: 'malformed' },
    { name: 'bind unknown', url: valid.replace('&sig=', '&bind=host&sig='), want: 'malformed' },
    { name: 'bound link from another address', url: bound, bound: { ip: '203.0.113.8' }, want: 'mismatch' },
    { name: 'bound link, address unknown', url: bound, want: 'mismatch' },
    { name: 'bound link, the right address', url: bound, bound: { ip: '203.0.113.7' }, want: 'valid' },
    { name: "param name 'Expires'", url: valid.replace('expires=', 'Expires='), want: 'malformed' },
    { name: "param name 'signature'", url: valid.replace('sig=', 'signature='), want: 'malformed' },
    { name: 'no sig', url: valid.replace(/&sig=.*$/, ''), want: 'malformed' },
    { name: 'no expires', url: valid.replace(/&expires=\d+/, ''), want: 'malformed' },
    { name: 'no signature parameters', url: '?path=a/b.mp4', want: 'missing' },
    { name: 'expires twice (same value)', url: `${valid}&expires=${EXPIRES}`, want: 'malformed' },
    { name: 'expires twice, once %-encoded', url: `${valid}&%65xpires=${EXPIRES + 999}`, want: 'malformed' },
    { name: 'sig twice', url: `${valid}&sig=${sig}`, want: 'malformed' },
    { name: 'bind twice', url: bound.replace('&sig=', '&bind=ip&sig='), bound: { ip: '203.0.113.7' }, want: 'malformed' },
    { name: 'the signature after a fragment', url: valid.replace('&expires', '#&expires'), want: 'missing' },
  ];
  for (const { name, url, bound: values, want } of cases) {
    it(`${name} → ${want}`, () => assert.equal(checkUrl(url, verifier, values), want));
  }
});

/** The same 32 bytes in base64url, spelled with the last character's 2 unused bits set. */
function spareBitsSet(sig: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  const last = alphabet.indexOf(sig[42]!);
  const other = alphabet[last | 3]!;
  assert.deepEqual(Buffer.from(sig.slice(0, 42) + other, 'base64url'), Buffer.from(sig, 'base64url'));
  return sig.slice(0, 42) + other;
}

describe('encoded paths: signed as a file name, read back from the URL as the handler reads it', () => {
  const names = [
    'my clip.mp4',
    'a+b.mp4',
    'a%2Fb.mp4', // a file literally named with a percent sign
    '100%.mp4',
    'ünïcödé/映画 🎬.mp4',
    "it's (1) [final].mp4",
    'a&b=c;d.mp4',
    'what?#.mp4',
    'line\nbreak.mp4',
    '12:3\n4:x.mp4', // looks like a length-prefixed field
  ];
  for (const name of names) {
    it(`${JSON.stringify(name)}: query mode`, () => {
      const url = sign(name, { base: '/s' });
      const requested = requestedPath(url, { mode: 'query', param: 'path' }, 'deny');
      assert.deepEqual(requested, { kind: 'ok', path: name });
      assert.equal(createUrlVerifier({ secrets: [SECRET], now: at(T0) }).check(url, name), 'valid');
    });
    it(`${JSON.stringify(name)}: path mode`, () => {
      const url = sign(name, { mode: 'path', base: '/videos' });
      const requested = requestedPath(url, { mode: 'path', prefix: '/videos' }, 'deny');
      assert.deepEqual(requested, { kind: 'ok', path: name });
      assert.equal(createUrlVerifier({ secrets: [SECRET], now: at(T0) }).check(url, name), 'valid');
    });
  }
  const query = sign('a/b.mp4').slice('?path=a/b.mp4'.length);
  const spellings = ['?path=a/b.mp4', '?path=a%2Fb.mp4', '?path=%61/b.mp4', '?path=a//b.mp4', '?path=./a/b.mp4', '?path=/a/./b.mp4', '?path=a%2F%2Fb.mp4'];
  for (const spelling of spellings) {
    it(`${spelling} verifies against the signature of a/b.mp4`, () => {
      assert.equal(checkUrl(`${spelling}${query}`, { secrets: [SECRET], now: at(T0) }), 'valid');
    });
  }
  it("'a+b.mp4' in a URL is 'a b.mp4' (form encoding): a link for 'a+b.mp4' is not valid for it", () => {
    const query2 = sign('a+b.mp4').replace(/^\?path=[^&]*/, '');
    assert.equal(checkUrl(`?path=a+b.mp4${query2}`, { secrets: [SECRET], now: at(T0) }), 'mismatch');
    assert.equal(checkUrl(`?path=a%2Bb.mp4${query2}`, { secrets: [SECRET], now: at(T0) }), 'valid');
  });
});

describe('expiry boundaries, to the millisecond (injected clock)', () => {
  const url = sign('a.mp4'); // expires at EXPIRES s
  const GRACE = 100;
  const cases: ReadonlyArray<{ name: string; nowMs: number; grace?: number; want: SignatureCheck }> = [
    { name: 'when signed', nowMs: T0, want: 'valid' },
    { name: '1 ms before expiry', nowMs: EXPIRES * 1000 - 1, want: 'valid' },
    { name: 'at expiry', nowMs: EXPIRES * 1000, want: 'grace' },
    { name: '1 ms before the grace ends', nowMs: (EXPIRES + GRACE) * 1000 - 1, want: 'grace' },
    { name: 'when the grace ends', nowMs: (EXPIRES + GRACE) * 1000, want: 'expired' },
    { name: 'a year later', nowMs: EXPIRES * 1000 + 365 * 86_400_000, want: 'expired' },
    { name: 'at expiry, no grace', nowMs: EXPIRES * 1000, grace: 0, want: 'expired' },
    { name: '1 ms before expiry, no grace', nowMs: EXPIRES * 1000 - 1, grace: 0, want: 'valid' },
    { name: 'a clock behind the signer (not yet valid is still valid)', nowMs: T0 - 3_600_000, want: 'valid' },
  ];
  for (const { name, nowMs, grace = GRACE, want } of cases) {
    it(`${name} → ${want}`, () => assert.equal(checkUrl(url, { secrets: [SECRET], graceSeconds: grace, now: at(nowMs) }), want));
  }
  it('a forged link is a mismatch, never expired: 410 is only for genuine links', () => {
    const forged = url.replace(/sig=./, (s) => (s.endsWith('A') ? 'sig=B' : 'sig=A'));
    assert.equal(checkUrl(forged, { secrets: [SECRET], now: at(EXPIRES * 1000 + 86_400_000) }), 'mismatch');
  });
});

describe('key rotation', () => {
  const signedWith = (secret: string | Buffer): string => sign('a.mp4', { secret });
  const cases: ReadonlyArray<{ name: string; secret: string | Buffer; secrets: ReadonlyArray<string | Buffer>; want: SignatureCheck }> = [
    { name: 'old secret, before rotation', secret: OLD_SECRET, secrets: [OLD_SECRET], want: 'valid' },
    { name: 'new secret added: new links verify', secret: NEW_SECRET, secrets: [NEW_SECRET, OLD_SECRET], want: 'valid' },
    { name: 'new secret added: old links still verify', secret: OLD_SECRET, secrets: [NEW_SECRET, OLD_SECRET], want: 'valid' },
    { name: 'old secret removed: old links refused', secret: OLD_SECRET, secrets: [NEW_SECRET], want: 'mismatch' },
    { name: 'a secret never configured', secret: SECRET, secrets: [NEW_SECRET, OLD_SECRET], want: 'mismatch' },
    { name: 'a Buffer secret and its latin1 string are different keys', secret: NEW_SECRET.toString('latin1'), secrets: [NEW_SECRET], want: 'mismatch' },
  ];
  for (const { name, secret, secrets, want } of cases) {
    it(`${name} → ${want}`, () => assert.equal(checkUrl(signedWith(secret), { secrets, now: at(T0) }), want));
  }
});

describe('address binding: one spelling per address', () => {
  const cases: ReadonlyArray<{ signed: string; seen: string; want: SignatureCheck }> = [
    { signed: '203.0.113.7', seen: '203.0.113.7', want: 'valid' },
    { signed: '::ffff:203.0.113.7', seen: '203.0.113.7', want: 'valid' },
    { signed: '203.0.113.7', seen: '::FFFF:203.0.113.7', want: 'valid' },
    { signed: '::ffff:cb00:7107', seen: '203.0.113.7', want: 'valid' },
    { signed: '2001:DB8:0:0:0::1', seen: '2001:db8::1', want: 'valid' },
    { signed: '2001:db8::1', seen: '2001:db8::2', want: 'mismatch' },
    { signed: '203.0.113.7', seen: '203.0.113.70', want: 'mismatch' },
    { signed: '203.0.113.7', seen: '', want: 'mismatch' },
    { signed: '203.0.113.7', seen: 'not an address', want: 'mismatch' },
  ];
  for (const { signed, seen, want } of cases) {
    it(`signed for ${signed}, seen from ${JSON.stringify(seen)} → ${want}`, () => {
      assert.equal(checkUrl(sign('a.mp4', { bind: { ip: signed } }), { secrets: [SECRET], now: at(T0) }, { ip: seen }), want);
    });
  }
  it('a user binding: the same user only', () => {
    const url = sign('a.mp4', { bind: { user: 'alice' } });
    assert.equal(checkUrl(url, { secrets: [SECRET], now: at(T0) }, { user: 'alice' }), 'valid');
    assert.equal(checkUrl(url, { secrets: [SECRET], now: at(T0) }, { user: 'bob' }), 'mismatch');
    assert.equal(checkUrl(url, { secrets: [SECRET], now: at(T0) }, { user: 'alice', ip: '203.0.113.7' }), 'valid');
    assert.equal(checkUrl(url, { secrets: [SECRET], now: at(T0) }), 'mismatch');
  });
});

describe('the compare goes through crypto.timingSafeEqual', () => {
  // A spy, not a mock: the real timingSafeEqual still decides (the verdicts below depend on it);
  // the spy only records that it was called, with what. syncBuiltinESMExports() makes the named
  // import in src/signed-url.ts see the spy. Timing itself is not measured: loopback jitter is
  // far larger than a 32-byte compare, so such a test would prove nothing and flake. What
  // matters is that no early-exit compare (===, Buffer.equals) ever sees the signature.
  const secrets = [NEW_SECRET, OLD_SECRET];
  const url = sign('a.mp4', { secret: OLD_SECRET });
  const recorded = (run: () => SignatureCheck): { verdict: SignatureCheck; calls: Array<{ lengths: number[]; result: boolean }> } => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    try {
      const verdict = run();
      const calls = spy.mock.calls.map((call) => ({
        lengths: call.arguments.map((arg) => (arg as Buffer).length),
        result: call.result as boolean,
      }));
      return { verdict, calls };
    } finally {
      spy.mock.restore();
      syncBuiltinESMExports();
    }
  };

  it('a valid link: 32-byte buffers, per secret until one matches', () => {
    const { verdict, calls } = recorded(() => checkUrl(url, { secrets, now: at(T0) }));
    assert.equal(verdict, 'valid');
    assert.deepEqual(calls, [
      { lengths: [32, 32], result: false },
      { lengths: [32, 32], result: true },
    ]);
  });

  it('a wrong signature of the right length: every secret compared, none matches', () => {
    const wrong = url.replace(/sig=./, (s) => (s.endsWith('A') ? 'sig=B' : 'sig=A'));
    const { verdict, calls } = recorded(() => checkUrl(wrong, { secrets, now: at(T0) }));
    assert.equal(verdict, 'mismatch');
    assert.deepEqual(calls, [
      { lengths: [32, 32], result: false },
      { lengths: [32, 32], result: false },
    ]);
  });

  it('a signature of the wrong length is refused before any compare (and never throws)', () => {
    const short = url.replace(/sig=[^&]*/, 'sig=abc');
    const { verdict, calls } = recorded(() => checkUrl(short, { secrets, now: at(T0) }));
    assert.equal(verdict, 'malformed');
    assert.deepEqual(calls, []);
  });

  it('readSignedLink decodes the signature to exactly 32 bytes', () => {
    const link = readSignedLink(url);
    assert.ok(typeof link === 'object');
    assert.equal(link.signature.length, 32);
    assert.equal(link.expires, EXPIRES);
    assert.deepEqual(link.bind, []);
  });
});

// ——— End to end: createStreamHandler on a loopback server ———

const SIZE = 1000;
const fixtures = createFixtures('sage-stream-signed-');
const root = fixtures.path('root');
fixtures.file('root/clip.mp4', SIZE);
fixtures.file('root/a/b.mp4', 300);
fixtures.file('root/movies/my clip 映画.webm', 500);
let clock = T0;
const servers: TestServer[] = [];
async function serve(options: Partial<StreamHandlerOptions> = {}, signed: Partial<SignedOptions> = {}): Promise<TestServer> {
  const server = await start(
    listenerUnderTest({ root, signed: { secrets: [SECRET], graceSeconds: 3600, now: () => clock, ...signed }, ...options }),
  );
  servers.push(server);
  return server;
}
after(async () => {
  await Promise.all(servers.map((s) => s.close()));
  fixtures.remove();
});

describe('createStreamHandler({ signed }): query mode', () => {
  let server: TestServer;
  let etag: string;
  before(async () => {
    server = await serve();
    clock = T0;
    etag = String((await server.request(link())).headers.etag);
    assert.match(etag, /^"/);
  });
  const link = (path = 'clip.mp4', options: Partial<SignUrlOptions> = {}): string => sign(path, { base: '/', ...options });

  for (const method of ['GET', 'HEAD']) {
    it(`${method} a valid link → 200, the exact bytes, private Cache-Control`, async () => {
      clock = T0;
      const res = await server.request(link(), {}, method);
      assert.equal(res.status, 200);
      assert.equal(res.headers['content-length'], String(SIZE));
      assert.equal(res.headers['cache-control'], 'private, max-age=0, must-revalidate');
      assert.deepEqual(res.body, method === 'GET' ? pattern(0, SIZE - 1) : Buffer.alloc(0));
    });
  }

  it('a valid link with a Range → 206, the exact bytes', async () => {
    clock = EXPIRES * 1000 - 1;
    const res = await server.request(link(), { range: 'bytes=100-199' });
    assert.equal(res.status, 206);
    assert.equal(res.headers['content-range'], `bytes 100-199/${SIZE}`);
    assert.deepEqual(res.body, pattern(100, 199));
  });

  it('an encoded name in a folder (space, unicode)', async () => {
    clock = T0;
    const res = await server.request(link('movies/my clip 映画.webm'));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, pattern(0, 499));
  });

  const query = sign('a/b.mp4').replace(/^\?path=[^&]*/, '');
  for (const spelling of ['/?path=a/b.mp4', '/?path=%61%2Fb.mp4', '/?path=a//b.mp4', '/?path=./a/b.mp4']) {
    it(`${spelling} with the signature of a/b.mp4 → 200`, async () => {
      clock = T0;
      const res = await server.request(`${spelling}${query}`);
      assert.equal(res.status, 200);
      assert.deepEqual(res.body, pattern(0, 299));
    });
  }

  const refusals: ReadonlyArray<{ name: string; url: () => string; status: number }> = [
    { name: 'no signature', url: () => '/?path=clip.mp4', status: 403 },
    { name: 'no signature, a file that does not exist (nothing learnt)', url: () => '/?path=nope.mp4', status: 403 },
    { name: 'another path', url: () => link().replace('clip.mp4', 'a/b.mp4'), status: 403 },
    { name: 'expires moved', url: () => link().replace(`expires=${EXPIRES}`, `expires=${EXPIRES + 3600}`), status: 403 },
    { name: 'a garbage signature', url: () => link().replace(/sig=.*/, 'sig=%ZZ%00'), status: 403 },
    { name: 'a signature of the wrong length', url: () => link().replace(/sig=.*/, 'sig=AAAA'), status: 403 },
    { name: 'signed with another secret', url: () => link('clip.mp4', { secret: OLD_SECRET }), status: 403 },
    { name: 'bound to an address (the test client is 127.0.0.1)', url: () => link('clip.mp4', { bind: { ip: '203.0.113.7' } }), status: 403 },
    { name: 'bound to a user, no identify configured', url: () => link('clip.mp4', { bind: { user: 'alice' } }), status: 403 },
    { name: 'a valid link to a file that does not exist', url: () => link('nope.mp4'), status: 404 },
    { name: 'a valid link with a dotfile segment', url: () => `/?path=.x/clip.mp4${sign('.x/clip.mp4').replace(/^\?path=[^&]*/, '')}`, status: 403 },
  ];
  for (const { name, url, status } of refusals) {
    it(`${name} → ${status}`, async () => {
      clock = T0;
      const res = await server.request(url());
      assert.equal(res.status, status);
      assert.equal(res.headers['content-type'], 'text/plain; charset=utf-8');
      assert.equal(res.headers.etag, undefined);
    });
  }

  it('bound to the client address (127.0.0.1) → 200', async () => {
    clock = T0;
    const res = await server.request(link('clip.mp4', { bind: { ip: '127.0.0.1' } }));
    assert.equal(res.status, 200);
    assert.deepEqual(res.body, pattern(0, SIZE - 1));
  });

  // The grace rule: expired links keep serving a resume of this exact file for graceSeconds.
  type GraceRow = {
    name: string;
    nowMs: number;
    headers: () => Record<string, string>;
    method?: string;
    status: number;
    served?: readonly [number, number];
  };
  const GRACE_END = (EXPIRES + 3600) * 1000;
  const grace: readonly GraceRow[] = [
    { name: 'expired, no If-Range', nowMs: EXPIRES * 1000, headers: () => ({ range: 'bytes=100-199' }), status: 410 },
    { name: 'expired, no Range', nowMs: EXPIRES * 1000, headers: () => ({}), status: 410 },
    { name: 'expired, If-Range matching, Range', nowMs: EXPIRES * 1000, headers: () => ({ range: 'bytes=100-199', 'if-range': etag }), status: 206, served: [100, 199] },
    { name: 'in grace, If-Range matching, open-ended Range', nowMs: GRACE_END - 1, headers: () => ({ range: 'bytes=900-', 'if-range': etag }), status: 206, served: [900, 999] },
    { name: 'in grace, If-Range matching, no Range', nowMs: EXPIRES * 1000, headers: () => ({ 'if-range': etag }), status: 410 },
    { name: 'in grace, HEAD with If-Range and Range', nowMs: EXPIRES * 1000, headers: () => ({ range: 'bytes=0-9', 'if-range': etag }), method: 'HEAD', status: 410 },
    { name: 'in grace, a stale If-Range', nowMs: EXPIRES * 1000, headers: () => ({ range: 'bytes=0-9', 'if-range': '"0-0-0"' }), status: 410 },
    { name: 'in grace, a weak If-Range', nowMs: EXPIRES * 1000, headers: () => ({ range: 'bytes=0-9', 'if-range': `W/${etag}` }), status: 410 },
    { name: 'in grace, an If-Range date', nowMs: EXPIRES * 1000, headers: () => ({ range: 'bytes=0-9', 'if-range': new Date(T0).toUTCString() }), status: 410 },
    { name: 'beyond the grace, If-Range matching', nowMs: GRACE_END, headers: () => ({ range: 'bytes=0-9', 'if-range': etag }), status: 410 },
  ];
  for (const { name, nowMs, headers, method = 'GET', status, served } of grace) {
    it(`${method} ${name} → ${status}`, async () => {
      clock = nowMs;
      const res = await server.request(link(), headers(), method);
      assert.equal(res.status, status);
      if (served !== undefined) {
        const [first, last] = served;
        assert.equal(res.headers['content-range'], `bytes ${first}-${last}/${SIZE}`);
        assert.deepEqual(res.body, pattern(first, last));
      } else {
        assert.equal(res.headers.etag, undefined, 'a refused request learns no ETag');
      }
    });
  }

  it('expired → 410 with Cache-Control: no-store; forged and expired → 403', async () => {
    clock = GRACE_END + 1;
    const expired = await server.request(link());
    assert.equal(expired.status, 410);
    assert.equal(expired.headers['cache-control'], 'no-store');
    const forged = await server.request(link().replace(`expires=${EXPIRES}`, `expires=${EXPIRES - 1}`));
    assert.equal(forged.status, 403);
  });
});

describe('createStreamHandler({ signed }): path mode, bindings, permissions', () => {
  it('path mode: /videos/<file>?expires=…&sig=… → 206; unsigned → 403', async () => {
    clock = T0;
    const server = await serve({ mode: 'path', prefix: '/videos' });
    const url = sign('movies/my clip 映画.webm', { mode: 'path', base: '/videos' });
    const res = await server.request(url, { range: 'bytes=10-19' });
    assert.equal(res.status, 206);
    assert.deepEqual(res.body, pattern(10, 19));
    assert.equal((await server.request('/videos/clip.mp4')).status, 403);
    assert.equal((await server.request(url.replace('/videos/movies/', '/videos/'))).status, 403);
  });

  it('an address binding through a trusted proxy (X-Forwarded-For)', async () => {
    clock = T0;
    const proxied = await serve({ trustProxy: ['127.0.0.1'] });
    const direct = await serve();
    const url = sign('clip.mp4', { base: '/', bind: { ip: '203.0.113.7' } });
    const ok = await proxied.request(url, { 'x-forwarded-for': '198.51.100.1, 203.0.113.7' });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, pattern(0, SIZE - 1));
    assert.equal((await proxied.request(url, { 'x-forwarded-for': '198.51.100.1' })).status, 403);
    assert.equal((await proxied.request(url)).status, 403, 'the proxy itself is not the client');
    assert.equal((await direct.request(url, { 'x-forwarded-for': '203.0.113.7' })).status, 403, 'an untrusted peer cannot claim an address');
  });

  it('a user binding through identify: the authenticated user only; identify throwing → 500 and onError', async () => {
    clock = T0;
    const errors: unknown[] = [];
    const identify = (req: StreamRequest): Viewer | null => {
      const user = header(req, 'x-user');
      if (user === 'boom') throw new Error('session store down');
      if (typeof user !== 'string') return null;
      return { userId: user.replace(/^guest:/, ''), isAuthenticated: !user.startsWith('guest:') };
    };
    const server = await serve({ identify, onError: (err) => errors.push(err) });
    const url = sign('clip.mp4', { base: '/', bind: { user: 'alice' } });
    const ok = await server.request(url, { 'x-user': 'alice' });
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.body, pattern(0, SIZE - 1));
    assert.equal((await server.request(url, { 'x-user': 'bob' })).status, 403);
    assert.equal((await server.request(url, { 'x-user': 'guest:alice' })).status, 403, 'not authenticated');
    assert.equal((await server.request(url)).status, 403, 'anonymous');
    assert.equal(errors.length, 0);
    assert.equal((await server.request(url, { 'x-user': 'boom' })).status, 500);
    assert.equal(errors.length, 1);
    const both = sign('clip.mp4', { base: '/', bind: { user: 'alice', ip: '127.0.0.1' } });
    assert.equal((await server.request(both, { 'x-user': 'alice' })).status, 200);
    assert.equal((await server.request(sign('clip.mp4', { base: '/' }), { 'x-user': 'bob' })).status, 200, 'an unbound link is anyone’s');
  });

  it('the signature is checked before permissions; permissions still apply to valid links', async () => {
    clock = T0;
    let checks = 0;
    const server = await serve({
      permissions: [
        (_req, file) => {
          checks++;
          return file.path !== 'a/b.mp4';
        },
      ],
    });
    assert.equal((await server.request('/?path=clip.mp4')).status, 403);
    assert.equal(checks, 0, 'an unsigned request never reaches a permission check');
    assert.equal((await server.request(sign('clip.mp4', { base: '/' }))).status, 200);
    assert.equal((await server.request(sign('a/b.mp4', { base: '/' }))).status, 403);
    assert.equal(checks, 2);
  });

  it('rotation end to end: a link signed with a removed secret → 403', async () => {
    clock = T0;
    const server = await serve({}, { secrets: [NEW_SECRET, OLD_SECRET] });
    const rotated = await serve({}, { secrets: [NEW_SECRET] });
    const old = sign('clip.mp4', { base: '/', secret: OLD_SECRET });
    assert.equal((await server.request(old)).status, 200);
    assert.equal((await rotated.request(old)).status, 403);
    assert.equal((await rotated.request(sign('clip.mp4', { base: '/', secret: NEW_SECRET }))).status, 200);
  });

  it('an explicit cacheControl is kept as given', async () => {
    clock = T0;
    const server = await serve({ cacheControl: 'no-store' });
    assert.equal((await server.request(sign('clip.mp4', { base: '/' }))).headers['cache-control'], 'no-store');
  });
});
