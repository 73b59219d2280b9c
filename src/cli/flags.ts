import { parseArgs } from 'node:util';
import { OPS_OPTIONS, OPS_SERVE_ONLY } from './ops-flags.ts';

const SIZE = /^(\d+)([kmg]?)(?:i?b)?$/i;
const SIZE_FACTORS = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 } as const;
const DURATION = /^(\d+)([smhd]?)$/;
const DURATION_FACTORS = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 } as const;

const OWN_OPTIONS = {
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
} as const;
const CLI_OPTIONS: typeof OWN_OPTIONS & typeof OPS_OPTIONS = { ...OWN_OPTIONS, ...OPS_OPTIONS };

// Each command's own flags: given to the other command, they are an error, not silently ignored.
const SERVE_ONLY = ['port', 'host', 'prefix', 'max-chunk', 'rate', 'burst', 'log', 'no-log', 'log-max-age-days', 'log-max-rows', 'admin-token', 'show-token', 'workers', 'signing-secret-file', 'cors', ...OPS_SERVE_ONLY] as const;
const SIGN_ONLY = ['expires-in', 'expires-at', 'secret-file', 'bind-ip', 'bind-user', 'mode', 'base'] as const;

// The config readCommandLine hands to parseArgs, spelled out so the result has a declared type.
type ReadConfig = { args: string[]; options: typeof CLI_OPTIONS; allowPositionals: true; strict: true };

/** What `util.parseArgs` read: the flag values by name, and the positionals. */
export type ParsedCommandLine = ReturnType<typeof parseArgs<ReadConfig>>;

/** The flag values by name. */
export type ParsedValues = ParsedCommandLine['values'];

/** The flag of the other command given to `command`, if any: an error, not silently ignored. */
export function foreignFlag(command: 'serve' | 'sign', values: ParsedValues): string | undefined {
  return (command === 'serve' ? SIGN_ONLY : SERVE_ONLY).find((flag) => values[flag] !== undefined);
}

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
 * Reads argv with `util.parseArgs` in strict mode: an unknown flag, or a string flag without its
 * value, throws, and comes back as the one-line message.
 */
export function readCommandLine(argv: readonly string[]): ParsedCommandLine | string {
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
