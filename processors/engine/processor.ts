import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { originOf } from '../runtime/pipeline/holds.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { topologyCodec } from '../model/topology.js';
import { edgeCodec } from '../model/edges.js';
import { changeCodec } from '../model/changes.js';
import { driftCodec } from '../model/drift.js';
import { healthCodec } from '../model/health.js';
import { correlationCodec, incidentCodec, type Correlation, type Incident } from '../model/correlations.js';
import { correlatorOptions, engineConfigSchema } from './config.js';
import { Correlator } from './correlator.js';

/** A call edge is written to the changelog again once it is this much newer than the stored one. */
const CALL_REFRESH_MS = 10 * 60_000;

/**
 * The AirDig engine: airdig.topology + airdig.edges (the graph), airdig.changes + airdig.drift (the
 * causes), airdig.health (the signals) → airdig.correlations and airdig.incidents. The graph is the
 * compacted topology read to its end at every start, plus the call edges, kept in the changelog
 * airdig.<id>.changelog; causes and signals are bounded windows that hold their input offsets.
 * One instance sees every partition: run one per pipeline (see README).
 */
export const engineFactory = processorFactory({
  type: 'engine',
  configSchema: engineConfigSchema,
  topics: (c) => ({ consumes: Object.values(c.inputs), produces: [c.correlations, c.incidents] }),
  create: ({ bus, metrics, id, logger, clock }, c) => {
    const producer = bus.producer();
    const store = new StateStore(bus, id);
    const correlator = new Correlator(correlatorOptions(c));
    const stored = new Map<string, number>();
    const outbox = new Outbox<{ topic: string; key: string; value: Buffer; timestamp: number }>();
    const { inputs } = c;
    return {
      restore: async () => {
        await bus.readToEnd(inputs.topology, (r) => {
          if (r.value.length) correlator.topology(topologyCodec.decode(r.value));
        });
        for (const [key, call] of await store.restoreJson<{ seen: number; address: string }>()) {
          const [, client, server] = key.split('\u0000');
          if (client && server) {
            correlator.call(client, server, call.seen, call.address);
            stored.set(key, call.seen);
          }
        }
        logger.info({ nodes: correlator.graph.nodes, calls: stored.size }, 'engine graph restored');
      },
      handle: async (batch) => {
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          metrics.received();
          const origin = originOf(record);
          if (record.topic === inputs.topology) {
            if (record.value.length) correlator.topology(topologyCodec.decode(record.value));
          } else if (record.topic === inputs.edges) {
            const e = edgeCodec.decode(record.value);
            correlator.call(e.client_id, e.server_id, e.ts_ms, e.server_address ?? '');
            const key = `call\u0000${e.client_id}\u0000${e.server_id}`;
            if ((stored.get(key) ?? -Infinity) < e.ts_ms - CALL_REFRESH_MS) {
              stored.set(key, e.ts_ms);
              store.putJson(key, { seen: e.ts_ms, address: e.server_address ?? '' });
            }
          } else if (record.topic === inputs.changes) correlator.change(changeCodec.decode(record.value), origin);
          else if (record.topic === inputs.drift) correlator.drift(driftCodec.decode(record.value), origin);
          else if (record.topic === inputs.health) correlator.health(healthCodec.decode(record.value), origin);
        });
        if (dead) metrics.dlq(dead);
        for (const [client, server] of correlator.graph.expireCalls(correlator.watermark - c.call_ttl_ms)) {
          const key = `call\u0000${client}\u0000${server}`;
          stored.delete(key);
          store.delete(key);
        }
        const { correlations, incidents } = correlator.evaluate(clock.now());
        outbox.push(
          ...correlations.map((r: Correlation) => ({
            topic: c.correlations,
            key: r.impacted_resource_id,
            value: correlationCodec.encode(r),
            timestamp: r.ts_ms,
          })),
          ...incidents.map((r: Incident) => ({ topic: c.incidents, key: r.id, value: incidentCodec.encode(r), timestamp: r.opened_ms || r.revision_ms })),
        );
        const sent = await outbox.send(async (rows) => {
          for (const topic of [c.correlations, c.incidents]) {
            const mine = rows.filter((r) => r.topic === topic);
            if (mine.length) await producer.send(topic, mine);
          }
        });
        metrics.sent(sent.length);
        await store.flush();
      },
      holds: () => correlator.holds(),
      pending: () => correlator.openSignals,
    };
  },
});
