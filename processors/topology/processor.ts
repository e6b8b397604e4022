import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { keyedOrigin } from '../runtime/pipeline/holds.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../model/topology.js';
import { scannerCodec } from '../model/inventory.js';
import { topologyConfigSchema } from './config.js';
import { ScopeTracker } from './scopes.js';

/**
 * scanner_resources → airdig.topology: nodes and edges as scans saw them, and what complete scans
 * no longer see as gone. What each scope holds lives in the changelog airdig.<id>.changelog and is
 * restored from it at start.
 */
export const topologyFactory = processorFactory({
  type: 'topology',
  configSchema: topologyConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  create: ({ bus, metrics, id, logger }, c) => {
    const producer = bus.producer();
    const store = new StateStore(bus, id);
    const tracker = new ScopeTracker();
    const outbox = new Outbox<TopologyRecord>();
    return {
      restore: async () => {
        tracker.restore(await store.restoreJson<string | number>());
        if (tracker.scopes) logger.info({ scopes: tracker.scopes, changelog: store.topic }, 'restored scopes');
      },
      handle: async (batch) => {
        let gone = 0;
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          store.handle(record, (replay) => {
            const r = scannerCodec.decode(record.value);
            const made = tracker.observe(r, keyedOrigin(record), replay);
            if (r.kind === 'scan_end' && !replay) {
              gone += made.length;
              if (r.completeness !== 'complete') metrics.noted(`scan_${r.completeness}`);
            }
            outbox.push(...made);
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(batch.length);
        if (gone) metrics.noted('gone', gone);
        // Output first, then the scopes it came from, then (on return) the input commit: see StateStore.
        const out = await outbox.send((out) =>
          producer.send(
            c.output,
            out.map((t) => ({ key: topologyKey(t), value: topologyCodec.encode(t), timestamp: t.seen_ms })),
          ),
        );
        metrics.sent(out.length);
        store.stageJson(tracker.takeChanges());
        await store.flush();
      },
      holds: () => tracker.heldOffsets(),
    };
  },
});
