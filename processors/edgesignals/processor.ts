import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { originOf } from '../runtime/pipeline/holds.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { edgeCodec } from '../model/edges.js';
import { healthCodec, type HealthFact } from '../model/health.js';
import { edgeSignalsConfigSchema, type EdgeSignalsConfig } from './config.js';
import { EdgeSignals, type EdgeSignalsOptions, type StoredEntry } from './signals.js';

/** The detector of a validated edge_signals config. */
export function edgeSignalsFor(config: EdgeSignalsConfig, o: Omit<EdgeSignalsOptions, 'config'>): EdgeSignals {
  return new EdgeSignals({ config, ...o });
}

/**
 * airdig.edges → airdig.health: per edge and minute of event time, the error ratio and p95 latency,
 * judged by an absolute rule and the edge's baselines; signals fire on the server and the client of
 * the edge. Open minutes hold their input offsets; edge states (baselines, firing signals) and the
 * partitions' watermarks live in the changelog airdig.<id>.changelog and are restored at start.
 */
export const edgeSignalsFactory = processorFactory({
  type: 'edge_signals',
  configSchema: edgeSignalsConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  what: 'edge batch',
  create: ({ bus, metrics, id, logger }, c) => {
    const producer = bus.producer();
    const store = new StateStore(bus, id);
    const outbox = new Outbox<HealthFact>();
    const signals = edgeSignalsFor(c, {
      emit: (f) => outbox.push(f),
      onLate: () => metrics.dropped('late'),
      onEvict: () => metrics.noted('edge_evicted'),
      onFull: () => metrics.dropped('max_edges'),
    });
    return {
      restore: async () => {
        signals.restore(await store.restoreJson<StoredEntry>());
        if (signals.edges) logger.info({ edges: signals.edges, firing: signals.firing, changelog: store.topic }, 'restored edge states');
      },
      handle: async (batch) => {
        let edges = 0;
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          store.handle(record, (replay) => {
            const e = edgeCodec.decode(record.value);
            edges++;
            signals.observe(e, originOf(record), replay);
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(edges);
        // Facts first, then the states they came from, then (on return) the input commit: see StateStore.
        const facts = await outbox.send((facts) =>
          producer.send(
            c.output,
            facts.map((f) => ({ key: f.resource_id, value: healthCodec.encode(f), timestamp: f.ts_ms })),
          ),
        );
        metrics.sent(facts.length);
        store.stageJson(signals.takeChanges());
        await store.flush();
      },
      holds: () => signals.heldOffsets(),
      pending: () => signals.open,
    };
  },
});
