import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { decodeFormComponent, eachQueryPair, queryParam, type QueryProblem } from '../../src/http/query.ts';

const ABSENT: QueryProblem = { kind: 'absent' };
const REPEATED: QueryProblem = { kind: 'repeated' };
const MALFORMED: QueryProblem = { kind: 'malformed' };

describe("queryParam(url, 'path')", () => {
  const cases: ReadonlyArray<{ url: string; want: string | QueryProblem }> = [
    { url: '/s?path=a.mp4', want: 'a.mp4' },
    { url: '/s?x=1&path=a.mp4&y=2', want: 'a.mp4' },
    { url: '/s?path=my+film.mp4', want: 'my film.mp4' },
    { url: '/s?path=a%2Bb', want: 'a+b' },
    { url: '/s?path=%252e', want: '%2e' }, // decoded once
    { url: '/s?p%61th=a', want: 'a' }, // the name is decoded too
    { url: '/s?path=a=b', want: 'a=b' }, // only the first '=' splits
    { url: '/s?path=', want: '' },
    { url: '/s?path', want: '' },
    { url: '/s?path=a#frag', want: 'a' },
    { url: '/s?path=a%23b', want: 'a#b' },
    { url: '/s', want: ABSENT },
    { url: '/s?', want: ABSENT },
    { url: '/s?other=a', want: ABSENT },
    { url: '/s?paths=a&pat=b', want: ABSENT },
    { url: '/s?PATH=a', want: ABSENT }, // names are case-sensitive
    { url: '/s#?path=a', want: ABSENT }, // a '?' after '#' starts no query
    { url: '/s?%zz=a', want: ABSENT }, // a name that fails to decode names nothing
    { url: '/s?path=a&path=a', want: REPEATED },
    { url: '/s?path=&path=b', want: REPEATED },
    { url: '/s?path=a&p%61th=b', want: REPEATED },
    { url: '/s?path=%zz&path=a', want: MALFORMED }, // the first value is read before the repeat is seen
    { url: '/s?path=a&path=%zz', want: REPEATED },
    { url: '/s?path=%', want: MALFORMED },
    { url: '/s?path=%C3', want: MALFORMED },
  ];
  for (const { url, want } of cases) {
    it(`${url} → ${typeof want === 'string' ? JSON.stringify(want) : want.kind}`, () => assert.deepEqual(queryParam(url, 'path'), want));
  }
});

describe('decodeFormComponent', () => {
  const cases: ReadonlyArray<{ text: string; want: string | undefined }> = [
    { text: 'plain', want: 'plain' },
    { text: 'a+b', want: 'a b' },
    { text: 'a%20b', want: 'a b' },
    { text: 'a%2Bb', want: 'a+b' },
    { text: '%C3%A9t%C3%A9', want: 'été' },
    { text: '', want: '' },
    { text: '%', want: undefined },
    { text: '%zz', want: undefined },
    { text: '%E0%A4%A', want: undefined },
    { text: '%C3', want: undefined }, // a lone UTF-8 lead byte
  ];
  for (const { text, want } of cases) {
    it(`${JSON.stringify(text)} → ${want === undefined ? 'undefined' : JSON.stringify(want)}`, () => assert.equal(decodeFormComponent(text), want));
  }
});

describe('eachQueryPair(url, visit)', () => {
  function pairs(url: string, stopAt?: string): Array<[string | undefined, string]> {
    const seen: Array<[string | undefined, string]> = [];
    eachQueryPair(url, (name, raw) => {
      seen.push([name, raw]);
      return name === stopAt;
    });
    return seen;
  }
  it('names decoded, values as written, a pair without = has the value ""', () => {
    assert.deepEqual(pairs('/s?p%61th=a%2Bb&flag&x=1=2#sig=no'), [['path', 'a%2Bb'], ['flag', ''], ['x', '1=2']]);
  });
  it('a name that fails to decode is undefined; no query, or ? only after #, visits nothing', () => {
    assert.deepEqual(pairs('/s?%zz=1'), [[undefined, '1']]);
    assert.deepEqual(pairs('/s'), []);
    assert.deepEqual(pairs('/s#x?a=1'), []);
  });
  it('stops when visit returns true', () => {
    assert.deepEqual(pairs('/s?a=1&b=2&c=3', 'b'), [['a', '1'], ['b', '2']]);
  });
});
