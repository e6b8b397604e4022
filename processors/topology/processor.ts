import { z } from 'zod';
import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { Consumer, OutMessage } from '../runtime/bus/types.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
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

/**
 * scanner_resources → airdig.topology: nodes and edges as scans saw them, and what complete scans
 * no longer see as gone. What each scope holds lives in the changelog airdig.<id>.changelog and is
 * restored from it at start.
 */
class TopologyProcessor implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: TopologyConfig;
  readonly #tracker = new ScopeTracker();
  readonly #store: StateStore;
  /** Records not yet sent: kept across a failed send, since the batch delivered again does not make them again. */
  #outbox: TopologyRecord[] = [];
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, config: TopologyConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#store = new StateStore(settings.bus, settings.id);
  }

  async start(): Promise<void> {
    const { bus, metrics, id, logger } = this.#s;
    const producer = bus.producer();
    this.#tracker.restore(await this.#store.restoreJson<string | number>());
    if (this.#tracker.scopes) logger.info({ scopes: this.#tracker.scopes, changelog: this.#store.topic }, 'restored scopes');
    this.#consumer = await consumeTopics(this.#s, {
      what: 'topology batch',
      topics: [this.#cfg.input],
      maxBatch: this.#cfg.max_batch,
      handler: async (batch, ctx) => {
        let gone = 0;
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          this.#store.handle(record, (replay) => {
            const at = `${record.topic}\u0000${record.partition}`;
            const r = scannerCodec.decode(record.value);
            const made = this.#tracker.observe(r, { at, offset: record.offset }, replay);
            if (r.kind === 'scan_end' && !replay) {
              gone += made.length;
              if (r.completeness !== 'complete') metrics.noted(`scan_${r.completeness}`);
            }
            this.#outbox.push(...made);
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(batch.length);
        if (gone) metrics.noted('gone', gone);
        if (this.#outbox.length) {
          const out = this.#outbox;
          const messages: OutMessage[] = out.map((t) => ({ key: topologyKey(t), value: topologyCodec.encode(t), timestamp: t.seen_ms }));
          await producer.send(this.#cfg.output, messages);
          this.#outbox = [];
          metrics.sent(out.length);
        }
        // Output first, then the scopes it came from, then (on return) the input commit: see StateStore.
        for (const [key, value] of this.#tracker.takeChanges()) {
          if (value === null) this.#store.delete(key);
          else this.#store.putJson(key, value);
        }
        await this.#store.flush();
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
