import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findTool } from './find-tool.ts';

// Small real media, made by ffmpeg at test time: a synthetic picture (testsrc) and tone (sine),
// 160x90 H.264 baseline + mono AAC, a keyframe every second so every segment starts with one and
// seeks land quickly. Each file takes ~0.2 s to make; all of them live in one temporary folder per
// process (removed when it exits) and are made once, however many tests ask.

/** A file inside mediaRoot(): `name` is its path below the root with `/`, ready for a URL. */
export type MediaFile = { readonly root: string; readonly name: string; readonly path: string };

export type MediaOptions = {
  /** Default 6. Whole seconds keep the 1 s segments even. */
  readonly seconds?: number;
};

const DEFAULT_SECONDS = 6;
const FRAME_RATE = 24;
const FFMPEG_TIMEOUT_MS = 30_000;

/**
 * The ffmpeg binary: exactly SAGE_STREAM_FFMPEG when set (a path that does not exist simulates a
 * machine without ffmpeg), else `ffmpeg` on PATH or in /usr/bin. Undefined when there is none.
 */
export function findFfmpeg(): string | undefined {
  return findTool('SAGE_STREAM_FFMPEG', ['ffmpeg']);
}


let root: string | undefined;
const made = new Map<string, Promise<MediaFile>>();

/** The folder every media file of this process is made in (to serve as a stream handler's root). */
export function mediaRoot(): string {
  if (root === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'sage-stream-media-'));
    process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
    root = dir;
  }
  return root;
}

/** Makes `name` once per process with `build` (given the root), and gives the same promise after. */
function once(name: string, build: (root: string) => Promise<void> | void): Promise<MediaFile> {
  let file = made.get(name);
  if (file === undefined) {
    const dir = mediaRoot();
    file = Promise.resolve(build(dir)).then(() => ({ root: dir, name, path: join(dir, ...name.split('/')) }));
    made.set(name, file);
  }
  return file;
}

/** ffmpeg's inputs and encoder settings shared by every format. */
function sourceArgs(seconds: number): string[] {
  return [
    ...['-f', 'lavfi', '-i', `testsrc=size=160x90:rate=${FRAME_RATE}`],
    ...['-f', 'lavfi', '-i', 'sine=frequency=440:sample_rate=44100'],
    ...['-t', String(seconds)],
    ...['-c:v', 'libx264', '-profile:v', 'baseline', '-pix_fmt', 'yuv420p', '-preset', 'ultrafast', '-b:v', '100k'],
    // A keyframe every second exactly, so 1 s segments each start with one.
    ...['-g', String(FRAME_RATE), '-keyint_min', String(FRAME_RATE), '-sc_threshold', '0'],
    ...['-c:a', 'aac', '-b:a', '32k', '-ac', '1'],
    ...['-threads', '1'],
  ];
}

async function ffmpeg(args: readonly string[]): Promise<void> {
  const binary = findFfmpeg();
  if (binary === undefined) throw new Error('ffmpeg not found (install Debian\'s ffmpeg package, or set SAGE_STREAM_FFMPEG)');
  const all = ['-hide_banner', '-loglevel', 'error', '-nostdin', '-y', ...args];
  await new Promise<void>((resolve, reject) => {
    const child = spawn(binary, all, { stdio: ['ignore', 'ignore', 'pipe'], timeout: FFMPEG_TIMEOUT_MS });
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`ffmpeg ${all.join(' ')} failed (${signal ?? `code ${code}`}):\n${stderr}`));
    });
  });
}

/** An MP4 with its index at the front (+faststart), as progressive download wants it. */
export function makeMp4({ seconds = DEFAULT_SECONDS }: MediaOptions = {}): Promise<MediaFile> {
  return once(`mp4-${seconds}s/clip.mp4`, (dir) => {
    mkdirSync(join(dir, `mp4-${seconds}s`), { recursive: true });
    return ffmpeg([...sourceArgs(seconds), '-movflags', '+faststart', join(dir, `mp4-${seconds}s`, 'clip.mp4')]);
  });
}

/** A WebVTT file with one cue a second (`Cue 1` …), written directly (no ffmpeg needed). */
export function makeVtt({ seconds = DEFAULT_SECONDS }: MediaOptions = {}): Promise<MediaFile> {
  return once(`vtt-${seconds}s/captions.vtt`, (dir) => {
    const cues = Array.from({ length: seconds }, (_, i) => `${i + 1}\n${vttTime(i)} --> ${vttTime(i + 1)}\nCue ${i + 1}\n`);
    mkdirSync(join(dir, `vtt-${seconds}s`), { recursive: true });
    writeFileSync(join(dir, `vtt-${seconds}s`, 'captions.vtt'), `WEBVTT\n\n${cues.join('\n')}`);
  });
}

function vttTime(seconds: number): string {
  const hh = String(Math.floor(seconds / 3600)).padStart(2, '0');
  const mm = String(Math.floor(seconds / 60) % 60).padStart(2, '0');
  const ss = String(seconds % 60).padStart(2, '0');
  return `${hh}:${mm}:${ss}.000`;
}

/** HLS with MPEG-TS segments: `index.m3u8` (VOD, 1 s segments) and `seg000.ts` …; gives the playlist. */
export function makeHlsTs({ seconds = DEFAULT_SECONDS }: MediaOptions = {}): Promise<MediaFile> {
  const folder = `hls-ts-${seconds}s`;
  return once(`${folder}/index.m3u8`, (dir) => {
    const out = join(dir, folder);
    mkdirSync(out, { recursive: true });
    return ffmpeg([
      ...sourceArgs(seconds),
      ...['-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod'],
      ...['-hls_segment_filename', join(out, 'seg%03d.ts'), join(out, 'index.m3u8')],
    ]);
  });
}

/** HLS with fragmented-MP4 segments: `index.m3u8`, `init.mp4` and `seg000.m4s` …; gives the playlist. */
export function makeHlsFmp4({ seconds = DEFAULT_SECONDS }: MediaOptions = {}): Promise<MediaFile> {
  const folder = `hls-fmp4-${seconds}s`;
  return once(`${folder}/index.m3u8`, (dir) => {
    const out = join(dir, folder);
    mkdirSync(out, { recursive: true });
    return ffmpeg([
      ...sourceArgs(seconds),
      ...['-f', 'hls', '-hls_time', '1', '-hls_playlist_type', 'vod', '-hls_segment_type', 'fmp4'],
      // The init name is written into the playlist as is: relative, next to the segments.
      ...['-hls_fmp4_init_filename', 'init.mp4', '-hls_segment_filename', join(out, 'seg%03d.m4s'), join(out, 'index.m3u8')],
    ]);
  });
}

/**
 * DASH (static, SegmentTemplate, 1 s segments): `manifest.mpd`, `init-0.m4s`/`init-1.m4s` (video,
 * audio) and `seg-0-001.m4s` …; gives the manifest.
 */
export function makeDash({ seconds = DEFAULT_SECONDS }: MediaOptions = {}): Promise<MediaFile> {
  const folder = `dash-${seconds}s`;
  return once(`${folder}/manifest.mpd`, (dir) => {
    const out = join(dir, folder);
    mkdirSync(out, { recursive: true });
    return ffmpeg([
      ...sourceArgs(seconds),
      ...['-f', 'dash', '-seg_duration', '1', '-use_template', '1', '-use_timeline', '0'],
      ...['-init_seg_name', 'init-$RepresentationID$.m4s', '-media_seg_name', 'seg-$RepresentationID$-$Number%03d$.m4s'],
      join(out, 'manifest.mpd'),
    ]);
  });
}
