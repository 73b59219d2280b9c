import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  checkIfMatch,
  checkIfModifiedSince,
  checkIfNoneMatch,
  checkIfRange,
  checkIfUnmodifiedSince,
  evaluatePreconditions,
  isRangeAllowed,
  type Condition,
  type ConditionalHeaders,
  type Precondition,
  type Validators,
} from '../../src/http/preconditions.ts';

const ETAG = '"rs-cwyvpeni7w9h-16"';
// Sun, 06 Nov 1994 08:49:37 GMT plus 0.999 s: Last-Modified is second 784111777.
const MTIME_MS = 784_111_777_999.5;
const VALIDATORS: Validators = { etag: ETAG, lastModifiedMs: MTIME_MS };
const SAME = 'Sun, 06 Nov 1994 08:49:37 GMT';
const EARLIER = 'Sun, 06 Nov 1994 08:49:36 GMT';
const LATER = 'Sun, 06 Nov 1994 08:49:38 GMT';
const RFC850_SAME = 'Sunday, 06-Nov-94 08:49:37 GMT';
const ASCTIME_SAME = 'Sun Nov  6 08:49:37 1994';

describe('checkIfMatch', () => {
  const cases: ReadonlyArray<{ value: string | undefined; want: Condition }> = [
    { value: undefined, want: 'none' },
    { value: '*', want: 'pass' },
    { value: ETAG, want: 'pass' },
    { value: `"other", ${ETAG}`, want: 'pass' },
    { value: `W/${ETAG}`, want: 'fail' }, // strong comparison
    { value: '"other"', want: 'fail' },
    { value: 'garbage', want: 'fail' },
    { value: '', want: 'fail' },
  ];
  for (const { value, want } of cases) {
    it(`${value === undefined ? '(no header)' : JSON.stringify(value)} → ${want}`, () => {
      assert.equal(checkIfMatch(value, ETAG), want);
    });
  }
});

describe('checkIfNoneMatch', () => {
  const cases: ReadonlyArray<{ value: string | undefined; want: Condition }> = [
    { value: undefined, want: 'none' },
    { value: '*', want: 'fail' },
    { value: ETAG, want: 'fail' },
    { value: `W/${ETAG}`, want: 'fail' }, // weak comparison
    { value: `"other", W/${ETAG}`, want: 'fail' },
    { value: '"other"', want: 'pass' },
    { value: 'garbage', want: 'pass' },
    { value: '', want: 'pass' },
  ];
  for (const { value, want } of cases) {
    it(`${value === undefined ? '(no header)' : JSON.stringify(value)} → ${want}`, () => {
      assert.equal(checkIfNoneMatch(value, ETAG), want);
    });
  }
});

type DateCase = { name: string; value: string | undefined; mtimeMs: number; want: Condition };
const BOUNDARY_MS = 1_000_999; // second 1000 plus 0.999 s
const SECOND_1000 = 'Thu, 01 Jan 1970 00:16:40 GMT';
const SECOND_999 = 'Thu, 01 Jan 1970 00:16:39 GMT';

describe('checkIfModifiedSince', () => {
  const cases: ReadonlyArray<DateCase> = [
    { name: 'absent', value: undefined, mtimeMs: MTIME_MS, want: 'none' },
    { name: 'same second', value: SAME, mtimeMs: MTIME_MS, want: 'fail' },
    { name: 'same second, rfc850', value: RFC850_SAME, mtimeMs: MTIME_MS, want: 'fail' },
    { name: 'same second, asctime', value: ASCTIME_SAME, mtimeMs: MTIME_MS, want: 'fail' },
    { name: 'one second later', value: LATER, mtimeMs: MTIME_MS, want: 'fail' },
    { name: 'one second earlier', value: EARLIER, mtimeMs: MTIME_MS, want: 'pass' },
    { name: 'mtime 1000.999 s vs second 1000', value: SECOND_1000, mtimeMs: BOUNDARY_MS, want: 'fail' },
    { name: 'mtime 1000.999 s vs second 999', value: SECOND_999, mtimeMs: BOUNDARY_MS, want: 'pass' },
    { name: 'mtime exactly 1000 s vs second 1000', value: SECOND_1000, mtimeMs: 1_000_000, want: 'fail' },
    { name: 'empty', value: '', mtimeMs: MTIME_MS, want: 'none' },
    { name: 'garbage', value: 'garbage', mtimeMs: MTIME_MS, want: 'none' },
    { name: 'bare number', value: '2020', mtimeMs: MTIME_MS, want: 'none' },
    { name: 'list of two dates', value: `${LATER}, ${LATER}`, mtimeMs: MTIME_MS, want: 'none' },
  ];
  for (const { name, value, mtimeMs, want } of cases) {
    it(`${name} → ${want}`, () => assert.equal(checkIfModifiedSince(value, mtimeMs), want));
  }
});

describe('checkIfUnmodifiedSince', () => {
  const cases: ReadonlyArray<DateCase> = [
    { name: 'absent', value: undefined, mtimeMs: MTIME_MS, want: 'none' },
    { name: 'same second', value: SAME, mtimeMs: MTIME_MS, want: 'pass' },
    { name: 'same second, rfc850', value: RFC850_SAME, mtimeMs: MTIME_MS, want: 'pass' },
    { name: 'same second, asctime', value: ASCTIME_SAME, mtimeMs: MTIME_MS, want: 'pass' },
    { name: 'one second later', value: LATER, mtimeMs: MTIME_MS, want: 'pass' },
    { name: 'one second earlier', value: EARLIER, mtimeMs: MTIME_MS, want: 'fail' },
    { name: 'mtime 1000.999 s vs second 1000', value: SECOND_1000, mtimeMs: BOUNDARY_MS, want: 'pass' },
    { name: 'mtime 1000.999 s vs second 999', value: SECOND_999, mtimeMs: BOUNDARY_MS, want: 'fail' },
    { name: 'empty', value: '', mtimeMs: MTIME_MS, want: 'none' },
    { name: 'garbage', value: 'garbage', mtimeMs: MTIME_MS, want: 'none' },
    { name: 'bare number', value: '1', mtimeMs: MTIME_MS, want: 'none' },
    { name: 'list of two dates', value: `${EARLIER}, ${EARLIER}`, mtimeMs: MTIME_MS, want: 'none' },
  ];
  for (const { name, value, mtimeMs, want } of cases) {
    it(`${name} → ${want}`, () => assert.equal(checkIfUnmodifiedSince(value, mtimeMs), want));
  }
});

const IF_RANGE_CASES: ReadonlyArray<{ name: string; value: string | undefined; want: Condition }> = [
  { name: 'absent', value: undefined, want: 'none' },
  { name: 'strong match', value: ETAG, want: 'pass' },
  { name: 'weak tag with the same opaque-tag', value: `W/${ETAG}`, want: 'fail' },
  { name: 'stale tag', value: '"stale"', want: 'fail' },
  { name: 'tag with trailing garbage', value: `${ETAG}x`, want: 'fail' },
  { name: 'tag missing its closing quote', value: ETAG.slice(0, -1), want: 'fail' },
  { name: 'list of tags', value: `"stale", ${ETAG}`, want: 'fail' },
  { name: 'exact date', value: SAME, want: 'pass' },
  { name: 'exact date, rfc850', value: RFC850_SAME, want: 'pass' },
  { name: 'exact date, asctime', value: ASCTIME_SAME, want: 'pass' },
  { name: 'date one second later', value: LATER, want: 'fail' },
  { name: 'date one second earlier', value: EARLIER, want: 'fail' },
  { name: 'garbage', value: 'garbage', want: 'fail' },
  { name: 'empty', value: '', want: 'fail' },
];

describe('checkIfRange', () => {
  for (const { name, value, want } of IF_RANGE_CASES) {
    it(`${name} → ${want}`, () => assert.equal(checkIfRange(value, VALIDATORS), want));
  }
});

describe('isRangeAllowed', () => {
  for (const { name, value, want } of IF_RANGE_CASES) {
    const allowed = want !== 'fail';
    it(`${name} → ${allowed}`, () => assert.equal(isRangeAllowed(value, VALIDATORS), allowed));
  }
});

describe('evaluatePreconditions', () => {
  const cases: ReadonlyArray<{ name: string; headers: ConditionalHeaders; want: Precondition }> = [
    { name: 'no conditional headers', headers: {}, want: 'proceed' },
    { name: 'all present but undefined', headers: { ifMatch: undefined, ifNoneMatch: undefined }, want: 'proceed' },
    { name: 'If-Match matches', headers: { ifMatch: ETAG }, want: 'proceed' },
    { name: 'If-Match fails', headers: { ifMatch: '"stale"' }, want: 'precondition-failed' },
    {
      name: 'If-Match failing wins over If-None-Match matching',
      headers: { ifMatch: '"stale"', ifNoneMatch: ETAG },
      want: 'precondition-failed',
    },
    { name: 'If-Match * and If-None-Match *', headers: { ifMatch: '*', ifNoneMatch: '*' }, want: 'not-modified' },
    {
      name: 'If-Unmodified-Since ignored when If-Match is present',
      headers: { ifMatch: ETAG, ifUnmodifiedSince: EARLIER },
      want: 'proceed',
    },
    { name: 'If-Unmodified-Since fails', headers: { ifUnmodifiedSince: EARLIER }, want: 'precondition-failed' },
    { name: 'If-Unmodified-Since passes', headers: { ifUnmodifiedSince: SAME }, want: 'proceed' },
    { name: 'If-Unmodified-Since invalid', headers: { ifUnmodifiedSince: 'garbage' }, want: 'proceed' },
    {
      name: 'If-Unmodified-Since failing wins over If-None-Match matching',
      headers: { ifUnmodifiedSince: EARLIER, ifNoneMatch: ETAG },
      want: 'precondition-failed',
    },
    { name: 'If-None-Match matches', headers: { ifNoneMatch: ETAG }, want: 'not-modified' },
    { name: 'If-None-Match weak match', headers: { ifNoneMatch: `W/${ETAG}` }, want: 'not-modified' },
    { name: 'If-None-Match does not match', headers: { ifNoneMatch: '"stale"' }, want: 'proceed' },
    {
      name: 'If-None-Match present makes If-Modified-Since ignored',
      headers: { ifNoneMatch: '"stale"', ifModifiedSince: SAME },
      want: 'proceed',
    },
    {
      name: 'If-None-Match matching wins over If-Modified-Since modified',
      headers: { ifNoneMatch: ETAG, ifModifiedSince: EARLIER },
      want: 'not-modified',
    },
    { name: 'If-Modified-Since not modified', headers: { ifModifiedSince: SAME }, want: 'not-modified' },
    { name: 'If-Modified-Since modified', headers: { ifModifiedSince: EARLIER }, want: 'proceed' },
    { name: 'If-Modified-Since invalid', headers: { ifModifiedSince: '2020' }, want: 'proceed' },
    {
      name: 'If-Match passes, then If-Modified-Since not modified',
      headers: { ifMatch: ETAG, ifModifiedSince: SAME },
      want: 'not-modified',
    },
    { name: 'If-Range is not evaluated here', headers: { ifRange: '"stale"' }, want: 'proceed' },
  ];
  for (const { name, headers, want } of cases) {
    it(`${name} → ${want}`, () => assert.equal(evaluatePreconditions(headers, VALIDATORS), want));
  }
});
