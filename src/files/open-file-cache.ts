import type { BigIntStats } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';

/** An open regular file and what `fstat` said about it once it was open. */
export type OpenFile = {
  readonly handle: FileHandle;
  readonly stats: BigIntStats;
};

/** One use of an open file; `release()` once the response is done (idempotent). */
export type FileLease = {
  readonly file: OpenFile;
  /** Gives the file back; a promise only when that closes it (nothing to wait for otherwise). */
  release(): Promise<void> | undefined;
};

/** How many files stay open and for how long; see `OpenFileCache`. */
export type OpenFileCacheOptions = {
  /** Most files kept open at once; the least recently used is closed first. */
  readonly maxFiles: number;
  /** A file nobody asked for in this long is closed. */
  readonly inactiveMs: number;
};

export const DEFAULT_OPEN_FILE_CACHE: OpenFileCacheOptions = Object.freeze({ maxFiles: 256, inactiveMs: 20_000 });

type Entry = {
  readonly file: OpenFile;
  users: number;
  lastUsedMs: number;
  evicted: boolean;
};

/** An open in progress that later callers for the same key join; `joined` counts all of them. */
type Flight = { joined: number; readonly done: Promise<Entry | string> };

/**
 * Keeps hot files open between requests, like nginx's open_file_cache, so a request for a file
 * served a moment ago costs one `stat` of its path instead of realpath, open, a check of the
 * descriptor, fstat and close.
 *
 * An entry is reused only while a fresh stat of the path shows the same device, inode, size,
 * mtime and ctime as the descriptor had when it was opened: a file rewritten, truncated, replaced
 * by rename, or a folder swapped on the way, is seen on the very next request. ctime also moves
 * when the file itself is renamed or linked, so an unchanged ctime means the inode still sits
 * where it was checked to be inside root.
 *
 * A descriptor is closed when its entry is evicted (replaced, least recently used, inactive,
 * `close()`) and no response is still reading it; it is never read after that close.
 */
export class OpenFileCache {
  readonly #options: OpenFileCacheOptions;
  readonly #entries = new Map<string, Entry>(); // in least-recently-used-first order
  readonly #flights = new Map<string, Flight>();
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;
  #hits = 0;
  #misses = 0;

  constructor(options: OpenFileCacheOptions = DEFAULT_OPEN_FILE_CACHE) {
    this.#options = options;
  }

  /** Files currently kept open (in use or idle). */
  get size(): number {
    return this.#entries.size;
  }

  /** Requests served from a descriptor kept open (`lease` found it current). */
  get hits(): number {
    return this.#hits;
  }

  /** Files opened and added, because they were not cached or had changed. */
  get misses(): number {
    return this.#misses;
  }

  /** Whether a file is cached under `key` (stale or not). */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /**
   * A lease on the file cached under `key` if `current`, a stat of its path taken now, still
   * describes it; otherwise (also when the path is gone) the stale entry is evicted and
   * undefined returned.
   */
  lease(key: string, current: BigIntStats | undefined): FileLease | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (current === undefined || !isSameVersion(entry.file.stats, current)) {
      this.#evict(key, entry);
      return undefined;
    }
    this.#entries.delete(key); // re-insert: most recently used last
    this.#entries.set(key, entry);
    this.#hits++;
    return this.#leaseOf(entry, false);
  }

  /** Caches a file just opened and returns a lease on it (closed on release if the cache is closed). */
  add(key: string, file: OpenFile): FileLease {
    return this.#leaseOf(this.#insert(key, file, 0), false);
  }

  // `users` counts leases already promised (a flight's callers), so nothing closes it before they take them.
  #insert(key: string, file: OpenFile, users: number): Entry {
    const entry: Entry = { file, users, lastUsedMs: 0, evicted: this.#closed };
    this.#misses++;
    if (!this.#closed) {
      const previous = this.#entries.get(key);
      if (previous !== undefined) this.#evict(key, previous);
      this.#entries.set(key, entry);
      this.#trim();
      this.#sweeper ??= setInterval(() => this.#sweep(), Math.max(100, this.#options.inactiveMs / 2)).unref();
    }
    return entry;
  }

  /**
   * Single flight: runs `opening` for `key` unless an open of it is already under way, in which
   * case this caller waits for that one, so 500 simultaneous misses for one file cost one
   * descriptor. Each caller gets its own lease on the result, or the same verdict (a string)
   * or error. A caller that joins shares an open that began at most one open's time before its
   * request, as it would share a cache hit; the next request after it sees a fresh stat.
   */
  async share<T extends string>(key: string, opening: () => Promise<OpenFile | T>): Promise<FileLease | T> {
    let flight = this.#flights.get(key);
    if (flight === undefined) {
      const started: Flight = {
        joined: 0,
        // Leaves the map in the same step that settles it: no one joins a flight already landed.
        done: opening().then(
          (result) => {
            this.#flights.delete(key);
            return typeof result === 'string' ? result : this.#insert(key, result, started.joined);
          },
          (err: unknown) => {
            this.#flights.delete(key);
            throw err;
          },
        ),
      };
      this.#flights.set(key, started);
      flight = started;
    }
    flight.joined++;
    const result = await flight.done;
    return typeof result === 'string' ? (result as T) : this.#leaseOf(result, true);
  }

  /**
   * Closes every descriptor no response is using and resolves with how many it closed: what to
   * do when the process ran out of descriptors (EMFILE), before trying an open again.
   */
  async closeIdle(): Promise<number> {
    const idle = [...this.#entries].filter(([, entry]) => entry.users === 0);
    await Promise.all(idle.map(([key, entry]) => this.#evict(key, entry)));
    return idle.length;
  }

  /** Evicts everything; descriptors close as soon as their last response is done. */
  close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#sweeper = undefined;
    const closing = [...this.#entries].map(([key, entry]) => this.#evict(key, entry));
    return Promise.all(closing).then(() => undefined);
  }

  #leaseOf(entry: Entry, promised: boolean): FileLease {
    if (!promised) entry.users++;
    let released = false;
    return {
      file: entry.file,
      release: () => {
        if (released) return undefined;
        released = true;
        entry.users--;
        entry.lastUsedMs = Date.now();
        return entry.evicted && entry.users === 0 ? closeQuietly(entry.file) : undefined;
      },
    };
  }

  #evict(key: string, entry: Entry): Promise<void> {
    if (this.#entries.get(key) === entry) this.#entries.delete(key);
    if (entry.evicted) return Promise.resolve();
    entry.evicted = true;
    return entry.users === 0 ? closeQuietly(entry.file) : Promise.resolve();
  }

  #trim(): void {
    for (const [key, entry] of this.#entries) {
      if (this.#entries.size <= this.#options.maxFiles) return;
      void this.#evict(key, entry);
    }
  }

  #sweep(): void {
    const idleSince = Date.now() - this.#options.inactiveMs;
    for (const [key, entry] of this.#entries) {
      if (entry.users === 0 && entry.lastUsedMs <= idleSince) void this.#evict(key, entry);
    }
    if (this.#entries.size === 0) {
      clearInterval(this.#sweeper);
      this.#sweeper = undefined;
    }
  }
}

// Evictions run unawaited; a failing close (EIO on a network file system) must not crash the
// process, and the descriptor is gone either way.
function closeQuietly(file: OpenFile): Promise<void> {
  return file.handle.close().catch(() => undefined);
}

/** Same inode, and nothing about it changed: contents, size, links, name. */
function isSameVersion(cached: BigIntStats, current: BigIntStats): boolean {
  return (
    cached.ino === current.ino &&
    cached.dev === current.dev &&
    cached.size === current.size &&
    cached.mtimeNs === current.mtimeNs &&
    cached.ctimeNs === current.ctimeNs
  );
}

/** A lease on a file opened for one response only: release closes it. */
export function exclusiveLease(file: OpenFile): FileLease {
  let released = false;
  return {
    file,
    release: () => {
      if (released) return undefined;
      released = true;
      return file.handle.close();
    },
  };
}
