import type { ByteRange } from '../types.ts';

export type { ByteRange };

/**
 * What a Range header asks of a representation of a given size.
 *
 * `absent` and `ignored` both mean "send the whole body with 200" (RFC 9110 §14.2 lets a server
 * ignore Range); they differ only for logging. `partial.ranges` keeps the order of the request
 * (§15.3.7.2), with overlapping and adjacent ranges merged (at the place of the first one asked)
 * and every range clamped to the file. `openEnded` is true
 * only for a lone `first-` spec, so the handler may cap how much of it to send (§14.1.2 allows a
 * shorter response).
 */
export type RangeResult =
  | { readonly kind: 'absent' } // no Range header, or a unit other than bytes
  | { readonly kind: 'ignored' } // malformed, too many ranges, or amplification: the full body is served (200)
  | { readonly kind: 'unsatisfiable' } // 416 with Content-Range: bytes */size
  | { readonly kind: 'partial'; readonly ranges: readonly ByteRange[]; readonly openEnded: boolean }; // in request order, coalesced, clamped

/** Options for {@link RangeParser}. */
export type RangeParserOptions = {
  /** Most range-specs accepted in one header; more and the header is ignored (RFC 9110 §14.2). */
  readonly maxRanges?: number;
};

/** Default cap on range-specs per header, like Apache's MaxRanges. */
export const DEFAULT_MAX_RANGES = 200;

type MutableRange = { start: number; end: number };

const ABSENT: RangeResult = Object.freeze({ kind: 'absent' });
const IGNORED: RangeResult = Object.freeze({ kind: 'ignored' });
const UNSATISFIABLE: RangeResult = Object.freeze({ kind: 'unsatisfiable' });

// RFC 9110 §5.6.2 token: a unit that is not one is a broken header, not an unknown unit.
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;
const SPACE = 0x20;
const TAB = 0x09;
const DASH = 0x2d;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Parses HTTP `Range` headers against a file size (RFC 9110 §14.1–14.2), never throwing on client input.
 *
 * Any syntax error makes the whole header `ignored` rather than reinterpreted. A spec is
 * unsatisfiable when its first-pos is at or past the end, when it is a zero-length suffix, or when
 * it is inverted (`5-3`); the header is `unsatisfiable` only if every spec is (§14.1.1). To resist
 * amplification (CVE-2011-3192), a header with more than `maxRanges` specs, or whose satisfiable
 * specs add up to more bytes than the file, is `ignored` and the file is sent once with 200
 * (§14.1.1 lets a server ignore such requests). Numbers beyond `Number.MAX_SAFE_INTEGER` count as
 * +Infinity, so offsets stay exact for any safe `size`. An empty file ignores every bytes Range, so
 * clients that always send one get a plain 200. Work is linear in the header length.
 *
 * @example
 * const parser = new RangeParser({ maxRanges: 50 });
 * parser.parse('bytes=0-499,-500', 10_000);
 * // → { kind: 'partial', ranges: [{ start: 0, end: 499 }, { start: 9500, end: 9999 }], openEnded: false }
 * parser.parse('bytes=10000-', 10_000); // → { kind: 'unsatisfiable' }
 */
export class RangeParser {
  readonly #maxRanges: number;

  /** Validates options once; throws a TypeError naming the option on misuse. */
  constructor(options?: RangeParserOptions) {
    const maxRanges = options?.maxRanges === undefined ? DEFAULT_MAX_RANGES : options.maxRanges;
    if (!Number.isInteger(maxRanges) || maxRanges < 1) {
      throw new TypeError(`options.maxRanges must be an integer >= 1, got ${formatValue(maxRanges)}`);
    }
    this.#maxRanges = maxRanges;
  }

  /**
   * Classifies `header` (the raw Range value) for a representation of `size` bytes.
   *
   * `size` is trusted: a non-negative safe integer, as from fstat.
   */
  parse(header: string | undefined, size: number): RangeResult {
    if (header === undefined) return ABSENT;
    let from = 0;
    let to = header.length;
    while (from < to && isOws(header.charCodeAt(from))) from++;
    while (to > from && isOws(header.charCodeAt(to - 1))) to--;
    if (from === to) return ABSENT;
    const eq = header.indexOf('=', from);
    if (eq === -1) return IGNORED;
    if (!isBytesUnit(header, from, eq)) return TOKEN.test(header.slice(from, eq)) ? ABSENT : IGNORED;
    // Empty file + Range → 200, not 416: some clients send Range on every request.
    if (size === 0) return IGNORED;
    return this.#parseSet(header, eq + 1, to, size);
  }

  #parseSet(header: string, pos: number, to: number, size: number): RangeResult {
    const ranges: MutableRange[] = [];
    let specs = 0;
    let total = 0;
    let openEnded = false;
    while (pos <= to) {
      let comma = header.indexOf(',', pos);
      if (comma === -1 || comma > to) comma = to;
      let a = pos;
      let b = comma;
      pos = comma + 1;
      while (a < b && isOws(header.charCodeAt(a))) a++;
      while (b > a && isOws(header.charCodeAt(b - 1))) b--;
      if (a === b) continue; // empty list element, RFC 9110 §5.6.1
      if (++specs > this.#maxRanges) return IGNORED;

      let i = a;
      let first = -1; // -1: suffix spec
      if (header.charCodeAt(i) !== DASH) {
        first = 0;
        for (; i < b && isDigit(header.charCodeAt(i)); i++) first = accumulate(first, header.charCodeAt(i));
        if (i === a) return IGNORED;
      }
      if (i === b || header.charCodeAt(i) !== DASH) return IGNORED;
      const lastAt = ++i;
      let last = 0;
      for (; i < b && isDigit(header.charCodeAt(i)); i++) last = accumulate(last, header.charCodeAt(i));
      if (i !== b) return IGNORED;
      const hasLast = i > lastAt;
      if (first === -1 && !hasLast) return IGNORED; // a bare "-"
      if (specs === 1) openEnded = !hasLast;

      let start: number;
      let end = size - 1;
      if (first === -1) {
        if (last === 0) continue; // "-0" selects nothing
        start = last >= size ? 0 : size - last;
      } else {
        if (first >= size) continue;
        if (hasLast) {
          if (last < first) continue; // inverted: unsatisfiable by product decision
          if (last < end) end = last;
        }
        start = first;
      }
      const length = end - start + 1;
      // Compared as a difference so the running sum never leaves the safe range.
      if (length > size - total) return IGNORED;
      total += length;
      ranges.push({ start, end });
    }
    if (specs === 0) return IGNORED;
    if (ranges.length === 0) return UNSATISFIABLE;
    return { kind: 'partial', ranges: coalesce(ranges), openEnded: openEnded && specs === 1 };
  }
}

/**
 * Merges overlapping or adjacent ranges and keeps the rest in the order they were asked for
 * (RFC 9110 §15.3.7.2: a server SHOULD send the parts in request order). A merged part sits where
 * its first-asked member was. Sorting a copy finds the groups in O(n log n); merging is
 * transitive (`0-4,10-14,5-9` is one part), so a later range may join two earlier parts.
 */
function coalesce(ranges: MutableRange[]): MutableRange[] {
  if (ranges.length === 1) return ranges;
  const order = ranges.map((_, i) => i).sort((x, y) => ranges[x]!.start - ranges[y]!.start || x - y);
  // Each group: its union and the request index of its first-asked member.
  const groups: Array<{ range: MutableRange; first: number }> = [];
  for (const i of order) {
    const cur = ranges[i]!;
    const last = groups.at(-1);
    if (last !== undefined && cur.start <= last.range.end + 1) {
      if (cur.end > last.range.end) last.range.end = cur.end;
      if (i < last.first) last.first = i;
    } else {
      groups.push({ range: { start: cur.start, end: cur.end }, first: i });
    }
  }
  groups.sort((x, y) => x.first - y.first);
  return groups.map((group) => group.range);
}

/** Past MAX_SAFE_INTEGER a position is +Infinity: rounding could otherwise move an offset. */
function accumulate(value: number, digitCode: number): number {
  const next = value * 10 + (digitCode - ZERO);
  return next > Number.MAX_SAFE_INTEGER ? Number.POSITIVE_INFINITY : next;
}

/** ASCII case-insensitive match of header[from, to) against "bytes" (RFC 9110 §14.1). */
function isBytesUnit(header: string, from: number, to: number): boolean {
  if (to - from !== 5) return false;
  for (let k = 0; k < 5; k++) {
    // | 0x20 folds only A–Z onto a–z for these target letters.
    if ((header.charCodeAt(from + k) | 0x20) !== 'bytes'.charCodeAt(k)) return false;
  }
  return true;
}

function isOws(code: number): boolean {
  return code === SPACE || code === TAB;
}

function isDigit(code: number): boolean {
  return code >= ZERO && code <= NINE;
}

function formatValue(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  return typeof value === 'number' || value === null ? String(value) : typeof value;
}
