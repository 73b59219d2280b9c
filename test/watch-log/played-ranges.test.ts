import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { coverageCounts, mergePlayedRanges, parsePlayedRanges, playedSeconds, type PlayedRange } from '../../src/watch-log/played-ranges.ts';

describe('mergePlayedRanges', () => {
  const cases: ReadonlyArray<{ name: string; input: PlayedRange[]; max?: number; want: PlayedRange[] }> = [
    { name: 'empty', input: [], want: [] },
    { name: 'sorted and merged when they overlap or touch', input: [[30, 33], [0, 4], [3, 5], [5, 6]], want: [[0, 6], [30, 33]] },
    { name: 'empty, reversed, NaN and infinite spans dropped', input: [[1, 1], [5, 2], [Number.NaN, 3], [0, Infinity], [7, 8]], want: [[7, 8]] },
    { name: 'negative starts clamped to 0', input: [[-3, 2]], want: [[0, 2]] },
    { name: 'over max: the smallest gap closes first', input: [[0, 1], [2, 3], [10, 11], [11.5, 12]], max: 3, want: [[0, 1], [2, 3], [10, 12]] },
    { name: 'max 1 keeps one span over everything', input: [[0, 1], [50, 60]], max: 1, want: [[0, 60]] },
  ];
  for (const { name, input, max, want } of cases) {
    it(name, () => assert.deepEqual(mergePlayedRanges(input, max), want));
  }

  it('1000 seeks stay within 64 ranges', () => {
    const input: PlayedRange[] = Array.from({ length: 1000 }, (_, i) => [i * 10, i * 10 + 1]);
    const merged = mergePlayedRanges(input);
    assert.equal(merged.length, 64);
    assert.deepEqual([merged[0]![0], merged.at(-1)![1]], [0, 9991]);
  });
});

describe('playedSeconds, parsePlayedRanges, coverageCounts', () => {
  it('playedSeconds sums merged spans', () => assert.equal(playedSeconds([[0, 4], [30, 33]]), 7));
  it('parsePlayedRanges reads stored JSON and merges it', () => assert.deepEqual(parsePlayedRanges('[[3,5],[0,4]]'), [[0, 5]]));
  for (const text of ['', 'nope', '{}', '[["a",1]]', null]) {
    it(`parsePlayedRanges(${JSON.stringify(text)}) → []`, () => assert.deepEqual(parsePlayedRanges(text), []));
  }
  it('coverageCounts counts each session once per slice', () => {
    // Slices of 10 s over 60 s: one viewer watched 0–20 twice over, another 15–30.
    assert.deepEqual(coverageCounts([[[0, 20], [5, 10]], [[15, 30]]], 60, 6), [1, 2, 1, 0, 0, 0]);
  });
  it('coverageCounts without a duration is all zeros', () => assert.deepEqual(coverageCounts([[[0, 1]]], 0, 3), [0, 0, 0]));
});
