import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse, type Http2Session } from 'node:http2';
import { readFileSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import type { TlsFiles } from './ops-flags.ts';

/** A request listener for both servers: node:http's, or node:http2's compatibility API. */
export type AnyListener = (req: IncomingMessage | Http2ServerRequest, res: ServerResponse | Http2ServerResponse) => void;

/** The listening side of the demo server: plain HTTP, or HTTPS with HTTP/2 and HTTP/1.1. */
export type WebServer = {
  readonly server: Server;
  readonly scheme: 'http' | 'https';
  /** Ends connections with nothing in flight (HTTP/2: GOAWAY, streams in flight finish). */
  closeIdleConnections(): void;
  /** Cuts every connection. */
  closeAllConnections(): void;
  /**
   * Re-reads the certificate and key files and uses them for new TLS handshakes; connections
   * already open keep theirs. Throws (and keeps the old ones) when the files cannot be read or
   * do not make a valid context. A plain HTTP server has nothing to reload.
   */
  reloadTls(): void;
};

/**
 * Creates the server: `http.createServer`, or with `tls` an `http2.createSecureServer` with
 * `allowHTTP1`, so ALPN picks h2 for clients that speak it and HTTP/1.1 for the rest.
 */
export function createWebServer(tls: TlsFiles | undefined, listener: AnyListener): WebServer {
  if (tls === undefined) {
    const server = http.createServer(listener);
    return {
      server,
      scheme: 'http',
      closeIdleConnections: () => server.closeIdleConnections(),
      closeAllConnections: () => server.closeAllConnections(),
      reloadTls: () => {},
    };
  }
  const sockets = new Set<Socket>();
  const sessions = new Set<Http2Session>();
  // HTTP/1.1 responses in flight per socket: a socket at 0 is idle and may be ended at shutdown.
  const active = new Map<Socket, number>();
  let closing = false;
  const endIfIdle = (socket: Socket): void => {
    if ((active.get(socket) ?? 0) === 0 && ![...sessions].some((s) => s.socket === socket)) socket.end();
  };
  const server = http2.createSecureServer({ ...readTls(tls), allowHTTP1: true }, (req, res) => {
    if (req.httpVersionMajor === 1) {
      const socket = req.socket as Socket;
      active.set(socket, (active.get(socket) ?? 0) + 1);
      res.once('close', () => {
        active.set(socket, (active.get(socket) ?? 1) - 1);
        if (closing) setImmediate(() => endIfIdle(socket));
      });
    }
    listener(req, res);
  });
  server.on('secureConnection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => {
      sockets.delete(socket);
      active.delete(socket);
    });
  });
  server.on('session', (session: Http2Session) => {
    sessions.add(session);
    session.once('close', () => sessions.delete(session));
    if (closing) session.close();
  });
  return {
    server,
    scheme: 'https',
    closeIdleConnections: () => {
      closing = true;
      for (const session of sessions) session.close();
      for (const socket of sockets) endIfIdle(socket);
    },
    closeAllConnections: () => {
      for (const session of sessions) session.destroy();
      for (const socket of sockets) socket.destroy();
    },
    reloadTls: () => server.setSecureContext(readTls(tls)),
  };
}

function readTls(tls: TlsFiles): { cert: Buffer; key: Buffer } {
  return { cert: readFileSync(tls.cert), key: readFileSync(tls.key) };
}
