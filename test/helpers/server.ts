import http, { type IncomingHttpHeaders, type RequestListener } from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';

/** A response as the client received it: the whole body, byte for byte. */
export type Received = {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
};

export type TestServer = {
  readonly port: number;
  readonly origin: string;
  /** Sends a request with the path exactly as given (no normalisation) and reads the whole body. */
  request(path: string, headers?: Record<string, string>, method?: string): Promise<Received>;
  close(): Promise<void>;
};

/**
 * Starts `handler` on 127.0.0.1, port 0. Every response gets `strictContentLength`, so a body
 * that does not match its Content-Length is an error on the server instead of passing silently.
 */
export async function start(handler: (req: http.IncomingMessage, res: http.ServerResponse) => void): Promise<TestServer> {
  const listener: RequestListener = (req, res) => {
    res.strictContentLength = true;
    handler(req, res);
  };
  const server = http.createServer(listener);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  return {
    port,
    origin: `http://127.0.0.1:${port}`,
    request: (path, headers = {}, method = 'GET') => receive(`http://127.0.0.1:${port}`, { path, method, headers, agent }),
    close: async () => {
      agent.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Servers for one test file: `serve` starts one, `closeAll` (in `after()`) closes them all. */
export function serverPool(): { serve: typeof start; closeAll(): Promise<void> } {
  const servers: TestServer[] = [];
  return {
    serve: async (handler) => {
      const server = await start(handler);
      servers.push(server);
      return server;
    },
    closeAll: async () => {
      await Promise.all(servers.splice(0).map((server) => server.close()));
    },
  };
}

/** Sends one request and reads the whole response; `agent: false` for a fresh connection. */
export function receive(url: string, options: http.RequestOptions): Promise<Received> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, options, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/**
 * Sends raw bytes as a request on a fresh connection and returns everything the server sent
 * until it closed or `timeoutMs` passed: for request targets http.request refuses to send.
 */
export function rawRequest(port: number, text: string, timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.end(text));
    const chunks: Buffer[] = [];
    socket.setTimeout(timeoutMs, () => socket.destroy());
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', reject);
  });
}

/** The number of file descriptors this process has open (Linux). */
export async function openFdCount(): Promise<number> {
  const { readdir } = await import('node:fs/promises');
  return (await readdir('/proc/self/fd')).length;
}

/** Polls `read` until it returns a value <= `target` or `timeoutMs` passes; returns the last value. */
export async function settle(read: () => Promise<number> | number, target: number, timeoutMs = 3000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let value = await read();
  while (value > target && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 20));
    value = await read();
  }
  return value;
}

/** How many of this process's file descriptors point at `path` (Linux). */
export async function openFdsTo(path: string): Promise<number> {
  const { readdir, readlink } = await import('node:fs/promises');
  let count = 0;
  for (const fd of await readdir('/proc/self/fd')) {
    const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
    if (target === path) count++;
  }
  return count;
}
