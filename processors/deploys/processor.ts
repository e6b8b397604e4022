import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { changeMessage, type ChangeEvent } from '../model/changes.js';
import { scannerCodec } from '../model/inventory.js';
import { deploysConfigSchema } from './config.js';
import { firstStart, spanResources } from './spans.js';
import { DeployTracker, serviceSighting, type ServiceSighting, type StoredDeployValue } from './tracker.js';

/**
 * otlp_spans + scanner_resources → airdig.changes (kind deploy): a service seen with a new
 * service.version or deployment.environment, a Kubernetes workload scanned with other images. The
 * last version per service and images per workload live in the changelog airdig.<id>.changelog
 * and are restored from it at start; no input offset is held. The comparison is per service over
 * every partition (spans are keyed by trace id): run one instance of it.
 */
export const deploysFactory = processorFactory({
  type: 'deploys',
  configSchema: deploysConfigSchema,
  topics: (c) => ({ consumes: [c.inputs.otlp_spans, c.inputs.scanner_resources], produces: [c.output] }),
  create: ({ bus, metrics, id, logger }, c) => {
    const producer = bus.producer();
    const store = new StateStore(bus, id);
    const tracker = new DeployTracker({ maxRemembered: c.max_remembered, rolloutOverlapMs: c.rollout_overlap_ms });
    const outbox = new Outbox<ChangeEvent>();
    return {
      restore: async () => {
        tracker.restore(await store.restoreJson<StoredDeployValue>());
        if (tracker.size) logger.info({ remembered: tracker.size, changelog: store.topic }, 'restored versions and images');
      },
      handle: async (batch) => {
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          store.handle(record, (replay) => {
            // Read again after a restart: what it did is in the restored state already.
            if (replay) return;
            if (record.topic === c.inputs.otlp_spans) {
              // Everything read before anything is remembered: a record that does not parse changes nothing.
              const seen: [ServiceSighting, number][] = [];
              for (const r of spanResources(record.value)) {
                const s = serviceSighting(r.attributes);
                if (!s || !tracker.differs(s)) continue;
                const at = firstStart(record.value, r.scopes) ?? record.timestamp;
                seen.push([s, at]);
              }
              for (const [s, at] of seen) {
                const change = tracker.observeService(s, at);
                if (change) outbox.push(change);
              }
            } else {
              const change = tracker.observeScan(scannerCodec.decode(record.value));
              if (change) outbox.push(change);
            }
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(batch.length);
        // Changes first, then the versions they came from, then (on return) the input commit: see StateStore.
        const out = await outbox.send((out) => producer.send(c.output, out.map(changeMessage)));
        if (out.length) metrics.noted('deploy', out.length);
        metrics.sent(out.length);
        store.stageJson(tracker.takeChanges());
        await store.flush();
      },
    };
  },
});
