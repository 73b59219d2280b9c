import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, symlinkSync } from 'node:fs';
import { DEMO_PAGE_CSP, DEMO_PAGE_HEADERS, renderDemoPage } from '../../src/cli/demo-page.ts';
import { escapeHtml } from '../../src/watch-log/viewer/html.ts';
import { isPlayable, listMedia, type ListMediaOptions, type MediaList } from '../../src/cli/media-list.ts';
import { createFixtures } from '../helpers/fixtures.ts';

const HOSTILE = [
  '<script>alert(1)</script>.mp4',
  '"onmouseover=alert(1) x.mp4',
  "' onfocus=alert(1) autofocus '.mp4",
  '</a><img src=x onerror=alert(1)>.webm',
  'Tom & Jerry.mp4',
];

describe('escapeHtml', () => {
  const cases: ReadonlyArray<{ text: string; want: string }> = [
    { text: 'plain.mp4', want: 'plain.mp4' },
    { text: '<script>alert(1)</script>.mp4', want: '&lt;script&gt;alert(1)&lt;/script&gt;.mp4' },
    { text: '"onmouseover=alert(1) x.mp4', want: '&quot;onmouseover=alert(1) x.mp4' },
    { text: "it's", want: 'it&#39;s' },
    { text: 'a & b', want: 'a &amp; b' },
    { text: '&amp;', want: '&amp;amp;' }, // escaped once more: text, not markup
    { text: 'ünïcödé 字幕.mkv', want: 'ünïcödé 字幕.mkv' },
  ];
  for (const { text, want } of cases) {
    it(`${JSON.stringify(text)} → ${JSON.stringify(want)}`, () => assert.equal(escapeHtml(text), want));
  }
});

/** The contents of every `<tag>…</tag>` in the page, in order. */
function inline(html: string, tag: 'script' | 'style'): string[] {
  return [...html.matchAll(new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`, 'g'))].map((m) => m[1] ?? '');
}

describe('renderDemoPage', () => {
  const html = renderDemoPage({ files: ['sample.mp4', ...HOSTILE, 'sub dir/clip #1+2.mp4'], streamBase: '/api/stream' });

  for (const name of HOSTILE) {
    it(`escapes ${JSON.stringify(name)} in text and attributes`, () => {
      assert.ok(!html.includes(name), 'the raw name is in the page');
      assert.ok(html.includes(`>${escapeHtml(name)}</a>`), 'the escaped name is not the link text');
      assert.ok(html.includes(`href="/api/stream?path=${escapeHtml(encodeURIComponent(name))}"`), 'no escaped stream URL');
    });
  }

  it('has only its own tags and attributes: nothing injected', () => {
    const body = html.replace(/<(script|style)>[\s\S]*?<\/\1>/g, '<$1></$1>');
    const tags = new Set<string>();
    const attributes = new Set<string>();
    for (const [tag] of body.matchAll(/<[^>]*>/g)) {
      tags.add(/^<\/?([a-z0-9!]+)/i.exec(tag)?.[1] ?? tag);
      // Attribute values are double-quoted and cannot hold a quote (escaped), so drop them.
      for (const [, name] of tag.replace(/"[^"]*"/g, '').matchAll(/\s([^\s=>]+)/g)) attributes.add(name ?? '');
    }
    const ownTags = 'a body button code h1 h2 head header html li link main meta nav ol p script section style title video !doctype';
    const ownAttributes = 'aria-current aria-label aria-live charset class content controls data-play data-seek href html id lang name preload rel src type';
    assert.deepEqual([...tags].filter((t) => !ownTags.split(' ').includes(t.toLowerCase())), []);
    assert.deepEqual([...attributes].filter((a) => !ownAttributes.split(' ').includes(a)), []);
    assert.equal(html.match(/<script/gi)?.length, 1);
  });

  it('plays the first file by default, with metadata preload and controls', () => {
    assert.match(html, /<video id="player" controls preload="metadata" src="\/api\/stream\?path=sample\.mp4"><\/video>/);
    assert.match(html, /<h2 id="title">sample\.mp4<\/h2>/);
    assert.match(html, /<a data-play href="\/api\/stream\?path=sample\.mp4" aria-current="true">sample\.mp4<\/a>/);
  });

  it('encodes names as one query value (/, space, #, + and & included)', () => {
    assert.ok(html.includes('href="/api/stream?path=sub%20dir%2Fclip%20%231%2B2.mp4"'));
  });

  it('has seek buttons for 25, 50 and 75 %', () => {
    for (const fraction of ['0.25', '0.5', '0.75']) assert.match(html, new RegExp(`<button type="button" data-seek="${fraction}">`));
  });

  it('loads nothing from elsewhere', () => {
    assert.doesNotMatch(html, /\b(?:src|href)="(?:https?:)?\/\//i);
    assert.doesNotMatch(html, /<link rel="stylesheet"/i);
  });

  it('its CSP allows exactly its inline script and style, by hash', () => {
    const scripts = inline(html, 'script');
    const styles = inline(html, 'style');
    assert.equal(scripts.length, 1);
    assert.equal(styles.length, 1);
    const hash = (text: string): string => `'sha256-${createHash('sha256').update(text).digest('base64')}'`;
    assert.ok(DEMO_PAGE_CSP.includes(`script-src 'self' ${hash(scripts[0] ?? '')};`), DEMO_PAGE_CSP);
    assert.ok(DEMO_PAGE_CSP.includes(`style-src ${hash(styles[0] ?? '')};`), DEMO_PAGE_CSP);
    assert.match(DEMO_PAGE_CSP, /^default-src 'none';/);
    assert.doesNotMatch(DEMO_PAGE_CSP, /unsafe-inline|unsafe-eval|\*/);
  });

  it('the CSP does not change with the files listed', () => {
    const other = renderDemoPage({ files: ['other.webm'], streamBase: '/api/stream' });
    assert.deepEqual(inline(other, 'script'), inline(html, 'script'));
    assert.deepEqual(inline(other, 'style'), inline(html, 'style'));
  });

  it('headers: HTML in UTF-8, nosniff, the CSP', () => {
    const headers = new Map<string, string>();
    for (let i = 0; i < DEMO_PAGE_HEADERS.length; i += 2) headers.set(DEMO_PAGE_HEADERS[i] ?? '', DEMO_PAGE_HEADERS[i + 1] ?? '');
    assert.equal(headers.get('Content-Type'), 'text/html; charset=utf-8');
    assert.equal(headers.get('X-Content-Type-Options'), 'nosniff');
    assert.equal(headers.get('Content-Security-Policy'), DEMO_PAGE_CSP);
  });

  it('an empty folder: a message and no player', () => {
    const empty = renderDemoPage({ files: [], streamBase: '/api/stream' });
    assert.doesNotMatch(empty, /<video/);
    assert.match(empty, /No playable media files/);
    assert.match(empty, /Files \(0\)/);
  });

  it('a truncated list says so', () => {
    const page = renderDemoPage({ files: ['a.mp4', 'b.mp4'], streamBase: '/api/stream', truncated: true });
    assert.match(page, /Only the first 2 files are listed/);
    assert.doesNotMatch(html, /Only the first/);
  });

  it('?path= opens that file first, resumes it at the last position, and loads the beacon', () => {
    const page = renderDemoPage({ files: ['a.mp4', 'b.mp4'], streamBase: '/api/stream', selected: 'b.mp4', resumeAt: 12.5, beacon: true });
    assert.match(page, /<video id="player" controls preload="metadata" src="\/api\/stream\?path=b\.mp4" data-sage-beacon data-start="12\.5"><\/video>/);
    assert.match(page, /<script src="\/_sage\/beacon\.js"><\/script>/);
  });

  it('a ?path= that is not listed is ignored; no beacon unless asked', () => {
    const page = renderDemoPage({ files: ['a.mp4'], streamBase: '/api/stream', selected: '../x.mp4' });
    assert.match(page, /src="\/api\/stream\?path=a\.mp4"><\/video>/);
    assert.doesNotMatch(page, /beacon/);
  });

  it('escapes streamBase too', () => {
    const page = renderDemoPage({ files: ['a.mp4'], streamBase: '/x"><b>' });
    assert.ok(!page.includes('/x"><b>'));
    assert.ok(page.includes('src="/x&quot;&gt;&lt;b&gt;?path=a.mp4"'));
  });
});

describe('isPlayable', () => {
  const cases: ReadonlyArray<{ name: string; want: boolean }> = [
    { name: 'a.mp4', want: true },
    { name: 'A.MP4', want: true },
    { name: 'a.webm', want: true },
    { name: 'a.mkv', want: true },
    { name: 'song.mp3', want: true },
    { name: 'a.txt', want: false },
    { name: 'index.m3u8', want: false }, // a playlist is not a <video> src outside Safari
    { name: 'mp4', want: false },
    { name: '.mp4', want: false },
    { name: 'a.mp4.part', want: false },
  ];
  for (const { name, want } of cases) it(`${name} → ${want}`, () => assert.equal(isPlayable(name), want));
});

describe('listMedia', () => {
  const fixtures = createFixtures('sage-stream-list-');
  const many = createFixtures('sage-stream-many-');

  before(() => {
    for (const name of ['b.mp4', 'a.webm', 'A.mp4', 'Upper.MP4', 'notes.txt', '.hidden.mp4', '.git/x.mp4']) fixtures.write(name, 'x');
    for (const name of ['sub/c.mkv', 'sub/.d.mp4', 'sub/readme.md', 'z/deep/e.mp4', '.cache/f.mp4']) fixtures.write(name, 'x');
    mkdirSync(fixtures.path('empty'));
    symlinkSync(fixtures.path('b.mp4'), fixtures.path('link.mp4'));
    symlinkSync(fixtures.dir, fixtures.path('sub/loop'));
    for (let i = 0; i < 501; i++) many.write(`clip-${String(i).padStart(3, '0')}.mp4`, '');
  });
  after(() => {
    fixtures.remove();
    many.remove();
  });

  const ALL = ['A.mp4', 'Upper.MP4', 'a.webm', 'b.mp4', 'sub/c.mkv', 'z/deep/e.mp4'];
  const cases: ReadonlyArray<{ name: string; options: ListMediaOptions; want: MediaList }> = [
    { name: 'sorted by code unit, folders in place; dotfiles, symlinks and other files skipped', options: {}, want: { files: ALL, truncated: false } },
    { name: 'capped at limit, and says so', options: { limit: 3 }, want: { files: ALL.slice(0, 3), truncated: true } },
    { name: 'the cap inside a subfolder', options: { limit: 5 }, want: { files: ALL.slice(0, 5), truncated: true } },
    { name: 'exactly limit files is not truncated', options: { limit: ALL.length }, want: { files: ALL, truncated: false } },
    { name: 'maxDepth skips deeper folders', options: { maxDepth: 1 }, want: { files: ALL.slice(0, 5), truncated: false } },
    { name: 'maxDepth 0: root only', options: { maxDepth: 0 }, want: { files: ALL.slice(0, 4), truncated: false } },
  ];
  for (const { name, options, want } of cases) {
    it(name, async () => assert.deepEqual(await listMedia(fixtures.dir, options), want));
  }

  it('caps at 500 by default', async () => {
    const { files, truncated } = await listMedia(many.dir);
    assert.equal(files.length, 500);
    assert.equal(truncated, true);
    assert.equal(files[0], 'clip-000.mp4');
    assert.equal(files[499], 'clip-499.mp4');
  });

  it('rejects for a missing root', async () => {
    await assert.rejects(listMedia(fixtures.path('nope')), { code: 'ENOENT' });
  });

  it('hostile names on disk come out escaped in the page', async () => {
    const hostile = createFixtures('sage-stream-hostile-');
    try {
      for (const name of HOSTILE) hostile.write(name, 'x');
      const { files } = await listMedia(hostile.dir);
      assert.equal(files.length, HOSTILE.length);
      const html = renderDemoPage({ files, streamBase: '/api/stream' });
      assert.ok(!html.includes('<script>alert(1)</script>'));
      assert.ok(html.includes('&lt;script&gt;alert(1)&lt;/script&gt;.mp4'));
      assert.ok(!html.includes('"onmouseover'));
    } finally {
      hostile.remove();
    }
  });
});
