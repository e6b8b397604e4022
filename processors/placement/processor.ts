import { z } from 'zod';
import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { Consumer, OutMessage } from '../runtime/bus/types.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { forEachField } from '../otlp/wire.js';
import { Resource } from '../otlp/proto.js';
import { attributesToMap } from '../otlp/values.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../graph/factory.js';
import { placementOf } from './identity.js';

/** A placement already reported is reported again after this long, to move last_seen. */
export const DEFAULT_REFRESH_MS = 60_000;
export const DEFAULT_MAX_REMEMBERED = 100_000;

export const placementConfigSchema = z
  .object({
    input: topicName.default('otlp_spans'),
    output: topicName.default('airdig.topology'),
    refresh_ms: z.number().int().positive().default(DEFAULT_REFRESH_MS),
    max_remembered: z.number().int().positive().default(DEFAULT_MAX_REMEMBERED),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type PlacementConfig = z.infer<typeof placementConfigSchema>;

/** Calls fn with the attributes of each resource in an ExportTraceServiceRequest, reading nothing else. */
export function forEachResource(value: Uint8Array, fn: (attrs: Record<string, string>) => void): void {
  forEachField(value, 0, value.length, (field, wire, start, end) => {
    if (field !== 1 || wire !== 2) return;
    forEachField(value, start, end, (f, w, s, e) => {
      if (f === 1 && w === 2) fn(attributesToMap(Resource.decode(value.subarray(s, e)).attributes));
    });
  });
}

/** otlp_spans → airdig.topology: where each service runs (runs_on edges), from its resource attributes. */
class PlacementProcessor implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: PlacementConfig;
  readonly #reported = new Map<string, number>();
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, config: PlacementConfig) {
    this.#s = settings;
    this.#cfg = config;
  }

  async start(): Promise<void> {
    const { bus, metrics, id, clock } = this.#s;
    const producer = bus.producer();
    this.#consumer = await consumeTopics(this.#s, {
      what: 'placement batch',
      topics: [this.#cfg.input],
      maxBatch: this.#cfg.max_batch,
      handler: async (batch) => {
        const out: TopologyRecord[] = [];
        const reportedNow: string[] = [];
        const now = clock.now();
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          forEachResource(record.value, (attrs) => {
            metrics.received();
            const p = placementOf(attrs, now);
            if (!p || p.targets.length === 0) return;
            const key = [p.service.id, ...p.targets.map((t) => t.id)].join('|');
            const last = this.#reported.get(key);
            if (last !== undefined && now - last < this.#cfg.refresh_ms) return;
            if (this.#reported.size >= this.#cfg.max_remembered) this.#reported.clear();
            this.#reported.set(key, now);
            reportedNow.push(key);
            out.push(p.service, ...p.targets, ...p.edges);
          });
        });
        if (dead) metrics.dlq(dead);
        if (out.length === 0) return;
        const messages: OutMessage[] = out.map((r) => ({ key: topologyKey(r), value: topologyCodec.encode(r), timestamp: r.seen_ms }));
        try {
          await producer.send(this.#cfg.output, messages);
        } catch (err) {
          // Not reported after all: forget them, so the retry of this batch reports them.
          for (const k of reportedNow) this.#reported.delete(k);
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

export const placementFactory: Factory<PlacementConfig> = {
  kind: 'processor',
  type: 'placement',
  configSchema: placementConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  create: (settings, config) => new PlacementProcessor(settings, config),
};
