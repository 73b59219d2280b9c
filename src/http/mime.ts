/** Media types by lower-case file extension (without the dot). */
export type MediaTypes = Readonly<Record<string, string>>;

/**
 * The built-in extension → media type table: the formats a video site serves (containers,
 * HLS/DASH playlists and segments, audio, subtitles, posters).
 *
 * `.ts` is MPEG transport stream (HLS segments), not TypeScript. Text types carry a charset so
 * browsers do not guess one.
 */
export const MEDIA_TYPES: MediaTypes = Object.freeze({
  mp4: 'video/mp4',
  m4v: 'video/mp4',
  mov: 'video/quicktime',
  webm: 'video/webm',
  mkv: 'video/x-matroska',
  ogv: 'video/ogg',
  avi: 'video/x-msvideo',
  ts: 'video/mp2t',
  m4s: 'video/iso.segment',
  m3u8: 'application/vnd.apple.mpegurl',
  mpd: 'application/dash+xml',
  mp3: 'audio/mpeg',
  m4a: 'audio/mp4',
  aac: 'audio/aac',
  ogg: 'audio/ogg',
  opus: 'audio/ogg',
  wav: 'audio/wav',
  flac: 'audio/flac',
  vtt: 'text/vtt; charset=utf-8',
  srt: 'application/x-subrip',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
});

/** Served when nothing in the table matches: browsers will not sniff it into something runnable. */
export const FALLBACK_MEDIA_TYPE = 'application/octet-stream';

/**
 * Builds the lookup used by the handler: the built-in table overlaid with the caller's entries.
 *
 * Keys are normalised to lower case without a leading dot, so `{ '.MP4': … }` works too.
 */
export function createMediaTypeLookup(extra: MediaTypes = {}): (fileName: string) => string {
  const table = new Map<string, string>(Object.entries(MEDIA_TYPES));
  for (const [ext, type] of Object.entries(extra)) {
    table.set(ext.replace(/^\./, '').toLowerCase(), type);
  }
  return (fileName) => {
    const dot = fileName.lastIndexOf('.');
    const slash = fileName.lastIndexOf('/');
    if (dot <= slash + 1) return FALLBACK_MEDIA_TYPE; // no extension, or a name like ".mp4"
    return table.get(fileName.slice(dot + 1).toLowerCase()) ?? FALLBACK_MEDIA_TYPE;
  };
}

// Types a browser renders as a document that can run script: HTML, SVG and any XML (an XML
// document may hold XHTML <script> elements), `application/dash+xml` manifests included.
const DOCUMENT_TYPES: ReadonlySet<string> = new Set(['text/html', 'application/xhtml+xml', 'image/svg+xml', 'text/xml', 'application/xml', 'text/xsl']);
// Named by extension too, whatever type they were given (a `mediaTypes` entry, or none).
const DOCUMENT_EXTENSIONS: ReadonlySet<string> = new Set(['html', 'htm', 'xhtml', 'xht', 'shtml', 'svg', 'svgz', 'xml', 'xsl', 'xslt', 'mpd']);

/**
 * Whether a browser could render this file as a document that runs script on the media origin
 * (an uploaded `.mpd`, `.svg` or `.html`): the handler then adds `Content-Security-Policy:
 * sandbox` (CSP 3 §6.3.2), which gives such a document an opaque origin with scripts, forms and
 * plugins off. Players that fetch a manifest with XHR/fetch are unaffected: CSP applies to
 * documents, not to data a page reads.
 */
export function isActiveContent(fileName: string, mediaType: string): boolean {
  const semicolon = mediaType.indexOf(';');
  const essence = (semicolon === -1 ? mediaType : mediaType.slice(0, semicolon)).trim().toLowerCase();
  if (DOCUMENT_TYPES.has(essence) || essence.endsWith('+xml')) return true;
  const dot = fileName.lastIndexOf('.');
  return dot > fileName.lastIndexOf('/') + 1 && DOCUMENT_EXTENSIONS.has(fileName.slice(dot + 1).toLowerCase());
}
