/**
 * A queue between producers and one consumer that holds at most `capacity` items: the
 * producer's `push` waits while it is full, so a consumer that stops reading stops the
 * producer instead of growing memory. `fail` and `close` end it from either side.
 */
export class BoundedQueue<T> implements AsyncIterable<T> {
  readonly capacity: number;
  readonly #items: T[] = [];
  #ended = false;
  #error: unknown;
  #failed = false;
  /** Wakes the consumer (an item or the end arrived) or the producer (room appeared). */
  #wake: (() => void) | undefined;
  #wakeProducers: Array<() => void> = [];
  #onReturn: (() => void) | undefined;

  constructor(capacity: number, onReturn?: () => void) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.#onReturn = onReturn;
  }

  get size(): number {
    return this.#items.length;
  }

  /** True once `close`/`fail` was called (pushes are then dropped). */
  get ended(): boolean {
    return this.#ended;
  }

  /** Adds an item, waiting while the queue is full; resolves false (item dropped) once the queue has ended. */
  async push(item: T): Promise<boolean> {
    while (!this.#ended && this.#items.length >= this.capacity) {
      await new Promise<void>((resolve) => this.#wakeProducers.push(resolve));
    }
    if (this.#ended) return false;
    this.#items.push(item);
    this.#signal();
    return true;
  }

  /** No more items: the consumer reads what is queued, then finishes. */
  close(): void {
    this.#ended = true;
    this.#signal();
  }

  /** Ends with an error: the consumer gets it after the queued items. */
  fail(error: unknown): void {
    if (this.#ended) return;
    this.#failed = true;
    this.#error = error;
    this.close();
  }

  #signal(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
    // Every waiting producer re-checks for room (several tasks may push into one queue).
    const producers = this.#wakeProducers;
    this.#wakeProducers = [];
    for (const producer of producers) producer();
  }

  async next(): Promise<IteratorResult<T, undefined>> {
    for (;;) {
      if (this.#items.length > 0) {
        const item = this.#items.shift()!;
        this.#signal();
        return { value: item, done: false };
      }
      if (this.#ended) {
        if (this.#failed) {
          this.#failed = false;
          throw this.#error;
        }
        return { value: undefined, done: true };
      }
      await new Promise<void>((resolve) => (this.#wake = resolve));
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<T, undefined> {
    return {
      next: () => this.next(),
      return: async () => {
        // The consumer left (break, throw, or an abandoned stream): tell the producer side.
        this.#items.length = 0;
        this.close();
        this.#onReturn?.();
        return { value: undefined, done: true };
      },
    };
  }
}
