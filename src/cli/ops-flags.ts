import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { createProxyTrust } from '../http/client-ip.ts';

/** Where the demo server answers Prometheus scrapes (with the admin token as Bearer). */
export const METRICS_PATH = '/metrics';

/** How long a shutdown waits for responses in flight before cutting their connections, by default. */
export const SHUTDOWN_GRACE_MS = 5000;
/** The longest `--shutdown-grace` taken: past an hour a process manager has long given up. */
const MAX_SHUTDOWN_GRACE_S = 3600;

/** How the CLI prints its access log on stdout. */
export type AccessLogFormat = 'combined' | 'json' | 'off';

/** Certificate and key files for HTTPS (HTTP/2 with HTTP/1.1 fallback); re-read on SIGHUP. */
export type TlsFiles = { readonly cert: string; readonly key: string };

/** The operator's settings: access log, proxy trust, TLS, Cache-Control, shutdown grace. */
export type OpsConfig = {
  /** Default `'combined'` from the CLI, `'off'` for `startServer`. */
  readonly accessLog: AccessLogFormat;
  /** Addresses, CIDR ranges, `loopback` or `private` (the handler's `trustProxy`). Default none. */
  readonly trustProxy: readonly string[];
  /** Serve HTTPS with these files. Default: plain HTTP. */
  readonly tls: TlsFiles | undefined;
  /** The handler's `cacheControl`; undefined: the handler's default. */
  readonly cacheControl: string | undefined;
  /** On SIGTERM/SIGINT (or `close()`), how long responses in flight may finish. Default 5000 ms. */
  readonly shutdownGraceMs: number;
};

/** The flags this file reads; args.ts spreads them into its parseArgs table. */
export const OPS_OPTIONS = {
  'access-log': { type: 'string' },
  'trust-proxy': { type: 'string', multiple: true },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'cache-control': { type: 'string' },
  'admin-token-file': { type: 'string' },
  'shutdown-grace': { type: 'string' },
} as const;

/** The same flags, as serve-only. */
export const OPS_SERVE_ONLY = ['access-log', 'trust-proxy', 'tls-cert', 'tls-key', 'cache-control', 'admin-token-file', 'shutdown-grace'] as const;

/** The help text for them, one group each, placed by args.ts's USAGE. */
export const OPS_USAGE: { readonly logging: string; readonly network: string; readonly serving: string } = {
  logging: `  --access-log <format>  one line per response on stdout: combined (default: the combined
                         log format plus the duration), json (JSON lines), off`,
  network: `  --trust-proxy <list>   believe X-Forwarded-For from these peers: addresses, CIDR ranges
                         (10.0.0.0/8) or loopback / private; comma-separated or repeated
  --tls-cert <file>      serve HTTPS with HTTP/2 (HTTP/1.1 for old clients) with this
  --tls-key <file>       certificate chain and key (PEM); SIGHUP re-reads both`,
  serving: `  --cache-control <value>
                         the Cache-Control of file responses (default: public, max-age=0,
                         must-revalidate; private with signed links)
  --shutdown-grace <s>   on SIGTERM or Ctrl-C, how long responses in flight may finish
                         before their connections are cut (default ${SHUTDOWN_GRACE_MS / 1000}; 0: at once)`,
};

type OpsValues = {
  readonly 'access-log'?: string | undefined;
  readonly 'trust-proxy'?: string[] | undefined;
  readonly 'tls-cert'?: string | undefined;
  readonly 'tls-key'?: string | undefined;
  readonly 'cache-control'?: string | undefined;
  readonly 'admin-token-file'?: string | undefined;
  readonly 'shutdown-grace'?: string | undefined;
};

const HEADER_VALUE = /^[\x20-\x7e]+$/;

/**
 * Reads the operator's flags into `OpsConfig`, plus the admin token from `--admin-token-file`
 * (trimmed, like a secret file; it survives restarts, unlike a made-up one). Bad input is a message.
 */
export function parseOpsFlags(values: OpsValues, cwd: string): (OpsConfig & { readonly adminTokenFromFile: string | undefined }) | { readonly error: string } {
  const accessLog = values['access-log'] ?? 'combined';
  if (accessLog !== 'combined' && accessLog !== 'json' && accessLog !== 'off') {
    return { error: `--access-log must be combined, json or off, got '${accessLog}'` };
  }
  const trustProxy = (values['trust-proxy'] ?? []).flatMap((list) => list.split(',')).map((s) => s.trim()).filter((s) => s !== '');
  try {
    createProxyTrust(trustProxy, '--trust-proxy');
  } catch (err) {
    return { error: (err as Error).message };
  }
  const cert = values['tls-cert'];
  const key = values['tls-key'];
  if ((cert === undefined) !== (key === undefined)) return { error: 'give both --tls-cert and --tls-key' };
  let tls: TlsFiles | undefined;
  if (cert !== undefined && key !== undefined) {
    tls = { cert: resolve(cwd, cert), key: resolve(cwd, key) };
    for (const [flag, path] of [['--tls-cert', tls.cert], ['--tls-key', tls.key]] as const) {
      const problem = unreadable(path);
      if (problem !== undefined) return { error: `${flag}: cannot read ${path} (${problem})` };
    }
  }
  const cacheControl = values['cache-control'];
  if (cacheControl !== undefined && !HEADER_VALUE.test(cacheControl)) {
    return { error: `--cache-control must be a header value (printable ASCII), got ${JSON.stringify(cacheControl)}` };
  }
  const grace = values['shutdown-grace'];
  const graceSeconds = grace === undefined ? SHUTDOWN_GRACE_MS / 1000 : /^\d+(\.\d+)?$/.test(grace) ? Number(grace) : NaN;
  if (!(graceSeconds <= MAX_SHUTDOWN_GRACE_S)) {
    return { error: `--shutdown-grace must be a number of seconds from 0 to ${MAX_SHUTDOWN_GRACE_S}, got ${JSON.stringify(grace)}` };
  }
  let adminTokenFromFile: string | undefined;
  const tokenFile = values['admin-token-file'];
  if (tokenFile !== undefined) {
    const path = resolve(cwd, tokenFile);
    try {
      adminTokenFromFile = readFileSync(path, 'utf8').trim();
    } catch (err) {
      return { error: `--admin-token-file: cannot read ${path} (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
    }
    if (adminTokenFromFile === '') return { error: `--admin-token-file ${path} is empty` };
  }
  return { accessLog, trustProxy, tls, cacheControl, shutdownGraceMs: Math.round(graceSeconds * 1000), adminTokenFromFile };
}

function unreadable(path: string): string | undefined {
  try {
    readFileSync(path);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? 'error';
  }
}
