import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createMediaTypeLookup, FALLBACK_MEDIA_TYPE, isActiveContent, MEDIA_TYPES, type MediaTypes } from '../../src/http/mime.ts';

const OCTET = 'application/octet-stream';

describe('createMediaTypeLookup, built-in table', () => {
  const lookup = createMediaTypeLookup();
  // Written out rather than read from MEDIA_TYPES, so a changed entry fails here.
  const cases: ReadonlyArray<{ ext: string; want: string }> = [
    { ext: 'mp4', want: 'video/mp4' },
    { ext: 'm4v', want: 'video/mp4' },
    { ext: 'mov', want: 'video/quicktime' },
    { ext: 'webm', want: 'video/webm' },
    { ext: 'mkv', want: 'video/x-matroska' },
    { ext: 'ogv', want: 'video/ogg' },
    { ext: 'avi', want: 'video/x-msvideo' },
    { ext: 'ts', want: 'video/mp2t' },
    { ext: 'm3u8', want: 'application/vnd.apple.mpegurl' },
    { ext: 'mpd', want: 'application/dash+xml' },
    { ext: 'm4s', want: 'video/iso.segment' },
    { ext: 'mp3', want: 'audio/mpeg' },
    { ext: 'm4a', want: 'audio/mp4' },
    { ext: 'aac', want: 'audio/aac' },
    { ext: 'ogg', want: 'audio/ogg' },
    { ext: 'opus', want: 'audio/ogg' },
    { ext: 'wav', want: 'audio/wav' },
    { ext: 'flac', want: 'audio/flac' },
    { ext: 'vtt', want: 'text/vtt; charset=utf-8' },
    { ext: 'srt', want: 'application/x-subrip' },
    { ext: 'jpg', want: 'image/jpeg' },
    { ext: 'jpeg', want: 'image/jpeg' },
    { ext: 'png', want: 'image/png' },
    { ext: 'webp', want: 'image/webp' },
  ];
  for (const { ext, want } of cases) {
    it(`clip.${ext} → ${want}`, () => assert.equal(lookup(`clip.${ext}`), want));
    it(`CLIP.${ext.toUpperCase()} → ${want}`, () => assert.equal(lookup(`CLIP.${ext.toUpperCase()}`), want));
    it(`a/b.c/clip.${ext} → ${want}`, () => assert.equal(lookup(`a/b.c/clip.${ext}`), want));
  }

  it('every MEDIA_TYPES entry has a row above', () => {
    assert.deepEqual(Object.keys(MEDIA_TYPES).sort(), cases.map((c) => c.ext).sort());
  });

  it('MEDIA_TYPES is frozen', () => assert.ok(Object.isFrozen(MEDIA_TYPES)));
  it(`FALLBACK_MEDIA_TYPE is ${OCTET}`, () => assert.equal(FALLBACK_MEDIA_TYPE, OCTET));

  const names: ReadonlyArray<{ name: string; want: string }> = [
    { name: 'Clip.Mp4', want: 'video/mp4' },
    { name: 'clip.tar.mp4', want: 'video/mp4' },
    { name: 'clip.mp4.txt', want: OCTET },
    { name: 'a.mp4/readme', want: OCTET },
    { name: 'a.b/c', want: OCTET },
    { name: 'a.b/.mp4', want: OCTET },
    { name: 'README', want: OCTET },
    { name: 'mp4', want: OCTET },
    { name: 'a/mp4', want: OCTET },
    { name: '.mp4', want: OCTET },
    { name: 'dir/.mp4', want: OCTET },
    { name: '..mp4', want: 'video/mp4' },
    { name: 'clip.', want: OCTET },
    { name: 'clip.mp4 ', want: OCTET },
    { name: '', want: OCTET },
    { name: 'clip.exe', want: OCTET },
    { name: 'clip.html', want: OCTET },
    { name: 'clip.js', want: OCTET },
    { name: 'clip.svg', want: OCTET },
    // The table is a Map: inherited Object properties are not extensions.
    { name: 'x.constructor', want: OCTET },
    { name: 'x.__proto__', want: OCTET },
    { name: 'x.toString', want: OCTET },
    { name: 'x.hasOwnProperty', want: OCTET },
  ];
  for (const { name, want } of names) {
    it(`${JSON.stringify(name)} → ${want}`, () => assert.equal(lookup(name), want));
  }
});

describe('createMediaTypeLookup, overrides', () => {
  const cases: ReadonlyArray<{ name: string; extra: MediaTypes; file: string; want: string }> = [
    { name: 'replaces a built-in entry', extra: { mkv: 'video/webm' }, file: 'a.mkv', want: 'video/webm' },
    { name: 'leading dot is dropped', extra: { '.mkv': 'video/webm' }, file: 'a.mkv', want: 'video/webm' },
    { name: 'key is lower-cased', extra: { MKV: 'video/webm' }, file: 'a.mkv', want: 'video/webm' },
    { name: 'dotted upper-case key', extra: { '.MKV': 'video/webm' }, file: 'a.MkV', want: 'video/webm' },
    { name: 'adds a new extension', extra: { mxf: 'application/mxf' }, file: 'a.mxf', want: 'application/mxf' },
    { name: 'new extension, dotted', extra: { '.mxf': 'application/mxf' }, file: 'A.MXF', want: 'application/mxf' },
    { name: 'other entries stay built-in', extra: { mkv: 'video/webm' }, file: 'a.mp4', want: 'video/mp4' },
    { name: 'unknown still falls back', extra: { mxf: 'application/mxf' }, file: 'a.bin', want: OCTET },
    { name: 'an extra key does not make .mxf a name', extra: { mxf: 'application/mxf' }, file: '.mxf', want: OCTET },
  ];
  for (const { name, extra, file, want } of cases) {
    it(`${name}: ${JSON.stringify(extra)} ${file} → ${want}`, () => assert.equal(createMediaTypeLookup(extra)(file), want));
  }

  it('an override does not leak into another lookup or MEDIA_TYPES', () => {
    createMediaTypeLookup({ mp4: 'video/x-other', mxf: 'application/mxf' });
    assert.equal(createMediaTypeLookup()('a.mp4'), 'video/mp4');
    assert.equal(createMediaTypeLookup()('a.mxf'), OCTET);
    assert.equal(MEDIA_TYPES['mp4'], 'video/mp4');
  });

  it('changing the extra object later does not change the lookup', () => {
    const extra: Record<string, string> = { mxf: 'application/mxf' };
    const lookup = createMediaTypeLookup(extra);
    extra['mxf'] = 'text/html';
    extra['mov'] = 'text/html';
    assert.equal(lookup('a.mxf'), 'application/mxf');
    assert.equal(lookup('a.mov'), 'video/quicktime');
  });
});

describe('isActiveContent (files a browser may render as a document)', () => {
  const cases: ReadonlyArray<{ name: string; type: string; want: boolean }> = [
    { name: 'manifest.mpd', type: 'application/dash+xml', want: true },
    { name: 'a/b.mpd', type: OCTET, want: true },
    { name: 'logo.svg', type: 'image/svg+xml', want: true },
    { name: 'logo.SVG', type: OCTET, want: true },
    { name: 'page.html', type: OCTET, want: true },
    { name: 'page.htm', type: 'text/html; charset=utf-8', want: true },
    { name: 'page.xhtml', type: 'application/xhtml+xml', want: true },
    { name: 'data.xml', type: 'application/xml', want: true },
    { name: 'feed', type: 'application/atom+xml', want: true },
    { name: 'upload.bin', type: ' Text/HTML ;charset=x', want: true },
    { name: 'clip.mp4', type: 'video/mp4', want: false },
    { name: 'index.m3u8', type: 'application/vnd.apple.mpegurl', want: false },
    { name: 'subs.vtt', type: 'text/vtt; charset=utf-8', want: false },
    { name: 'poster.jpg', type: 'image/jpeg', want: false },
    { name: '.svg', type: OCTET, want: false }, // a dotfile named ".svg" has no extension
    { name: 'svg/clip.mp4', type: 'video/mp4', want: false },
  ];
  for (const { name, type, want } of cases) {
    it(`${name} as ${type} → ${want}`, () => assert.equal(isActiveContent(name, type), want));
  }
});
