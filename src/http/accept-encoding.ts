/** A content coding this package can send (RFC 9110 §8.4.1). */
export type ContentCoding = 'br' | 'gzip';

// One element of Accept-Encoding: a coding (or *) and an optional weight (§12.4.2, §12.5.3).
const ELEMENT = /^\s*([!#$%&'*+.^_`|~0-9a-z-]+)\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$/i;

/**
 * Picks the coding to send from an Accept-Encoding field (RFC 9110 §12.5.3): the one with the
 * highest weight, brotli before gzip on a tie (it is smaller for text); `q=0` rules a coding out,
 * `*` speaks for codings not named, `x-gzip` is gzip. No field, or nothing acceptable, is
 * identity: the server may always fall back to it. A malformed element is skipped, not fatal.
 */
export function negotiateEncoding(acceptEncoding: string | undefined): ContentCoding | undefined {
  if (acceptEncoding === undefined || acceptEncoding === '') return undefined;
  let br: number | undefined;
  let gzip: number | undefined;
  let any: number | undefined;
  for (const element of acceptEncoding.split(',')) {
    const match = ELEMENT.exec(element);
    if (match === null) continue;
    const coding = match[1]!.toLowerCase();
    const q = match[2] === undefined ? 1 : Number(match[2]);
    if (q > 1) continue;
    if (coding === 'br') br = Math.max(br ?? 0, q);
    else if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, q);
    else if (coding === '*') any = Math.max(any ?? 0, q);
  }
  const brQ = br ?? any ?? 0;
  const gzipQ = gzip ?? any ?? 0;
  if (brQ > 0 && brQ >= gzipQ) return 'br';
  if (gzipQ > 0) return 'gzip';
  return undefined;
}

/**
 * The strong ETag of a coded representation: the coding added before the closing quote
 * (`"abc"` → `"abc-br"`), so each representation has its own tag (RFC 9110 §8.8.3) and a
 * conditional request for one never matches another.
 */
export function encodedEtag(etag: string, coding: ContentCoding): string {
  return `${etag.slice(0, -1)}-${coding === 'br' ? 'br' : 'gz'}"`;
}
