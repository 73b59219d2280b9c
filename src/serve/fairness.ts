import { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { StreamRequest, StreamResponse } from '../types.ts';

/** Default for `maxStreamsPerSession`: HTTP/2 streams of one session holding a file at once. */
export const DEFAULT_MAX_STREAMS_PER_SESSION = 100;

/**
 * Where each connection's turns are kept: one slot count per HTTP/2 session (HTTP/1.1 needs
 * none, its socket is the turn). Made once per handler.
 */
export type Turns = {
  readonly maxStreamsPerSession: number;
  readonly sessions: WeakMap<object, Slots>;
};

export function createTurns(maxStreamsPerSession: number): Turns {
  return { maxStreamsPerSession, sessions: new WeakMap() };
}

/**
 * Waits until this request may hold a file and a read buffer, so one connection cannot pin the
 * server: true once it may, false when the client left while waiting (a plain boolean when that
 * is known at once: no promise or microtask on the common path). The turn is given back by itself
 * when the response finishes or closes.
 *
 * HTTP/1.1: Node hands every pipelined request to the handler at once, and queues the responses
 * behind the one writing (RFC 9112 §9.3.2: responses go in request order); a queued response has
 * no socket until Node's `assignSocket` gives it one and emits 'socket'. Waiting for that event
 * makes each connection hold at most one file and buffer, as nginx and Go do. A client that
 * leaves meanwhile closes the socket, which ends the wait.
 *
 * HTTP/2: streams of one session run concurrently (RFC 9113 §5.1.2), so they take one of
 * `maxStreamsPerSession` slots of their session, freed when a response finishes or its stream
 * closes; a stream reset while waiting leaves the queue.
 */
export function awaitTurn(req: StreamRequest, res: StreamResponse, turns: Turns): boolean | Promise<boolean> {
  if (res instanceof ServerResponse) return awaitSocket(req, res);
  const session = (req as { stream?: { session?: object | undefined } }).stream?.session;
  if (session === undefined) return true;
  let slots = turns.sessions.get(session);
  if (slots === undefined) {
    slots = new Slots(turns.maxStreamsPerSession);
    turns.sessions.set(session, slots);
  }
  return slots.acquire(res);
}

function awaitSocket(req: StreamRequest, res: ServerResponse): boolean | Promise<boolean> {
  if (res.socket !== null) return true;
  const socket = req.socket as Socket | null;
  if (socket === null || socket.destroyed || res.destroyed) return false;
  return new Promise((resolve) => {
    const forget = onSocketClose(socket, () => {
      res.off('socket', onSocket);
      resolve(false);
    });
    const onSocket = (): void => {
      forget();
      resolve(!res.destroyed);
    };
    res.once('socket', onSocket);
  });
}

// One 'close' listener per socket for all the requests queued on it: a listener each would let a
// client pipelining more than ten requests trip Node's MaxListenersExceededWarning (pinned by
// test/serve/fairness.test.ts).
const QUEUED_ON = new WeakMap<Socket, Set<() => void>>();

/** Calls `onClose` when `socket` closes; the returned function cancels that. */
function onSocketClose(socket: Socket, onClose: () => void): () => void {
  let waiting = QUEUED_ON.get(socket);
  if (waiting === undefined) {
    const created = new Set<() => void>();
    waiting = created;
    QUEUED_ON.set(socket, created);
    socket.once('close', () => {
      QUEUED_ON.delete(socket);
      for (const wake of created) wake();
    });
  }
  waiting.add(onClose);
  const set = waiting;
  return () => void set.delete(onClose);
}

/** A counting semaphore whose holders give their slot back when their response is over. */
class Slots {
  #free: number;
  readonly #waiting: Array<() => void> = [];

  constructor(size: number) {
    this.#free = size;
  }

  acquire(res: StreamResponse): boolean | Promise<boolean> {
    if (isOver(res)) return false;
    if (this.#free > 0) {
      this.#free--;
      this.#holdUntilOver(res);
      return true;
    }
    return new Promise((resolve) => {
      const grant = (): void => {
        res.off('close', onClose);
        this.#holdUntilOver(res);
        resolve(true);
      };
      const onClose = (): void => {
        const at = this.#waiting.indexOf(grant);
        if (at >= 0) this.#waiting.splice(at, 1);
        resolve(false);
      };
      this.#waiting.push(grant);
      res.once('close', onClose);
    });
  }

  // A slot is free again only once the response is over: a finished handler may still have its
  // last chunk buffered in the stream, waiting on flow control.
  #holdUntilOver(res: StreamResponse): void {
    let held = true;
    const release = (): void => {
      if (!held) return;
      held = false;
      res.off('finish', release);
      res.off('close', release);
      const next = this.#waiting.shift();
      if (next === undefined) this.#free++;
      else next();
    };
    if (isOver(res)) queueMicrotask(release);
    else {
      res.once('finish', release);
      res.once('close', release);
    }
  }
}

// Not `writableFinished`: an HTTP/2 response to HEAD has it set before anything was sent.
function isOver(res: StreamResponse): boolean {
  const stream = (res as { stream?: { destroyed: boolean; closed: boolean } }).stream;
  return stream === undefined || stream.destroyed || stream.closed;
}
