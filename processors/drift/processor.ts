import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { keyedOrigin } from '../runtime/pipeline/holds.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { scannerCodec, terraformCodec } from '../model/inventory.js';
import { changeCodec } from '../model/changes.js';
import { driftCodec, type DriftEvent, type DriftKind } from '../model/drift.js';
import { driftConfigSchema, loadIgnore } from './config.js';
import { DriftTracker, type StoredDriftValue } from './tracker.js';

/**
 * terraform_state + scanner_resources + airdig.changes → airdig.drift. The comparison is global
 * (a resource is unmanaged only if no state has it), so one consumer reads every partition: run a
 * single instance of it. The latest state per lineage and the latest complete scan per scope live
 * in the changelog airdig.<id>.changelog and are restored from it at start.
 */
export const driftFactory = processorFactory({
  type: 'drift',
  configSchema: driftConfigSchema,
  topics: (c) => ({ consumes: [c.inputs.terraform_state, c.inputs.scanner_resources, c.inputs.changes], produces: [c.output] }),
  create: ({ bus, metrics, id, logger }, c) => {
    const producer = bus.producer();
    const store = new StateStore(bus, id);
    const tracker = new DriftTracker({ causeWindowMs: c.cause_window_ms, ignore: loadIgnore(c) });
    /** Drifts and how each counts. */
    const outbox = new Outbox<{ drift: DriftEvent; noted: DriftKind | 'cause_found' }>();
    const { terraform_state, scanner_resources } = c.inputs;
    return {
      restore: async () => {
        tracker.restore(await store.restoreJson<StoredDriftValue>());
        const { states, scans } = tracker.size;
        if (states || scans) logger.info({ lineages: states, scopes: scans, changelog: store.topic }, 'restored Terraform states and scans');
      },
      handle: async (batch) => {
        const fresh: DriftEvent[] = [];
        const caused: DriftEvent[] = [];
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          store.handle(record, (replay) => {
            const origin = keyedOrigin(record);
            if (record.topic === terraform_state) fresh.push(...tracker.observeState(terraformCodec.decode(record.value), origin, replay));
            else if (record.topic === scanner_resources) fresh.push(...tracker.observeScan(scannerCodec.decode(record.value), origin, replay));
            else caused.push(...tracker.observeChange(changeCodec.decode(record.value), origin));
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(batch.length);
        // A drift sent again because a late change explains it follows the drift itself.
        for (const d of fresh) outbox.push({ drift: d, noted: d.drift });
        for (const d of caused) outbox.push({ drift: d, noted: 'cause_found' });
        // Drifts first, then the states and scans they came from, then (on return) the input commit: see StateStore.
        const out = await outbox.send((out) =>
          producer.send(
            c.output,
            out.map(({ drift: d }) => ({ key: d.resource_id, value: driftCodec.encode(d), timestamp: d.ts_ms })),
          ),
        );
        metrics.sent(out.length);
        for (const { noted } of out) metrics.noted(noted);
        store.stageJson(tracker.takeChanges());
        await store.flush();
      },
      holds: () => tracker.heldOffsets(),
    };
  },
});
