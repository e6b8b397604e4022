import { z } from 'zod';
import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { Consumer, OutMessage } from '../runtime/bus/types.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../graph/factory.js';
import { scannerCodec } from '../inventory/records.js';
import { ScopeTracker } from './scopes.js';

const topologyConfigSchema = z
  .object({
    input: topicName.default('scanner_resources'),
    output: topicName.default('airdig.topology'),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
type TopologyConfig = z.infer<typeof topologyConfigSchema>;

/** scanner_resources → airdig.topology: nodes and edges as scans saw them, and what complete scans no longer see as gone. */
class TopologyProcessor implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: TopologyConfig;
  readonly #tracker = new ScopeTracker();
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, config: TopologyConfig) {
    this.#s = settings;
    this.#cfg = config;
  }

  async start(): Promise<void> {
    const { bus, metrics, id } = this.#s;
    const producer = bus.producer();
    this.#consumer = await consumeTopics(this.#s, {
      what: 'topology batch',
      topics: [this.#cfg.input],
      maxBatch: this.#cfg.max_batch,
      handler: async (batch, ctx) => {
        const out: TopologyRecord[] = [];
        let gone = 0;
        this.#tracker.begin();
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          const at = `${record.topic}\u0000${record.partition}`;
          const r = scannerCodec.decode(record.value);
          const made = this.#tracker.observe(r, { at, offset: record.offset });
          if (r.kind === 'scan_end') {
            gone += made.length;
            if (r.completeness !== 'complete') metrics.noted(`scan_${r.completeness}`);
          }
          out.push(...made);
        });
        if (dead) metrics.dlq(dead);
        metrics.received(batch.length);
        if (gone) metrics.noted('gone', gone);
        if (out.length) {
          const messages: OutMessage[] = out.map((t) => ({ key: topologyKey(t), value: topologyCodec.encode(t), timestamp: t.seen_ms }));
          try {
            await producer.send(this.#cfg.output, messages);
          } catch (err) {
            this.#tracker.rollback();
            throw err;
          }
          metrics.sent(out.length);
        }
        ctx.setHolds(this.#tracker.heldOffsets());
      },
    });
  }

  async shutdown(): Promise<void> {
    await stopConsuming(this.#s, this.#consumer);
  }
}

export const topologyFactory: Factory<TopologyConfig> = {
  kind: 'processor',
  type: 'topology',
  configSchema: topologyConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  create: (settings, config) => new TopologyProcessor(settings, config),
};
