import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { etagFor, listMatches, strongMatch, weakMatch, type Comparison, type FileIdentity } from '../../src/http/etag.ts';

const BASE: FileIdentity = { size: 1000n, mtimeNs: 1_700_000_000_123_456_789n };
const BASE_ETAG = '"rs-cwyvpeni7w9h"';
// A strong entity-tag: DQUOTE *etagc DQUOTE with no W/ (RFC 9110 §8.8.3).
const STRONG_TAG = /^"[\x21\x23-\x7e]*"$/;

describe('etagFor', () => {
  const shapes: ReadonlyArray<{ name: string; file: FileIdentity; want: string }> = [
    { name: 'base-36 size-mtimeNs', file: BASE, want: BASE_ETAG },
    { name: 'all zero', file: { size: 0n, mtimeNs: 0n }, want: '"0-0"' },
    { name: 'pre-1970 mtime keeps its sign', file: { size: 0n, mtimeNs: -1_500_000_000n }, want: '"0--ot27eo"' },
  ];
  for (const { name, file, want } of shapes) {
    it(`${name} → ${want}`, () => {
      const etag = etagFor(file);
      assert.equal(etag, want);
      assert.match(etag, STRONG_TAG);
    });
  }

  const changes: ReadonlyArray<{ name: string; file: FileIdentity; changed: boolean }> = [
    { name: 'same values in a new object', file: { ...BASE }, changed: false },
    { name: 'size + 1', file: { ...BASE, size: BASE.size + 1n }, changed: true },
    { name: 'mtime + 1 ns', file: { ...BASE, mtimeNs: BASE.mtimeNs + 1n }, changed: true },
    { name: 'mtime - 1 ns', file: { ...BASE, mtimeNs: BASE.mtimeNs - 1n }, changed: true },
    // Copies on two machines (another inode) must share a tag, or caches cannot join them.
    { name: 'another inode', file: { ...BASE, ino: 43n } as FileIdentity, changed: false },
  ];
  for (const { name, file, changed } of changes) {
    it(`${name} → ${changed ? 'changes' : 'stable'}`, () => {
      assert.equal(etagFor(file) !== BASE_ETAG, changed);
    });
  }
});

describe('strongMatch / weakMatch', () => {
  // The first four rows are the table in RFC 9110 §8.8.3.2.
  const cases: ReadonlyArray<{ a: string; b: string; strong: boolean; weak: boolean }> = [
    { a: 'W/"1"', b: 'W/"1"', strong: false, weak: true },
    { a: 'W/"1"', b: 'W/"2"', strong: false, weak: false },
    { a: 'W/"1"', b: '"1"', strong: false, weak: true },
    { a: '"1"', b: '"1"', strong: true, weak: true },
    { a: '"1"', b: 'W/"1"', strong: false, weak: true },
    { a: '"1"', b: '"2"', strong: false, weak: false },
    { a: '"a"', b: '"A"', strong: false, weak: false },
    { a: '"1"', b: '"12"', strong: false, weak: false },
    { a: '""', b: '""', strong: true, weak: true },
    { a: '1', b: '1', strong: false, weak: false },
    { a: '"1', b: '"1', strong: false, weak: false },
    { a: 'w/"1"', b: 'w/"1"', strong: false, weak: false },
    { a: '"a b"', b: '"a b"', strong: false, weak: false },
  ];
  for (const { a, b, strong, weak } of cases) {
    it(`${a} vs ${b} → strong ${strong}, weak ${weak}`, () => {
      assert.equal(strongMatch(a, b), strong);
      assert.equal(weakMatch(a, b), weak);
    });
  }
});

describe('listMatches', () => {
  const cases: ReadonlyArray<{ name: string; header: string; etag: string; comparison: Comparison; want: boolean }> = [
    { name: 'star', header: '*', etag: '"a"', comparison: 'strong', want: true },
    { name: 'star with OWS', header: ' \t* ', etag: '"a"', comparison: 'weak', want: true },
    { name: 'star matches a weak etag strongly', header: '*', etag: 'W/"a"', comparison: 'strong', want: true },
    { name: 'star inside a list is malformed', header: '"b", *', etag: '"a"', comparison: 'strong', want: false },
    { name: 'single tag', header: '"a"', etag: '"a"', comparison: 'strong', want: true },
    { name: 'single other tag', header: '"b"', etag: '"a"', comparison: 'strong', want: false },
    { name: 'prefix is not a match', header: '"ab"', etag: '"a"', comparison: 'strong', want: false },
    { name: 'case-sensitive', header: '"A"', etag: '"a"', comparison: 'weak', want: false },
    { name: 'last in list', header: '"b", "c", "a"', etag: '"a"', comparison: 'strong', want: true },
    { name: 'no OWS', header: '"b","a"', etag: '"a"', comparison: 'strong', want: true },
    { name: 'OWS and tabs everywhere', header: ' "b" ,\t"a"\t', etag: '"a"', comparison: 'strong', want: true },
    { name: 'empty list elements', header: ', ,"a" ,', etag: '"a"', comparison: 'strong', want: true },
    { name: 'empty value', header: '', etag: '"a"', comparison: 'weak', want: false },
    { name: 'only commas', header: ' , , ', etag: '"a"', comparison: 'weak', want: false },
    { name: 'weak member, strong comparison', header: 'W/"a"', etag: '"a"', comparison: 'strong', want: false },
    { name: 'weak member, weak comparison', header: 'W/"a"', etag: '"a"', comparison: 'weak', want: true },
    { name: 'weak etag, strong comparison', header: '"a"', etag: 'W/"a"', comparison: 'strong', want: false },
    { name: 'weak etag, weak comparison', header: '"b", W/"a"', etag: 'W/"a"', comparison: 'weak', want: true },
    { name: 'lowercase w/ is malformed', header: 'w/"a"', etag: '"a"', comparison: 'weak', want: false },
    { name: 'space after W/ is malformed', header: 'W/ "a"', etag: '"a"', comparison: 'weak', want: false },
    { name: 'comma inside an opaque-tag', header: '"a,b"', etag: '"a,b"', comparison: 'strong', want: true },
    { name: 'obs-text inside an opaque-tag', header: '"caf\xe9"', etag: '"caf\xe9"', comparison: 'strong', want: true },
    { name: 'unquoted token', header: 'a', etag: '"a"', comparison: 'weak', want: false },
    { name: 'unquoted token, then a match', header: 'abc, "a"', etag: '"a"', comparison: 'strong', want: true },
    { name: 'missing closing quote', header: '"a', etag: '"a"', comparison: 'weak', want: false },
    { name: 'missing closing quote, then a match', header: '"b, "a"', etag: '"a"', comparison: 'strong', want: true },
    { name: 'missing closing quote at the end', header: '"b", "a', etag: '"a"', comparison: 'strong', want: false },
    { name: 'space inside a tag', header: '"a b", "a"', etag: '"a"', comparison: 'strong', want: true },
    { name: 'garbage after a tag', header: '"a"x, "b"', etag: '"a"', comparison: 'strong', want: false },
    { name: 'garbage after a tag, then a match', header: '"b"x, "a"', etag: '"a"', comparison: 'strong', want: true },
    { name: 'two tags without a comma', header: '"a" "b"', etag: '"a"', comparison: 'strong', want: false },
    { name: 'lone quote', header: '"', etag: '"a"', comparison: 'strong', want: false },
    { name: 'lone W/', header: 'W/', etag: '"a"', comparison: 'weak', want: false },
  ];
  for (const { name, header, etag, comparison, want } of cases) {
    it(`${name}: ${JSON.stringify(header)} vs ${etag} (${comparison}) → ${want}`, () => {
      assert.equal(listMatches(header, etag, comparison), want);
    });
  }
});
