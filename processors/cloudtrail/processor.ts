import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { OutMessage } from '../runtime/bus/types.js';
import { processorFactory } from '../runtime/pipeline/processor.js';
import { changesConfigSchema } from './config.js';
import { decodeCloudTrailRecord } from './records.js';
import { changeCodec } from '../model/changes.js';

/** Most recently seen keys, up to a bound (insertion order is age: a Map evicts its oldest first). */
class RecentSet {
  readonly #seen = new Map<string, true>();
  constructor(readonly limit: number) {}
  /** True when the key was already there. */
  check(key: string): boolean {
    if (this.limit === 0) return false;
    if (this.#seen.has(key)) return true;
    this.#seen.set(key, true);
    if (this.#seen.size > this.limit) this.#seen.delete(this.#seen.keys().next().value!);
    return false;
  }
  forget(keys: readonly string[]): void {
    for (const k of keys) this.#seen.delete(k);
  }
}

/** cloudtrail_events → airdig.changes: each record once, with the resources it touched. */
export const changesFactory = processorFactory({
  type: 'changes',
  configSchema: changesConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  create: ({ bus, metrics, id }, c) => {
    const producer = bus.producer();
    const recent = new RecentSet(c.dedup_window);
    return {
      handle: async (batch) => {
        const out: OutMessage[] = [];
        const ids: string[] = [];
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          const e = decodeCloudTrailRecord(record.value);
          if (recent.check(e.event_id)) {
            metrics.noted('duplicate');
            return;
          }
          ids.push(e.event_id);
          if (e.resource_ids.length === 0) metrics.noted('no_resource');
          out.push({ key: e.resource_ids[0] ?? e.event_id, value: changeCodec.encode(e), timestamp: e.ts_ms });
        });
        if (dead) metrics.dlq(dead);
        metrics.received(batch.length);
        try {
          if (out.length) await producer.send(c.output, out);
        } catch (err) {
          // Not passed on: forget them so the redelivery is not taken for duplicates.
          recent.forget(ids);
          throw err;
        }
        metrics.sent(out.length);
      },
    };
  },
});
