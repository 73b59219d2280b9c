import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { RateLimit } from '../serve/rate-limit.ts';
import { resolveCors } from '../serve/cors.ts';
import { MIN_ADMIN_TOKEN_LENGTH } from './admin-token.ts';
import {
  ADMIN_PATH,
  ADMIN_TOKEN_ENV,
  DEFAULT_HOST,
  DEFAULT_LOG_FILE,
  DEFAULT_LOG_MAX_AGE_DAYS,
  DEFAULT_LOG_MAX_ROWS,
  DEFAULT_PORT,
  DEFAULT_PREFIX,
  fail,
  MAX_WORKERS,
  SAMPLE_DIR,
  SIGNING_SECRET_ENV,
  STREAM_PATH,
  type CliCommand,
} from './config.ts';
import { parseSize, type ParsedValues } from './flags.ts';
import { parseOpsFlags } from './ops-flags.ts';
import { checkSecret, readSecret } from './secret-file.ts';

const DIGITS = /^\d+$/;
const PREFIX = /^(?:\/[A-Za-z0-9._~!$&'()*+,;=:@-]+)+\/*$/;
const TOKEN = /^[\x21-\x7e]+$/;

/**
 * The `serve` command's flags and folder (`positionals` after the command) into a ServeConfig:
 * every value checked, relative paths resolved against `cwd`, secret files read, and `dir` an
 * existing folder this process can list. `env` supplies the admin token and signing secret.
 */
export function parseServe(
  values: ParsedValues,
  positionals: readonly string[],
  cwd: string,
  env: Readonly<Record<string, string | undefined>>,
): CliCommand {
  const [dirArg, extra] = positionals;
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

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
