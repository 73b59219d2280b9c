import { createHash } from 'node:crypto';
import { escapeHtml } from '../watch-log/viewer/html.ts';
import { firstPlayable, isManifest } from './media-list.ts';

/** What the demo page shows. */
export type DemoPageOptions = {
  /** Media files relative to the served folder, `/`-separated, in the order to list them. */
  readonly files: readonly string[];
  /** The query-mode stream endpoint, e.g. `'/api/stream'`; a file plays from `<streamBase>?path=<file>`. */
  readonly streamBase: string;
  /** Whether `files` was cut short (the page says only the first ones are listed). */
  readonly truncated?: boolean | undefined;
  /** The file to open (the page's `/?path=`); one not in `files` is ignored. Default: `firstPlayable(files)`. */
  readonly selected?: string | undefined;
  /** The path-mode prefix (e.g. `'/videos'`): manifests play from there, so segment URLs resolve. */
  readonly pathBase?: string | undefined;
  /** Seconds to resume the selected file at: "continue watching" (watchLog.position). */
  readonly resumeAt?: number | undefined;
  /** Loads the player beacon from `/_sage/beacon.js`, so the watch log knows what was played. */
  readonly beacon?: boolean | undefined;
};

// The inline style and script are constants, so the Content-Security-Policy can allow exactly
// them by hash, once, instead of a nonce per response. They must appear in the page verbatim.
const STYLE = `
:root { color-scheme: light dark; font-family: system-ui, sans-serif; line-height: 1.4; }
body { margin: 0 auto; max-width: 72rem; padding: 1rem; }
main { display: grid; gap: 1.5rem; grid-template-columns: minmax(0, 2fr) minmax(12rem, 1fr); }
@media (max-width: 48rem) { main { grid-template-columns: 1fr; } }
video { width: 100%; background: #000; border-radius: 4px; }
.seek { display: flex; flex-wrap: wrap; gap: .5rem; }
.files ol { padding-left: 1.5rem; overflow-wrap: anywhere; }
.files a[aria-current] { font-weight: bold; }
#position { font-variant-numeric: tabular-nums; }
`;

const SCRIPT = `
const video = document.getElementById('player');
if (video !== null && video.dataset.start) {
  // Continue watching: once, where this viewer last stopped.
  video.addEventListener('loadedmetadata', () => { video.currentTime = Number(video.dataset.start); }, { once: true });
}
const title = document.getElementById('title');
const position = document.getElementById('position');
const links = document.querySelectorAll('a[data-play]');
for (const link of links) {
  link.addEventListener('click', (event) => {
    if (video === null) return;
    event.preventDefault();
    for (const other of links) other.removeAttribute('aria-current');
    link.setAttribute('aria-current', 'true');
    title.textContent = link.textContent;
    history.replaceState(null, '', '?path=' + encodeURIComponent(link.textContent));
    video.src = link.href;
    video.play().catch(() => {});
  });
}
for (const button of document.querySelectorAll('button[data-seek]')) {
  button.addEventListener('click', () => {
    if (Number.isFinite(video.duration)) video.currentTime = video.duration * Number(button.dataset.seek);
  });
}
const seconds = (s) => (Number.isFinite(s) ? s.toFixed(1) : '?') + ' s';
const show = () => {
  const seekable = video.seekable;
  const range = seekable.length > 0 ? ', seekable ' + seconds(seekable.start(0)) + ' to ' + seconds(seekable.end(seekable.length - 1)) : '';
  position.textContent = seconds(video.currentTime) + ' of ' + seconds(video.duration) + range;
};
if (video !== null) for (const type of ['loadedmetadata', 'timeupdate', 'seeked', 'emptied']) video.addEventListener(type, show);
`;

const sha256 = (text: string): string => `'sha256-${createHash('sha256').update(text, 'utf8').digest('base64')}'`;

/**
 * The Content-Security-Policy of the demo page: nothing may load or run except its own inline
 * style and script (allowed by their SHA-256 hashes) and media from the same origin.
 */
export const DEMO_PAGE_CSP: string = [
  "default-src 'none'",
  `script-src 'self' ${sha256(SCRIPT)}`, // 'self': the beacon, /_sage/beacon.js
  `style-src ${sha256(STYLE)}`,
  "media-src 'self'",
  "connect-src 'self'", // the beacon's reports (sendBeacon / fetch) go to /_sage/beacon
  'img-src data:', // the empty data: favicon, so the browser does not ask for /favicon.ico
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

/**
 * Response headers for the demo page, as `[name, value, …]` for `res.writeHead` (Content-Length
 * left to the caller). `no-store`: the list of files changes as the folder does.
 */
export const DEMO_PAGE_HEADERS: readonly string[] = Object.freeze([
  'Content-Type', 'text/html; charset=utf-8',
  'X-Content-Type-Options', 'nosniff',
  'Content-Security-Policy', DEMO_PAGE_CSP,
  'Referrer-Policy', 'no-referrer',
  'Cache-Control', 'no-store',
]);

/**
 * Renders the demo page: a `<video>` player for the first file, buttons that seek to 25/50/75 %
 * (each seek is a new Range request, which is what the page demonstrates), and the list of files,
 * each a link to its stream URL that the inline script plays in the player instead.
 *
 * The page is self-contained (no external assets) and every file name is escaped with
 * `escapeHtml`, in text and attributes alike; URLs carry names through `encodeURIComponent`.
 * Send it with `DEMO_PAGE_HEADERS`, whose CSP allows exactly this page's inline style and script.
 *
 * @example
 * const html = renderDemoPage({ files: ['sample.mp4'], streamBase: '/api/stream' });
 * res.writeHead(200, [...DEMO_PAGE_HEADERS, 'Content-Length', String(Buffer.byteLength(html))]);
 * res.end(html);
 */
export function renderDemoPage(options: DemoPageOptions): string {
  const { files, streamBase, truncated = false, pathBase, resumeAt, beacon = false } = options;
  // toWellFormed: encodeURIComponent throws on a lone surrogate, which a Windows file name may hold.
  // A manifest plays by URL path, so the segment URLs it names relative to itself resolve.
  const urlOf = (file: string): string =>
    pathBase !== undefined && isManifest(file)
      ? `${pathBase}/${file.toWellFormed().split('/').map(encodeURIComponent).join('/')}`
      : `${streamBase}?path=${encodeURIComponent(file.toWellFormed())}`;
  const first = options.selected !== undefined && files.includes(options.selected) ? options.selected : firstPlayable(files);
  const player =
    first === undefined
      ? '<p>No playable media files in this folder.</p>'
      : `<video id="player" controls preload="metadata" src="${escapeHtml(urlOf(first))}"${beacon ? ' data-sage-beacon' : ''}${
          resumeAt !== undefined && Number.isFinite(resumeAt) && resumeAt > 0 ? ` data-start="${resumeAt}"` : ''
        }></video>
<h2 id="title">${escapeHtml(first)}</h2>
<p class="seek">
<button type="button" data-seek="0">Start</button>
<button type="button" data-seek="0.25">Jump to 25%</button>
<button type="button" data-seek="0.5">Jump to 50%</button>
<button type="button" data-seek="0.75">Jump to 75%</button>
</p>
<p id="position" aria-live="off"></p>`;
  const manifests = files.filter(isManifest);
  const items = files
    .filter((file) => !isManifest(file))
    .map((file) => {
      const current = file === first ? ' aria-current="true"' : '';
      return `<li><a data-play href="${escapeHtml(urlOf(file))}"${current}>${escapeHtml(file)}</a></li>`;
    })
    .join('\n');
  const streams = manifests
    .map((file) => `<li><a data-play href="${escapeHtml(urlOf(file))}"${file === first ? ' aria-current="true"' : ''}>${escapeHtml(file)}</a></li>`)
    .join('\n');
  const streamList =
    manifests.length === 0
      ? ''
      : `\n<h2>Streams (${manifests.length})</h2>
<p>HLS and DASH manifests: they play here where the browser plays them natively (HLS in Safari);
elsewhere open them in hls.js or dash.js.</p>
<ol>
${streams}
</ol>`;
  const more = truncated ? `\n<p>Only the first ${files.length} files are listed.</p>` : '';
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>sage-stream demo</title>
<link rel="icon" href="data:,">
<style>${STYLE}</style>
</head>
<body>
<header>
<h1>sage-stream</h1>
<p>Video over HTTP Range requests from plain Node.js. Seek anywhere: the browser asks for the
bytes at that point (<code>206 Partial Content</code>) instead of downloading the whole file.</p>
</header>
<main>
<section>
${player}
</section>
<nav class="files" aria-label="Media files">
<h2>Files (${files.length - manifests.length})</h2>
<ol>
${items}
</ol>${streamList}${more}
</nav>
</main>
<script>${SCRIPT}</script>${beacon ? '\n<script src="/_sage/beacon.js"></script>' : ''}
</body>
</html>
`;
}
