import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, type RunningServer } from '../../src/cli/demo-server.ts';
import { findChromium, launchBrowser, type Browser } from '../helpers/browser.ts';
import { findFfmpeg, makeMp4, mediaRoot } from '../helpers/media.ts';
import { createFixtures } from '../helpers/fixtures.ts';

// The demo as a user meets it: `sage-stream serve` with a log, the page plays a few seconds, and
// /admin then knows how much was watched; reopening the page resumes there. Its CSP must let the
// beacon load and report (a missing connect-src blocks sendBeacon silently).

const REQUIRE = process.env['SAGE_STREAM_REQUIRE_CHROMIUM'] === '1' || process.env['SAGE_STREAM_REQUIRE_FFMPEG'] === '1';
const missing = [findChromium() ? '' : 'Chromium', findFfmpeg() ? '' : 'ffmpeg'].filter(Boolean).join(' and ');
const skip = missing === '' || REQUIRE ? false : `${missing} not installed`;
const TOKEN = 'demo-analytics-admin-token';
const WAIT_MS = 8_000;

describe('the demo server with the beacon, in Chromium', { skip }, () => {
  const fixtures = createFixtures('sage-stream-demo-analytics-');
  let browser: Browser | undefined;
  let server: RunningServer | undefined;
  let file = '';

  before(async () => {
    const [launched, clip] = await Promise.all([launchBrowser(), makeMp4({ seconds: 20 })]);
    browser = launched;
    file = clip.name;
    server = await startServer({ dir: mediaRoot(), port: 0, log: fixtures.path('watch.db'), adminToken: TOKEN });
  });
  after(async () => {
    await browser?.close();
    await server?.close(0);
    fixtures.remove();
  });

  async function sessions(): Promise<Array<Record<string, unknown>>> {
    const res = await fetch(`${server!.url}admin/api/sessions?path=${encodeURIComponent(file)}`, { headers: { authorization: `Bearer ${TOKEN}` } });
    return ((await res.json()) as { rows: Array<Record<string, unknown>> }).rows;
  }

  it('?path= opens the file; 3 s played show as ~15 % watched in /admin; reopening resumes there', async () => {
    assert.ok(browser && server);
    const page = await browser.newPage();
    try {
      await page.goto(`${server.url}?path=${encodeURIComponent(file)}`);
      await page.waitFor('document.getElementById("player").readyState >= 1 && window.sageBeacon !== undefined', { timeoutMs: WAIT_MS });
      await page.evaluate('const v = document.getElementById("player"); v.muted = true; v.playbackRate = 2; v.play()');
      await page.waitFor('document.getElementById("player").currentTime >= 3', { timeoutMs: WAIT_MS });
      await page.evaluate('document.getElementById("player").pause()');
      assert.deepEqual(page.messages().filter((m) => /Content Security Policy|Refused/.test(m.text)), []);
      // The report is queued by the log and written within its flush interval (1 s): bounded poll.
      const deadline = Date.now() + WAIT_MS;
      let rows = await sessions();
      while (!rows.some((r) => typeof r['watchedPercent'] === 'number') && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        rows = await sessions();
      }
      assert.equal(rows.length, 1, JSON.stringify(rows));
      const watched = rows[0]?.['watchedPercent'] as number;
      assert.ok(watched >= 14 && watched < 20, `watchedPercent ${watched}`);
      await page.goto(`${server.url}?path=${encodeURIComponent(file)}`);
      const start = await page.evaluate<string>('document.getElementById("player").dataset.start');
      assert.ok(Number(start) >= 3 && Number(start) < 4, `data-start ${start}`);
      await page.waitFor('document.getElementById("player").readyState >= 1 && document.getElementById("player").currentTime >= 3', { timeoutMs: WAIT_MS });
    } finally {
      await page.close();
    }
  });
});
