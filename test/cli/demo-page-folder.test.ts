import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { firstPlayable, listMedia } from '../../src/cli/media-list.ts';
import { renderDemoPage } from '../../src/cli/demo-page.ts';
import { startServer } from '../../src/cli/demo-server.ts';
import { createFixtures } from '../helpers/fixtures.ts';
import { receive } from '../helpers/server.ts';

describe('firstPlayable', () => {
  const rows: ReadonlyArray<{ files: string[]; want: string | undefined }> = [
    { files: ['a.mp4', 'b.mp4'], want: 'a.mp4' },
    { files: ['hls/init.mp4', 'hls/index.m3u8', 'movie.mp4'], want: 'movie.mp4' },
    { files: ['a/init_0.mp4', 'b.webm'], want: 'b.webm' },
    { files: ['show/clip.mp4', 'show/master.m3u8', 'z/other.mp4'], want: 'z/other.mp4' },
    { files: ['dash/init.mp4', 'dash/manifest.mpd'], want: 'dash/manifest.mpd' },
    { files: ['initial.mp4'], want: 'initial.mp4' },
    { files: [], want: undefined },
  ];
  for (const { files, want } of rows) it(`[${files.join(', ')}] → ${want}`, () => assert.equal(firstPlayable(files), want));
});

describe('the demo page on a real folder', () => {
  const fixtures = createFixtures('sage-stream-demo-folder-');
  fixtures.write('hls/init.mp4', 'init');
  fixtures.write('hls/index.m3u8', '#EXTM3U\n');
  fixtures.write('dash/manifest.mpd', '<MPD/>');
  fixtures.write('movie.mp4', 'movie');
  fixtures.write('other.webm', 'webm');
  after(() => fixtures.remove());

  it('listMedia lists .m3u8 and .mpd manifests with the media', async () => {
    assert.deepEqual((await listMedia(fixtures.dir)).files, ['dash/manifest.mpd', 'hls/index.m3u8', 'hls/init.mp4', 'movie.mp4', 'other.webm']);
  });

  it('renders manifests in their own list, linked by URL path so their segments resolve', () => {
    const html = renderDemoPage({ files: ['hls/index.m3u8', 'movie.mp4'], streamBase: '/api/stream', pathBase: '/videos' });
    assert.ok(html.includes('<h2>Streams (1)</h2>'), html);
    assert.ok(html.includes('href="/videos/hls/index.m3u8"'));
    assert.ok(html.includes('<h2>Files (1)</h2>'));
    assert.ok(html.includes('<video id="player" controls preload="metadata" src="/api/stream?path=movie.mp4">'));
  });

  it('serves / with the first playable video, and /?path= opens the given file', async () => {
    const server = await startServer({ dir: fixtures.dir, port: 0 });
    try {
      const page = await receive(server.url, { path: '/', agent: false });
      assert.match(page.body.toString(), /<video id="player"[^>]* src="\/api\/stream\?path=movie\.mp4">/);
      const chosen = await receive(server.url, { path: '/?path=other.webm', agent: false });
      assert.match(chosen.body.toString(), /<video id="player"[^>]* src="\/api\/stream\?path=other\.webm">/);
      assert.match(chosen.body.toString(), /<a data-play href="\/api\/stream\?path=other\.webm" aria-current="true">/);
      const manifest = await receive(server.url, { path: '/?path=hls%2Findex.m3u8', agent: false });
      assert.match(manifest.body.toString(), /<video id="player"[^>]* src="\/videos\/hls\/index\.m3u8">/);
      const hostile = await receive(server.url, { path: '/?path=%22%3E%3Cscript%3E', agent: false });
      assert.doesNotMatch(hostile.body.toString(), /"><script>/);
    } finally {
      await server.close();
    }
  });
});
