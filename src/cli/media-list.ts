import { readdir } from 'node:fs/promises';

/** File extensions (lower case, no dot) the demo page lists: what a `<video>` element may play. */
export const PLAYABLE_EXTENSIONS: ReadonlySet<string> = new Set([
  'mp4', 'm4v', 'mov', 'webm', 'mkv', 'ogv', 'mp3', 'm4a', 'aac', 'ogg', 'opus', 'wav', 'flac',
]);

/** Streaming manifests the demo page lists too: HLS playlists and DASH MPDs. */
export const MANIFEST_EXTENSIONS: ReadonlySet<string> = new Set(['m3u8', 'mpd']);

/** The default cap on listed files: enough for a demo, small enough for one page. */
export const DEFAULT_MEDIA_LIMIT = 500;
/** Folders deeper than this below root are not walked. */
export const DEFAULT_MEDIA_DEPTH = 16;

export type ListMediaOptions = {
  /** At most this many files are returned. Default 500. */
  readonly limit?: number | undefined;
  /** Folders nested deeper than this are skipped. Default 16. */
  readonly maxDepth?: number | undefined;
};

/** What `listMedia` found: paths relative to root with `/` separators, and whether it stopped early. */
export type MediaList = { readonly files: readonly string[]; readonly truncated: boolean };

/**
 * Lists the playable media files under `root`, recursively, in sorted order, at most `limit`.
 *
 * Each folder's entries are sorted by name (UTF-16 code units, so the order does not depend on
 * the locale) and walked depth-first, so the list is sorted segment by segment (`a/z.mp4` comes
 * before `b.mp4`) and the walk can stop as soon as it has `limit` files. Names starting with a
 * dot are skipped, files and folders alike (the handler refuses them anyway), and so are
 * symlinks, which could loop, or point outside root, where the handler would refuse them.
 * Unreadable folders are skipped; only an unreadable `root` rejects.
 *
 * @example
 * const { files, truncated } = await listMedia('./videos', { limit: 100 });
 */
export async function listMedia(root: string, options: ListMediaOptions = {}): Promise<MediaList> {
  const { limit = DEFAULT_MEDIA_LIMIT, maxDepth = DEFAULT_MEDIA_DEPTH } = options;
  const files: string[] = [];
  let truncated = false;

  const walk = async (dir: string, prefix: string, depth: number): Promise<void> => {
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    for (const entry of entries) {
      if (entry.name.charCodeAt(0) === 0x2e) continue; // '.'
      if (entry.isDirectory()) {
        if (depth >= maxDepth) continue;
        try {
          await walk(`${dir}/${entry.name}`, `${prefix}${entry.name}/`, depth + 1);
        } catch {
          // An unreadable subfolder (EACCES) hides its files, not the rest of the list.
        }
      } else if (entry.isFile() && (isPlayable(entry.name) || isManifest(entry.name))) {
        if (files.length === limit) {
          truncated = true;
          return;
        }
        files.push(prefix + entry.name);
      }
      if (truncated) return;
    }
  };

  await walk(root, '', 0);
  return { files, truncated };
}

/** Whether a file name is an HLS or DASH manifest (`.m3u8`, `.mpd`, any case). */
export function isManifest(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && MANIFEST_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

/**
 * The file the demo page (and the start-up lines) open first: the first playable file that is not
 * part of an HLS/DASH stream, that is, not named `init*.mp4` and not in a folder that holds a
 * manifest (an fMP4 init segment plays as a zero-length video). Falls back to the first manifest,
 * then to undefined.
 */
export function firstPlayable(files: readonly string[]): string | undefined {
  const streamFolders = new Set(files.filter(isManifest).map(folderOf));
  const standalone = files.find((file) => isPlayable(file) && !INIT_SEGMENT.test(file) && !streamFolders.has(folderOf(file)));
  return standalone ?? files.find(isManifest) ?? files.find(isPlayable);
}

const INIT_SEGMENT = /(?:^|\/)init[^/]*\.mp4$/i;

function folderOf(file: string): string {
  const slash = file.lastIndexOf('/');
  return slash === -1 ? '' : file.slice(0, slash);
}

/** Whether a file name ends in one of `PLAYABLE_EXTENSIONS` (case-insensitive). */
export function isPlayable(name: string): boolean {
  const dot = name.lastIndexOf('.');
  return dot > 0 && PLAYABLE_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}
