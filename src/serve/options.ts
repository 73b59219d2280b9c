import { realpathSync, statSync } from 'node:fs';
import { sep } from 'node:path';
import { DEFAULT_CHUNK_SIZE } from '../files/file-iterator.ts';
import type { AccessLogHook } from '../http/access-log.ts';
import { createProxyTrust } from '../http/client-ip.ts';
import { createMediaTypeLookup, type MediaTypes } from '../http/mime.ts';
import { DEFAULT_MAX_RANGES, RangeParser } from '../http/range.ts';
import { DEFAULT_OPEN_FILE_CACHE, type OpenFileCacheOptions } from '../files/open-file-cache.ts';
import { BLOCK_SIZE, BlockCache, DEFAULT_BLOCK_CACHE_MAX_BYTES, type BlockCacheOptions } from '../files/block-cache.ts';
import { resolveRate, type ChooseRate, type RateOption } from './rate-limit.ts';
import { DEFAULT_MAX_STREAMS_PER_SESSION, createTurns, type Turns } from './fairness.ts';
import { SIGNATURE_PARAMS, resolveSigned, type SignedOptions, type UrlVerifier } from './signed-url.ts';
import type { ErrorHook, IdentifyViewer, StreamRequest, WatchRecorder } from '../types.ts';
import { resolveCors, type CorsOption, type CorsPolicy } from './cors.ts';
import { resolveCompress, type CompressedCache, type CompressOption } from './compress.ts';

/** The file a request asked for, as the permission checks see it (before it is opened). */
export type RequestedFile = {
  /** The path relative to `root`, normalised, with `/` separators: what the URL named. */
  readonly path: string;
  /** `root` joined with `path`, before symlinks are resolved. */
  readonly absolutePath: string;
};

/**
 * A permission check's answer: `true` allows; `false` refuses with 403; a number from 400 to 499
 * refuses with that status (404 to hide the file; 401 gets `WWW-Authenticate: Bearer`); an object
 * refuses with its status and extra headers, e.g. `{ status: 401, headers: { 'WWW-Authenticate':
 * 'Basic realm="videos"' } }`.
 */
export type PermissionVerdict =
  | boolean
  | number
  | { readonly status: number; readonly headers?: Readonly<Record<string, string>> | undefined };

/** Decides whether a request may read a file; all of a handler's checks must return `true`. */
export type PermissionCheck = (req: StreamRequest, file: RequestedFile) => PermissionVerdict | Promise<PermissionVerdict>;

/** Options shared by `createStreamHandler` and `streamFile`: how one file is answered. */
export type SendOptions = {
  /**
   * Caps the body of an open-ended range (`bytes=N-`) at this many bytes; explicit ranges are
   * always honoured exactly. Default: no cap (see README: a capped 206 truncates `curl -C -`).
   */
  readonly maxChunkSize?: number | undefined;
  /** Largest number of ranges in one Range header before it is ignored (200). Default 200. */
  readonly maxRanges?: number | undefined;
  /**
   * Bytes per file read while the client is backed up: the memory a slow client pins.
   * Default 64 KiB.
   */
  readonly chunkSize?: number | undefined;
  /**
   * Largest file read: reads double from `chunkSize` up to this while the client keeps up, which
   * is what makes one fast connection fast. `chunkSize` turns growth off. Default 1 MiB.
   */
  readonly maxReadSize?: number | undefined;
  /** Cache-Control value, or `false` for none. Default: see README. */
  readonly cacheControl?: string | false | undefined;
  /** Extra or overriding extension → media type entries, e.g. `{ mkv: 'video/webm' }`. */
  readonly mediaTypes?: MediaTypes | undefined;
  /** Told about server-side failures. Nothing is printed by default. */
  readonly onError?: ErrorHook | undefined;
  /**
   * How long a response may wait for a client that reads nothing (socket backed up) before it
   * is cut, releasing its file; 0 waits forever. Default 60 s, like nginx's send_timeout.
   */
  readonly sendTimeoutMs?: number | undefined;
  /**
   * HTTP/2 streams of one session that may hold a file and a read buffer at once; the others
   * wait, holding nothing (a pipelined HTTP/1.1 request always waits for its turn). Default 100.
   */
  readonly maxStreamsPerSession?: number | undefined;
  /**
   * Bandwidth shaping per response: `{ bytesPerSecond, burstBytes }` (nginx's limit_rate and
   * limit_rate_after), or a function of the request and file choosing one (undefined: unpaced).
   * Default: unpaced.
   */
  readonly rate?: RateOption | undefined;
  /**
   * Lets pages on other origins read responses (players, `<video crossorigin>`, `<track>`):
   * `true` for any origin (`*`), or `{ origin, credentials?, maxAgeSeconds?, allowHeaders? }`.
   * Preflights are answered 204. Default: off (see README, "Players on another origin").
   */
  readonly cors?: CorsOption | undefined;
  /**
   * Brotli/gzip for text manifests and captions (.m3u8, .mpd, .vtt, .srt, .json) when the client
   * accepts it and no Range applies; `false` turns it off. Default on (1 MiB files, 16 MiB cache).
   */
  readonly compress?: CompressOption | undefined;
  /**
   * Keeps the 64 KiB blocks that short bodies (up to 128 KiB: first bytes, index atoms, tiny
   * ranges) were read from, keyed by the file's device, inode, size, mtime and ctime, so a
   * changed file is never answered from them. `false` reads every body from the file.
   * Default `{ maxBytes: 64 MiB }`.
   */
  readonly blockCache?: false | Partial<BlockCacheOptions> | undefined;
};

/** What `createStreamHandler` accepts. Only `root` is required. */
export type StreamHandlerOptions = SendOptions & {
  /** The folder files are served from. Nothing outside its real path is ever served. */
  readonly root: string;
  /**
   * Where the file name comes from: `'query'` reads the query parameter `param`
   * (`/stream?path=a/b.mp4`); `'path'` reads the URL pathname below `prefix`
   * (`/videos/a/b.mp4`), which HLS/DASH playlists need for their relative segment URLs.
   * Default `'query'`.
   */
  readonly mode?: 'query' | 'path' | undefined;
  /** The query parameter naming the file in query mode. Default `'path'`. */
  readonly param?: string | undefined;
  /** The URL prefix stripped in path mode, e.g. `'/videos'`. Default `''`. */
  readonly prefix?: string | undefined;
  /** Checks that must all allow a request, run in order before the file is opened. Default: none. */
  readonly permissions?: readonly PermissionCheck[] | undefined;
  /** `'inside-root'` follows a symlink only when its target stays inside root; `'deny'` never. */
  readonly symlinks?: 'inside-root' | 'deny' | undefined;
  /** `'deny'` refuses any path segment starting with a dot (403); `'allow'` serves them. */
  readonly dotfiles?: 'deny' | 'allow' | undefined;
  /**
   * Records every streamed GET in SQLite: `true` opens `watch.db` in the working directory, a
   * string opens that file, a `WatchLog` is used as is (you close it). Default: off.
   */
  readonly watchLog?: boolean | string | WatchRecorder | undefined;
  /** Tells the watch log who a request comes from. Default: everyone is anonymous. */
  readonly identify?: IdentifyViewer | undefined;
  /**
   * Called once per finished response with what an access log writes (client IP through
   * `trustProxy`, request line, status, body bytes, Referer, User-Agent, Range, aborted,
   * duration); `formatCombined` and `formatJson` make it a line. Not called for requests passed
   * to `next()`. Default: none.
   */
  readonly accessLog?: AccessLogHook | undefined;
  /**
   * Reverse proxies whose X-Forwarded-For the watch log, the access log and an IP-bound link
   * believe: addresses, CIDR ranges (`10.0.0.0/8`) or the words `loopback` and `private`. Default: none.
   */
  readonly trustProxy?: readonly string[] | undefined;
  /**
   * Serves only signed links (`signUrl`): a missing, tampered, wrong-path or wrong-binding
   * signature is 403 and an expired one 410, checked before permissions or the disk. Responses
   * default to a private Cache-Control. Default: off.
   */
  readonly signed?: SignedOptions | undefined;
  /**
   * Keeps recently served files open (nginx's open_file_cache): a repeat request costs one stat
   * of the path, which also sees any change to the file. `false` opens every request afresh.
   * Default `{ maxFiles: 256, inactiveMs: 20_000 }`.
   */
  readonly openFileCache?: false | Partial<OpenFileCacheOptions> | undefined;
  /**
   * Takes player reports (README: Viewing analytics): POST `/_sage/beacon` (after `prefix` in path
   * mode) and serves the beacon script at `/_sage/beacon.js`. Needs `watchLog`. Default: off.
   */
  readonly beacon?: boolean | undefined;
};

/** `SendOptions` after validation, with everything precomputed that does not vary per request. */
export type ResolvedSendOptions = {
  readonly maxChunkSize: number | undefined;
  readonly chunkSize: number;
  readonly maxReadSize: number;
  readonly cacheControl: string | undefined;
  readonly rangeParser: RangeParser;
  readonly mediaTypeFor: (fileName: string) => string;
  readonly onError: ErrorHook | undefined;
  readonly sendTimeoutMs: number;
  readonly rate: ChooseRate | undefined;
  readonly cors: CorsPolicy | undefined;
  readonly compress: CompressedCache | undefined;
  /** Blocks of short bodies, shared by every request these options serve; undefined when off. */
  readonly blockCache: BlockCache | undefined;
  /** Whose turn it is to hold a file, per connection (see `awaitTurn`). */
  readonly turns: Turns;
};

/** `StreamHandlerOptions` after validation. */
export type ResolvedOptions = ResolvedSendOptions & {
  readonly root: string;
  readonly realRoot: string;
  readonly mode: 'query' | 'path';
  readonly param: string;
  readonly prefix: string;
  readonly permissions: readonly PermissionCheck[];
  readonly symlinks: 'inside-root' | 'deny';
  readonly dotfiles: 'deny' | 'allow';
  /** The watch log, once open; undefined when logging is off. */
  readonly watchLog: Promise<WatchRecorder | undefined> | undefined;
  /** True when the handler opened the log itself, and so closes it. */
  readonly ownsWatchLog: boolean;
  readonly identify: IdentifyViewer | undefined;
  readonly accessLog: AccessLogHook | undefined;
  readonly trustProxy: readonly string[];
  readonly openFileCache: OpenFileCacheOptions | undefined;
  /** The signed-link verifier, when `signed` is on. */
  readonly signed: UrlVerifier | undefined;
  readonly beacon: boolean;
};

/** 1 MiB reads take one connection from ~0.5 to over 1 GB/s (FACTS); the budget bounds their memory. */
export const DEFAULT_MAX_READ_SIZE: number = 1024 * 1024;

/** Where `watchLog: true` writes. */
export const DEFAULT_WATCH_LOG_PATH = 'watch.db';

/** How long a stalled client may hold a response (and its file) open: nginx's send_timeout. */
export const DEFAULT_SEND_TIMEOUT_MS = 60_000;

/** Revalidate every time (cheap with our validators); shared caches may keep public files. */
export const PUBLIC_CACHE_CONTROL = 'public, max-age=0, must-revalidate';
/** With permission checks or signed links, a shared cache must not hand a protected file to someone else. */
export const PRIVATE_CACHE_CONTROL = 'private, max-age=0, must-revalidate';

/**
 * Validates the options shared by the handler and `streamFile` and precomputes their constants.
 *
 * Misuse throws a TypeError naming the option; nothing here depends on a request.
 */
export function resolveSendOptions(
  options: SendOptions,
  defaultCacheControl: string = PUBLIC_CACHE_CONTROL,
): ResolvedSendOptions {
  const { maxChunkSize, chunkSize = DEFAULT_CHUNK_SIZE, cacheControl, mediaTypes, onError, sendTimeoutMs } = options;
  if (maxChunkSize !== undefined) checkInteger('maxChunkSize', maxChunkSize, 1);
  checkInteger('chunkSize', chunkSize, 1024);
  const { maxReadSize = Math.max(chunkSize, DEFAULT_MAX_READ_SIZE) } = options;
  checkInteger('maxReadSize', maxReadSize, chunkSize);
  if (cacheControl !== undefined && cacheControl !== false) checkHeaderValue('cacheControl', cacheControl);
  if (mediaTypes !== undefined) {
    if (mediaTypes === null || typeof mediaTypes !== 'object') throw new TypeError('options.mediaTypes must be an object');
    for (const [ext, type] of Object.entries(mediaTypes)) checkHeaderValue(`mediaTypes.${ext}`, type);
  }
  if (sendTimeoutMs !== undefined) checkInteger('sendTimeoutMs', sendTimeoutMs, 0);
  const { maxStreamsPerSession = DEFAULT_MAX_STREAMS_PER_SESSION } = options;
  checkInteger('maxStreamsPerSession', maxStreamsPerSession, 1);
  if (onError !== undefined && typeof onError !== 'function') {
    throw new TypeError(`options.onError must be a function, got ${typeof onError}`);
  }
  const compress = resolveCompress(options.compress);
  return Object.freeze({
    maxChunkSize,
    chunkSize,
    maxReadSize,
    cacheControl: cacheControl === false ? undefined : (cacheControl ?? defaultCacheControl),
    rangeParser: new RangeParser({ maxRanges: options.maxRanges === undefined ? DEFAULT_MAX_RANGES : options.maxRanges }),
    mediaTypeFor: createMediaTypeLookup(mediaTypes),
    onError,
    sendTimeoutMs: sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS,
    rate: resolveRate(options.rate, 'options.rate'),
    cors: resolveCors(options.cors, compress !== undefined),
    compress,
    blockCache: resolveBlockCache(options.blockCache),
    turns: createTurns(maxStreamsPerSession),
  });
}

function resolveBlockCache(option: false | Partial<BlockCacheOptions> | undefined): BlockCache | undefined {
  if (option === false) return undefined;
  if (option !== undefined && (option === null || typeof option !== 'object')) {
    throw new TypeError('options.blockCache must be false or { maxBytes? }');
  }
  const { maxBytes = DEFAULT_BLOCK_CACHE_MAX_BYTES } = option ?? {};
  checkInteger('blockCache.maxBytes', maxBytes, BLOCK_SIZE);
  return new BlockCache({ maxBytes });
}

/**
 * Validates handler options once, at setup: `root` must be an existing directory, and it is
 * resolved to its real path here, so confinement compares against the folder as it is now.
 */
export function resolveOptions(options: StreamHandlerOptions): ResolvedOptions {
  if (options === null || typeof options !== 'object') {
    throw new TypeError('options must be an object with at least { root }');
  }
  const { root, mode = 'query', param = 'path', prefix = '', permissions = [] } = options;
  const { symlinks = 'inside-root', dotfiles = 'deny' } = options;
  if (typeof root !== 'string' || root === '') {
    throw new TypeError('options.root must be a non-empty string');
  }
  let realRoot: string;
  try {
    realRoot = realpathSync(root);
    if (!statSync(realRoot).isDirectory()) throw new Error('not a directory');
  } catch (cause) {
    throw new TypeError(`options.root must be an existing directory, got ${JSON.stringify(root)}`, { cause });
  }
  checkOneOf('mode', mode, ['query', 'path']);
  checkOneOf('symlinks', symlinks, ['inside-root', 'deny']);
  checkOneOf('dotfiles', dotfiles, ['deny', 'allow']);
  if (typeof param !== 'string' || param === '') {
    throw new TypeError(`options.param must be a non-empty string, got ${JSON.stringify(param)}`);
  }
  if (typeof prefix !== 'string' || (prefix !== '' && !prefix.startsWith('/'))) {
    throw new TypeError(`options.prefix must be '' or start with '/', got ${JSON.stringify(prefix)}`);
  }
  if (!Array.isArray(permissions) || permissions.some((check) => typeof check !== 'function')) {
    throw new TypeError('options.permissions must be an array of functions');
  }
  const { watchLog = false, identify, trustProxy = [] } = options;
  if (identify !== undefined && typeof identify !== 'function') {
    throw new TypeError(`options.identify must be a function, got ${typeof identify}`);
  }
  if (!Array.isArray(trustProxy) || trustProxy.some((ip) => typeof ip !== 'string')) {
    throw new TypeError('options.trustProxy must be an array of IP address strings');
  }
  if (options.accessLog !== undefined && typeof options.accessLog !== 'function') {
    throw new TypeError(`options.accessLog must be a function, got ${typeof options.accessLog}`);
  }
  createProxyTrust(trustProxy); // throws on an entry that is not an address, a CIDR range or a word
  if (typeof watchLog !== 'boolean' && typeof watchLog !== 'string' && !isWatchRecorder(watchLog)) {
    throw new TypeError('options.watchLog must be true, a database path or a WatchLog');
  }
  const signed = options.signed === undefined ? undefined : resolveSigned(options.signed, 'options.signed');
  if (signed !== undefined && mode === 'query' && SIGNATURE_PARAMS.includes(param)) {
    throw new TypeError(`options.param must not be a signature parameter (${SIGNATURE_PARAMS.join(', ')}) with signed links, got '${param}'`);
  }
  const { beacon = false } = options;
  if (typeof beacon !== 'boolean') throw new TypeError(`options.beacon must be a boolean, got ${typeof beacon}`);
  if (beacon && watchLog === false) throw new TypeError('options.beacon needs options.watchLog: reports are stored in the watch log');
  const defaultCacheControl =
    permissions.length > 0 || signed !== undefined ? PRIVATE_CACHE_CONTROL : PUBLIC_CACHE_CONTROL;
  const send = resolveSendOptions(options, defaultCacheControl);
  return Object.freeze({
    ...send,
    root: root.replace(/\/+$/, ''), // '/' becomes '': file paths are `${root}/${path}`
    realRoot: realRoot.endsWith(sep) ? realRoot.slice(0, -1) : realRoot,
    mode,
    param,
    prefix: prefix.replace(/\/+$/, ''),
    permissions: Object.freeze([...permissions]),
    symlinks,
    dotfiles,
    watchLog: openWatchLog(watchLog, send.onError),
    ownsWatchLog: watchLog === true || typeof watchLog === 'string',
    identify,
    accessLog: options.accessLog,
    trustProxy: Object.freeze([...trustProxy]),
    openFileCache: resolveOpenFileCache(options.openFileCache),
    signed,
    beacon,
  });
}

// Opening is async (node:sqlite loads lazily); a log that fails to open turns logging off and
// is reported, because streaming must never depend on it.
function openWatchLog(
  watchLog: boolean | string | WatchRecorder,
  onError: ErrorHook | undefined,
): Promise<WatchRecorder | undefined> | undefined {
  if (watchLog === false) return undefined;
  if (typeof watchLog === 'object') return Promise.resolve(watchLog);
  const path = watchLog === true ? DEFAULT_WATCH_LOG_PATH : watchLog;
  // Loaded here, not imported at the top: the core never loads the watch log (or node:sqlite) unless asked.
  const opened = import('../watch-log/watch-log.ts').then(({ WatchLog }) =>
    WatchLog.open(path, onError === undefined ? {} : { onError }),
  );
  return opened.catch((err: unknown) => {
    onError?.(err);
    return undefined;
  });
}

// A WatchLog, or anything shaped like one: the core knows the log only by this shape.
function isWatchRecorder(value: unknown): value is WatchRecorder {
  if (value === null || typeof value !== 'object') return false;
  const { record, close } = value as Partial<WatchRecorder>;
  return typeof record === 'function' && typeof close === 'function';
}

function resolveOpenFileCache(option: false | Partial<OpenFileCacheOptions> | undefined): OpenFileCacheOptions | undefined {
  if (option === false) return undefined;
  if (option !== undefined && (option === null || typeof option !== 'object')) {
    throw new TypeError('options.openFileCache must be false or { maxFiles?, inactiveMs? }');
  }
  const { maxFiles = DEFAULT_OPEN_FILE_CACHE.maxFiles, inactiveMs = DEFAULT_OPEN_FILE_CACHE.inactiveMs } = option ?? {};
  checkInteger('openFileCache.maxFiles', maxFiles, 1);
  checkInteger('openFileCache.inactiveMs', inactiveMs, 1);
  return Object.freeze({ maxFiles, inactiveMs });
}

function checkInteger(name: string, value: unknown, min: number): void {
  if (!Number.isSafeInteger(value) || (value as number) < min) {
    throw new TypeError(`options.${name} must be an integer >= ${min}, got ${String(value)}`);
  }
}

function checkOneOf(name: string, value: unknown, allowed: readonly string[]): void {
  if (!allowed.includes(value as string)) {
    throw new TypeError(`options.${name} must be one of ${allowed.map((a) => `'${a}'`).join(', ')}, got ${String(value)}`);
  }
}

function checkHeaderValue(name: string, value: unknown): void {
  // Visible ASCII and spaces only: anything else would be a header-injection bug waiting to happen.
  if (typeof value !== 'string' || !/^[\x20-\x7e]*$/.test(value)) {
    throw new TypeError(`options.${name} must be a header value string, got ${String(value)}`);
  }
}
