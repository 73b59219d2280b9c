import { listMatches, strongMatch } from './etag.ts';

/** The current file's validators, as sent in ETag and Last-Modified. */
export type Validators = {
  readonly etag: string;
  /** mtime in ms (may be fractional), never later than now. */
  readonly lastModifiedMs: number;
  /**
   * Whether Last-Modified is a strong validator (RFC 9110 §8.8.2.2): its second is over, so the
   * file cannot change again within it. False → it is not sent, and a date If-Range fails.
   * Default true.
   */
  readonly lastModifiedStrong?: boolean;
};

/** Conditional request header values, read in lower case from `req.headers`. */
export type ConditionalHeaders = {
  readonly ifMatch?: string | undefined;
  readonly ifNoneMatch?: string | undefined;
  readonly ifModifiedSince?: string | undefined;
  readonly ifUnmodifiedSince?: string | undefined;
  readonly ifRange?: string | undefined;
};

/** One precondition's outcome: 'none' when the header is absent or ignored. */
export type Condition = 'none' | 'pass' | 'fail';

/** What the handler does after all preconditions: serve, 304, or 412. */
export type Precondition = 'proceed' | 'not-modified' | 'precondition-failed';

const MONTHS: readonly string[] = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;
const MONTH = '(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '(\\d{2}):(\\d{2}):(\\d{2})';
// RFC 9110 §5.6.7; HTTP-date is case-sensitive. The day name is checked for shape only.
const IMF_FIXDATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun), (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);
const RFC850_DATE = new RegExp(
  `^(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday), (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`,
);
const ASCTIME_DATE = new RegExp(`^(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);
const MS_PER_400_YEARS = 146_097 * 86_400_000; // the Gregorian calendar repeats every 400 years

/**
 * Evaluates If-Match with strong comparison (RFC 9110 §13.1.1): 'fail' means respond 412.
 *
 * `*` passes because this is only called for an existing file. Every member malformed or an
 * empty list means nothing matched, so the condition fails.
 */
export function checkIfMatch(value: string | undefined, etag: string): Condition {
  if (value === undefined) return 'none';
  return listMatches(value, etag, 'strong') ? 'pass' : 'fail';
}

/**
 * Evaluates If-Unmodified-Since (RFC 9110 §13.1.4): 'fail' (→ 412) when the file changed after the date.
 *
 * Compared at whole seconds, the resolution of Last-Modified. An invalid HTTP-date, including a
 * list of dates, makes the header ignored ('none'), as §13.1.4 requires.
 */
export function checkIfUnmodifiedSince(value: string | undefined, lastModifiedMs: number): Condition {
  if (value === undefined) return 'none';
  const dateSeconds = parseHttpDate(value);
  if (dateSeconds === undefined) return 'none';
  return Math.floor(lastModifiedMs / 1000) > dateSeconds ? 'fail' : 'pass';
}

/**
 * Evaluates If-None-Match with weak comparison (RFC 9110 §13.1.2): 'fail' means a tag matched (→ 304).
 *
 * `*` matches the existing file. For GET and HEAD a false condition is answered with 304 Not
 * Modified (§13.2.2 step 3), the only methods this package serves.
 */
export function checkIfNoneMatch(value: string | undefined, etag: string): Condition {
  if (value === undefined) return 'none';
  return listMatches(value, etag, 'weak') ? 'fail' : 'pass';
}

/**
 * Evaluates If-Modified-Since (RFC 9110 §13.1.3): 'fail' means not modified since the date (→ 304).
 *
 * Compared at whole seconds: a file written at 1000.999 s was sent as Last-Modified second 1000,
 * so a date of second 1000 is not modified. An invalid HTTP-date is ignored ('none'). The caller
 * must also ignore it when If-None-Match is present (§13.1.3), as evaluatePreconditions does.
 */
export function checkIfModifiedSince(value: string | undefined, lastModifiedMs: number): Condition {
  if (value === undefined) return 'none';
  const dateSeconds = parseHttpDate(value);
  if (dateSeconds === undefined) return 'none';
  return Math.floor(lastModifiedMs / 1000) <= dateSeconds ? 'fail' : 'pass';
}

/**
 * Evaluates If-Range (RFC 9110 §13.1.5): 'pass' honours Range, 'fail' sends the full 200.
 *
 * A value starting with `"` or `W/` is an entity-tag and passes only on a strong match, so a weak
 * tag never passes. Anything else must be an HTTP-date exactly equal to Last-Modified in whole
 * seconds. An invalid value fails: a full response is always a correct answer, a wrong range is not.
 */
export function checkIfRange(value: string | undefined, validators: Validators): Condition {
  if (value === undefined) return 'none';
  if (value.startsWith('"') || value.startsWith('W/')) {
    return strongMatch(value, validators.etag) ? 'pass' : 'fail';
  }
  if (validators.lastModifiedStrong === false) return 'fail'; // a weak date never keeps a range
  const dateSeconds = parseHttpDate(value);
  return dateSeconds === Math.floor(validators.lastModifiedMs / 1000) ? 'pass' : 'fail';
}

/**
 * Applies the conditional headers of a GET or HEAD in the order of RFC 9110 §13.2.2.
 *
 * If-Match, else If-Unmodified-Since, decides 412 first, so a failing If-Match wins over a
 * matching If-None-Match. If-None-Match, else If-Modified-Since, then decides 304: a present
 * If-None-Match makes If-Modified-Since ignored even when it does not match. If-Range is not
 * evaluated here; see isRangeAllowed.
 */
export function evaluatePreconditions(headers: ConditionalHeaders, validators: Validators): Precondition {
  if (headers.ifMatch !== undefined) {
    if (checkIfMatch(headers.ifMatch, validators.etag) === 'fail') return 'precondition-failed';
  } else if (checkIfUnmodifiedSince(headers.ifUnmodifiedSince, validators.lastModifiedMs) === 'fail') {
    return 'precondition-failed';
  }
  if (headers.ifNoneMatch !== undefined) {
    if (checkIfNoneMatch(headers.ifNoneMatch, validators.etag) === 'fail') return 'not-modified';
  } else if (checkIfModifiedSince(headers.ifModifiedSince, validators.lastModifiedMs) === 'fail') {
    return 'not-modified';
  }
  return 'proceed';
}

/**
 * True when a Range header may be honoured: no If-Range, or one that passes (RFC 9110 §13.1.5).
 *
 * The handler calls this only for a GET with a Range header (§13.1.5 ignores If-Range otherwise).
 */
export function isRangeAllowed(ifRange: string | undefined, validators: Validators): boolean {
  return checkIfRange(ifRange, validators) !== 'fail';
}

/**
 * Formats a time in milliseconds as an IMF-fixdate (RFC 9110 §5.6.7), as sent in Last-Modified.
 *
 * Truncates to whole seconds, the same `Math.floor(ms / 1000)` the date checkers compare with, so
 * a client echoing Last-Modified back always gets an exact match.
 */
export function httpDate(ms: number): string {
  const second = Math.floor(ms / 1000);
  // One entry remembered: a hot file's Last-Modified is formatted once, not on every request.
  if (second !== lastDateSecond) {
    lastDateSecond = second;
    lastDate = new Date(second * 1000).toUTCString();
  }
  return lastDate;
}
let lastDateSecond = Number.NaN;
let lastDate = '';

/**
 * Parses an HTTP-date in any of the three forms of RFC 9110 §5.6.7 into seconds since the epoch.
 *
 * Returns undefined for anything else (empty, a list of dates, a bare number, ISO 8601, a
 * lowercase month, Feb 30), unlike Date.parse, which accepts '2020' or '1'. A two-digit rfc850
 * year is taken as the most recent past year with those digits when it would be more than 50
 * years after `nowMs`.
 */
export function parseHttpDate(value: string, nowMs: number = Date.now()): number | undefined {
  let match = IMF_FIXDATE.exec(value);
  if (match !== null) return toSeconds(match[3], match[2], match[1], match[4], match[5], match[6]);
  match = RFC850_DATE.exec(value);
  if (match !== null) {
    const nowYear = new Date(nowMs).getUTCFullYear();
    let year = nowYear - (nowYear % 100) + Number(match[3]);
    if (year > nowYear + 50) year -= 100;
    return toSeconds(String(year), match[2], match[1], match[4], match[5], match[6]);
  }
  match = ASCTIME_DATE.exec(value);
  if (match !== null) return toSeconds(match[6], match[1], match[2], match[3], match[4], match[5]);
  return undefined;
}

/** Validates the calendar fields captured by the date regexes and converts them to epoch seconds. */
function toSeconds(
  yearText: string | undefined,
  monthName: string | undefined,
  dayText: string | undefined,
  hourText: string | undefined,
  minuteText: string | undefined,
  secondText: string | undefined,
): number | undefined {
  const year = Number(yearText);
  const month = MONTHS.indexOf(monthName ?? '');
  const day = Number(dayText); // Number(' 6') is 6: asctime pads the day with a space
  const hour = Number(hourText);
  const minute = Number(minuteText);
  const second = Number(secondText);
  const leap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const daysInMonth = month === 1 && leap ? 29 : DAYS_IN_MONTH[month];
  // Written so that NaN fails too.
  if (!(daysInMonth !== undefined && day >= 1 && day <= daysInMonth && hour <= 23 && minute <= 59 && second <= 59)) {
    return undefined;
  }
  // Date.UTC maps years 0–99 to 1900–1999, so shift such years by a whole 400-year cycle.
  const ms =
    year < 100
      ? Date.UTC(year + 400, month, day, hour, minute, second) - MS_PER_400_YEARS
      : Date.UTC(year, month, day, hour, minute, second);
  return ms / 1000;
}
