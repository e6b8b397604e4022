import { z } from 'zod';
import { avroCodec } from '../runtime/avro.js';
import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { Consumer, OutMessage } from '../runtime/bus/types.js';
import { errorMessage } from '../runtime/errors.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { serviceGraphConfigSchema, type ServiceGraphConfig } from './config.js';
import { edgeSides, ServiceGraph, type EdgeFact } from './graph.js';
import { forEachSpanView } from './spans.js';

const edgeCodec = avroCodec<EdgeFact>('edge');

/** The key of an edge record: both sides' canonical ids, so services of the same name in two namespaces never share one. */
export function edgeKey(e: EdgeFact): string {
  return `${e.client_id}|${e.server_id}`;
}

/** otlp_spans → airdig.edges: pairs spans into call edges in a window, holding commits while a half waits. */
class ServiceGraphProcessor implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: ServiceGraphConfig;
  readonly #graph: ServiceGraph;
  #outbox: EdgeFact[] = [];
  #consumer: Consumer | undefined;
  #timer: NodeJS.Timeout | undefined;

  constructor(settings: ComponentSettings, config: ServiceGraphConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#graph = new ServiceGraph({
      clock: settings.clock,
      ttlMs: config.store_ttl_ms,
      maxItems: config.store_max_items,
      emit: (e) => this.#outbox.push(e),
      onDrop: (reason) => settings.metrics.dropped(reason),
    });
  }

  async start(): Promise<void> {
    const { bus, metrics, logger, id } = this.#s;
    const producer = bus.producer();
    this.#consumer = await consumeTopics(this.#s, {
      what: 'span batch',
      pending: () => this.#graph.pending,
      topics: [this.#cfg.input],
      maxBatch: this.#cfg.max_batch,
      handler: async (batch, ctx) => {
        let spans = 0;
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          const origin = { topic: record.topic, partition: record.partition, offset: record.offset };
          forEachSpanView(record.value, (v) => {
            spans++;
            this.#graph.addSpan(v, origin);
          });
        });
        if (dead) metrics.dlq(dead);
        metrics.received(spans);
        this.#graph.expire();
        await this.#flush();
        // Commit no further than the oldest record a pending half edge came from: after a crash it is read again.
        ctx.setHolds(this.#graph.heldOffsets());
      },
    });
    this.#timer = setInterval(() => {
      this.#graph.expire();
      this.#flush().catch((err) => logger.warn({ err: errorMessage(err) }, 'sending expired edges failed; they are kept and sent with the next batch'));
    }, this.#cfg.expire_interval_ms);
    this.#timer.unref();
  }

  async #flush(): Promise<void> {
    if (this.#outbox.length === 0) return;
    const edges = this.#outbox;
    this.#outbox = [];
    const messages: OutMessage[] = edges.map((e) => ({ key: edgeKey(e), value: edgeCodec.encode(e), timestamp: e.ts_ms }));
    try {
      await this.#s.bus.producer().send(this.#cfg.output, messages);
      this.#s.metrics.sent(edges.length);
    } catch (err) {
      this.#outbox = edges.concat(this.#outbox);
      throw err;
    }
  }

  async shutdown(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await stopConsuming(this.#s, this.#consumer);
    // What is still pending is not lost: its records were not committed and are read again on restart.
    await this.#flush().catch(() => {});
  }
}

export const serviceGraphFactory: Factory<ServiceGraphConfig> = {
  kind: 'processor',
  type: 'servicegraph',
  configSchema: serviceGraphConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  create: (settings, config) => new ServiceGraphProcessor(settings, config),
};

export const serviceEdgesConfigSchema = tableSinkConfig('airdig.edges', 'edge_facts', 5_000);
export type ServiceEdgesConfig = z.infer<typeof serviceEdgesConfigSchema>;

export interface EdgeRow {
  id: string;
  ts: string;
  trace_id: string;
  client: string;
  server: string;
  client_namespace: string;
  server_namespace: string;
  client_id: string;
  server_id: string;
  connection_type: string;
  failed: number;
  latency_ms: number;
  client_latency_ms: number;
}

/** An edge_facts row. A record written before edges had namespaces decodes with namespaces and ids ''; its ids are made here. */
export function edgeRow(e: EdgeFact): EdgeRow {
  return {
    id: e.id,
    ts: new Date(e.ts_ms).toISOString(),
    trace_id: e.trace_id,
    ...edgeSides(e.client, e.client_namespace, e.server, e.server_namespace),
    connection_type: e.connection_type,
    failed: e.failed ? 1 : 0,
    latency_ms: e.latency_ms,
    client_latency_ms: e.client_latency_ms,
  };
}

/** airdig.edges → edge_facts, which the service_edges materialized view aggregates per minute. */
export const serviceEdgesFactory = tableSinkFactory({ type: 'service_edges', configSchema: serviceEdgesConfigSchema, toRows: (r) => [edgeRow(edgeCodec.decode(r.value))] });
