import { fileURLToPath } from 'node:url';
import type { RateLimit } from '../serve/rate-limit.ts';
import type { SignUrlOptions } from '../serve/signed-url.ts';
import type { OpsConfig } from './ops-flags.ts';

export { SHUTDOWN_GRACE_MS } from './ops-flags.ts';

/** The folder served when none is given: the sample video shipped with the package (../sample from src/ or dist/). */
export const SAMPLE_DIR: string = fileURLToPath(new URL('../../sample', import.meta.url));
export const DEFAULT_PORT = 8000;
export const DEFAULT_HOST = '127.0.0.1';
export const DEFAULT_PREFIX = '/videos';
/** The watch log's file, relative to the working directory, unless `--log FILE` or `--no-log`. */
export const DEFAULT_LOG_FILE = 'watch.db';
/** The CLI's watch-log retention: rows older than this are pruned (`--log-max-age-days`, 0 keeps all). */
export const DEFAULT_LOG_MAX_AGE_DAYS = 90;
/** … and at most this many newest rows per table are kept (`--log-max-rows`, 0 for no limit). */
export const DEFAULT_LOG_MAX_ROWS = 1_000_000;
/** The query-mode stream endpoint: `/api/stream?path=<file>`, like django-sage-streaming's `/api/stream/?path=`. */
export const STREAM_PATH = '/api/stream';
/** Where the watch-log viewer will be mounted. */
export const ADMIN_PATH = '/admin';
export const MAX_WORKERS = 64;
/** Read when `--admin-token` is not given, so the token need not show up in `ps`. */
export const ADMIN_TOKEN_ENV = 'SAGE_STREAM_ADMIN_TOKEN';
/** The signing secret, read when no secret file is given, so it need not show up in `ps`. */
export const SIGNING_SECRET_ENV = 'SAGE_STREAM_SIGNING_SECRET';
/** How long the signed links printed at startup (when signing is on) stay valid. */
export const STARTUP_LINK_SECONDS = 3600;

/** What `startServer` accepts; every field has a default. */
export type ServeOptions = {
  /** The folder to serve. Default: the bundled sample folder (`SAMPLE_DIR`). */
  readonly dir?: string | undefined;
  /** Default 8000; 0 picks a free port (read it from the result). */
  readonly port?: number | undefined;
  /** Default `'127.0.0.1'`: only this machine can connect. */
  readonly host?: string | undefined;
  /** The path-mode URL prefix (`/videos/a/b.mp4`, for HLS/DASH). Default `'/videos'`. */
  readonly prefix?: string | undefined;
  /** Caps open-ended ranges (`bytes=N-`), as the handler's `maxChunkSize`. Default: no cap. */
  readonly maxChunkSize?: number | undefined;
  /** The watch log's SQLite file, or `false` for none. Default `false` here; the CLI defaults to `watch.db`. */
  readonly log?: string | false | undefined;
  /** Prune watch-log rows older than this many days; 0 keeps them. Default 90. */
  readonly logMaxAgeDays?: number | undefined;
  /** Keep at most this many newest watch-log rows per table; 0 for no limit. Default 1,000,000. */
  readonly logMaxRows?: number | undefined;
  /** The token the admin log viewer will require. */
  readonly adminToken?: string | undefined;
  /**
   * Secrets signed links are verified with (the handler's `signed.secrets`). When given, every
   * stream URL must be signed and the demo page, which would list every file, is off. Default: none.
   */
  readonly signingSecrets?: readonly (string | Buffer)[] | undefined;
  /** Paces every response (the handler's `rate`). Default: unpaced. */
  readonly rate?: RateLimit | undefined;
  /** Lets players on these origins (or `'*'`: any) read the stream routes. Default: none. */
  readonly cors?: '*' | readonly string[] | undefined;
} & { readonly [K in keyof OpsConfig]?: OpsConfig[K] | undefined };

/** `ServeOptions` with the defaults filled in: what the server runs with. */
export type ServeConfig = {
  readonly dir: string;
  readonly port: number;
  readonly host: string;
  readonly prefix: string;
  readonly maxChunkSize: number | undefined;
  readonly log: string | false;
  readonly logMaxAgeDays: number;
  readonly logMaxRows: number;
  readonly adminToken: string | undefined;
  readonly signingSecrets: readonly (string | Buffer)[];
  readonly rate: RateLimit | undefined;
  readonly cors: '*' | readonly string[] | undefined;
} & OpsConfig;


/** What the command line asked for. Bad input is a value, not an exception: main prints it and exits 2. */
export type CliCommand =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'serve'; readonly config: ServeConfig; readonly workers: number | undefined; readonly showToken: boolean }
  | { readonly kind: 'sign'; readonly path: string; readonly options: SignUrlOptions }
  | { readonly kind: 'error'; readonly message: string };

/** The `error` command: bad input is a value, which main prints before it exits 2. */
export function fail(message: string): CliCommand {
  return { kind: 'error', message };
}
