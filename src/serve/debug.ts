import { debuglog } from 'node:util';

const log = debuglog('sage-stream');

// C0 controls (CR and LF included), DEL, C1 controls, the backslash that starts our escapes,
// and the Unicode line separators and bidi controls that can fake or reorder a line.
const UNSAFE = /[\\\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
const NAMED: Readonly<Record<string, string>> = Object.freeze({ '\\': '\\\\', '\r': '\\r', '\n': '\\n', '\t': '\\t' });

/**
 * Text from a request (a path, a header, an error that quotes one) made safe for one log line:
 * CR, LF and other control characters become visible escapes (`\r`, `\n`, `\x1b`, `\u202e`), so
 * a name like `a%0D%0AFAKE` cannot forge a second line or recolour a terminal. Linear: one
 * regex pass over the text.
 */
export function escapeForLog(text: string): string {
  return text.replace(UNSAFE, (c) => NAMED[c] ?? escapeCode(c.charCodeAt(0)));
}

function escapeCode(code: number): string {
  return code <= 0xff ? `\\x${code.toString(16).padStart(2, '0')}` : `\\u${code.toString(16).padStart(4, '0')}`;
}

/**
 * NODE_DEBUG=sage-stream output: util.debuglog, with every string argument passed through
 * `escapeForLog` first. Costs nothing when debugging is off.
 */
export function debug(format: string, ...args: unknown[]): void {
  if (!log.enabled) return;
  log(format, ...args.map((arg) => (typeof arg === 'string' ? escapeForLog(arg) : arg)));
}
