/** What the validators are computed from: fs.Stats read with { bigint: true }. */
export type FileIdentity = { readonly size: bigint; readonly mtimeNs: bigint };

/** How two entity-tags are compared (RFC 9110 §8.8.3.2). */
export type Comparison = 'strong' | 'weak';

const TAB = 0x09;
const SPACE = 0x20;
const BANG = 0x21;
const DQUOTE = 0x22;
const STAR = 0x2a;
const COMMA = 0x2c;
const SLASH = 0x2f;
const UPPER_W = 0x57;
const TILDE = 0x7e;
const OBS_TEXT_START = 0x80;
const OBS_TEXT_END = 0xff;

/**
 * Builds a strong entity-tag (RFC 9110 §8.8.3) from the file's size and mtime.
 *
 * Full nanosecond mtime means a rewrite within the same second still changes the tag. The inode
 * is left out on purpose (as Apache 2.4 and nginx do): copies of a file on several machines
 * (`rsync -a`, `cp -p`) then share one tag, so a cache in front of them can revalidate against
 * any of them and join slices fetched from different ones (pinned by test/proxy-cache.test.ts).
 * Parts are base 36 (`0-9a-z`, all etagc) joined by '-'; size is never negative, so a second '-'
 * can only be a pre-1970 mtime's sign and the tag stays unambiguous. A strong tag is sound here
 * because the bytes served are exactly the file's bytes (no content coding), which §8.8.1 requires.
 */
export function etagFor(file: FileIdentity): string {
  return `"${file.size.toString(36)}-${file.mtimeNs.toString(36)}"`;
}

/**
 * True when both entity-tags are strong and their opaque-tags are identical (RFC 9110 §8.8.3.2).
 *
 * Used where a weak match would be unsafe: If-Match (§13.1.1) and If-Range (§13.1.5), because
 * byte ranges may only be spliced onto a byte-identical representation. Malformed tags never match.
 */
export function strongMatch(a: string, b: string): boolean {
  return a === b && !isWeakAt(a, 0) && scanEntityTag(a, 0) === a.length;
}

/**
 * True when the opaque-tags are identical, ignoring any `W/` prefix (RFC 9110 §8.8.3.2).
 *
 * Used for If-None-Match (§13.1.2), where a cache revalidating a weak tag may still get a 304.
 * Malformed tags never match.
 */
export function weakMatch(a: string, b: string): boolean {
  if (scanEntityTag(a, 0) !== a.length || scanEntityTag(b, 0) !== b.length) return false;
  const aOpaque = isWeakAt(a, 0) ? 2 : 0;
  const bOpaque = isWeakAt(b, 0) ? 2 : 0;
  return a.length - aOpaque === b.length - bOpaque && a.startsWith(b.slice(bOpaque), aOpaque);
}

/**
 * True when an If-Match or If-None-Match field value matches `etag` under `comparison`.
 *
 * The value is `"*"` (any current representation, RFC 9110 §13.1.1–2) or a comma-separated list
 * of entity-tags with optional whitespace and empty elements (§5.6.1). A malformed member (an
 * unquoted token, a missing closing quote, `*` inside a list, a lowercase `w/`) is skipped and never
 * matches; scanning resumes after the first comma past the member's start, since commas are legal
 * inside an opaque-tag. `etag` is the server's own, well-formed tag.
 */
export function listMatches(headerValue: string, etag: string, comparison: Comparison): boolean {
  const n = headerValue.length;
  let i = skipOws(headerValue, 0);
  if (headerValue.charCodeAt(i) === STAR && skipOws(headerValue, i + 1) === n) return true;

  const etagWeak = isWeakAt(etag, 0);
  if (etagWeak && comparison === 'strong') return false; // only `*` matches a weak tag strongly
  const opaque = etagWeak ? etag.slice(2) : etag; // we only ever generate strong tags: no slice
  while (i < n) {
    const c = headerValue.charCodeAt(i);
    if (c === COMMA || c === SPACE || c === TAB) {
      i++; // empty list elements and OWS between them
      continue;
    }
    const start = i;
    const end = scanEntityTag(headerValue, start);
    const next = end === -1 ? -1 : skipOws(headerValue, end);
    if (next === -1 || (next < n && headerValue.charCodeAt(next) !== COMMA)) {
      // Malformed member: see the 'missing closing quote' rows in test/etag.test.ts.
      const comma = headerValue.indexOf(',', start + 1);
      if (comma === -1) return false;
      i = comma + 1;
      continue;
    }
    const memberWeak = isWeakAt(headerValue, start);
    const memberOpaque = memberWeak ? start + 2 : start;
    if (
      (comparison === 'weak' || !memberWeak) &&
      end - memberOpaque === opaque.length &&
      headerValue.startsWith(opaque, memberOpaque)
    ) {
      return true;
    }
    i = next + 1;
  }
  return false;
}

/**
 * Index just past the entity-tag starting at `start`, or -1 when it is malformed.
 * entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE, with "W/" case-sensitive (RFC 9110 §8.8.3).
 */
function scanEntityTag(s: string, start: number): number {
  let i = isWeakAt(s, start) ? start + 2 : start;
  if (s.charCodeAt(i) !== DQUOTE) return -1;
  for (i++; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === DQUOTE) return i + 1;
    if (!isEtagc(c)) return -1;
  }
  return -1; // no closing quote
}

/** etagc = %x21 / %x23-7E / obs-text (RFC 9110 §8.8.3): visible ASCII except DQUOTE, or 0x80–0xFF. */
function isEtagc(c: number): boolean {
  return c === BANG || (c > DQUOTE && c <= TILDE) || (c >= OBS_TEXT_START && c <= OBS_TEXT_END);
}

function isWeakAt(s: string, i: number): boolean {
  return s.charCodeAt(i) === UPPER_W && s.charCodeAt(i + 1) === SLASH;
}

function skipOws(s: string, i: number): number {
  while (i < s.length) {
    const c = s.charCodeAt(i);
    if (c !== SPACE && c !== TAB) break;
    i++;
  }
  return i;
}
