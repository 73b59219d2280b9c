import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { childPids, removeOnExit, spawnGroup, stopGroup, type ServerHandle } from '../processes.ts';

const CANDIDATES = ['/usr/sbin/nginx', '/usr/bin/nginx', '/usr/local/sbin/nginx', '/usr/local/bin/nginx'];

/** The nginx binary and its version ("nginx/1.22.1"), or undefined when it is not installed. */
export function findNginx(): { readonly path: string; readonly version: string } | undefined {
  const path = CANDIDATES.find((candidate) => existsSync(candidate));
  if (path === undefined) return undefined;
  // nginx -v prints "nginx version: nginx/1.22.1" on stderr.
  const { stderr } = spawnSync(path, ['-v'], { encoding: 'utf8' });
  const version = /nginx\/[\d.]+/.exec(stderr ?? '')?.[0];
  return version === undefined ? undefined : { path, version };
}

/** What the output says about how nginx was run. */
export const NGINX_SETUP = 'sendfile on, worker_processes 1, access_log off, open_file_cache off';

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function config(root: string, prefix: string, port: number): string {
  return `daemon off;
master_process on;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_requests 1000000;
  default_type application/octet-stream;
  client_body_temp_path ${prefix}/body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${port};
    location /f/ { alias ${root}/; }
  }
}
`;
}

/**
 * Starts nginx on a temporary nginx.conf that serves `root` at /f/<name> like the Node servers
 * (nginx cannot read a `?path=` query). Its one worker is what the memory figures measure.
 */
export async function startNginx(binary: string, root: string): Promise<ServerHandle> {
  const prefix = mkdtempSync(join(tmpdir(), 'sage-stream-nginx-'));
  const cleanup = removeOnExit(prefix);
  const port = await freePort();
  writeFileSync(join(prefix, 'nginx.conf'), config(root, prefix, port));
  const child = spawnGroup(binary, ['-p', prefix, '-c', join(prefix, 'nginx.conf'), '-e', join(prefix, 'error.log')]);
  const stop = async (): Promise<void> => {
    await stopGroup(child);
    rmSync(prefix, { recursive: true, force: true });
    cleanup.release();
  };
  const pid = child.pid ?? 0;
  for (let waited = 0; !(await accepts(port)); waited += 50) {
    if (waited > 10_000 || child.exitCode !== null) {
      await stop();
      throw new Error(`nginx did not start on port ${port} (see ${prefix}/error.log)`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { name: 'nginx', port, pids: () => childPids(pid), stop };
}
