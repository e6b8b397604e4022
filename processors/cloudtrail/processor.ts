import { z } from 'zod';
import { avroCodec } from '../runtime/avro.js';
import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { Consumer, OutMessage } from '../runtime/bus/types.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { decodeCloudTrailRecord, type ChangeEvent } from './records.js';

export const changeCodec = avroCodec<ChangeEvent>('change');

const changesConfigSchema = z
  .object({
    input: topicName.default('cloudtrail_events'),
    output: topicName.default('airdig.changes'),
    /** Event ids remembered to skip duplicates (the same record from S3, EventBridge and LookupEvents). */
    dedup_window: z.number().int().nonnegative().default(100_000),
    max_batch: z.number().int().positive().default(1_000),
  })
  .strict();
type ChangesConfig = z.infer<typeof changesConfigSchema>;

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
class ChangesProcessor implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: ChangesConfig;
  readonly #recent: RecentSet;
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, config: ChangesConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#recent = new RecentSet(config.dedup_window);
  }

  async start(): Promise<void> {
    const { bus, metrics, id } = this.#s;
    const producer = bus.producer();
    this.#consumer = await consumeTopics(this.#s, {
      what: 'changes batch',
      topics: [this.#cfg.input],
      maxBatch: this.#cfg.max_batch,
      handler: async (batch) => {
        const out: OutMessage[] = [];
        const ids: string[] = [];
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          const e = decodeCloudTrailRecord(record.value);
          if (this.#recent.check(e.event_id)) {
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
          if (out.length) await producer.send(this.#cfg.output, out);
        } catch (err) {
          // Not passed on: forget them so the redelivery is not taken for duplicates.
          this.#recent.forget(ids);
          throw err;
        }
        metrics.sent(out.length);
      },
    });
  }

  async shutdown(): Promise<void> {
    await stopConsuming(this.#s, this.#consumer);
  }
}

export const changesFactory: Factory<ChangesConfig> = {
  kind: 'processor',
  type: 'changes',
  configSchema: changesConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  create: (settings, config) => new ChangesProcessor(settings, config),
};

/** airdig.changes → change_event_log; the view change_events shows each event id once. */
export const changeEventsFactory = tableSinkFactory({
  type: 'change_events',
  configSchema: tableSinkConfig('airdig.changes', 'change_event_log', 2_000),
  toRows: (r) => {
    const { ts_ms, ...e } = changeCodec.decode(r.value);
    return [{ ...e, ts: new Date(ts_ms).toISOString() }];
  },
});
