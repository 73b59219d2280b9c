import { EventEmitter } from 'node:events';
import type { ResponseSink } from '../types.ts';

/** Statuses whose Response must have a null body (Fetch standard, "null body status"). */
const NULL_BODY_STATUSES: ReadonlySet<number> = new Set([101, 103, 204, 205, 304]);

/**
 * Status of the Response a fetch handler resolves with when the client left before any headers
 * were decided (nginx's 499): nobody reads it, but the promise must settle.
 */
export const CLIENT_CLOSED_STATUS = 499;

/**
 * A `ResponseSink` that turns what the node:http writer does into a fetch `Response`, so the
 * fetch handler runs the very same decision and body loop as `createStreamHandler`.
 *
 * `writeHead` settles `response` with a `ReadableStream` body; each `write` enqueues one chunk.
 * `write` always returns false, so the body loop waits for 'drain' after each chunk, and 'drain'
 * is emitted from `pull`: when the consumer wants more (the queue, `highWaterMark: 1`, is empty).
 * A prompt pull lets the read sizer grow reads and read ahead, exactly as a socket that drains at
 * once does on node:http; a slow consumer keeps reads at `chunkSize` with nothing read ahead, so
 * at most the chunk it holds, the one queued and one read in flight are off the disk. `cancel` (the consumer went away) emits 'close', which
 * ends the loop and releases the file; `destroy` errors the stream, so a consumer sees a broken
 * body rather than a short one that looks whole (RFC 9110 §8.6).
 */
export class FetchSink implements ResponseSink {
  /** Settles with the Response once headers are written; `null` when the request was passed on. */
  readonly response: Promise<Response | null>;
  headersSent = false;
  readonly #events = new EventEmitter();
  readonly #head: boolean;
  #settle: (response: Response | null) => void = () => undefined;
  #controller: ReadableStreamDefaultController<Uint8Array> | undefined;
  // Write callbacks of chunks still queued: called once the consumer takes the chunk.
  readonly #pending: Array<((err?: Error | null) => void) | undefined> = [];
  #closed = false;

  constructor(isHead: boolean) {
    this.#head = isHead;
    this.response = new Promise((resolve) => {
      this.#settle = resolve;
    });
  }

  /** True once the body ended, was cancelled or destroyed (watchConnection reads it). */
  get destroyed(): boolean {
    return this.#closed;
  }

  /** Nothing to remove: a fetch Response has no headers set earlier by an application. */
  removeHeader(_name: string): void {}

  writeHead(statusCode: number, headers: string[]): this {
    const fields = new Headers();
    for (let i = 0; i + 1 < headers.length; i += 2) fields.append(headers[i]!, headers[i + 1]!);
    const body =
      this.#head || NULL_BODY_STATUSES.has(statusCode)
        ? null
        : new ReadableStream<Uint8Array>(
            {
              start: (controller) => {
                this.#controller = controller;
              },
              pull: () => {
                this.#flushCallbacks();
                // pull may run inside enqueue (a reader was waiting), before the body loop listens.
                queueMicrotask(() => this.#events.emit('drain'));
              },
              cancel: () => this.#close(),
            },
            { highWaterMark: 1 },
          );
    const response = new Response(body, { status: statusCode, headers: fields });
    this.headersSent = true;
    this.#settle(response);
    return this;
  }

  write(chunk: Uint8Array, callback?: (err?: Error | null) => void): boolean {
    const controller = this.#controller;
    if (this.#closed || controller === undefined) {
      callback?.(new Error('the response body is closed'));
      return false;
    }
    this.#pending.push(callback);
    controller.enqueue(chunk);
    // Always "wait for drain": 'drain' comes when the consumer pulls, so its timing tells the
    // read sizer how fast the consumer is (prompt → reads grow, read-ahead; late → chunkSize),
    // as a socket's drain does on node:http.
    return false;
  }

  end(chunk?: string | Uint8Array): this {
    if (this.#closed) return this;
    // A short body may be a view of a block-cache block: the consumer gets its own copy.
    if (chunk !== undefined) this.#controller?.enqueue(typeof chunk === 'string' ? new TextEncoder().encode(chunk) : new Uint8Array(chunk));
    this.#controller?.close();
    this.#close();
    return this;
  }

  /** Breaks the body: the consumer's read rejects. */
  destroy(err?: Error): void {
    if (this.#closed) return;
    this.#controller?.error(err ?? new Error('the response was cut off'));
    this.#close();
  }

  /** The request was passed on (middleware `next`): the response promise settles with null. */
  passOn(): void {
    this.#settle(null);
  }

  /** The client left before headers: settle with a placeholder and stop the pipeline. */
  abandon(): void {
    if (this.headersSent) return;
    this.#settle(new Response(null, { status: CLIENT_CLOSED_STATUS }));
    this.#close();
  }

  on(event: 'drain' | 'close', listener: () => void): this {
    this.#events.on(event, listener);
    return this;
  }

  once(event: 'close', listener: () => void): this {
    this.#events.once(event, listener);
    return this;
  }

  off(event: 'drain' | 'close', listener: () => void): this {
    this.#events.off(event, listener);
    return this;
  }

  // Calls the write callbacks of chunks the consumer has taken (the queue holds the rest).
  #flushCallbacks(): void {
    const queued = this.#closed ? 0 : Math.max(0, 1 - (this.#controller?.desiredSize ?? 1));
    while (this.#pending.length > queued) this.#pending.shift()?.();
  }

  #close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#flushCallbacks();
    this.#events.emit('close');
  }
}
