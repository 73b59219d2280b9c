/**
 * Read buffers handed back once their write has completed, by power-of-two size class, so a
 * busy server reuses the same memory instead of churning through malloc and the garbage
 * collector. Churn is what grew RSS with 200 slow clients (the naive baseline too: freed buffers
 * wait for a GC, and freed heap is not returned to the system), not live data.
 *
 * A buffer may come back only from a write callback that reported success: until then Node may
 * still hold it, and refilling it corrupts the response (FACTS). One that never comes back
 * (the client left) is simply collected.
 */
export class BufferPool {
  readonly #smallest: number;
  readonly #maxIdleBytes: number;
  readonly #free = new Map<number, Buffer[]>();
  #idleBytes = 0;

  /** Buffers of `smallest` bytes and up are pooled; at most `maxIdleBytes` wait unused. */
  constructor(smallest: number, maxIdleBytes: number) {
    this.#smallest = smallest;
    this.#maxIdleBytes = maxIdleBytes;
  }

  /** A buffer of at least `size` bytes (exactly `size` when too small to pool). */
  take(size: number): Buffer {
    if (size < this.#smallest) return Buffer.allocUnsafeSlow(size);
    const sizeClass = 2 ** Math.ceil(Math.log2(size));
    const reused = this.#free.get(sizeClass)?.pop();
    if (reused === undefined) return Buffer.allocUnsafeSlow(sizeClass);
    this.#idleBytes -= sizeClass;
    return reused;
  }

  /** Takes back a buffer from `take` whose write has completed. */
  give(buffer: Buffer): void {
    const sizeClass = buffer.length;
    if (sizeClass < this.#smallest || (sizeClass & (sizeClass - 1)) !== 0) return;
    if (this.#idleBytes + sizeClass > this.#maxIdleBytes) return;
    let list = this.#free.get(sizeClass);
    if (list === undefined) this.#free.set(sizeClass, (list = []));
    list.push(buffer);
    this.#idleBytes += sizeClass;
  }
}
