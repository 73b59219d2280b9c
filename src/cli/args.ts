import { fail, type CliCommand } from './config.ts';
import { foreignFlag, readCommandLine } from './flags.ts';
import { parseServe } from './serve-args.ts';
import { parseSign } from './sign-args.ts';

// The command line's parts live in their own files; this module is what main and the tests import.
export {
  ADMIN_PATH,
  ADMIN_TOKEN_ENV,
  DEFAULT_HOST,
  DEFAULT_LOG_FILE,
  DEFAULT_LOG_MAX_AGE_DAYS,
  DEFAULT_LOG_MAX_ROWS,
  DEFAULT_PORT,
  DEFAULT_PREFIX,
  MAX_WORKERS,
  SAMPLE_DIR,
  SHUTDOWN_GRACE_MS,
  SIGNING_SECRET_ENV,
  STARTUP_LINK_SECONDS,
  STREAM_PATH,
  type CliCommand,
  type ServeConfig,
  type ServeOptions,
} from './config.ts';
export { parseDuration, parseSize } from './flags.ts';
export { USAGE } from './usage.ts';

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
  const parsed = readCommandLine(argv);
  if (typeof parsed === 'string') return fail(parsed);
  const { values, positionals } = parsed;
  if (values.help === true) return { kind: 'help' };
  if (values.version === true) return { kind: 'version' };
  if (positionals[0] === undefined) return fail('missing command: sage-stream [serve] <dir>, or sage-stream sign <file>');
  // `sage-stream DIR` is `sage-stream serve DIR`.
  const [command, ...rest] = positionals[0] === 'serve' || positionals[0] === 'sign' ? positionals : ['serve', ...positionals];
  const other = foreignFlag(command === 'sign' ? 'sign' : 'serve', values);
  if (other !== undefined) return fail(`--${other} is not an option of ${command}`);
  if (command === 'sign') return parseSign(values, rest, cwd, env);
  return parseServe(values, rest, cwd, env);
}
