import { listMatches, strongMatch } from './etag.ts';
import { parseHttpDate } from './http-date.ts';

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
