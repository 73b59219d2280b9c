import type { ResponseSink } from '../types.ts';

/** Tracks whether the client has gone; set up synchronously when the request arrives. */
export type Connection = { closed: boolean };

/**
 * Starts watching a response for the client going away. Call it before the first `await`,
 * or a close that happens meanwhile goes unseen (the destroyed checks cover that case).
 */
export function watchConnection(res: ResponseSink): Connection {
  const connection: Connection = { closed: isDestroyed(res) };
  res.once('close', () => {
    connection.closed = true;
  });
  return connection;
}

function isDestroyed(res: ResponseSink): boolean {
  if ('destroyed' in res && res.destroyed) return true;
  return (res as { stream?: { destroyed: boolean } }).stream?.destroyed === true;
}
