import { accessSync, constants, statSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { RateLimit } from '../serve/rate-limit.ts';
import { resolveCors } from '../serve/cors.ts';
import { MIN_SECRET_BYTES, signUrl, type SignUrlOptions } from '../serve/signed-url.ts';
import { MIN_ADMIN_TOKEN_LENGTH } from './admin-token.ts';
import { checkSecret, readSecret } from './secret-file.ts';
import { OPS_OPTIONS, OPS_SERVE_ONLY, OPS_USAGE, parseOpsFlags, type OpsConfig } from './ops-flags.ts';


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
/** How long a shutdown waits for responses in flight before cutting their connections. */
export const SHUTDOWN_GRACE_MS = 5000;
export const MAX_WORKERS = 64;
/** Read when `--admin-token` is not given, so the token need not show up in `ps`. */
export const ADMIN_TOKEN_ENV = 'SAGE_STREAM_ADMIN_TOKEN';
/** The signing secret, read when no secret file is given, so it need not show up in `ps`. */
export const SIGNING_SECRET_ENV = 'SAGE_STREAM_SIGNING_SECRET';
/** How long the signed links printed at startup (when signing is on) stay valid. */
export const STARTUP_LINK_SECONDS = 3600;

const SIZE = /^(\d+)([kmg]?)(?:i?b)?$/i;
const SIZE_FACTORS = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;
const DIGITS = /^\d+$/;
const PREFIX = /^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+\/*$/;
const TOKEN = /^[\x21-\x7e]+$/;
const DURATION = /^(\d+)([smhd]?)$/;
const DURATION_FACTORS = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const;

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

export const USAGE: string = `Usage: sage-stream [serve] [dir] [options]
       sage-stream sign <file> --expires-in <duration> [options]

serve (the default command): serves the media files under dir (default: the bundled sample
video) over HTTP, with Range and conditional requests, and a demo page that plays and seeks them.

Listening:
  -p, --port <port>      port to listen on; 0 picks a free one (default ${DEFAULT_PORT})
  --host <host>          address to listen on (default ${DEFAULT_HOST}: this machine only)
${OPS_USAGE.network}
  --workers <n>          run n worker processes sharing the port (node:cluster)

Serving:
  --prefix <path>        URL prefix for path-mode streaming, for HLS/DASH (default ${DEFAULT_PREFIX})
  --max-chunk <size>     cap responses to open-ended ranges (bytes=N-) at this size:
                         bytes, or 512k, 8M, 1G (powers of 1024); default no cap
  --rate <size>          pace each response at this many bytes a second, e.g. 2M
                         (like nginx's limit_rate); default unpaced
  --burst <size>         with --rate: send this much at full speed first (limit_rate_after)
  --cors [origins]       let players on these origins (comma-separated, e.g.
                         https://a.example,https://b.example) read the streams;
                         bare --cors allows any origin (*)
${OPS_USAGE.serving}

Logs and admin:
${OPS_USAGE.logging}
  --log <file>           record plays in this SQLite file (default ${DEFAULT_LOG_FILE}); it
                         stores client IP addresses and User-Agents
  --no-log               record nothing
  --log-max-age-days <n> prune log rows older than n days; 0 keeps them (default ${DEFAULT_LOG_MAX_AGE_DAYS})
  --log-max-rows <n>     keep at most n newest rows per log table; 0: no limit (default ${DEFAULT_LOG_MAX_ROWS})
  --admin-token <token>  token the admin log viewer and /metrics ask for, at least
                         ${MIN_ADMIN_TOKEN_LENGTH} characters (or set ${ADMIN_TOKEN_ENV}); without one a
                         random token is written to <log>.admin-token (mode 0600)
  --admin-token-file <file>
                         read that token from a file, so it survives restarts
  --show-token           print the admin URL with the token in it

Signed links:
  --signing-secret-file <file>
                         serve signed links only, verified with the secret in this file
                         (repeat for key rotation; or set ${SIGNING_SECRET_ENV});
                         the demo page is then off

  -h, --help             show this help
  -v, --version          print the version

Routes:
  /                          the demo page (off with signing); ?path=<file> opens that file
  ${STREAM_PATH}?path=<file>    a file, with Range, If-Range, ETag … (the <video> src)
  <prefix>/<file>            the same by URL path, so HLS/DASH relative segment URLs work
  ${ADMIN_PATH}                     the watch-log viewer (admin token)
  /metrics                   Prometheus metrics (Authorization: Bearer <admin token>)

sign: prints a signed, expiring URL for <file> (a path below the served folder).

Options:
  --expires-in <duration>  valid for 3600 (seconds), 90s, 45m, 2h or 7d
  --expires-at <date>      valid until this ISO 8601 date (instead of --expires-in)
  --secret-file <file>     the signing secret, at least ${MIN_SECRET_BYTES} bytes (or set ${SIGNING_SECRET_ENV})
  --bind-ip <address>      only this client address may use the link
  --bind-user <id>         only this user (as the server's identify reports) may use it
  --mode <query|path>      ${STREAM_PATH}?path=<file> (default) or <prefix>/<file>
  --base <url>             what <file> goes after (default http://${DEFAULT_HOST}:${DEFAULT_PORT}${STREAM_PATH},
                           or http://${DEFAULT_HOST}:${DEFAULT_PORT}${DEFAULT_PREFIX} with --mode path)


Stop with Ctrl-C or SIGTERM: responses in flight get ${SHUTDOWN_GRACE_MS / 1000} s to finish.
SIGHUP re-reads the TLS certificate and key without dropping connections.
`;

/**
 * Parses a size: a whole number of bytes, optionally followed by `k`, `M` or `G` (powers of
 * 1024, any case, optionally with `B` or `iB`): `8M` is 8 MiB. Returns undefined for anything
 * else, including 0 and sizes beyond `Number.MAX_SAFE_INTEGER`.
 *
 * @example
 * parseSize('512k'); // 524288
 */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (match === null) return undefined;
  const unit = (match[2] ?? '').toLowerCase() as keyof typeof SIZE_FACTORS;
  const bytes = Number(match[1]) * SIZE_FACTORS[unit];
  return Number.isSafeInteger(bytes) && bytes >= 1 ? bytes : undefined;
}

/**
 * Parses a duration in seconds: a whole number, optionally followed by `s`, `m`, `h` or `d`.
 * Returns undefined for anything else, including 0.
 *
 * @example
 * parseDuration('2h'); // 7200
 */
export function parseDuration(text: string): number | undefined {
  const match = DURATION.exec(text);
  if (match === null) return undefined;
  const seconds = Number(match[1]) * DURATION_FACTORS[(match[2] ?? '') as keyof typeof DURATION_FACTORS];
  return Number.isSafeInteger(seconds) && seconds >= 1 ? seconds : undefined;
}

/**
 * Reads the command line (without `node` and the script) into a `CliCommand`.
 *
 * Uses `util.parseArgs` in strict mode, so an unknown flag or a flag without its value is an
 * error; every value is then checked, and `dir` must be an existing folder. Relative paths
 * (`dir`, `--log`, secret files) are resolved against `cwd`. `env` supplies
 * `SAGE_STREAM_ADMIN_TOKEN` and `SAGE_STREAM_SIGNING_SECRET`. Secret files are read here, and
 * no message ever shows a secret.
 */
export function parseCli(
  argv: readonly string[],
  cwd: string = process.cwd(),
  env: Readonly<Record<string, string | undefined>> = process.env,
): CliCommand {
  const parsed = readArgs(argv);
  if (typeof parsed === 'string') return fail(parsed);
  const { values, positionals } = parsed;
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  if (positionals[0] === undefined) return fail('missing command: sage-stream [serve] <dir>, or sage-stream sign <file>');
  // `sage-stream DIR` is `sage-stream serve DIR`.
  const [command, dirArg, extra] = positionals[0] === 'serve' || positionals[0] === 'sign' ? positionals : ['serve', ...positionals];
  const other = (command === 'serve' ? SIGN_ONLY : SERVE_ONLY).find((flag) => values[flag] !== undefined);
  if (other !== undefined) return fail(`--${other} is not an option of ${command}`);
  if (command === 'sign') return parseSign(values, positionals.slice(1), cwd, env);
  if (extra !== undefined) return fail(`unexpected argument '${extra}': serve takes one folder`);

  let port = DEFAULT_PORT;
  if (values.port !== undefined) {
    port = Number(values.port);
    if (!DIGITS.test(values.port) || port > 65535) return fail(`--port must be an integer from 0 to 65535, got '${values.port}'`);
  }
  const host = values.host ?? DEFAULT_HOST;
  if (host === '') return fail('--host must not be empty');

  let prefix = DEFAULT_PREFIX;
  if (values.prefix !== undefined) {
    prefix = values.prefix.replace(/\/+$/, '');
    if (!PREFIX.test(values.prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) {
      return fail(`--prefix must be a URL path like /videos (letters, digits, - . _ ~), got '${values.prefix}'`);
    }
    if (prefix === STREAM_PATH || prefix === ADMIN_PATH) return fail(`--prefix ${prefix} is taken by another route`);
  }

  let maxChunkSize: number | undefined;
  if (values['max-chunk'] !== undefined) {
    maxChunkSize = parseSize(values['max-chunk']);
    if (maxChunkSize === undefined) {
      return fail(`--max-chunk must be a size like 1048576, 512k, 8M or 1G, got '${values['max-chunk']}'`);
    }
  }

  let rate: RateLimit | undefined;
  if (values.rate !== undefined) {
    const bytesPerSecond = parseSize(values.rate);
    if (bytesPerSecond === undefined || bytesPerSecond < 1) return fail(`--rate must be a size per second like 512k or 2M, got '${values.rate}'`);
    const burstBytes = values.burst === undefined ? 0 : parseSize(values.burst);
    if (burstBytes === undefined) return fail(`--burst must be a size like 512k or 8M, got '${values.burst}'`);
    rate = { bytesPerSecond, burstBytes };
  } else if (values.burst !== undefined) {
    return fail('--burst needs --rate');
  }

  if (values.log !== undefined && values['no-log'] === true) return fail('give either --log <file> or --no-log, not both');
  if (values.log === '') return fail('--log must name a file');
  const log = values['no-log'] === true ? false : resolve(cwd, values.log ?? DEFAULT_LOG_FILE);
  if (log !== false && !isDirectory(dirname(log))) return fail(`--log: folder not found: ${dirname(log)}`);
  const logMaxAgeDays = values['log-max-age-days'] ?? String(DEFAULT_LOG_MAX_AGE_DAYS);
  if (!DIGITS.test(logMaxAgeDays)) return fail(`--log-max-age-days must be a whole number of days (0 keeps all), got '${logMaxAgeDays}'`);
  const logMaxRows = values['log-max-rows'] ?? String(DEFAULT_LOG_MAX_ROWS);
  if (!DIGITS.test(logMaxRows) || !Number.isSafeInteger(Number(logMaxRows))) {
    return fail(`--log-max-rows must be a whole number (0 for no limit), got '${logMaxRows}'`);
  }
  const retention = { logMaxAgeDays: Number(logMaxAgeDays), logMaxRows: Number(logMaxRows) };

  const ops = parseOpsFlags(values, cwd);
  if ('error' in ops) return fail(ops.error);
  const { adminTokenFromFile, ...opsConfig } = ops;
  if (values['admin-token'] !== undefined && adminTokenFromFile !== undefined) return fail('give either --admin-token or --admin-token-file, not both');
  const adminToken = values['admin-token'] ?? adminTokenFromFile ?? (env[ADMIN_TOKEN_ENV] || undefined);
  if (adminToken !== undefined && !TOKEN.test(adminToken)) {
    return fail('--admin-token must be printable ASCII without spaces');
  }
  if (adminToken !== undefined && adminToken.length < MIN_ADMIN_TOKEN_LENGTH) {
    return fail(`--admin-token must be at least ${MIN_ADMIN_TOKEN_LENGTH} characters, got ${adminToken.length}`);
  }

  let workers: number | undefined;
  if (values.workers !== undefined) {
    workers = Number(values.workers);
    if (!DIGITS.test(values.workers) || workers < 1 || workers > MAX_WORKERS) {
      return fail(`--workers must be an integer from 1 to ${MAX_WORKERS}, got '${values.workers}'`);
    }
  }

  let signingSecrets: string[] = [];
  for (const file of values['signing-secret-file'] ?? []) {
    const secret = readSecret(resolve(cwd, file), '--signing-secret-file');
    if (typeof secret !== 'string') return fail(secret.error);
    signingSecrets.push(secret);
  }
  if (signingSecrets.length === 0 && env[SIGNING_SECRET_ENV]) {
    const secret = checkSecret(env[SIGNING_SECRET_ENV], SIGNING_SECRET_ENV);
    if (typeof secret !== 'string') return fail(secret.error);
    signingSecrets = [secret];
  }

  const cors = parseCors(values.cors);
  if (typeof cors === 'object' && 'error' in cors) return fail(cors.error);

  const dir = dirArg === undefined ? SAMPLE_DIR : resolve(cwd, dirArg);
  try {
    if (!statSync(dir).isDirectory()) return fail(`not a folder: ${dir}`);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return fail(code === 'ENOENT' || code === 'ENOTDIR' ? `folder not found: ${dir}` : `cannot read folder ${dir} (${code})`);
  }
  try {
    accessSync(dir, constants.R_OK | constants.X_OK); // stat alone passes a folder we cannot list or enter
  } catch (err) {
    return fail(`cannot read folder ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }

  const showToken = values['show-token'] === true;
  return { kind: 'serve', config: { dir, port, host, prefix, maxChunkSize, log, ...retention, adminToken, signingSecrets, rate, cors, ...opsConfig }, workers, showToken };
}

/** `--cors` (`*`) or `--cors a,b`: the origins, checked as the handler checks them. */
function parseCors(value: string | undefined): '*' | readonly string[] | undefined | { readonly error: string } {
  if (value === undefined) return undefined;
  if (value === '*') return '*';
  const origins = value.split(',').map((origin) => origin.trim()).filter((origin) => origin !== '');
  if (origins.length === 0) return { error: `--cors takes origins like https://player.example (comma-separated), got '${value}'` };
  try {
    resolveCors({ origin: origins }, false);
  } catch (err) {
    return { error: (err as Error).message.replace(/^options\.cors\.origin\[\d+\]/, '--cors: each origin') };
  }
  return origins;
}

type ParsedValues = Exclude<ReturnType<typeof readArgs>, string>['values'];

function parseSign(
  values: ParsedValues,
  positionals: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
): CliCommand {
  const [path, extra] = positionals;
  if (path === undefined) return fail('missing file: sage-stream sign <file> --expires-in <duration>');
  if (extra !== undefined) return fail(`unexpected argument '${extra}': sign takes one file`);

  const expiresInText = values['expires-in'];
  const expiresAtText = values['expires-at'];
  if ((expiresInText === undefined) === (expiresAtText === undefined)) return fail('give either --expires-in or --expires-at');
  let expiry: { expiresIn: number } | { expiresAt: Date };
  if (expiresInText !== undefined) {
    const expiresIn = parseDuration(expiresInText);
    if (expiresIn === undefined) return fail(`--expires-in must be a duration like 3600, 90s, 45m, 2h or 7d, got '${expiresInText}'`);
    expiry = { expiresIn };
  } else {
    const expiresAt = new Date(expiresAtText ?? '');
    if (Number.isNaN(expiresAt.getTime())) return fail(`--expires-at must be an ISO 8601 date like 2026-12-31T23:00:00Z, got '${expiresAtText}'`);
    if (expiresAt.getTime() <= Date.now()) return fail(`--expires-at must be in the future, got '${expiresAtText}'`);
    expiry = { expiresAt };
  }

  const bind: { ip?: string; user?: string } = {};
  const ip = values['bind-ip'];
  if (ip !== undefined) {
    if (isIP(ip) === 0) return fail(`--bind-ip must be an IP address, got '${ip}'`);
    bind.ip = ip;
  }
  const user = values['bind-user'];
  if (user !== undefined) {
    if (user === '') return fail('--bind-user must not be empty');
    bind.user = user;
  }

  const mode = values.mode ?? 'query';
  if (mode !== 'query' && mode !== 'path') return fail(`--mode must be 'query' or 'path', got '${mode}'`);
  const base = values.base ?? `http://${DEFAULT_HOST}:${DEFAULT_PORT}${mode === 'query' ? STREAM_PATH : DEFAULT_PREFIX}`;

  let secret: string | { readonly error: string };
  if (values['secret-file'] !== undefined) secret = readSecret(resolve(cwd, values['secret-file']), '--secret-file');
  else if (env[SIGNING_SECRET_ENV]) secret = checkSecret(env[SIGNING_SECRET_ENV], SIGNING_SECRET_ENV);
  else return fail(`give --secret-file <file> or set ${SIGNING_SECRET_ENV}`);
  if (typeof secret !== 'string') return fail(secret.error);

  const options: SignUrlOptions = { secret, ...expiry, mode, base, ...(ip !== undefined || user !== undefined ? { bind } : {}) };
  try {
    signUrl(path, options); // every remaining check (the file name, the base) is signUrl's own
  } catch (err) {
    return fail(err instanceof Error ? err.message.replace(/^options\./, '--') : String(err));
  }
  return { kind: 'sign', path, options };
}

const CLI_OPTIONS = {
  port: { type: 'string', short: 'p' },
  host: { type: 'string' },
  prefix: { type: 'string' },
  'max-chunk': { type: 'string' },
  rate: { type: 'string' },
  burst: { type: 'string' },
  log: { type: 'string' },
  'no-log': { type: 'boolean' },
  'log-max-age-days': { type: 'string' },
  'log-max-rows': { type: 'string' },
  'admin-token': { type: 'string' },
  'show-token': { type: 'boolean' },
  workers: { type: 'string' },
  'signing-secret-file': { type: 'string', multiple: true },
  cors: { type: 'string' },
  'expires-in': { type: 'string' },
  'expires-at': { type: 'string' },
  'secret-file': { type: 'string' },
  'bind-ip': { type: 'string' },
  'bind-user': { type: 'string' },
  mode: { type: 'string' },
  base: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'v' },
  ...OPS_OPTIONS,
} as const;

// Each command's own flags: given to the other command, they are an error, not silently ignored.
const SERVE_ONLY = ['port', 'host', 'prefix', 'max-chunk', 'rate', 'burst', 'log', 'no-log', 'log-max-age-days', 'log-max-rows', 'admin-token', 'show-token', 'workers', 'signing-secret-file', 'cors', ...OPS_SERVE_ONLY] as const;
const SIGN_ONLY = ['expires-in', 'expires-at', 'secret-file', 'bind-ip', 'bind-user', 'mode', 'base'] as const;

// strict: an unknown flag, or a string flag without its value, throws; that becomes the message.
function readArgs(argv: readonly string[]) {
  try {
    return parseArgs({ args: bareCors(argv), options: CLI_OPTIONS, allowPositionals: true, strict: true });
  } catch (err) {
    return describeParseError(err);
  }
}

// `--cors` takes an optional value, which parseArgs cannot express: a bare `--cors` (last, or
// before another flag or a folder) becomes `--cors=*`; it takes the next argument only when that
// looks like origins (`*` or a scheme's `://`), so `serve --cors ./videos` still serves ./videos.
function bareCors(argv: readonly string[]): string[] {
  return argv.map((arg, i) => {
    if (arg !== '--cors') return arg;
    const next = argv[i + 1];
    return next !== undefined && (next === '*' || next.includes('://')) ? arg : '--cors=*';
  });
}

function fail(message: string): CliCommand {
  return { kind: 'error', message };
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

// parseArgs's messages are long and sometimes multi-sentence; keep the one line that matters.
function describeParseError(err: unknown): string {
  const { code, message } = err as { code?: string; message?: string };
  const quoted = /'([^']*)'/.exec(message ?? '')?.[1];
  if (code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && quoted !== undefined) return `unknown option '${quoted}'`;
  if (code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && quoted !== undefined) {
    const option = quoted.replace(/^-\w, /, '').replace(/ .*$/, ''); // '-p, --port <value>' → '--port'
    if (message?.includes('does not take an argument') === true) return `option '${option}' takes no value`;
    if (message?.includes('ambiguous') === true) return `option '${option}' needs a value (write ${option}=-… for one starting with -)`;
    return `option '${option}' needs a value`;
  }
  return (message ?? String(err)).split('\n')[0] ?? 'bad arguments';
}
