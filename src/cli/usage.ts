import { MIN_SECRET_BYTES } from '../serve/signed-url.ts';
import { ADMIN_PATH, ADMIN_TOKEN_ENV, DEFAULT_HOST, DEFAULT_LOG_FILE, DEFAULT_LOG_MAX_AGE_DAYS, DEFAULT_LOG_MAX_ROWS, DEFAULT_PORT, DEFAULT_PREFIX, SHUTDOWN_GRACE_MS, SIGNING_SECRET_ENV, STREAM_PATH } from './config.ts';
import { MIN_ADMIN_TOKEN_LENGTH } from './admin-token.ts';
import { OPS_USAGE } from './ops-flags.ts';

/** The `--help` text: both commands, every flag, its default. */
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


Stop with Ctrl-C or SIGTERM: responses in flight get ${SHUTDOWN_GRACE_MS / 1000} s to finish
(--shutdown-grace).
SIGHUP re-reads the TLS certificate and key without dropping connections.
`;
