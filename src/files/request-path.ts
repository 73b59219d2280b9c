import { existsSync } from 'node:fs';
import { readlink, realpath, type FileHandle } from 'node:fs/promises';
import { queryParam } from '../http/query.ts';

/** The outcome of reading a file name from a request URL, before the disk is touched. */
export type RequestedPath =
  | { readonly kind: 'ok'; readonly path: string } // relative to root, '/'-separated, no '.', '..' or empty segments
  | { readonly kind: 'missing' } // no file named: 400 in query mode, 404 in path mode
  | { readonly kind: 'outside-prefix' } // path mode: the URL is not below the prefix (404, or next())
  | { readonly kind: 'bad-request' } // bad %-escape, NUL, backslash, '..' segment, repeated parameter
  | { readonly kind: 'forbidden' } // a dotfile segment while dotfiles are denied
  | { readonly kind: 'directory' }; // ends in '/' (or '/.'): names a folder, never served (404, or next())

/** Where the file name is in the URL. */
export type PathLocator =
  | { readonly mode: 'query'; readonly param: string }
  | { readonly mode: 'path'; readonly prefix: string };

const ABSOLUTE_FORM_ORIGIN = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/;

const MISSING = Object.freeze({ kind: 'missing' }) satisfies RequestedPath;
const OUTSIDE_PREFIX = Object.freeze({ kind: 'outside-prefix' }) satisfies RequestedPath;
const BAD_REQUEST = Object.freeze({ kind: 'bad-request' }) satisfies RequestedPath;
const FORBIDDEN = Object.freeze({ kind: 'forbidden' }) satisfies RequestedPath;
const DIRECTORY = Object.freeze({ kind: 'directory' }) satisfies RequestedPath;

/**
 * Reads the requested file name from a request URL and checks it lexically.
 *
 * The name is percent-decoded exactly once (`%252e%252e` stays the literal name `%2e%2e`), then
 * split on `/`: a `..` segment, a NUL byte or a backslash is a 400 (never "normalised" into
 * something else), and a segment starting with a dot is refused when dotfiles are denied.
 * A leading `/` is relative to root, like a URL path: `?path=/etc/passwd` names
 * `<root>/etc/passwd`. In query mode a repeated parameter is a 400, so a permission check and
 * the handler can never disagree about which file was asked for. A name ending in `/` names a
 * folder (`clip.mp4/` is not the file: relative segment URLs below it would resolve elsewhere).
 */
export function requestedPath(
  url: string,
  locator: PathLocator,
  dotfiles: 'deny' | 'allow',
): RequestedPath {
  const raw = locator.mode === 'query' ? queryValue(url, locator.param) : pathnameBelow(url, locator.prefix);
  if (typeof raw !== 'string') return raw;
  return checkSegments(raw, dotfiles === 'deny');
}

function queryValue(url: string, param: string): string | RequestedPath {
  const value = queryParam(url, param);
  if (typeof value !== 'string') return value.kind === 'absent' ? MISSING : BAD_REQUEST;
  return value === '' ? MISSING : value;
}

function pathnameBelow(url: string, prefix: string): string | RequestedPath {
  let pathname = url;
  if (!pathname.startsWith('/')) {
    // Absolute-form request target (`GET http://host/x HTTP/1.1`), as sent to proxies. Cut the
    // scheme and authority by hand: new URL() would quietly normalise `..` and `\` away.
    const origin = ABSOLUTE_FORM_ORIGIN.exec(url);
    if (origin === null) return BAD_REQUEST;
    pathname = url.slice(origin[0].length);
  }
  const end = endOfPathname(pathname);
  if (end !== pathname.length) pathname = pathname.slice(0, end);
  if (prefix !== '') {
    if (!pathname.startsWith(prefix)) return OUTSIDE_PREFIX;
    if (pathname.length > prefix.length && pathname.charCodeAt(prefix.length) !== 0x2f) return OUTSIDE_PREFIX;
    pathname = pathname.slice(prefix.length);
  }
  try {
    pathname = decodeURIComponent(pathname);
  } catch {
    return BAD_REQUEST;
  }
  return pathname === '' || pathname === '/' ? MISSING : pathname;
}

function endOfPathname(url: string): number {
  for (let i = 0; i < url.length; i++) {
    const code = url.charCodeAt(i);
    if (code === 0x3f || code === 0x23) return i; // '?' or '#'
  }
  return url.length;
}

function checkSegments(decoded: string, denyDotfiles: boolean): RequestedPath {
  if (decoded.includes('\0') || decoded.includes('\\')) return BAD_REQUEST;
  const kept: string[] = [];
  const segments = decoded.split('/');
  for (const segment of segments) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') return BAD_REQUEST;
    if (denyDotfiles && segment.charCodeAt(0) === 0x2e) return FORBIDDEN;
    kept.push(segment);
  }
  if (kept.length === 0) return MISSING;
  const last = segments[segments.length - 1];
  return last === '' || last === '.' ? DIRECTORY : { kind: 'ok', path: kept.join('/') };
}

/** How a resolved path is judged: the real root, the symlink policy, the dotfile policy. */
export type Confinement = {
  readonly realRoot: string;
  readonly symlinks: 'inside-root' | 'deny';
  readonly dotfiles: 'deny' | 'allow';
};

/**
 * Whether a file's real path may be served for the lexical path `<realRoot>/<path>`: inside the
 * real root (checked against `realRoot + '/'`, so a sibling `root-evil` is outside), equal to
 * the lexical path when symlinks are denied, and with no dot segment below the root when
 * dotfiles are denied (a link named `clip.mp4` must not expose `.env`).
 */
export function isServable(realPath: string, path: string, confinement: Confinement): boolean {
  const { realRoot, symlinks, dotfiles } = confinement;
  if (!realPath.startsWith(`${realRoot}/`)) return false;
  if (symlinks === 'deny' && realPath !== `${realRoot}/${path}`) return false;
  return dotfiles === 'allow' || !realPath.slice(realRoot.length).includes('/.');
}

/**
 * Resolves `<realRoot>/<path>` through any symlinks and returns its real path if it may be
 * served (see `isServable`), or undefined. File-system errors (ENOENT, ENOTDIR, ELOOP …) are
 * thrown for `statusForFsError`.
 *
 * This refuses escapes before anything is opened; `openedPath` then checks the descriptor that
 * was actually opened, because a folder on the way can be swapped for a link in between.
 */
export async function confinedRealPath(path: string, confinement: Confinement): Promise<string | undefined> {
  const real = await realpath(`${confinement.realRoot}/${path}`);
  return isServable(real, path, confinement) ? real : undefined;
}

// Linux names every open descriptor's file here; elsewhere the check before open has to do.
// Deno without --allow-all refuses to touch /proc/self (it throws NotCapable): the same fallback.
const FD_LINKS = fdLinks();

function fdLinks(): string | undefined {
  try {
    return existsSync('/proc/self/fd') ? '/proc/self/fd' : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The real path of the file an open handle refers to (Linux, via /proc/self/fd), or undefined
 * where the platform cannot tell. Unlike a path checked before `open`, this cannot be raced.
 */
export async function openedPath(handle: FileHandle): Promise<string | undefined> {
  if (FD_LINKS === undefined) return undefined;
  return readlink(`${FD_LINKS}/${handle.fd}`);
}
