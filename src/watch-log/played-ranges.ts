/** A span of media time in seconds, start < end, as `video.played` reports it. */
export type PlayedRange = readonly [start: number, end: number];

/** Most ranges a session keeps: past this, the two closest neighbours are joined across their gap. */
export const MAX_PLAYED_RANGES = 64;

/**
 * The union of `ranges`, sorted, overlapping or touching spans merged, then bounded to `max`
 * spans by closing the smallest gaps first (so a session row stays small however often a viewer
 * seeks). Spans that are empty, reversed or not finite are dropped.
 *
 * Closing a gap counts it as watched: the bound trades a little over-counting for a fixed size.
 */
export function mergePlayedRanges(ranges: readonly PlayedRange[], max: number = MAX_PLAYED_RANGES): PlayedRange[] {
  const sorted = ranges
    .filter(([start, end]) => Number.isFinite(start) && Number.isFinite(end) && end > start)
    .map(([start, end]): [number, number] => [Math.max(0, start), end])
    .filter(([start, end]) => end > start)
    .sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const merged: [number, number][] = [];
  for (const [start, end] of sorted) {
    const last = merged.at(-1);
    if (last !== undefined && start <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([start, end]);
  }
  while (merged.length > Math.max(1, max)) {
    let best = 0;
    for (let i = 1; i < merged.length - 1; i++) {
      if (merged[i + 1]![0] - merged[i]![1] < merged[best + 1]![0] - merged[best]![1]) best = i;
    }
    merged[best]![1] = merged[best + 1]![1];
    merged.splice(best + 1, 1);
  }
  return merged.map(([start, end]) => [start, end] as const);
}

/** Seconds covered by already merged ranges. */
export function playedSeconds(ranges: readonly PlayedRange[]): number {
  let total = 0;
  for (const [start, end] of ranges) total += end - start;
  return total;
}

/**
 * Reads the played ranges a session stored (JSON text); anything unreadable is no ranges, so one
 * damaged row cannot fail a batch.
 */
export function parsePlayedRanges(text: unknown): PlayedRange[] {
  if (typeof text !== 'string' || text === '') return [];
  try {
    const value: unknown = JSON.parse(text);
    if (!Array.isArray(value)) return [];
    const ranges: PlayedRange[] = [];
    for (const item of value) {
      if (Array.isArray(item) && typeof item[0] === 'number' && typeof item[1] === 'number') ranges.push([item[0], item[1]]);
    }
    return mergePlayedRanges(ranges);
  } catch {
    return [];
  }
}

/**
 * How many of `sessions` played each of `buckets` equal slices of `[0, durationSeconds)`: a slice
 * counts a session once, however often it was rewatched within that session. The heat strip draws it.
 */
export function coverageCounts(
  sessions: readonly (readonly PlayedRange[])[],
  durationSeconds: number,
  buckets: number,
): number[] {
  const counts = new Array<number>(buckets).fill(0);
  if (!(durationSeconds > 0) || buckets < 1) return counts;
  const width = durationSeconds / buckets;
  for (const ranges of sessions) {
    const hit = new Uint8Array(buckets);
    for (const [start, end] of ranges) {
      const first = Math.max(0, Math.floor(start / width));
      // A range ending exactly on a slice boundary does not reach into the next slice.
      const last = Math.min(buckets - 1, Math.ceil(end / width) - 1);
      for (let i = first; i <= last; i++) hit[i] = 1;
    }
    for (let i = 0; i < buckets; i++) counts[i]! += hit[i]!;
  }
  return counts;
}
