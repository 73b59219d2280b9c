import type { DatabaseSync } from 'node:sqlite';
import type { PlaybackReport } from '../types.ts';
import { mergePlayedRanges, parsePlayedRanges, playedSeconds, type PlayedRange } from './played-ranges.ts';

/**
 * What a session is: a file a player plays (`video`), an HLS/DASH manifest whose segments join
 * it (`stream`), or a part that is not a video on its own (`asset`: segments, init files,
 * captions, images), kept for the bytes but not listed as a video.
 */
export type SessionKind = 'video' | 'stream' | 'asset';

const MANIFEST = /\.(m3u8|mpd)$/i;
const VIDEO = /\.(mp4|m4v|mov|webm|mkv|ogv|mp3|m4a|ogg|opus|wav|flac|avi)$/i;

/** The kind a session of `path` has, from its extension (see {@link SessionKind}). */
export function kindOf(path: string): SessionKind {
  if (MANIFEST.test(path)) return 'stream';
  // An fMP4 HLS init segment is an .mp4 too, but it joins its manifest's session first.
  if (VIDEO.test(path)) return 'video';
  return 'asset';
}

/** The folder of `path` with its trailing '/', '' at the root: segments below it join a manifest. */
export function folderOf(path: string): string {
  const slash = path.lastIndexOf('/');
  return slash === -1 ? '' : path.slice(0, slash + 1);
}

/**
 * Schema step 3's backfill: sessions stored before it are classified by their path, so
 * manifests, segments, captions and images stop being listed as videos.
 */
export function classifySessions(db: DatabaseSync): void {
  const update = db.prepare('UPDATE watch_session SET kind = ?, folder = ? WHERE id = ?');
  for (const row of db.prepare('SELECT id, path FROM watch_session').all() as Record<string, unknown>[]) {
    const path = String(row['path']);
    update.run(kindOf(path), folderOf(path), Number(row['id']));
  }
}

/** A session's stored playback figures, as {@link mergeReport} reads and writes them. */
export type StoredPlayback = {
  readonly playedRanges: string;
  readonly rebufferSeconds: number;
  readonly events: string;
};

/** The columns a report writes. */
export type MergedPlayback = {
  readonly playedRanges: string;
  readonly watchedSeconds: number;
  readonly durationSeconds: number;
  readonly position: number;
  readonly rebufferSeconds: number;
  readonly events: string;
};

/**
 * Folds a report into what a session holds: the union of played ranges (bounded, see
 * mergePlayedRanges), the latest duration and position, and the larger of the stored and reported
 * rebuffer time and event counts (a beacon reports totals since its page loaded, so a lost report
 * loses nothing the next one does not repeat).
 */
export function mergeReport(stored: StoredPlayback | undefined, report: PlaybackReport): MergedPlayback {
  const before: PlayedRange[] = stored === undefined ? [] : parsePlayedRanges(stored.playedRanges);
  const played = mergePlayedRanges([...before, ...report.played]);
  const events: Record<string, number> = {};
  let old: Record<string, unknown> = {};
  try {
    old = stored === undefined ? {} : (JSON.parse(stored.events) as Record<string, unknown>);
  } catch {
    // A damaged row starts counting again.
  }
  for (const [name, count] of Object.entries(report.events)) {
    const was = old[name];
    events[name] = Math.max(count, typeof was === 'number' ? was : 0);
  }
  return {
    playedRanges: JSON.stringify(played.map(([s, e]) => [round3(s), round3(e)])),
    watchedSeconds: round3(Math.min(playedSeconds(played), report.durationSeconds)),
    durationSeconds: report.durationSeconds,
    position: round3(report.position),
    rebufferSeconds: Math.max(stored?.rebufferSeconds ?? 0, report.rebufferSeconds),
    events: JSON.stringify(events),
  };
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
