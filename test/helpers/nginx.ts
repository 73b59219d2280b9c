import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

/** An nginx binary and whether it was built with the slice module (`nginx -V`). */
export type NginxBinary = { readonly path: string; readonly version: string; readonly hasSlice: boolean };

// A user's PATH often lacks the sbin folders, where Debian puts nginx.
const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin', '/usr/local/nginx/sbin'];

/**
 * Finds nginx on PATH or in the usual sbin folders, or exactly the binary SAGE_STREAM_NGINX names
 * (a custom build; a path that does not exist simulates a machine without nginx). Undefined when
 * there is none that runs.
 */
export function findNginx(): NginxBinary | undefined {
  const named = process.env['SAGE_STREAM_NGINX'];
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const path of named ? [named] : dirs.map((dir) => join(dir, 'nginx'))) {
    if (!existsSync(path)) continue;
    const probe = spawnSync(path, ['-V'], { encoding: 'utf8', timeout: 5000 });
    if (probe.status !== 0) continue;
    const info = `${probe.stdout}${probe.stderr}`; // -V prints to stderr
    const version = /nginx version: (\S+)/.exec(info)?.[1] ?? 'unknown';
    return { path, version, hasSlice: info.includes('--with-http_slice_module') };
  }
  return undefined;
}

/** An nginx running in the foreground from its own temporary prefix folder. */
export type RunningNginx = {
  readonly port: number;
  readonly origin: string;
  /** The temporary prefix folder: config, pid, logs, temp and cache paths. */
  readonly dir: string;
  /** The error log so far (for assertion messages). */
  errorLog(): string;
  /** Kills nginx (SIGKILL, it holds nothing worth a graceful stop) and removes its folder. */
  stop(): Promise<void>;
};

/**
 * Starts nginx as one foreground process (`daemon off; master_process off`) with every path
 * (pid, logs, temp files, cache) inside a fresh temporary folder, listening on a free loopback
 * port, and resolves once it answers `GET /__ready`. `config` gives the directives to add to the
 * http block (e.g. `proxy_cache_path`) and to its one server block (locations); it gets the
 * folder to put a cache in and the port nginx listens on.
 *
 * One process, no master: killing that pid leaves nothing behind, and nothing drops privileges
 * to `nobody` (which could not read a root-owned 0700 temp folder). Every started nginx is also
 * killed when this process exits, whatever the tests did.
 */
export async function startNginx(
  binary: string,
  config: (paths: { readonly dir: string; readonly port: number }) => NginxConfig,
): Promise<RunningNginx> {
  let lastError: unknown;
  // The port is free when picked, but another process may take it before nginx binds: retry.
  for (let attempt = 0; attempt < 3; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), 'sage-stream-proxy-nginx-'));
    const port = await freePort();
    try {
      return await launch(binary, dir, port, config({ dir, port }));
    } catch (err) {
      rmSync(dir, { recursive: true, force: true });
      lastError = err;
    }
  }
  throw lastError;
}

/** Directives for the http block and for its one server block. */
export type NginxConfig = { readonly http?: string; readonly server: string };

// Each nginx still running and its folder: killed and removed however this process exits.
const running = new Map<ChildProcess, string>();
process.on('exit', () => {
  for (const [child, dir] of running) {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

async function launch(binary: string, dir: string, port: number, config: NginxConfig): Promise<RunningNginx> {
  const conf = join(dir, 'nginx.conf');
  const errorLogPath = join(dir, 'error.log');
  writeFileSync(
    conf,
    [
      'daemon off;',
      'master_process off;',
      'worker_processes 1;',
      `pid ${join(dir, 'nginx.pid')};`,
      `error_log ${errorLogPath} info;`,
      'events { worker_connections 256; }',
      'http {',
      `  access_log ${join(dir, 'access.log')};`,
      ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((kind) => `  ${kind}_temp_path ${join(dir, `${kind}_temp`)};`),
      config.http ?? '',
      '  server {',
      `    listen 127.0.0.1:${port};`,
      '    location = /__ready { return 204; }',
      config.server,
      '  }',
      '}',
      '',
    ].join('\n'),
  );
  // Before it has read the config nginx logs to its built-in path (Debian: stderr; elsewhere an
  // unwritable file is only an alert). `-e` would fix that, but needs nginx >= 1.19.5.
  const child = spawn(binary, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  running.set(child, dir);
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => (stderr += text));
  const exited = new Promise<never>((_, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      running.delete(child);
      reject(new Error(`nginx exited (${signal ?? code}) before it answered:\n${stderr}${readLog(errorLogPath)}`));
    });
  });
  exited.catch(() => {}); // awaited below only while starting
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await gone;
    }
    running.delete(child);
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    await Promise.race([waitUntilAnswering(port), exited]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { port, origin: `http://127.0.0.1:${port}`, dir, errorLog: () => readLog(errorLogPath), stop };
}

function readLog(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function waitUntilAnswering(port: number, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const status = await new Promise<number>((resolve) => {
      const req = get({ host: '127.0.0.1', port, path: '/__ready', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', () => resolve(0));
    });
    if (status === 204) return;
    if (Date.now() > deadline) throw new Error(`nginx did not answer on port ${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
