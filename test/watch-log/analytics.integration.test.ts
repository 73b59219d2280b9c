import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createStreamHandler } from '../../src/index.ts';
import { WatchLog } from '../../src/watch-log/watch-log.ts';
import type { SessionRow } from '../../src/watch-log/query.ts';
import { findChromium, launchBrowser, type Browser, type Page } from '../helpers/browser.ts';
import { findFfmpeg, makeHlsTs, makeMp4, mediaRoot } from '../helpers/media.ts';
import { startPlayerPages, type PlayerKind, type PlayerPages } from '../helpers/player-pages.ts';
import { serverPool, type TestServer } from '../helpers/server.ts';

// Viewing analytics end to end: real players in Chromium, the beacon served by the stream handler
// (beacon: true), and what the watch log then says was watched. Played time comes from the
// player; byte coverage stays as deliveredPercent. Skipped without Chromium or ffmpeg unless
// SAGE_STREAM_REQUIRE_CHROMIUM=1 / SAGE_STREAM_REQUIRE_FFMPEG=1, as the player test is.

const REQUIRE = process.env['SAGE_STREAM_REQUIRE_CHROMIUM'] === '1' || process.env['SAGE_STREAM_REQUIRE_FFMPEG'] === '1';
const missing = [findChromium() ? '' : 'Chromium', findFfmpeg() ? '' : 'ffmpeg'].filter(Boolean).join(' and ');
const skip = missing === '' || REQUIRE ? false : `${missing} not installed`;
const WAIT_MS = 8_000;
// Media time runs this much faster than the clock, so "play 4 s" takes 2 s.
const RATE = 2;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

describe('viewing analytics in Chromium', { skip }, () => {
  const pool = serverPool();
  let browser: Browser | undefined;
  let pages: PlayerPages | undefined;
  let media: TestServer;
  let log: WatchLog;
  const files = { long: '', short: '', hls: '' };
  // Responses still open on the media server: what finish() waits on.
  let open = 0;
  const waiters = new Set<() => void>();
  const changed = (): void => {
    for (const wake of waiters) wake();
  };
  const until = (condition: () => boolean, what: string): Promise<void> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}`));
      }, WAIT_MS);
      const check = (): void => {
        if (!condition()) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve();
      };
      waiters.add(check);
      check();
    });

  const observed =
    (handler: Listener): Listener =>
    (req, res) => {
      open++;
      res.once('close', () => {
        open--;
        // The watch-log entry is queued once the handler's own close work ran.
        setImmediate(changed);
      });
      res.setHeader('Access-Control-Allow-Origin', '*');
      res.setHeader('Access-Control-Expose-Headers', 'Content-Range, Content-Length, Accept-Ranges');
      handler(req, res);
    };

  before(async () => {
    const started = Promise.all([launchBrowser().then((b) => (browser = b)), startPlayerPages().then((p) => (pages = p))]);
    const made = Promise.all([makeMp4({ seconds: 60 }), makeMp4({ seconds: 30 }), makeHlsTs({ seconds: 6 })]);
    await Promise.allSettled([started, made]);
    await started;
    const [long, short, hls] = await made;
    Object.assign(files, { long: long.name, short: short.name, hls: hls.name });
    log = await WatchLog.open(':memory:');
    media = await pool.serve(observed(createStreamHandler({ root: mediaRoot(), mode: 'path', watchLog: log, beacon: true })));
  });

  after(async () => {
    await browser?.close();
    await pages?.close();
    await pool.closeAll();
    log?.close();
  });

  const playing = new WeakMap<Page, string>();

  /** Opens a player page for `file` with the beacon loaded from the media server and attached. */
  async function openPlayer(kind: PlayerKind, file: string): Promise<Page> {
    assert.ok(browser && pages, 'before() did not finish');
    const page = await browser.newPage();
    const src = `${media.origin}/${file}`;
    await page.goto(pages.url(kind, src));
    // The page's own script tag, as a site would write it: <script src="…/_sage/beacon.js">.
    await page.evaluate(`new Promise((resolve, reject) => {
      const element = document.createElement('script');
      element.src = ${JSON.stringify(`${media.origin}/_sage/beacon.js`)};
      element.onload = () => resolve(void (window.__beacon = sageBeacon.attach(__player.video, { src: ${JSON.stringify(src)} })));
      element.onerror = () => reject(new Error('beacon script failed to load'));
      document.head.append(element);
    })`);
    await page.waitFor('__player.ok() && __player.seen("loadedmetadata")', { events: ['player'], timeoutMs: WAIT_MS });
    await page.evaluate(`__player.video.playbackRate = ${RATE}`);
    playing.set(page, file);
    return page;
  }

  /**
   * Plays until currentTime reaches `to`, then pauses and waits until the watch log holds the
   * pause report. Counting any answered beacon is not enough: the seeked report (or a 10 s
   * interval one) can land after play() and would let the test close the page while the pause
   * report is still on its way.
   */
  async function playTo(page: Page, to: number): Promise<void> {
    const file = playing.get(page);
    assert.ok(file !== undefined, 'playTo() on a page openPlayer() did not open');
    const pausesBefore = pausesOf(file);
    await page.evaluate('__player.video.play()');
    await page.waitFor(`__player.ok() && __player.video.currentTime >= ${to}`, { events: ['player'], timeoutMs: WAIT_MS });
    await page.evaluate('__player.video.pause()');
    await until(() => pausesOf(file) > pausesBefore, 'the pause report');
  }

  function pausesOf(file: string): number {
    return sessionsOf(file).reduce((sum, s) => sum + (s.events['pause'] ?? 0), 0);
  }

  /** Detaches the beacon (no pagehide report), closes the page, waits for every response to end. */
  async function finish(page: Page): Promise<void> {
    await page.evaluate('__beacon.detach()');
    await page.close();
    await until(() => open === 0, 'the media responses to end');
    log.flush();
  }

  function sessionsOf(path: string): SessionRow[] {
    log.flush();
    return log.sessions({ path }).rows;
  }

  it('play 4 s of a 60 s video: one session, watchedPercent ≈ 7, deliveredPercent higher', async (t) => {
    const page = await openPlayer('video', files.long);
    await playTo(page, 4);
    await finish(page);
    const sessions = sessionsOf(files.long);
    assert.equal(sessions.length, 1, JSON.stringify(sessions));
    const [s] = sessions as [SessionRow];
    t.diagnostic(`watchedPercent ${s.watchedPercent}, deliveredPercent ${s.deliveredPercent}, position ${s.position}, requests ${s.requests}`);
    assert.ok(s.watchedPercent !== null && s.watchedPercent >= 6.5 && s.watchedPercent < 8.5, `watchedPercent ${s.watchedPercent}`);
    assert.ok(Math.abs((s.durationSeconds ?? 0) - 60) < 0.5, `duration ${s.durationSeconds}`);
    assert.ok(s.position !== null && s.position >= 4 && s.position < 5, `position ${s.position}`);
    assert.ok(s.deliveredPercent !== null && s.deliveredPercent > s.watchedPercent, `delivered ${s.deliveredPercent} vs watched ${s.watchedPercent}`);
    assert.ok(s.requests >= 1 && s.reports >= 1);
    assert.equal(s.events['play'], 1);
  });

  it('play 1 s, seek to the middle and play 3 s: two played ranges', async () => {
    const page = await openPlayer('video', files.short);
    await playTo(page, 1);
    await page.evaluate('__player.video.currentTime = 15');
    await page.waitFor('__player.ok() && __player.events.some((e) => e.type === "seeked" && e.currentTime >= 14.9)', { events: ['player'], timeoutMs: WAIT_MS });
    await playTo(page, 18);
    await finish(page);
    const [s, ...others] = sessionsOf(files.short);
    assert.equal(others.length, 0);
    assert.equal(s?.playedRanges.length, 2, JSON.stringify(s?.playedRanges));
    const [first, second] = s!.playedRanges as [readonly [number, number], readonly [number, number]];
    assert.ok(first[0] < 0.1 && first[1] >= 1 && first[1] < 2, `first range ${first}`);
    assert.ok(Math.abs(second[0] - 15) < 0.2 && second[1] >= 18 && second[1] < 19, `second range ${second}`);
    assert.ok((s!.events['seek'] ?? 0) >= 1);
  });

  it('an HLS playback in hls.js: one session for the manifest, its segments joined, none listed as a video', async () => {
    const page = await openPlayer('hls', files.hls);
    await playTo(page, 2);
    await finish(page);
    const folder = files.hls.slice(0, files.hls.lastIndexOf('/') + 1);
    const listed = log.sessions({ search: folder, limit: 500 }).rows;
    assert.deepEqual(listed.map((s) => [s.path, s.kind]), [[files.hls, 'stream']]);
    const [s] = listed as [SessionRow];
    assert.ok(s.requests >= 3, `requests ${s.requests}: the playlist and its segments`);
    assert.ok(s.watchedPercent !== null && s.watchedPercent >= 30 && s.watchedPercent < 50, `watchedPercent ${s.watchedPercent}`);
    assert.equal(log.requests({ search: folder, limit: 500 }).rows.every((r) => r.sessionId === s.id), true);
    assert.deepEqual(log.videos({ search: folder }).map((v) => v.path), [files.hls]);
  });

  it('a forged beacon for another viewer changes nothing of this viewer\'s session', async () => {
    const before = sessionsOf(files.long);
    const forged = JSON.stringify({
      v: 1, src: `/${files.long}`, duration: 60, position: 59, played: [[0, 60]], rebuffer: 0,
      events: { play: 1, pause: 0, seek: 0, ended: 1, stall: 0, hidden: 0 }, reason: 'ended',
    });
    // Another client (another User-Agent, so another anonymous viewer) claims the whole film.
    const res = await fetch(`${media.origin}/_sage/beacon`, { method: 'POST', body: forged, headers: { 'user-agent': 'forger/1.0' } });
    assert.equal(res.status, 204);
    const after = sessionsOf(files.long);
    const chrome = after.filter((s) => s.userAgent !== 'forger/1.0');
    assert.deepEqual(chrome, before);
  });

  it('from the page: oversized or malformed beacons → 400, and nothing is stored', async () => {
    assert.ok(browser && pages);
    const page = await browser.newPage();
    try {
      await page.goto(pages.url('video', `${media.origin}/${files.long}`));
      const before = sessionsOf(files.long);
      const total = log.sessions({ limit: 500 }).total;
      const statuses = await page.evaluate<number[]>(`(async () => {
        const good = { v: 1, src: ${JSON.stringify(`/${files.long}`)}, duration: 60, position: 1, played: [[0, 1]], rebuffer: 0,
          events: { play: 1, pause: 0, seek: 0, ended: 0, stall: 0, hidden: 0 }, reason: 'pause' };
        const bodies = [JSON.stringify(good) + ' '.repeat(5000), '{"v":1', JSON.stringify({ ...good, played: [[0, 99]] }),
          JSON.stringify({ ...good, src: '/../../etc/passwd' })];
        const out = [];
        for (const body of bodies) out.push((await fetch(${JSON.stringify(`${media.origin}/_sage/beacon`)}, { method: 'POST', body })).status);
        return out;
      })()`);
      assert.deepEqual(statuses, [400, 400, 400, 400]);
      assert.deepEqual(sessionsOf(files.long), before);
      assert.equal(log.sessions({ limit: 500 }).total, total);
    } finally {
      await page.close();
    }
  });
});
