import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { httpDate, parseHttpDate } from '../../src/http/http-date.ts';

// Sun, 06 Nov 1994 08:49:37 GMT plus 0.999 s: Last-Modified is second 784111777.
const MTIME_MS = 784_111_777_999.5;
const SAME = 'Sun, 06 Nov 1994 08:49:37 GMT';
const LATER = 'Sun, 06 Nov 1994 08:49:38 GMT';
const RFC850_SAME = 'Sunday, 06-Nov-94 08:49:37 GMT';
const ASCTIME_SAME = 'Sun Nov  6 08:49:37 1994';
const NOW_MS = Date.UTC(2025, 5, 1); // fixes the rfc850 two-digit year window

describe('parseHttpDate', () => {
  const cases: ReadonlyArray<{ value: string; want: number | undefined }> = [
    { value: SAME, want: 784_111_777 },
    { value: RFC850_SAME, want: 784_111_777 },
    { value: ASCTIME_SAME, want: 784_111_777 },
    { value: 'Sun Nov 16 08:49:37 1994', want: 784_975_777 },
    { value: 'Thu, 01 Jan 1970 00:00:00 GMT', want: 0 },
    { value: 'Thu, 29 Feb 1996 00:00:00 GMT', want: 825_552_000 },
    { value: 'Tue, 29 Feb 2000 00:00:00 GMT', want: 951_782_400 }, // divisible by 400: a leap year
    { value: 'Thu, 29 Feb 1900 00:00:00 GMT', want: undefined }, // divisible by 100 only: not one
    { value: 'Fri, 31 Dec 9999 23:59:59 GMT', want: 253_402_300_799 },
    { value: 'Mon, 01 Jan 0099 00:00:00 GMT', want: -59_042_995_200 }, // not mapped to 1999 as Date.UTC would
    { value: 'Mon, 01 Jan 0001 00:00:00 GMT', want: -62_135_596_800 },
    { value: 'Thursday, 01-Jan-00 00:00:00 GMT', want: 946_684_800 },
    { value: 'Monday, 01-Jan-75 00:00:00 GMT', want: 3_313_526_400 }, // 2075: exactly 50 years ahead
    { value: 'Monday, 01-Jan-76 00:00:00 GMT', want: 189_302_400 }, // 2076 is over 50 years ahead → 1976
    { value: 'Sun, 06 Nov 1994 23:59:59 GMT', want: 784_166_399 },
    { value: '', want: undefined },
    { value: 'garbage', want: undefined },
    { value: '2020', want: undefined },
    { value: '1', want: undefined },
    { value: '784111777', want: undefined },
    { value: '1994-11-06T08:49:37Z', want: undefined },
    { value: `${SAME}, ${LATER}`, want: undefined },
    { value: ` ${SAME}`, want: undefined },
    { value: 'Sun, 06 Nov 1994 08:49:37 UTC', want: undefined },
    { value: 'sun, 06 nov 1994 08:49:37 gmt', want: undefined },
    { value: 'Sun, 6 Nov 1994 08:49:37 GMT', want: undefined },
    { value: 'Sun, 06 Nov 94 08:49:37 GMT', want: undefined },
    { value: 'Xyz, 06 Nov 1994 08:49:37 GMT', want: undefined },
    { value: 'Sun, 29 Feb 1997 00:00:00 GMT', want: undefined },
    { value: 'Sun, 31 Apr 1994 00:00:00 GMT', want: undefined },
    { value: 'Sun, 00 Nov 1994 08:49:37 GMT', want: undefined },
    { value: 'Sun, 06 Nov 1994 24:00:00 GMT', want: undefined },
    { value: 'Sun, 06 Nov 1994 08:60:00 GMT', want: undefined },
    { value: 'Sun, 06 Nov 1994 08:49:60 GMT', want: undefined },
    { value: 'Sun, 06-Nov-94 08:49:37 GMT', want: undefined },
    { value: 'Sun Nov 6 08:49:37 1994', want: undefined },
    { value: 'Sun Nov  6 08:49:37 94', want: undefined },
    { value: 'Sun, 06 Nov 1994 08:49:37 GMT ', want: undefined },
  ];
  for (const { value, want } of cases) {
    it(`${JSON.stringify(value)} → ${want ?? 'invalid'}`, () => assert.equal(parseHttpDate(value, NOW_MS), want));
  }
});

describe('httpDate', () => {
  const cases: ReadonlyArray<{ ms: number; want: string }> = [
    { ms: MTIME_MS, want: SAME },
    { ms: 0, want: 'Thu, 01 Jan 1970 00:00:00 GMT' },
    { ms: 1_000_999, want: 'Thu, 01 Jan 1970 00:16:40 GMT' },
    { ms: -1, want: 'Wed, 31 Dec 1969 23:59:59 GMT' },
  ];
  for (const { ms, want } of cases) {
    it(`${ms} → ${want}`, () => {
      assert.equal(httpDate(ms), want);
      assert.equal(parseHttpDate(httpDate(ms)), Math.floor(ms / 1000));
    });
  }
});

describe('parseHttpDate, rfc850 two-digit years', () => {
  const cases: ReadonlyArray<{ value: string; nowMs: number; want: number }> = [
    // Seen from 2090, '95' is 2095: five years ahead is not too far.
    { value: 'Saturday, 01-Jan-95 00:00:00 GMT', nowMs: Date.UTC(2090, 0, 1), want: 3_944_678_400 },
    // Seen from 2030, '99' would be 2099, 69 years ahead → 1999.
    { value: 'Friday, 01-Jan-99 00:00:00 GMT', nowMs: Date.UTC(2030, 0, 1), want: 915_148_800 },
    // Seen from 1940, '95' is 1995 (55 years ahead) → taken as 1895.
    { value: 'Tuesday, 01-Jan-95 00:00:00 GMT', nowMs: Date.UTC(1940, 0, 1), want: -2_366_755_200 },
  ];
  for (const { value, nowMs, want } of cases) {
    it(`${value} seen from ${new Date(nowMs).getUTCFullYear()} → ${want}`, () => assert.equal(parseHttpDate(value, nowMs), want));
  }
});

describe('httpDate, its one-entry cache', () => {
  it('two times within one second give one string; alternating seconds give each its own', () => {
    assert.equal(httpDate(1_000_000), 'Thu, 01 Jan 1970 00:16:40 GMT');
    assert.equal(httpDate(1_000_999), 'Thu, 01 Jan 1970 00:16:40 GMT');
    for (let i = 0; i < 3; i++) {
      assert.equal(httpDate(MTIME_MS), SAME);
      assert.equal(httpDate(MTIME_MS + 1), LATER);
    }
  });
});
