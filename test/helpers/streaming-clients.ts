import http from 'node:http';
import net from 'node:net';

// The misbehaving clients test/serve/streaming*.test.ts share.

/** Starts a GET, waits for the first body bytes, then tears the connection down. */
export function abortAfterFirstChunk(port: number, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      res.once('data', () => {
        req.destroy();
        resolve();
      });
    });
    req.on('error', (err: NodeJS.ErrnoException) => (err.code === 'ECONNRESET' ? resolve() : reject(err)));
  });
}

/** Opens a raw connection that sends a GET and then reads nothing: the slowest client there is. */
export function stalledClient(port: number, path: string): Promise<net.Socket> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1', () => {
      socket.write(`GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`);
      socket.pause();
      resolve(socket);
    });
    socket.on('error', () => {});
  });
}

export const sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
