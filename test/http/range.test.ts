import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_MAX_RANGES, RangeParser, type RangeParserOptions, type RangeResult } from '../../src/http/range.ts';

type Case = { header: string | undefined; want: RangeResult };

const ABSENT: RangeResult = { kind: 'absent' };
const IGNORED: RangeResult = { kind: 'ignored' };
const UNSATISFIABLE: RangeResult = { kind: 'unsatisfiable' };

function partial(ranges: ReadonlyArray<readonly [number, number]>, openEnded = false): RangeResult {
  return { kind: 'partial', ranges: ranges.map(([start, end]) => ({ start, end })), openEnded };
}

function label(header: string | undefined): string {
  if (header === undefined) return '(no header)';
  const json = JSON.stringify(header);
  return json.length > 70 ? `${json.slice(0, 60)}…(${header.length} chars)` : json;
}

function summary(result: RangeResult): string {
  if (result.kind !== 'partial') return result.kind;
  const ranges = result.ranges.map((r) => `${r.start}-${r.end}`).join(',');
  return `partial ${ranges.length > 60 ? `${result.ranges.length} ranges` : ranges}${result.openEnded ? ' (open)' : ''}`;
}

function table(title: string, size: number, cases: readonly Case[], options?: RangeParserOptions): void {
  describe(title, () => {
    const parser = new RangeParser(options);
    for (const { header, want } of cases) {
      it(`${label(header)} → ${summary(want)}`, () => assert.deepEqual(parser.parse(header, size), want));
    }
  });
}

const NINES_30 = '9'.repeat(30);
const ONE_E29 = `1${'0'.repeat(29)}`;

table('RFC 9110 §14.1.2 examples (10000 bytes)', 10_000, [
  { header: 'bytes=0-499', want: partial([[0, 499]]) },
  { header: 'bytes=500-999', want: partial([[500, 999]]) },
  { header: 'bytes=-500', want: partial([[9500, 9999]]) },
  { header: 'bytes=9500-', want: partial([[9500, 9999]], true) },
  { header: 'bytes=0-0,-1', want: partial([[0, 0], [9999, 9999]]) },
  { header: 'bytes=0-999,4500-5499,-1000', want: partial([[0, 999], [4500, 5499], [9000, 9999]]) },
  { header: 'bytes=500-600,601-999', want: partial([[500, 999]]) },
  { header: 'bytes=500-700,601-999', want: partial([[500, 999]]) },
]);

table('header presence and unit (1000 bytes)', 1000, [
  { header: undefined, want: ABSENT },
  { header: '', want: ABSENT },
  { header: ' \t ', want: ABSENT }, // blank after trimming is the same as empty
  { header: 'bytes=0-1', want: partial([[0, 1]]) },
  { header: 'Bytes=0-1', want: partial([[0, 1]]) },
  { header: 'BYTES=0-1', want: partial([[0, 1]]) },
  { header: 'bYtEs=0-1', want: partial([[0, 1]]) },
  { header: 'items=0-5', want: ABSENT },
  { header: 'items=garbage', want: ABSENT },
  { header: 'byte=0-5', want: ABSENT },
  { header: 'bytess=0-5', want: ABSENT },
  { header: 'none=', want: ABSENT },
  { header: 'bytes', want: IGNORED },
  { header: '0-5', want: IGNORED },
  { header: 'bytes:0-5', want: IGNORED },
  { header: '=0-5', want: IGNORED }, // empty unit is not a token
  { header: 'by tes=0-5', want: IGNORED },
  { header: 'bytes =0-5', want: IGNORED }, // no OWS allowed before '=' (§14.1.1 grammar)
  { header: 'bytes\u017f=0-5', want: IGNORED }, // non-ASCII unit: not a token
  { header: 'byte\u017f=0-5', want: IGNORED }, // ſ must not case-fold to s
  { header: ' bytes=0-5 ', want: partial([[0, 5]]) },
  { header: '\tbytes=0-5\t', want: partial([[0, 5]]) },
  { header: 'bytes==0-5', want: IGNORED },
]);

table('list syntax and OWS (1000 bytes)', 1000, [
  { header: 'bytes= 0-5 , 10-20 ', want: partial([[0, 5], [10, 20]]) },
  { header: 'bytes=0-1,\t5-6', want: partial([[0, 1], [5, 6]]) },
  { header: 'bytes=0-1 \t,5-6', want: partial([[0, 1], [5, 6]]) },
  { header: 'bytes=0-1,,5-6', want: partial([[0, 1], [5, 6]]) },
  { header: 'bytes=,0-1', want: partial([[0, 1]]) },
  { header: 'bytes=0-1,', want: partial([[0, 1]]) },
  { header: 'bytes=, ,\t,0-1, ,', want: partial([[0, 1]]) },
  { header: 'bytes=', want: IGNORED },
  { header: 'bytes=,', want: IGNORED },
  { header: 'bytes= ', want: IGNORED },
  { header: 'bytes=, ,\t,', want: IGNORED },
]);

table('broken specs ignore the whole header (1000 bytes)', 1000, [
  { header: 'bytes=abc', want: IGNORED },
  { header: 'bytes=1a-5', want: IGNORED },
  { header: 'bytes=01a-5', want: IGNORED },
  { header: 'bytes=x-100', want: IGNORED },
  { header: 'bytes=--1', want: IGNORED },
  { header: 'bytes=1-2-3', want: IGNORED },
  { header: 'bytes=-', want: IGNORED },
  { header: 'bytes=+1-2', want: IGNORED },
  { header: 'bytes=1-+2', want: IGNORED },
  { header: 'bytes=-+5', want: IGNORED },
  { header: 'bytes=1.5-2', want: IGNORED },
  { header: 'bytes=0x10-20', want: IGNORED },
  { header: 'bytes=1e3-', want: IGNORED },
  { header: 'bytes=1 -2', want: IGNORED },
  { header: 'bytes=1- 2', want: IGNORED },
  { header: 'bytes=- 5', want: IGNORED },
  { header: 'bytes=1-2a', want: IGNORED },
  { header: 'bytes=1--2', want: IGNORED },
  { header: 'bytes=-1-', want: IGNORED },
  { header: 'bytes=5', want: IGNORED },
  { header: 'bytes=0-1;q=1', want: IGNORED },
  { header: 'bytes=0-1,abc', want: IGNORED }, // a later broken spec still voids the earlier good one
  { header: 'bytes=abc,0-1', want: IGNORED },
  { header: 'bytes=0-1,1000-,x', want: IGNORED },
  { header: 'bytes=\u0661-\u0665', want: IGNORED }, // Arabic-Indic digits are not DIGIT
  { header: 'bytes=\uff11-\uff12', want: IGNORED }, // fullwidth digits neither
  { header: 'bytes=0-1\u00a0', want: IGNORED }, // NBSP is not OWS
  { header: 'bytes=0-1\n', want: IGNORED },
  { header: 'bytes=\ud800-1', want: IGNORED }, // lone surrogate
]);

table('spec forms, clamping and satisfiability (1000 bytes)', 1000, [
  { header: 'bytes=0-0', want: partial([[0, 0]]) },
  { header: 'bytes=0-1', want: partial([[0, 1]]) },
  { header: 'bytes=0-999', want: partial([[0, 999]]) },
  { header: 'bytes=900-5000', want: partial([[900, 999]]) },
  { header: 'bytes=999-999', want: partial([[999, 999]]) },
  { header: 'bytes=5-5', want: partial([[5, 5]]) },
  { header: 'bytes=-100', want: partial([[900, 999]]) },
  { header: 'bytes=-1', want: partial([[999, 999]]) },
  { header: 'bytes=-1000', want: partial([[0, 999]]) },
  { header: 'bytes=-5000', want: partial([[0, 999]]) },
  { header: 'bytes=0-', want: partial([[0, 999]], true) },
  { header: 'bytes=999-', want: partial([[999, 999]], true) },
  { header: 'bytes=1000-', want: UNSATISFIABLE },
  { header: 'bytes=1000-2000', want: UNSATISFIABLE },
  { header: 'bytes=1000-999', want: UNSATISFIABLE },
  { header: 'bytes=-0', want: UNSATISFIABLE },
  { header: 'bytes=-000', want: UNSATISFIABLE },
  { header: 'bytes=5-3', want: UNSATISFIABLE },
  { header: 'bytes=1-0', want: UNSATISFIABLE },
  { header: 'bytes=1000-,-0,5-3', want: UNSATISFIABLE },
  { header: 'bytes=0-1,1000-', want: partial([[0, 1]]) },
  { header: 'bytes=5-3,7-8', want: partial([[7, 8]]) },
  { header: 'bytes=-0,0-0', want: partial([[0, 0]]) },
  { header: 'bytes=2000-3000,-10', want: partial([[990, 999]]) },
]);

// RFC 9110 §15.3.7.2: parts in request order; only overlapping or adjacent ranges merge, and the
// merged part takes the place of its first-asked member.
table('request order and coalescing (1000 bytes)', 1000, [
  { header: 'bytes=0-9,10-19', want: partial([[0, 19]]) },
  { header: 'bytes=0-9,5-19', want: partial([[0, 19]]) },
  { header: 'bytes=10-19,0-9', want: partial([[0, 19]]) },
  { header: 'bytes=0-9,11-19', want: partial([[0, 9], [11, 19]]) },
  { header: 'bytes=20-29,0-4', want: partial([[20, 29], [0, 4]]) },
  { header: 'bytes=0-99,10-20', want: partial([[0, 99]]) },
  { header: 'bytes=10-20,0-99', want: partial([[0, 99]]) },
  { header: 'bytes=0-0,0-0,0-0', want: partial([[0, 0]]) },
  { header: 'bytes=30-39,0-9,10-19,50-59', want: partial([[30, 39], [0, 19], [50, 59]]) },
  { header: 'bytes=50-59,30-39,10-19,0-9', want: partial([[50, 59], [30, 39], [0, 19]]) },
  { header: 'bytes=0-4,20-24,10-14,5-9', want: partial([[0, 14], [20, 24]]) }, // 5-9 joins two earlier parts
  { header: 'bytes=20-24,0-4,10-14,5-9', want: partial([[20, 24], [0, 14]]) },
  { header: 'bytes=-10,980-989', want: partial([[980, 999]]) },
  { header: 'bytes=0-5,3-', want: IGNORED }, // sum 6 + 997 > 1000: amplification rule wins
  { header: 'bytes=500-,0-9', want: partial([[500, 999], [0, 9]]) },
]);

table('openEnded (1000 bytes)', 1000, [
  { header: 'bytes=100-', want: partial([[100, 999]], true) },
  { header: 'bytes=100-,', want: partial([[100, 999]], true) }, // empty elements do not count
  { header: 'bytes=, 100- ,', want: partial([[100, 999]], true) },
  { header: 'bytes=100-999', want: partial([[100, 999]]) },
  { header: 'bytes=-900', want: partial([[100, 999]]) }, // suffix is not open-ended
  { header: 'bytes=100-,2000-3000', want: partial([[100, 999]]) }, // two specs, even if one is dropped
  { header: 'bytes=2000-3000,100-', want: partial([[100, 999]]) },
  { header: `bytes=100-${NINES_30}`, want: partial([[100, 999]]) },
]);

table('amplification: sum of clamped spec lengths must not exceed size (1000 bytes)', 1000, [
  { header: 'bytes=0-', want: partial([[0, 999]], true) }, // sum == size is fine
  { header: 'bytes=0-999', want: partial([[0, 999]]) },
  { header: 'bytes=-5000', want: partial([[0, 999]]) }, // counted after clamping
  { header: 'bytes=0-499,500-999', want: partial([[0, 999]]) },
  { header: 'bytes=0-500,500-999', want: IGNORED },
  { header: 'bytes=0-999,0-0', want: IGNORED },
  { header: 'bytes=0-,0-', want: IGNORED },
  { header: 'bytes=-1000,-1', want: IGNORED },
  { header: 'bytes=0-5000,0-0', want: IGNORED },
  { header: 'bytes=0-999,2000-3000,-0,9-5', want: partial([[0, 999]]) }, // unsatisfiable specs add nothing
  { header: `bytes=${'0-0,'.repeat(DEFAULT_MAX_RANGES)}`, want: partial([[0, 0]]) },
  { header: `bytes=${'0-9,'.repeat(100)}`, want: partial([[0, 9]]) }, // exactly 1000
  { header: `bytes=${'0-9,'.repeat(100)}0-0`, want: IGNORED }, // 1001
]);

table('empty file (0 bytes)', 0, [
  { header: undefined, want: ABSENT },
  { header: '', want: ABSENT },
  { header: 'bytes=0-0', want: IGNORED },
  { header: 'bytes=0-', want: IGNORED },
  { header: 'bytes=-1', want: IGNORED },
  { header: 'bytes=-0', want: IGNORED },
  { header: 'bytes=1-', want: IGNORED },
  { header: 'bytes=abc', want: IGNORED },
  { header: 'bytes=', want: IGNORED },
  { header: 'Bytes=0-1', want: IGNORED },
  { header: 'bytes', want: IGNORED },
  { header: 'items=0-5', want: ABSENT },
]);

table('one-byte file', 1, [
  { header: 'bytes=0-0', want: partial([[0, 0]]) },
  { header: 'bytes=0-', want: partial([[0, 0]], true) },
  { header: 'bytes=0-1', want: partial([[0, 0]]) },
  { header: 'bytes=-1', want: partial([[0, 0]]) },
  { header: 'bytes=-2', want: partial([[0, 0]]) },
  { header: 'bytes=1-', want: UNSATISFIABLE },
  { header: 'bytes=0-0,0-0', want: IGNORED },
]);

const GIB_5 = 5 * 2 ** 30; // 5368709120
table('5 GiB file: offsets above 2^32 stay exact', GIB_5, [
  { header: 'bytes=4294967296-4294967300', want: partial([[4294967296, 4294967300]]) },
  { header: 'bytes=4294967295-4294967296', want: partial([[4294967295, 4294967296]]) },
  { header: 'bytes=5368709119-', want: partial([[5368709119, 5368709119]], true) },
  { header: 'bytes=4294967296-', want: partial([[4294967296, 5368709119]], true) },
  { header: 'bytes=5368709120-', want: UNSATISFIABLE },
  { header: 'bytes=-1073741824', want: partial([[4294967296, 5368709119]]) },
  { header: 'bytes=-1', want: partial([[5368709119, 5368709119]]) },
  { header: 'bytes=0-99999999999', want: partial([[0, 5368709119]]) },
  { header: 'bytes=0-4294967295,4294967296-5368709119', want: partial([[0, 5368709119]]) },
  { header: 'bytes=4294967296-4294967296,0-0', want: partial([[4294967296, 4294967296], [0, 0]]) },
  { header: 'bytes=0-,-1', want: IGNORED },
]);

const MAX = Number.MAX_SAFE_INTEGER; // 9007199254740991
table('file of Number.MAX_SAFE_INTEGER bytes', MAX, [
  { header: 'bytes=9007199254740990-', want: partial([[MAX - 1, MAX - 1]], true) },
  { header: 'bytes=9007199254740989-9007199254740990', want: partial([[MAX - 2, MAX - 1]]) },
  { header: 'bytes=9007199254740991-', want: UNSATISFIABLE },
  { header: 'bytes=9007199254740992-', want: UNSATISFIABLE },
  { header: 'bytes=0-9007199254740992', want: partial([[0, MAX - 1]]) },
  { header: 'bytes=-9007199254740991', want: partial([[0, MAX - 1]]) },
  { header: 'bytes=-9007199254740990', want: partial([[1, MAX - 1]]) },
  { header: 'bytes=-1', want: partial([[MAX - 1, MAX - 1]]) },
  { header: 'bytes=0-,-0', want: partial([[0, MAX - 1]]) },
  { header: 'bytes=0-,-1', want: IGNORED }, // sum is MAX + 1: must not round to MAX
  { header: 'bytes=1-,0-0', want: partial([[0, MAX - 1]]) },
  { header: 'bytes=1-,0-1', want: IGNORED },
]);

table('huge numbers beyond MAX_SAFE_INTEGER (1000 bytes)', 1000, [
  { header: `bytes=0-${NINES_30}`, want: partial([[0, 999]]) },
  { header: `bytes=5-${ONE_E29}`, want: partial([[5, 999]]) },
  { header: `bytes=${NINES_30}-`, want: UNSATISFIABLE },
  { header: `bytes=${NINES_30}-${NINES_30}`, want: UNSATISFIABLE },
  { header: `bytes=${ONE_E29}-5`, want: UNSATISFIABLE },
  { header: `bytes=-${NINES_30}`, want: partial([[0, 999]]) },
  { header: `bytes=-${'9'.repeat(400)}`, want: partial([[0, 999]]) }, // Number() of this would be Infinity
  { header: 'bytes=00000000000000000000000000001-2', want: partial([[1, 2]]) },
  { header: 'bytes=0-000000000000000000000000000999', want: partial([[0, 999]]) },
  { header: `bytes=-${'0'.repeat(30)}`, want: UNSATISFIABLE },
  { header: `bytes=-${'0'.repeat(30)}5`, want: partial([[995, 999]]) },
  { header: 'bytes=9007199254740991-', want: UNSATISFIABLE },
  { header: 'bytes=9007199254740992-9007199254740993', want: UNSATISFIABLE },
  { header: `bytes=5-${NINES_30},${NINES_30}-`, want: partial([[5, 999]]) },
  { header: `bytes=${NINES_30}x-1`, want: IGNORED },
]);

function repeatSpecs(count: number, spec: (i: number) => string): string {
  return `bytes=${Array.from({ length: count }, (_, i) => spec(i)).join(',')}`;
}
const DISTINCT_200 = Array.from({ length: DEFAULT_MAX_RANGES }, (_, i) => [2 * i, 2 * i] as const);

table(`maxRanges: default ${DEFAULT_MAX_RANGES} (1000 bytes)`, 1000, [
  { header: repeatSpecs(DEFAULT_MAX_RANGES, () => '0-0'), want: partial([[0, 0]]) },
  { header: repeatSpecs(DEFAULT_MAX_RANGES + 1, () => '0-0'), want: IGNORED },
  { header: repeatSpecs(DEFAULT_MAX_RANGES, (i) => `${2 * i}-${2 * i}`), want: partial(DISTINCT_200) },
  { header: repeatSpecs(DEFAULT_MAX_RANGES + 1, (i) => `${2 * i}-${2 * i}`), want: IGNORED },
  // Unsatisfiable specs still count towards the limit.
  { header: `${repeatSpecs(DEFAULT_MAX_RANGES, () => '0-0')},5000-`, want: IGNORED },
  // Empty list elements do not.
  { header: repeatSpecs(DEFAULT_MAX_RANGES, () => ' ,0-0, '), want: partial([[0, 0]]) },
]);

table('maxRanges: 2', 1000, [
  { header: 'bytes=0-0,2-2', want: partial([[0, 0], [2, 2]]) },
  { header: 'bytes=0-0,,2-2,', want: partial([[0, 0], [2, 2]]) },
  { header: 'bytes=0-0,2-2,4-4', want: IGNORED },
  { header: 'bytes=0-0,2-2,5000-', want: IGNORED },
], { maxRanges: 2 });

table('maxRanges: 1', 1000, [
  { header: 'bytes=0-0', want: partial([[0, 0]]) },
  { header: 'bytes=5-', want: partial([[5, 999]], true) },
  { header: 'bytes=0-0,5-5', want: IGNORED },
], { maxRanges: 1 });

table('maxRanges: 1000', 1000, [
  { header: repeatSpecs(DEFAULT_MAX_RANGES + 1, () => '0-0'), want: partial([[0, 0]]) },
  { header: repeatSpecs(1000, () => '7-7'), want: partial([[7, 7]]) },
  { header: repeatSpecs(1001, () => '7-7'), want: IGNORED },
], { maxRanges: 1000 });

describe('new RangeParser(options)', () => {
  const bad: ReadonlyArray<{ value: unknown; shown: string }> = [
    { value: 0, shown: '0' },
    { value: -1, shown: '-1' },
    { value: 1.5, shown: '1.5' },
    { value: Number.NaN, shown: 'NaN' },
    { value: Number.POSITIVE_INFINITY, shown: 'Infinity' },
    { value: '5', shown: '"5"' },
    { value: null, shown: 'null' },
    { value: 5n, shown: 'bigint' },
    { value: {}, shown: 'object' },
  ];
  for (const { value, shown } of bad) {
    it(`maxRanges ${shown} → TypeError`, () => {
      const options = { maxRanges: value } as unknown as RangeParserOptions;
      assert.throws(() => new RangeParser(options), {
        name: 'TypeError',
        message: `options.maxRanges must be an integer >= 1, got ${shown}`,
      });
    });
  }
  const good: ReadonlyArray<{ name: string; options: RangeParserOptions | undefined }> = [
    { name: 'no options', options: undefined },
    { name: '{}', options: {} },
    { name: 'maxRanges 1', options: { maxRanges: 1 } },
    { name: 'maxRanges MAX_SAFE_INTEGER', options: { maxRanges: Number.MAX_SAFE_INTEGER } },
  ];
  for (const { name, options } of good) {
    it(`${name} → parses`, () => assert.deepEqual(new RangeParser(options).parse('bytes=0-0', 10), partial([[0, 0]])));
  }
  it('maxRanges undefined → default', () => {
    const parser = new RangeParser({});
    assert.deepEqual(parser.parse(repeatSpecs(DEFAULT_MAX_RANGES + 1, () => '0-0'), 1000), IGNORED);
  });
});

// ---- Property tests: a BigInt model, written independently (regex + split), as the oracle ----

function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MODEL_TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const MODEL_SPEC = /^(\d*)-(\d*)$/;

function model(header: string | undefined, size: number, maxRanges: number): RangeResult {
  if (header === undefined) return ABSENT;
  const value = header.replace(/^[ \t]+|[ \t]+$/g, '');
  if (value === '') return ABSENT;
  const eq = value.indexOf('=');
  if (eq === -1) return IGNORED;
  const unit = value.slice(0, eq);
  if (!/^bytes$/i.test(unit)) return MODEL_TOKEN.test(unit) ? ABSENT : IGNORED;
  if (size === 0) return IGNORED;
  const specs = value
    .slice(eq + 1)
    .split(',')
    .map((s) => s.replace(/^[ \t]+|[ \t]+$/g, ''))
    .filter((s) => s !== '');
  if (specs.length === 0 || specs.length > maxRanges) return IGNORED;
  const n = BigInt(size);
  const ranges: Array<[bigint, bigint]> = [];
  for (const spec of specs) {
    const m = MODEL_SPEC.exec(spec);
    if (m === null || (m[1] === '' && m[2] === '')) return IGNORED;
    const [, first = '', last = ''] = m;
    if (first === '') {
      const suffix = BigInt(last);
      if (suffix > 0n) ranges.push([suffix >= n ? 0n : n - suffix, n - 1n]);
    } else {
      const f = BigInt(first);
      const l = last === '' ? n - 1n : BigInt(last);
      if (f < n && l >= f) ranges.push([f, l < n ? l : n - 1n]);
    }
  }
  if (ranges.length === 0) return UNSATISFIABLE;
  if (ranges.reduce((sum, [s, e]) => sum + e - s + 1n, 0n) > n) return IGNORED;
  // Request order; any two parts that overlap or touch become one, where the earlier one was.
  const merged: Array<[bigint, bigint]> = ranges.map(([s, e]) => [s, e]);
  for (let changed = true; changed; ) {
    changed = false;
    for (let i = 0; i < merged.length && !changed; i++) {
      for (let j = i + 1; j < merged.length && !changed; j++) {
        const [a, b] = [merged[i]!, merged[j]!];
        if (b[0] <= a[1] + 1n && a[0] <= b[1] + 1n) {
          merged[i] = [a[0] < b[0] ? a[0] : b[0], a[1] > b[1] ? a[1] : b[1]];
          merged.splice(j, 1);
          changed = true;
        }
      }
    }
  }
  const openEnded = specs.length === 1 && /^\d+-$/.test(specs[0] ?? '');
  return partial(merged.map(([s, e]) => [Number(s), Number(e)] as const), openEnded);
}

function assertInvariants(result: RangeResult, size: number): void {
  if (result.kind !== 'partial') return;
  assert.ok(result.ranges.length >= 1);
  for (const { start, end } of result.ranges) {
    assert.ok(Number.isSafeInteger(start) && Number.isSafeInteger(end), `integers: ${start}-${end}`);
    assert.ok(start >= 0 && start <= end && end < size, `inside file: ${start}-${end} of ${size}`);
  }
  const sorted = [...result.ranges].sort((x, y) => x.start - y.start);
  for (let k = 1; k < sorted.length; k++) {
    assert.ok(sorted[k]!.start > sorted[k - 1]!.end + 1, `disjoint, non-adjacent: ${sorted[k - 1]!.end} then ${sorted[k]!.start}`);
  }
}

const SIZES = [0, 1, 2, 10, 1000, 65_536, 2 ** 32 - 1, 2 ** 32, 2 ** 32 + 1, GIB_5, MAX];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)]!;
}

function randomNumber(rand: () => number, size: number): string {
  switch (Math.floor(rand() * 8)) {
    case 0:
      return String(Math.floor(rand() * 10));
    case 1:
      return String(Math.floor(rand() * Math.min(size + 2, 2 ** 32) * 1.2));
    case 2:
      return String(Math.max(0, size + Math.floor(rand() * 5) - 2));
    case 3:
      return String(Math.floor(rand() * size));
    case 4:
      return pick(rand, ['9007199254740991', '9007199254740992', '4294967296', '4294967295']);
    case 5:
      return '0'.repeat(1 + Math.floor(rand() * 20)) + String(Math.floor(rand() * 100));
    case 6:
      return String(Math.floor(rand() * 10)) + '9'.repeat(Math.floor(rand() * 35));
    default:
      return String(Math.floor(rand() * 1000));
  }
}

function randomSpec(rand: () => number, size: number): string {
  const ows = (): string => pick(rand, ['', '', '', ' ', '\t', '  ']);
  const r = rand();
  const spec =
    r < 0.45 ? `${randomNumber(rand, size)}-${randomNumber(rand, size)}`
    : r < 0.65 ? `${randomNumber(rand, size)}-`
    : r < 0.85 ? `-${randomNumber(rand, size)}`
    : r < 0.92 ? ''
    : pick(rand, ['-', 'abc', '1-2-3', '1 -2', '+1-2', '0x1-2', '1.5-2', '--1']);
  return ows() + spec + ows();
}

/** Mostly well-formed headers, sometimes with one character corrupted. */
function structuredHeader(rand: () => number, size: number): string {
  const count = rand() < 0.1 ? Math.floor(rand() * 8) : 1 + Math.floor(rand() * 4);
  const unit = pick(rand, ['bytes', 'bytes', 'bytes', 'bytes', 'Bytes', 'BYTES', 'items', '']);
  let header = `${unit}=${Array.from({ length: count }, () => randomSpec(rand, size)).join(',')}`;
  if (rand() < 0.1) {
    const at = Math.floor(rand() * (header.length + 1));
    header = header.slice(0, at) + String.fromCharCode(Math.floor(rand() * 0x80)) + header.slice(at);
  }
  return (rand() < 0.1 ? ' ' : '') + header + (rand() < 0.1 ? '\t' : '');
}

const FUZZ_PIECES = ['bytes', 'Bytes', 'items', '=', '=', '-', '-', ',', ',', ' ', '\t', 'x', '+', '.', ';', '\u00a0', '\u0661'];

/** Free-form junk from a fuzzy alphabet, usually after a bytes unit so the set parser sees it. */
function fuzzyHeader(rand: () => number, size: number): string {
  let header = rand() < 0.7 ? 'bytes=' : '';
  const pieces = Math.floor(rand() * 12);
  for (let k = 0; k < pieces; k++) {
    const r = rand();
    header +=
      r < 0.35 ? randomNumber(rand, size)
      : r < 0.9 ? pick(rand, FUZZ_PIECES)
      : String.fromCharCode(Math.floor(rand() * 0x10000)); // any code unit, lone surrogates included
  }
  return header;
}

describe('RangeParser.parse properties', () => {
  const generators = [
    { name: 'structured', make: structuredHeader },
    { name: 'fuzzy', make: fuzzyHeader },
  ];
  const CASES = 2500;
  for (const seed of [0x5eed, 0xc0ffee, 20_240_601]) {
    for (const { name, make } of generators) {
      for (const maxRanges of [DEFAULT_MAX_RANGES, 3]) {
        it(`${name} headers, seed ${seed}, maxRanges ${maxRanges}: never throws, invariants hold, matches BigInt model`, () => {
          const rand = mulberry32(seed);
          const parser = new RangeParser({ maxRanges });
          const seen = { absent: 0, ignored: 0, unsatisfiable: 0, partial: 0 };
          for (let k = 0; k < CASES; k++) {
            const size = rand() < 0.15 ? Math.floor(rand() * 5000) : pick(rand, SIZES);
            const header = make(rand, size);
            const got = parser.parse(header, size);
            seen[got.kind]++;
            assertInvariants(got, size);
            assert.deepEqual(got, model(header, size, maxRanges), `case ${k}: ${label(header)} on size ${size}`);
          }
          // The run must exercise every outcome, or the checks above prove little.
          for (const [kind, count] of Object.entries(seen)) assert.ok(count > 0, `no ${kind} results`);
        });
      }
    }
  }
});

describe('cost is linear in header length (~100 KB headers, < 200 ms each)', () => {
  const BUDGET_MS = 200;
  const reversed10k = repeatSpecs(10_000, (i) => `${2 * (9_999 - i)}-${2 * (9_999 - i)}`);
  const rows: ReadonlyArray<{ name: string; header: string; size: number; parser: RangeParser; want: RangeResult }> = [
    { name: "'0-0,' × 25000", header: `bytes=${'0-0,'.repeat(25_000)}`, size: 1000, parser: new RangeParser(), want: IGNORED },
    {
      name: "'0-0,' × 25000 with maxRanges 1e6",
      header: `bytes=${'0-0,'.repeat(25_000)}`,
      size: 1_000_000,
      parser: new RangeParser({ maxRanges: 1_000_000 }),
      want: partial([[0, 0]]),
    },
    {
      name: '10000 distinct ranges in reverse order, maxRanges 1e6',
      header: reversed10k,
      size: 1_000_000,
      parser: new RangeParser({ maxRanges: 1_000_000 }),
      want: partial(Array.from({ length: 10_000 }, (_, i) => [2 * (9_999 - i), 2 * (9_999 - i)] as const)),
    },
    { name: '100 KB first-pos', header: `bytes=${'1'.repeat(100_000)}-`, size: 1000, parser: new RangeParser(), want: UNSATISFIABLE },
    { name: '100 KB last-pos', header: `bytes=0-${'9'.repeat(100_000)}`, size: 1000, parser: new RangeParser(), want: partial([[0, 999]]) },
    { name: '100 KB suffix', header: `bytes=-${'9'.repeat(100_000)}`, size: 1000, parser: new RangeParser(), want: partial([[0, 999]]) },
    { name: '100 KB of commas', header: `bytes=${','.repeat(100_000)}`, size: 1000, parser: new RangeParser(), want: IGNORED },
    { name: '100 KB of ", "', header: `bytes=${', '.repeat(50_000)}0-1`, size: 1000, parser: new RangeParser(), want: partial([[0, 1]]) },
    { name: '100 KB of spaces', header: `bytes=${' '.repeat(100_000)}0-1`, size: 1000, parser: new RangeParser(), want: partial([[0, 1]]) },
    { name: '100 KB unit', header: `${'a'.repeat(100_000)}=0-1`, size: 1000, parser: new RangeParser(), want: ABSENT },
    { name: '100 KB without "="', header: 'x'.repeat(100_000), size: 1000, parser: new RangeParser(), want: IGNORED },
  ];
  for (const { name, header, size, parser, want } of rows) {
    it(`${name} → ${summary(want)}`, () => {
      assert.ok(header.length >= 90_000, `header is ${header.length} chars`);
      const t0 = performance.now();
      const got = parser.parse(header, size);
      const elapsedMs = performance.now() - t0;
      assert.deepEqual(got, want);
      assert.ok(elapsedMs < BUDGET_MS, `took ${elapsedMs.toFixed(1)} ms`);
    });
  }
});
