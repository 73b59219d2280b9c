import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { signUrl, type SignUrlOptions } from '../serve/signed-url.ts';
import { DEFAULT_HOST, DEFAULT_PORT, DEFAULT_PREFIX, fail, SIGNING_SECRET_ENV, STREAM_PATH, type CliCommand } from './config.ts';
import { parseDuration, type ParsedValues } from './flags.ts';
import { checkSecret, readSecret } from './secret-file.ts';

/**
 * The `sign` command's flags and file into the options signUrl is called with (and checked by:
 * a bad file name or base is signUrl's own TypeError, named by flag).
 */
export function parseSign(
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
