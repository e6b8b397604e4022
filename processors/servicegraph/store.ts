import type { Clock } from '../runtime/clock.js';

/** The store holds maxItems pending edges; a new one is refused until some complete or expire. */
export class StoreFullError extends Error {
  constructor(readonly maxItems: number) {
    super(`service graph store is full (${maxItems} pending edges)`);
  }
}

interface Entry<V> {
  value: V;
  expiresAt: number;
}

/**
 * Pending edges by key (trace id + span id), each with a deadline. Kept apart from the pairing
 * logic: upsert creates or updates an entry and may complete it; expire() hands back what waited
 * too long. Insertion order equals deadline order (one TTL for all), so expiring walks from the
 * front and stops at the first entry still alive.
 */
export class EdgeStore<V> {
  readonly #items = new Map<string, Entry<V>>();
  readonly #clock: Clock;
  readonly #ttlMs: number;
  readonly #maxItems: number;
  readonly #isComplete: (v: V) => boolean;
  readonly #onComplete: (v: V) => void;
  readonly #onExpire: (v: V) => void;

  constructor(options: { clock: Clock; ttlMs: number; maxItems: number; isComplete: (v: V) => boolean; onComplete: (v: V) => void; onExpire: (v: V) => void }) {
    this.#clock = options.clock;
    this.#ttlMs = options.ttlMs;
    this.#maxItems = options.maxItems;
    this.#isComplete = options.isComplete;
    this.#onComplete = options.onComplete;
    this.#onExpire = options.onExpire;
  }

  get size(): number {
    return this.#items.size;
  }

  /**
   * Applies update to the value under key (created by create() when absent). A value that is
   * complete afterwards leaves the store through onComplete. Throws StoreFullError when a new
   * key does not fit.
   */
  upsert(key: string, create: () => V, update: (v: V) => void): void {
    let entry = this.#items.get(key);
    if (!entry) {
      if (this.#items.size >= this.#maxItems) throw new StoreFullError(this.#maxItems);
      entry = { value: create(), expiresAt: this.#clock.now() + this.#ttlMs };
      this.#items.set(key, entry);
    }
    update(entry.value);
    if (this.#isComplete(entry.value)) {
      this.#items.delete(key);
      this.#onComplete(entry.value);
    }
  }

  /** Hands every entry past its deadline to onExpire; returns how many. */
  expire(): number {
    const now = this.#clock.now();
    let n = 0;
    for (const [key, entry] of this.#items) {
      if (entry.expiresAt > now) break;
      this.#items.delete(key);
      this.#onExpire(entry.value);
      n++;
    }
    return n;
  }

  /** Every pending value, oldest first (for computing commit holds). */
  values(): IterableIterator<V> {
    return (function* (items: Map<string, Entry<V>>) {
      for (const e of items.values()) yield e.value;
    })(this.#items);
  }
}
