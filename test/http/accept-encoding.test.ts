import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { encodedEtag, negotiateEncoding, type ContentCoding } from '../../src/http/accept-encoding.ts';

const cases: ReadonlyArray<{ header: string | undefined; want: ContentCoding | undefined }> = [
  { header: undefined, want: undefined },
  { header: '', want: undefined },
  { header: 'identity', want: undefined },
  { header: 'gzip, deflate, br', want: 'br' },
  { header: 'gzip', want: 'gzip' },
  { header: 'x-gzip', want: 'gzip' },
  { header: 'BR', want: 'br' },
  { header: 'br;q=0, gzip', want: 'gzip' },
  { header: 'br; q=0.000, gzip;q=0.1', want: 'gzip' },
  { header: 'gzip;q=1, br;q=0.5', want: 'gzip' },
  { header: 'gzip;q=0.5, br;q=0.5', want: 'br' },
  { header: 'gzip;q=0, br;q=0', want: undefined },
  { header: '*', want: 'br' },
  { header: '*;q=0', want: undefined },
  { header: 'br;q=0, *', want: 'gzip' },
  { header: 'deflate', want: undefined },
  { header: 'br;q=2, gzip', want: 'gzip' }, // q above 1 is malformed: that element is skipped
  { header: 'br;q=abc', want: undefined },
  { header: ' , ,gzip , ', want: 'gzip' },
];
describe('negotiateEncoding', () => {
  for (const { header, want } of cases) {
    it(`${JSON.stringify(header)} → ${want ?? 'identity'}`, () => assert.equal(negotiateEncoding(header), want));
  }
});

describe('encodedEtag', () => {
  it('adds the coding before the closing quote', () => {
    assert.equal(encodedEtag('"a-b"', 'br'), '"a-b-br"');
    assert.equal(encodedEtag('"a-b"', 'gzip'), '"a-b-gz"');
  });
});
