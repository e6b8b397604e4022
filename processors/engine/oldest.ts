/**
 * The oldest of a keyed set, in O(log n): a binary min-heap by (time, id) with lazy deletion, so that
 * items removed from their map elsewhere need no heap update (their entries are skipped when they
 * come up). Ties go to the smaller id, so the choice does not depend on insertion order (which a
 * restart from the changelog does not keep).
 */
export class OldestFirst<T> {
  #heap: { time: number; id: string; item: T }[] = [];

  get size(): number {
    return this.#heap.length;
  }

  push(time: number, id: string, item: T): void {
    const heap = this.#heap;
    heap.push({ time, id, item });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i]!, heap[parent]!)) break;
      [heap[i], heap[parent]] = [heap[parent]!, heap[i]!];
      i = parent;
    }
  }

  /** Removes and returns the oldest item that `live` still holds; entries of items gone are dropped on the way. */
  pop(live: (id: string, item: T) => boolean): T | undefined {
    while (this.#heap.length) {
      const top = this.#take();
      if (live(top.id, top.item)) return top.item;
    }
    return undefined;
  }

  /** Starts again from the live items (when dead entries have piled up). */
  rebuild(items: Iterable<[time: number, id: string, item: T]>): void {
    this.#heap = [];
    for (const [time, id, item] of items) this.push(time, id, item);
  }

  #take(): { time: number; id: string; item: T } {
    const heap = this.#heap;
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && before(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && before(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  }
}

function before(a: { time: number; id: string }, b: { time: number; id: string }): boolean {
  return a.time < b.time || (a.time === b.time && a.id < b.id);
}
