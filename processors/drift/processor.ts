import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { avroCodec } from '../runtime/avro.js';
import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { Consumer, OutMessage } from '../runtime/bus/types.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { scannerCodec, terraformCodec } from '../inventory/records.js';
import { changeCodec } from '../cloudtrail/processor.js';
import { DriftIgnore } from './ignore.js';
import { DriftTracker, type DriftEvent, type DriftKind, type StoredDriftValue } from './tracker.js';

export const driftCodec = avroCodec<DriftEvent>('drift');

export const DEFAULT_CAUSE_WINDOW_MS = 6 * 3600_000;
export const DEFAULT_IGNORE_FILE = '.driftignore';

const driftConfigSchema = z
  .object({
    inputs: z
      .object({
        terraform_state: topicName.default('terraform_state'),
        scanner_resources: topicName.default('scanner_resources'),
        changes: topicName.default('airdig.changes'),
      })
      .strict()
      .default({}),
    output: topicName.default('airdig.drift'),
    /** A CloudTrail change this long or less before a drift was seen, to the same resource, is named as its cause. */
    cause_window_ms: z.number().int().positive().default(DEFAULT_CAUSE_WINDOW_MS),
    /** A .driftignore file; its rules and `ignore`'s apply together. The default, .driftignore in the working directory, may be absent. */
    ignore_file: z.string().default(DEFAULT_IGNORE_FILE),
    /** .driftignore rules inline: type.id or type.id.attribute.path, with * wildcards. */
    ignore: z.array(z.string()).default([]),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
type DriftConfig = z.infer<typeof driftConfigSchema>;

function loadIgnore(c: DriftConfig): DriftIgnore {
  let text = c.ignore.join('\n');
  if (c.ignore_file) {
    try {
      text += `\n${readFileSync(c.ignore_file, 'utf8')}`;
    } catch (err) {
      if (c.ignore_file === DEFAULT_IGNORE_FILE && (err as { code?: string }).code === 'ENOENT') return new DriftIgnore(text);
      throw new Error(`drift: cannot read ignore_file ${c.ignore_file}: ${(err as Error).message}`);
    }
  }
  return new DriftIgnore(text);
}

/**
 * terraform_state + scanner_resources + airdig.changes → airdig.drift. The comparison is global
 * (a resource is unmanaged only if no state has it), so one consumer reads every partition: run a
 * single instance of it. The latest state per lineage and the latest complete scan per scope live
 * in the changelog airdig.<id>.changelog and are restored from it at start.
 */
class DriftProcessor implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: DriftConfig;
  readonly #tracker: DriftTracker;
  readonly #store: StateStore;
  /** Drifts not yet sent, and how each counts: kept across a failed send, since the batch delivered again does not make them again. */
  #outbox: { drift: DriftEvent; noted: DriftKind | 'cause_found' }[] = [];
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, config: DriftConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#tracker = new DriftTracker({ causeWindowMs: config.cause_window_ms, ignore: loadIgnore(config) });
    this.#store = new StateStore(settings.bus, settings.id);
  }

  async start(): Promise<void> {
    const { bus, metrics, id, logger } = this.#s;
    const producer = bus.producer();
    this.#tracker.restore(await this.#store.restoreJson<StoredDriftValue>());
    const { states, scans } = this.#tracker.size;
    if (states || scans) logger.info({ lineages: states, scopes: scans, changelog: this.#store.topic }, 'restored Terraform states and scans');
    const { terraform_state, scanner_resources, changes } = this.#cfg.inputs;
    this.#consumer = await consumeTopics(this.#s, {
      what: 'drift batch',
      topics: [terraform_state, scanner_resources, changes],
      maxBatch: this.#cfg.max_batch,
      handler: async (batch, ctx) => {
        const fresh: DriftEvent[] = [];
        const caused: DriftEvent[] = [];
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          this.#store.handle(record, (replay) => {
            const at = `${record.topic}\u0000${record.partition}`;
            const origin = { at, offset: record.offset };
            if (record.topic === terraform_state) fresh.push(...this.#tracker.observeState(terraformCodec.decode(record.value), origin, replay));
            else if (record.topic === scanner_resources) fresh.push(...this.#tracker.observeScan(scannerCodec.decode(record.value), origin, replay));
            else caused.push(...this.#tracker.observeChange(changeCodec.decode(record.value), origin));
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(batch.length);
        // A drift sent again because a late change explains it follows the drift itself.
        for (const d of fresh) this.#outbox.push({ drift: d, noted: d.drift });
        for (const d of caused) this.#outbox.push({ drift: d, noted: 'cause_found' });
        if (this.#outbox.length) {
          const out = this.#outbox;
          const messages: OutMessage[] = out.map(({ drift: d }) => ({ key: d.resource_id, value: driftCodec.encode(d), timestamp: d.ts_ms }));
          await producer.send(this.#cfg.output, messages);
          this.#outbox = [];
          metrics.sent(out.length);
          for (const { noted } of out) metrics.noted(noted);
        }
        // Drifts first, then the states and scans they came from, then (on return) the input commit: see StateStore.
        for (const [key, value] of this.#tracker.takeChanges()) {
          if (value) this.#store.putJson(key, value);
          else this.#store.delete(key);
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

export const driftFactory: Factory<DriftConfig> = {
  kind: 'processor',
  type: 'drift',
  configSchema: driftConfigSchema,
  topics: (c) => ({ consumes: [c.inputs.terraform_state, c.inputs.scanner_resources, c.inputs.changes], produces: [c.output] }),
  create: (settings, config) => new DriftProcessor(settings, config),
};

/** airdig.drift → drift_event_log; the view drift_events shows each drift once. */
export const driftEventsFactory = tableSinkFactory({
  type: 'drift_events',
  configSchema: tableSinkConfig('airdig.drift', 'drift_event_log', 2_000),
  toRows: (r) => {
    const { ts_ms, cause_ts_ms, ...d } = driftCodec.decode(r.value);
    return [{ ...d, ts: new Date(ts_ms).toISOString(), cause_ts: new Date(cause_ts_ms).toISOString() }];
  },
});
