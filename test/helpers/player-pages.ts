import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { start } from './server.ts';

// The pages a browser test opens: a plain <video>, hls.js and dash.js, served from their own
// 127.0.0.1 port, so every media request is cross-origin, as on a site whose video comes from a
// separate media host. The players are the devDependencies' own builds, served as they ship.

/** Which page: a `<video crossorigin="anonymous">` (with an optional `<track>`), hls.js, or dash.js. */
export type PlayerKind = 'video' | 'hls' | 'dash';

export type PlayerPages = {
  readonly origin: string;
  /** The page that plays `src` (an absolute URL); `track` adds a default subtitles track (video page). */
  url(kind: PlayerKind, src: string, options?: { readonly track?: string }): string;
  close(): Promise<void>;
};

/**
 * Every page sets `window.__player`, the state a test waits on (see PLAYER_SCRIPT):
 * - `video`: the element; `hls` / `dash`: the player instance on those pages;
 * - `events`: `{ type, currentTime }` for each media event (and `trackload`, `manifestparsed`);
 * - `errors`: one line per failure: a video or track `error` event, an hls.js fatal error, any
 *   dash.js error;
 * - `ok()`: throws the errors if there are any, else true: put it first in a waitFor condition
 *   (`__player.ok() && …`) and a player failure fails the wait at once, with its reason;
 * - `seen(type)`: whether that event has fired.
 * Every change also fires a `player` event on window: `waitFor(…, { events: ['player'] })`.
 */
const PLAYER_SCRIPT = `
const video = document.querySelector('video');
const player = (window.__player = {
  video,
  events: [],
  errors: [],
  ok() {
    if (player.errors.length > 0) throw new Error('player failed: ' + player.errors.join('; '));
    return true;
  },
  seen: (type) => player.events.some((event) => event.type === type),
  changed: () => window.dispatchEvent(new Event('player')),
  note(type) {
    player.events.push({ type, currentTime: video.currentTime });
    if (player.events.length > 500) player.events.shift();
    player.changed();
  },
  fail(message) {
    player.errors.push(message);
    console.error('player failed: ' + message);
    player.changed();
  },
});
const MEDIA_EVENTS = ['loadstart', 'loadedmetadata', 'loadeddata', 'canplay', 'playing', 'pause', 'waiting', 'seeking', 'seeked', 'timeupdate', 'ended'];
for (const type of MEDIA_EVENTS) video.addEventListener(type, () => player.note(type));
video.addEventListener('error', () => player.fail('video error ' + (video.error ? video.error.code + ' ' + video.error.message : '')));
const params = new URLSearchParams(location.search);
const src = params.get('src');
`;

const VIDEO_PAGE_SCRIPT = `
const track = params.get('track');
if (track) {
  const element = document.createElement('track');
  element.kind = 'subtitles';
  element.srclang = 'en';
  element.label = 'English';
  element.default = true;
  element.addEventListener('load', () => player.note('trackload'));
  element.addEventListener('error', () => player.fail('track error: ' + track));
  element.src = track;
  video.append(element);
}
video.src = src;
`;

const HLS_PAGE_SCRIPT = `
if (!Hls.isSupported()) player.fail('hls.js: Media Source Extensions are not supported');
const hls = (player.hls = new Hls());
hls.on(Hls.Events.MANIFEST_PARSED, () => player.note('manifestparsed'));
hls.on(Hls.Events.ERROR, (_, data) => {
  const status = data.response && data.response.code !== undefined ? ' HTTP ' + data.response.code : '';
  const detail = data.type + ' ' + data.details + status + (data.error ? ' ' + data.error.message : '') + (data.url ? ' ' + data.url : '');
  if (data.fatal) player.fail('hls.js fatal ' + detail);
  else console.warn('hls.js ' + detail);
});
hls.loadSource(src);
hls.attachMedia(video);
`;

const DASH_PAGE_SCRIPT = `
const dash = (player.dash = dashjs.MediaPlayer().create());
dash.updateSettings({ debug: { logLevel: dashjs.Debug.LOG_LEVEL_WARNING } });
dash.on(dashjs.MediaPlayer.events.ERROR, (event) => {
  const error = event.error || {};
  player.fail('dash.js error ' + (error.code ?? '') + ' ' + (error.message ?? JSON.stringify(event)));
});
dash.on(dashjs.MediaPlayer.events.MANIFEST_LOADED, () => player.note('manifestparsed'));
dash.initialize(video, src, false);
`;

function page(title: string, script: string, library?: string): string {
  return [
    '<!doctype html>',
    '<meta charset="utf-8">',
    `<title>${title}</title>`,
    '<video crossorigin="anonymous" muted playsinline preload="auto"></video>',
    library === undefined ? '' : `<script src="/${library}"></script>`,
    `<script>${PLAYER_SCRIPT}${script}</script>`,
    '',
  ].join('\n');
}

/** A file of a devDependency, read once; missing means `npm install` did not run. */
function dependencyFile(path: string): Buffer {
  return readFileSync(fileURLToPath(new URL(`../../node_modules/${path}`, import.meta.url)));
}

const JS = 'text/javascript; charset=utf-8';
const HTML = 'text/html; charset=utf-8';

/** Starts the page server on 127.0.0.1, port 0. */
export async function startPlayerPages(): Promise<PlayerPages> {
  const files = new Map<string, { readonly type: string; readonly body: Buffer | string }>([
    ['/video.html', { type: HTML, body: page('video', VIDEO_PAGE_SCRIPT) }],
    ['/hls.html', { type: HTML, body: page('hls.js', HLS_PAGE_SCRIPT, 'hls.min.js') }],
    ['/dash.html', { type: HTML, body: page('dash.js', DASH_PAGE_SCRIPT, 'dash.all.min.js') }],
    ['/hls.min.js', { type: JS, body: dependencyFile('hls.js/dist/hls.min.js') }],
    // dash.js 5's browser build (its package.json "browser" field): UMD, sets window.dashjs.
    ['/dash.all.min.js', { type: JS, body: dependencyFile('dashjs/dist/modern/umd/dash.all.min.js') }],
  ]);
  const server = await start((req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const file = files.get(query === -1 ? url : url.slice(0, query));
    if (file === undefined) {
      res.writeHead(404, ['Content-Type', 'text/plain']).end('Not Found');
      return;
    }
    const body = typeof file.body === 'string' ? Buffer.from(file.body) : file.body;
    res.writeHead(200, ['Content-Type', file.type, 'Content-Length', String(body.length), 'Cache-Control', 'no-store']).end(body);
  });
  return {
    origin: server.origin,
    url(kind, src, options = {}) {
      const query = new URLSearchParams({ src });
      if (options.track !== undefined) query.set('track', options.track);
      return `${server.origin}/${kind}.html?${query}`;
    },
    close: () => server.close(),
  };
}
