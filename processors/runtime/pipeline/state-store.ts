import type { Bus, OutMessage } from '../bus/types.js';
import { partitionKey, type Origin } from './holds.js';

/**
 * A processor's keyed state that outlives a window, kept in a compacted changelog topic of its own
 * (as a Kafka Streams state store is), so that no input offset has to stay uncommitted while the
 * state lives.
 *
 * - restore(): creates the changelog if missing and reads it to its end: the latest value per key.
 *   Call it before consuming input.
 * - put() / delete() stage changes; flush() produces them, then the per-partition marks, in one
 *   send. Flush after the batch's output is sent and before the handler returns (the bus commits
 *   the input after that): a crash before the flush replays the batch onto the old state, which
 *   gives the same output again (deterministic ids collapse it); a crash after the flush and before
 *   the commit replays it onto the new state, and handle() says so.
 * - handle(record, fn) runs fn on an input record by where it stands: `new`; `replay` (read
 *   again after a restart while its effects on the stored state are already there: rebuild windows
 *   from it, change no stored state); `duplicate` (handled already by this process: the bus
 *   delivered its batch again after the handler failed) is skipped.
 *
 * The marks are keyed "\u0001applied\u0000" + partitionKey ("<topic>\u0000<partition>"): the highest input offset
 * whose effects are in the stored state. The changelog has one partition, so a flush lands in
 * order and the marks, sent last, never run ahead of the state they describe.
 */
export class StateStore {
  readonly topic: string;
  readonly #bus: Bus;
  readonly #restored = new Map<string, number>();
  readonly #applied = new Map<string, number>();
  readonly #marks = new Set<string>();
  readonly #staged = new Map<string, Buffer | null>();

  constructor(bus: Bus, componentId: string) {
    this.#bus = bus;
    this.topic = changelogTopic(componentId);
  }

  /** The stored state: the latest value per key. */
  async restore(): Promise<Map<string, Buffer>> {
    await this.#bus.ensureTopics([{ name: this.topic, partitions: 1, compacted: true }]);
    const state = new Map<string, Buffer>();
    this.#restored.clear();
    await this.#bus.readToEnd(this.topic, (r) => {
      const key = r.key?.toString() ?? '';
      if (key.startsWith(MARK)) {
        const part = key.slice(MARK.length);
        if (r.value.length) this.#restored.set(part, Number(r.value.toString()));
        else this.#restored.delete(part);
      } else if (r.value.length === 0) state.delete(key);
      else state.set(key, r.value);
    });
    return state;
  }

  /** The stored state with each value parsed as JSON. */
  async restoreJson<T>(): Promise<Map<string, T>> {
    const out = new Map<string, T>();
    for (const [k, v] of await this.restore()) out.set(k, JSON.parse(v.toString()) as T);
    return out;
  }

  /** Where an input record stands against the stored state. */
  admission(r: Origin): Admission {
    const part = partitionKey(r.topic, r.partition);
    if (r.offset <= (this.#applied.get(part) ?? -1)) return 'duplicate';
    return r.offset <= (this.#restored.get(part) ?? -1) ? 'replay' : 'new';
  }

  /**
   * Runs fn on an input record unless this process handled it already (replay: true when its
   * effects on the stored state are there already), and counts it handled once fn returns. A
   * record fn throws on is not counted, so a batch delivered again after its dead-letter send
   * failed sends it there again.
   */
  handle(r: Origin, fn: (replay: boolean) => void): void {
    const admission = this.admission(r);
    if (admission === 'duplicate') return;
    fn(admission === 'replay');
    const part = partitionKey(r.topic, r.partition);
    this.#applied.set(part, r.offset);
    this.#marks.add(part);
  }

  put(key: string, value: Buffer): void {
    if (key.startsWith(MARK)) throw new Error(`state key ${JSON.stringify(key)} is reserved`);
    if (value.length === 0) throw new Error(`state key ${JSON.stringify(key)}: an empty value would read as a tombstone; use delete()`);
    this.#staged.set(key, value);
  }

  putJson(key: string, value: unknown): void {
    this.put(key, Buffer.from(JSON.stringify(value)));
  }

  delete(key: string): void {
    this.#staged.set(key, null);
  }

  /** Stages changes by key: a value is put as JSON, null deletes the key. */
  stageJson(changes: Iterable<readonly [string, unknown]>): void {
    for (const [key, value] of changes) {
      if (value === null) this.delete(key);
      else this.putJson(key, value);
    }
  }

  /** Changes staged and not yet flushed. */
  get staged(): number {
    return this.#staged.size;
  }

  /** Produces the staged changes and the marks; on failure they stay staged, to go with the next flush. */
  async flush(): Promise<void> {
    const messages: OutMessage[] = [];
    for (const [key, value] of this.#staged) messages.push({ key, value });
    for (const part of this.#marks) messages.push({ key: MARK + part, value: Buffer.from(String(this.#applied.get(part))) });
    if (messages.length === 0) return;
    await this.#bus.producer().send(this.topic, messages);
    this.#staged.clear();
    this.#marks.clear();
  }
}

export type Admission = 'new' | 'replay' | 'duplicate';

const MARK = '\u0001applied\u0000';

/** The changelog topic of a component: airdig.<type>[.<name>].changelog. */
export function changelogTopic(componentId: string): string {
  return `airdig.${componentId.replace('/', '.')}.changelog`;
}
