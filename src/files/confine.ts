import { constants, statSync } from 'node:fs';
import { open, stat, type FileHandle } from 'node:fs/promises';
import { exclusiveLease, type FileLease, type OpenFile, type OpenFileCache } from './open-file-cache.ts';
import { confinedRealPath, isServable, openedPath, type Confinement } from './request-path.ts';

/**
 * O_NONBLOCK: opening a FIFO must not park a thread-pool thread until a writer shows up;
 * O_NOCTTY: a terminal device opened by mistake must not become the process's controlling
 * terminal. Both only matter if a swap wins the race after the stat that refuses non-files.
 */
export const READ_FLAGS: number = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;
/** O_NOFOLLOW: the path was just resolved, so a link there now was swapped in since. */
const CONFINED_FLAGS = READ_FLAGS | constants.O_NOFOLLOW;

/** Why a path that exists cannot be streamed. */
export type Unservable = 'forbidden' | 'not-a-file';

/**
 * Opens `<realRoot>/<path>` for reading if it may be served: a lease on the open regular file,
 * `'forbidden'` when its real path leaves root (or breaks the symlink or dotfile policy), or
 * `'not-a-file'` for a folder, FIFO or device. File-system errors are thrown for
 * `statusForFsError`.
 *
 * With a cache, one stat of the path decides whether the descriptor opened earlier is still this
 * file (see `OpenFileCache`). Otherwise the path is resolved and confined, opened without
 * following a last link, and the descriptor itself is checked (a folder on the way may have been
 * swapped for a link between the two), then fstat'ed. Concurrent misses for one path share
 * that one open (`OpenFileCache.share`).
 */
export async function openConfined(
  path: string,
  confinement: Confinement,
  cache: OpenFileCache | undefined,
): Promise<FileLease | Unservable> {
  return leaseIfCurrent(path, confinement, cache) ?? openUncached(path, confinement, cache);
}

/**
 * The cache's lease on `path` if it holds that file and one stat of the path says it is still
 * the same version; otherwise undefined (a stale entry is dropped). Throws the stat's error.
 */
export function leaseIfCurrent(path: string, confinement: Confinement, cache: OpenFileCache | undefined): FileLease | undefined {
  if (cache === undefined || !cache.has(path)) return undefined;
  // Synchronous on purpose, and only for a file opened moments ago: its inode and the folders
  // above it are in the kernel's caches, so this is one syscall of a microsecond or two, where
  // a trip through the thread pool costs more than that in hand-offs alone (profile in README).
  const current = statSync(`${confinement.realRoot}/${path}`, { bigint: true, throwIfNoEntry: false });
  return cache.lease(path, current);
}

/** `openConfined` without the cache lookup: resolves, confines and opens (sharing the cache's flights). */
export async function openUncached(
  path: string,
  confinement: Confinement,
  cache: OpenFileCache | undefined,
): Promise<FileLease | Unservable> {
  if (cache !== undefined) return cache.share(path, () => openChecked(path, confinement, cache));
  const opened = await openChecked(path, confinement, undefined);
  return typeof opened === 'string' ? opened : exclusiveLease(opened);
}

/** Resolves, confines, opens and checks the descriptor; closes it unless it is returned. */
async function openChecked(path: string, confinement: Confinement, cache: OpenFileCache | undefined): Promise<OpenFile | Unservable> {
  const realPath = await confinedRealPath(path, confinement);
  if (realPath === undefined) return 'forbidden';
  // Decided before open: opening a FIFO wakes its writer, a device may act on open (a tape
  // rewinds, a tty attaches). The fstat after open still checks the file actually opened.
  if (!(await stat(realPath)).isFile()) return 'not-a-file';
  const handle = await openOrMakeRoom(realPath, cache);
  let verdict: Unservable | undefined;
  try {
    const opened = await openedPath(handle);
    if (opened !== undefined && !isServable(opened, path, confinement)) verdict = 'forbidden';
    else {
      const stats = await handle.stat({ bigint: true });
      if (!stats.isFile()) verdict = 'not-a-file';
      else return { handle, stats };
    }
  } catch (err) {
    await handle.close();
    throw err;
  }
  await handle.close();
  return verdict;
}

/**
 * Opens for reading; when the process is out of descriptors (EMFILE, or ENFILE system-wide),
 * closes the cache's idle ones and tries once more, instead of answering 500 until they age out
 * (pinned by test/files/emfile.test.ts).
 */
async function openOrMakeRoom(path: string, cache: OpenFileCache | undefined): Promise<FileHandle> {
  try {
    return await open(path, CONFINED_FLAGS);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if ((code !== 'EMFILE' && code !== 'ENFILE') || cache === undefined || (await cache.closeIdle()) === 0) throw err;
    return open(path, CONFINED_FLAGS);
  }
}
