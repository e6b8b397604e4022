import { z } from 'zod';
import { avroCodec } from '../runtime/avro.js';
import { eachRecordOrDlq, headerString } from '../runtime/bus/dlq.js';
import type { Consumer, OutMessage } from '../runtime/bus/types.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { RW_PROTO_HEADER } from '../remotewrite/factory.js';
import { PROTO_V2, walkRemoteWrite } from '../remotewrite/wire.js';
import { iso, resourceOf } from '../remotewrite/sink.js';
import { walkOtlpMetrics } from '../otlpmetrics/factory.js';
import { decodeFalcoRecord } from '../falco/events.js';
import { anomalySchema, DEFAULT_RULES, ruleSchema } from './rules.js';
import { HealthEvaluator, type HealthFact, type StoredRuleState } from './evaluator.js';

export const healthConfigSchema = z
  .object({
    /** What it reads; "" leaves one out. */
    inputs: z
      .object({
        remote_write: z.union([topicName, z.literal('')]).default('prometheus_remote_write'),
        otlp_metrics: z.union([topicName, z.literal('')]).default('otlp_metrics'),
        falco: z.union([topicName, z.literal('')]).default('falco_events'),
      })
      .strict()
      .default({}),
    output: topicName.default('airdig.health'),
    rules: z.array(ruleSchema).default(DEFAULT_RULES),
    /** Windows of ratio, quantile and increase rules, by record time. */
    window_ms: z.number().int().positive().default(60_000),
    /** A Falco rule stops firing on a resource after this long without another alert. */
    runtime_quiet_ms: z.number().int().positive().default(600_000),
    /** Kubernetes cluster name for the pods Falco alerts name. */
    cluster_name: z.string().default(''),
    anomaly: anomalySchema.default({}),
    max_series: z.number().int().positive().default(200_000),
    max_batch: z.number().int().positive().default(500),
  })
  .strict();
export type HealthConfig = z.infer<typeof healthConfigSchema>;

export const healthCodec = avroCodec<HealthFact>('health');

/** The evaluator of a validated health config. */
export function evaluatorFor(c: HealthConfig, emit: (f: HealthFact) => void): HealthEvaluator {
  return new HealthEvaluator({ rules: c.rules, anomaly: c.anomaly, maxSeries: c.max_series, windowMs: c.window_ms, quietMs: c.runtime_quiet_ms, emit });
}

const inputsOf = (c: HealthConfig) => [c.inputs.remote_write, c.inputs.otlp_metrics, c.inputs.falco].filter((t) => t !== '');

/**
 * prometheus_remote_write, otlp_metrics and falco_events → airdig.health: rules, windows, anomaly
 * detection and runtime events per resource, facts on every change. Rule states (firing, or on a
 * streak toward a change) outlive any window: they live in the changelog airdig.<id>.changelog and
 * are restored from it at start, so only open windows hold input offsets uncommitted.
 */
class HealthProcessor implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: HealthConfig;
  readonly #eval: HealthEvaluator;
  readonly #store: StateStore;
  /** Facts not yet sent: kept across a failed send, since the batch delivered again does not make them again. */
  #outbox: HealthFact[] = [];
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, config: HealthConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#store = new StateStore(settings.bus, settings.id);
    this.#eval = evaluatorFor(config, (f) => this.#outbox.push(f));
  }

  async start(): Promise<void> {
    const { bus, metrics, id, logger } = this.#s;
    const producer = bus.producer();
    this.#eval.restore(await this.#store.restoreJson<StoredRuleState>());
    if (this.#eval.states) logger.info({ states: this.#eval.states, changelog: this.#store.topic }, 'restored rule states');
    this.#consumer = await consumeTopics(this.#s, {
      what: 'health batch',
      topics: inputsOf(this.#cfg),
      maxBatch: this.#cfg.max_batch,
      handler: async (batch, ctx) => {
        let samples = 0;
        const { inputs } = this.#cfg;
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          this.#store.handle(record, (replay) => {
            const origin = { topic: record.topic, partition: record.partition, offset: record.offset };
            if (record.topic === inputs.falco) {
              const e = decodeFalcoRecord(record.value, this.#cfg.cluster_name);
              samples++;
              this.#eval.event({ resource: e.resource_id, rule: `falco: ${e.rule}`, severity: e.severity, ts: e.ts_ms, reason: `${e.priority}: ${e.output || e.rule}`.slice(0, 1000), labels: { rule: e.rule, priority: e.priority, hostname: e.hostname, container_id: e.container_id } }, origin, replay);
              return;
            }
            this.#eval.beginRecord(origin, record.timestamp, replay);
            if (record.topic === inputs.otlp_metrics) {
              walkOtlpMetrics(record.value, {
                series: (fp, labels, _type, _help, _unit, points) => {
                  const resource = resourceOf(labels);
                  for (const p of points) {
                    samples++;
                    this.#eval.observe(labels, fp, resource, p.ts, p.value, p.stale);
                  }
                },
                histogram: () => {},
              });
              return;
            }
            const version = headerString(record.headers, RW_PROTO_HEADER) === PROTO_V2 ? '2.0' : '1.0';
            walkRemoteWrite(record.value, version, true, (s) => {
              const id = s.identity!;
              const labels = id.labelMap;
              const fp = id.fingerprint;
              const resource = (id.resource ??= resourceOf(labels));
              for (const x of s.sampleValues!) {
                samples++;
                this.#eval.observe(labels, fp, resource, x.timestamp, x.value, x.stale);
              }
            });
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(samples);
        if (this.#outbox.length) {
          const facts = this.#outbox;
          const messages: OutMessage[] = facts.map((f) => ({ key: f.resource_id, value: healthCodec.encode(f), timestamp: f.ts_ms }));
          await producer.send(this.#cfg.output, messages);
          this.#outbox = [];
          metrics.sent(facts.length);
        }
        // Facts first, then the states they came from, then (on return) the input commit: see StateStore.
        for (const [key, state] of this.#eval.takeChanges()) {
          if (state) this.#store.putJson(key, state);
          else this.#store.delete(key);
        }
        await this.#store.flush();
        ctx.setHolds(this.#eval.heldOffsets());
      },
    });
  }

  async shutdown(): Promise<void> {
    await stopConsuming(this.#s, this.#consumer);
  }
}

export const healthFactory: Factory<HealthConfig> = {
  kind: 'processor',
  type: 'health',
  configSchema: healthConfigSchema,
  topics: (c) => ({ consumes: inputsOf(c), produces: [c.output] }),
  create: (settings, config) => new HealthProcessor(settings, config),
};

/** airdig.health → health_facts (history); the view resource_health gives the latest per resource. */
export const healthFactsFactory = tableSinkFactory({
  type: 'health_facts',
  configSchema: tableSinkConfig('airdig.health', 'health_facts', 2_000),
  toRows: (r) => {
    const f = healthCodec.decode(r.value);
    return [{ id: f.id, ts: iso(f.ts_ms), resource_id: f.resource_id, status: f.status, state: f.state, rule: f.rule, reason: f.reason, metric: f.metric, value: Number.isFinite(f.value) ? f.value : String(f.value).toLowerCase(), threshold: f.threshold, labels: f.labels }];
  },
});
