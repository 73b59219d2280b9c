import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createStreamHandler } from '../src/index.ts';
import { findChromium, launchBrowser, type Browser, type Page } from './helpers/browser.ts';
import { findFfmpeg, makeDash, makeHlsFmp4, makeHlsTs, makeMp4, makeVtt, mediaRoot } from './helpers/media.ts';
import { startPlayerPages, type PlayerKind, type PlayerPages } from './helpers/player-pages.ts';
import { serverPool, type TestServer } from './helpers/server.ts';

// Real players in real Chromium against sage-stream: a <video> with a subtitles track, hls.js
// (TS and fMP4 segments) and dash.js each load, seek to the middle and play on. The pages come
// from another origin than the media, so the `cors` option is part of every case, and the same
// pages against a server without it, or one that allows only some other origin, must fail: proof
// that these tests can.
//
// Needs Chromium and ffmpeg (Debian's chromium and ffmpeg). Without them the file is skipped,
// unless SAGE_STREAM_REQUIRE_CHROMIUM=1 / SAGE_STREAM_REQUIRE_FFMPEG=1 (set by .ci/run), which
// make it fail instead.

const REQUIRE_CHROMIUM = process.env['SAGE_STREAM_REQUIRE_CHROMIUM'] === '1';
const REQUIRE_FFMPEG = process.env['SAGE_STREAM_REQUIRE_FFMPEG'] === '1';
const hasChromium = findChromium() !== undefined;
const hasFfmpeg = findFfmpeg() !== undefined;
const missing = [hasChromium ? '' : 'Chromium', hasFfmpeg ? '' : 'ffmpeg'].filter(Boolean).join(' and ');
const skip = missing === '' ? false : `${missing} not installed (SAGE_STREAM_REQUIRE_CHROMIUM=1 / SAGE_STREAM_REQUIRE_FFMPEG=1 make this a failure)`;

if (!hasChromium && REQUIRE_CHROMIUM) {
  it('Chromium is installed (SAGE_STREAM_REQUIRE_CHROMIUM=1)', () => {
    assert.fail("no Chromium: install Debian's chromium package (apt-get install chromium), or unset SAGE_STREAM_REQUIRE_CHROMIUM to skip");
  });
}
if (!hasFfmpeg && REQUIRE_FFMPEG) {
  it('ffmpeg is installed (SAGE_STREAM_REQUIRE_FFMPEG=1)', () => {
    assert.fail("no ffmpeg: install Debian's ffmpeg package (apt-get install ffmpeg), or unset SAGE_STREAM_REQUIRE_FFMPEG to skip");
  });
}

const SECONDS = 6;
/** Per wait: loading a few small files on loopback takes well under a second. */
const WAIT_MS = 5_000;
/** How far playback must get past the seek target: proof it plays, not only that it seeked. */
const PLAYED_S = 0.5;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;
/** One request that reached a media server, with the status it was answered with. */
type Served = { readonly method: string; readonly url: string; readonly range: string; status: number; encoding: string };

describe('real players in Chromium against sage-stream', { skip }, () => {
  const pool = serverPool();
  const served: Served[] = [];
  let browser: Browser | undefined;
  let pages: PlayerPages | undefined;
  let corsMedia: TestServer;
  let plainMedia: TestServer;
  let otherOriginMedia: TestServer;
  const media = { mp4: '', vtt: '', hlsTs: '', hlsFmp4: '', dash: '' };

  /** Records each request and, once answered, its status: what the players really asked for. */
  const logged =
    (handler: Listener): Listener =>
    (req, res) => {
      const entry: Served = { method: req.method ?? '', url: req.url ?? '', range: req.headers.range ?? '', status: 0, encoding: '' };
      served.push(entry);
      res.on('finish', () => (entry.status = res.statusCode));
      // sage-stream writes its headers as one array in writeHead, which getHeader() cannot see.
      const writeHead = res.writeHead.bind(res) as (status: number, headers?: string[]) => ServerResponse;
      (res as { writeHead: unknown }).writeHead = (status: number, headers?: string[]) => {
        const at = headers?.indexOf('Content-Encoding') ?? -1;
        if (at !== -1) entry.encoding = headers![at + 1]!;
        return writeHead(status, headers);
      };
      handler(req, res);
    };

  before(async () => {
    // Both settle before either can throw, so after() closes whatever did start.
    const started = Promise.all([launchBrowser().then((launched) => (browser = launched)), startPlayerPages().then((started) => (pages = started))]);
    const made = Promise.all([
      makeMp4({ seconds: SECONDS }),
      makeVtt({ seconds: SECONDS }),
      makeHlsTs({ seconds: SECONDS }),
      makeHlsFmp4({ seconds: SECONDS }),
      makeDash({ seconds: SECONDS }),
    ]);
    await Promise.allSettled([started, made]);
    await started;
    const [mp4, vtt, hlsTs, hlsFmp4, dash] = await made;
    Object.assign(media, { mp4: mp4.name, vtt: vtt.name, hlsTs: hlsTs.name, hlsFmp4: hlsFmp4.name, dash: dash.name });
    const root = mediaRoot();
    // The page's own origin, as the browser sends it: a list of one, so the headers echo it.
    corsMedia = await pool.serve(logged(createStreamHandler({ root, mode: 'path', cors: { origin: [pages!.origin] } })));
    plainMedia = await pool.serve(logged(createStreamHandler({ root, mode: 'path' })));
    otherOriginMedia = await pool.serve(logged(createStreamHandler({ root, mode: 'path', cors: { origin: 'https://elsewhere.test' } })));
  });

  after(async () => {
    await browser?.close();
    await pages?.close();
    await pool.closeAll();
  });

  /** Opens the page, runs `check` on it, and on failure adds what the media servers answered. */
  async function withPage(kind: PlayerKind, src: string, check: (page: Page) => Promise<void>, track?: string): Promise<void> {
    assert.ok(browser && pages, 'before() did not finish');
    const page = await browser.newPage();
    const first = served.length;
    try {
      await page.goto(pages.url(kind, src, track === undefined ? {} : { track }));
      await check(page);
    } catch (err) {
      const requests = served.slice(first).map((r) => `${r.method} ${r.url}${r.range ? ` (${r.range})` : ''} → ${r.status}`);
      (err as Error).message += `\nmedia requests:\n${requests.join('\n') || '(none)'}`;
      throw err;
    } finally {
      await page.close().catch(() => {}); // a dead browser has already said why
    }
  }

  /** loadedmetadata, a seek to the middle (seeked there), then playback at least PLAYED_S past it. */
  async function seekToMiddleAndPlay(page: Page): Promise<void> {
    const duration = await page.waitFor<number>(
      '__player.ok() && __player.seen("loadedmetadata") && Number.isFinite(__player.video.duration) && __player.video.duration',
      { events: ['player'], timeoutMs: WAIT_MS },
    );
    assert.ok(Math.abs(duration - SECONDS) < 0.5, `duration ${duration}, want ~${SECONDS}`);
    const middle = SECONDS / 2;
    await page.evaluate(`__player.video.currentTime = ${middle}; __player.video.play()`);
    await page.waitFor(`__player.ok() && __player.events.some((e) => e.type === 'seeked' && Math.abs(e.currentTime - ${middle}) < 0.25)`, {
      events: ['player'],
      timeoutMs: WAIT_MS,
    });
    const reached = await page.waitFor<number>(
      `__player.ok() && __player.video.currentTime >= ${middle + PLAYED_S} && __player.video.currentTime`,
      { events: ['player'], timeoutMs: WAIT_MS },
    );
    assert.ok(reached < SECONDS, `currentTime ${reached} is past the end: playback did not start at the middle`);
  }

  it('MP4 in <video crossorigin>: metadata, seek to the middle, plays on; the VTT track loads its cues', async () => {
    const first = served.length;
    await withPage(
      'video',
      `${corsMedia.origin}/${media.mp4}`,
      async (page) => {
        await seekToMiddleAndPlay(page);
        const cues = await page.waitFor<string[]>(
          '__player.ok() && __player.seen("trackload") && Array.from(__player.video.textTracks[0].cues, (cue) => cue.text)',
          { events: ['player'], timeoutMs: WAIT_MS },
        );
        assert.deepEqual(cues, Array.from({ length: SECONDS }, (_, i) => `Cue ${i + 1}`));
      },
      `${corsMedia.origin}/${media.vtt}`,
    );
    const mp4 = served.slice(first).filter((r) => r.url === `/${media.mp4}`);
    assert.ok(mp4.some((r) => r.range !== '' && r.status === 206), `no 206 for the MP4: ${JSON.stringify(mp4)}`);
  });

  it('HLS with MPEG-TS segments in hls.js: metadata, seek to the middle, plays on; the playlist came compressed', async () => {
    const first = served.length;
    await withPage('hls', `${corsMedia.origin}/${media.hlsTs}`, seekToMiddleAndPlay);
    const playlists = served.slice(first).filter((r) => r.url.endsWith('.m3u8'));
    assert.ok(playlists.length > 0 && playlists.every((r) => r.status === 200 && r.encoding === 'br'), JSON.stringify(playlists));
    assert.ok(served.slice(first).every((r) => r.url.endsWith('.m3u8') || r.encoding === ''), 'a segment was compressed');
  });

  it('HLS with fMP4 segments in hls.js: metadata, seek to the middle, plays on', async () => {
    await withPage('hls', `${corsMedia.origin}/${media.hlsFmp4}`, seekToMiddleAndPlay);
  });

  it('DASH in dash.js: metadata, seek to the middle, plays on', async () => {
    await withPage('dash', `${corsMedia.origin}/${media.dash}`, seekToMiddleAndPlay);
  });

  it('without CORS headers the <video crossorigin> page fails (the tests above can fail)', async () => {
    await withPage('video', `${plainMedia.origin}/${media.mp4}`, async (page) => {
      const errors = await page.waitFor<string[]>('__player.errors.length > 0 && __player.errors', { events: ['player'], timeoutMs: WAIT_MS });
      assert.match(errors[0] ?? '', /^video error/);
      assert.equal(await page.evaluate('__player.seen("loadedmetadata")'), false);
      assert.ok(
        page.messages().some((m) => /CORS policy/.test(m.text)),
        `no CORS failure among the page's messages:\n${page.report()}`,
      );
    });
  });

  it('without CORS headers the hls.js page fails with a fatal error', async () => {
    await withPage('hls', `${plainMedia.origin}/${media.hlsTs}`, async (page) => {
      const errors = await page.waitFor<string[]>('__player.errors.length > 0 && __player.errors', { events: ['player'], timeoutMs: WAIT_MS });
      assert.match(errors[0] ?? '', /^hls\.js fatal networkError manifestLoadError/);
      assert.ok(
        page.messages().some((m) => /CORS policy/.test(m.text)),
        `no CORS failure among the page's messages:\n${page.report()}`,
      );
    });
  });

  it('an origin the cors option does not allow: the hls.js page fails, no CORS header was sent', async () => {
    const first = served.length;
    await withPage('hls', `${otherOriginMedia.origin}/${media.hlsTs}`, async (page) => {
      const errors = await page.waitFor<string[]>('__player.errors.length > 0 && __player.errors', { events: ['player'], timeoutMs: WAIT_MS });
      assert.match(errors[0] ?? '', /^hls\.js fatal networkError manifestLoadError/);
      assert.ok(
        // Chromium files the refusal under 'network' or 'javascript', depending on timing.
        page.messages().some((m) => /CORS policy/.test(m.text)),
        `no CORS failure among the page's messages:\n${page.report()}`,
      );
    });
    assert.ok(served.slice(first).some((r) => r.url === `/${media.hlsTs}` && r.status === 200), 'the manifest request reached the server');
  });

  it('an origin the cors option does not allow: the <video crossorigin> page fails', async () => {
    await withPage('video', `${otherOriginMedia.origin}/${media.mp4}`, async (page) => {
      const errors = await page.waitFor<string[]>('__player.errors.length > 0 && __player.errors', { events: ['player'], timeoutMs: WAIT_MS });
      assert.match(errors[0] ?? '', /^video error/);
      assert.equal(await page.evaluate('__player.seen("loadedmetadata")'), false);
    });
  });
});
