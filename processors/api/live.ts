/*
 * Live updates: what the API consumes from the bus, pushed to the subscriptions that want it. Each
 * subscriber has its own bounded queue; a subscriber that does not keep up loses its oldest pushes
 * (counted), never holds up the consumer or the others.
 */

export type LiveKind = 'health' | 'correlation' | 'incident' | 'drift' | 'change';

/** One subscription's stream of payloads, as graphql-js iterates it; return() ends it. */
export class Subscriber<T> implements AsyncIterableIterator<T> {
  readonly #queue: T[] = [];
  readonly #accepts: (payload: T) => boolean;
  readonly #max: number;
  readonly #onDrop: () => void;
  readonly #onClose: () => void;
  #waiting: ((r: IteratorResult<T>) => void) | undefined;
  #closed = false;
  dropped = 0;

  constructor(accepts: (payload: T) => boolean, max: number, onDrop: () => void, onClose: () => void) {
    this.#accepts = accepts;
    this.#max = max;
    this.#onDrop = onDrop;
    this.#onClose = onClose;
  }

  /** Queues a payload if this subscriber wants it; past the bound the oldest one goes. */
  offer(payload: T): void {
    if (this.#closed || !this.#accepts(payload)) return;
    const waiting = this.#waiting;
    if (waiting) {
      this.#waiting = undefined;
      waiting({ value: payload, done: false });
      return;
    }
    this.#queue.push(payload);
    if (this.#queue.length > this.#max) {
      this.#queue.shift();
      this.dropped++;
      this.#onDrop();
    }
  }

  get queued(): number {
    return this.#queue.length;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.#queue.length) return Promise.resolve({ value: this.#queue.shift()!, done: false });
    if (this.#closed) return Promise.resolve({ value: undefined, done: true });
    return new Promise((resolve) => (this.#waiting = resolve));
  }

  return(): Promise<IteratorResult<T>> {
    this.close();
    return Promise.resolve({ value: undefined, done: true });
  }

  throw(err: unknown): Promise<IteratorResult<T>> {
    this.close();
    return Promise.reject(err);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#queue.length = 0;
    this.#waiting?.({ value: undefined, done: true });
    this.#waiting = undefined;
    this.#onClose();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}

/** The subscribers of each kind; publish() offers a payload to every one of its kind. */
export class LiveHub {
  readonly #subscribers = new Map<LiveKind, Set<Subscriber<unknown>>>();
  readonly #queueSize: number;
  readonly #onDrop: () => void;
  readonly #onCount: (n: number) => void;
  #count = 0;

  constructor(o: { queueSize: number; onDrop: () => void; onCount: (n: number) => void }) {
    this.#queueSize = o.queueSize;
    this.#onDrop = o.onDrop;
    this.#onCount = o.onCount;
  }

  subscribe<T>(kind: LiveKind, accepts: (payload: T) => boolean): Subscriber<T> {
    let set = this.#subscribers.get(kind);
    if (!set) this.#subscribers.set(kind, (set = new Set()));
    const s: Subscriber<T> = new Subscriber(accepts, this.#queueSize, this.#onDrop, () => {
      set.delete(s as Subscriber<unknown>);
      this.#onCount(--this.#count);
    });
    set.add(s as Subscriber<unknown>);
    this.#onCount(++this.#count);
    return s;
  }

  /** Whether anyone listens for a kind (records of other kinds need not be decoded). */
  wants(kind: LiveKind): boolean {
    return (this.#subscribers.get(kind)?.size ?? 0) > 0;
  }

  publish(kind: LiveKind, payload: unknown): void {
    for (const s of this.#subscribers.get(kind) ?? []) s.offer(payload);
  }

  /** Ends every subscription (the server is stopping). */
  closeAll(): void {
    for (const set of this.#subscribers.values()) for (const s of [...set]) s.close();
  }

  get count(): number {
    return this.#count;
  }
}
