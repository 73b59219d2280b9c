/** One finished response, as the access log sees it. */
export type AccessEntry = {
  /** When the request arrived, epoch ms. */
  readonly time: number;
  /** The client address, resolved through trusted proxies (`trustProxy`). */
  readonly ip: string;
  readonly method: string;
  /** The request target as sent; `formatCombined`/`formatJson` redact signatures and tokens in it. */
  readonly url: string;
  /** `'1.1'`, `'2.0'`. */
  readonly httpVersion: string;
  /** The status sent; 0 when the client left before anything was sent. */
  readonly status: number;
  /** Body bytes handed to the connection (file bytes, or the short status text). */
  readonly bytesSent: number;
  readonly referer: string | undefined;
  readonly userAgent: string | undefined;
  /** The Range header as sent. */
  readonly range: string | undefined;
  /** True when the response did not finish: the client left, or it was cut. */
  readonly aborted: boolean;
  /** From arrival to the response's end. */
  readonly durationMs: number;
};

/** Receives one entry per finished response. */
export type AccessLogHook = (entry: AccessEntry) => void;

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'] as const;
// Query parameters that are credentials: a signed link's signature, the viewer's token.
const SECRET_PARAM = /([?&](?:sig|token)=)[^&#]*/gi;
const NEEDS_ESCAPE = /[^\x20-\x21\x23-\x5b\x5d-\x7e]/;

/**
 * Replaces the value of `sig=` and `token=` query parameters with `REDACTED`: a signed link or
 * an admin token in a log file is a key anyone who reads the log can use.
 */
export function redactUrl(url: string): string {
  return url.replace(SECRET_PARAM, '$1REDACTED');
}

/**
 * Escapes a value for a quoted log field as nginx does: `"`, `\`, control characters and every
 * byte of a non-ASCII character become `\xNN`, so no CR/LF or terminal escape reaches the log.
 */
export function escapeLogValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  let out = '';
  for (const char of value) {
    const code = char.codePointAt(0)!;
    if (code >= 0x20 && code <= 0x7e && char !== '"' && char !== '\\') out += char;
    else for (const byte of Buffer.from(char)) out += `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * One line in the combined log format (nginx's and Apache's default, which log analysers read),
 * with the duration in seconds appended like nginx's `$request_time`:
 * `ip - - [01/Dec/2026:23:31:28 +0000] "GET /x HTTP/1.1" 206 1024 "referer" "agent" 0.012`.
 * Time is UTC; an empty Referer or User-Agent is `-`; a client that left before any status is 499
 * (nginx's "client closed request"). No newline at the end.
 *
 * @example
 * createStreamHandler({ root: './videos', accessLog: (e) => console.log(formatCombined(e)) });
 */
export function formatCombined(entry: AccessEntry): string {
  const request = `${escapeLogValue(entry.method)} ${escapeLogValue(redactUrl(entry.url))} HTTP/${escapeLogValue(entry.httpVersion)}`;
  const status = entry.status === 0 ? 499 : entry.status;
  return `${escapeLogValue(entry.ip || '-')} - - [${formatLogTime(entry.time)}] "${request}" ${status} ${entry.bytesSent} "${quoted(entry.referer)}" "${quoted(entry.userAgent)}" ${(entry.durationMs / 1000).toFixed(3)}`;
}

/**
 * One JSON object per line: every field of the entry, the time as ISO 8601, the URL redacted.
 * JSON.stringify escapes control characters; U+2028/2029 are escaped too, so the line stays one line
 * for every reader.
 */
export function formatJson(entry: AccessEntry): string {
  const line = JSON.stringify({
    time: new Date(entry.time).toISOString(),
    ip: entry.ip,
    method: entry.method,
    url: redactUrl(entry.url),
    httpVersion: entry.httpVersion,
    status: entry.status,
    bytesSent: entry.bytesSent,
    range: entry.range ?? null,
    aborted: entry.aborted,
    durationMs: Math.round(entry.durationMs * 1000) / 1000,
    referer: entry.referer ?? null,
    userAgent: entry.userAgent ?? null,
  });
  return line.replace(/\u2028/g, '\\u2028').replace(/\u2029/g, '\\u2029');
}

/** `01/Dec/2026:23:31:28 +0000`: the combined format's time, in UTC. */
export function formatLogTime(epochMs: number): string {
  const d = new Date(epochMs);
  const two = (n: number): string => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

function quoted(value: string | undefined): string {
  return value === undefined || value === '' ? '-' : escapeLogValue(value);
}
