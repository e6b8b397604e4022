import { eachRecordOrDlq, headerString } from '../runtime/bus/dlq.js';
import { originOf } from '../runtime/pipeline/holds.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { RW_PROTO_HEADER, PROTO_V2, walkRemoteWrite } from '../model/remote-write.js';
import { resourceOf } from '../identity/resources.js';
import { walkOtlpMetrics } from '../model/otlp-series.js';
import { decodeFalcoRecord } from '../model/falco.js';
import { healthConfigSchema, inputsOf, type HealthConfig } from './config.js';
import { HealthEvaluator, type StoredRuleState } from './evaluator.js';
import { healthCodec, type HealthFact } from '../model/health.js';

/** The evaluator of a validated health config. */
export function evaluatorFor(c: HealthConfig, emit: (f: HealthFact) => void): HealthEvaluator {
  return new HealthEvaluator({ rules: c.rules, anomaly: c.anomaly, maxSeries: c.max_series, windowMs: c.window_ms, quietMs: c.runtime_quiet_ms, emit });
}

/**
 * prometheus_remote_write, otlp_metrics and falco_events → airdig.health: rules, windows, anomaly
 * detection and runtime events per resource, facts on every change. Rule states (firing, or on a
 * streak toward a change) outlive any window: they live in the changelog airdig.<id>.changelog and
 * are restored from it at start, so only open windows hold input offsets uncommitted.
 */
export const healthFactory = processorFactory({
  type: 'health',
  configSchema: healthConfigSchema,
  topics: (c) => ({ consumes: inputsOf(c), produces: [c.output] }),
  create: ({ bus, metrics, id, logger, service }, c) => {
    const cluster = service.cluster_name;
    const producer = bus.producer();
    const store = new StateStore(bus, id);
    const outbox = new Outbox<HealthFact>();
    const evaluator = evaluatorFor(c, (f) => outbox.push(f));
    const { inputs } = c;
    return {
      restore: async () => {
        evaluator.restore(await store.restoreJson<StoredRuleState>());
        if (evaluator.states) logger.info({ states: evaluator.states, changelog: store.topic }, 'restored rule states');
      },
      handle: async (batch) => {
        let samples = 0;
        const dead = await eachRecordOrDlq(batch, producer, id, (record) =>
          store.handle(record, (replay) => {
            const origin = originOf(record);
            if (record.topic === inputs.falco) {
              const e = decodeFalcoRecord(record.value, cluster);
              samples++;
              evaluator.event(
                {
                  resource: e.resource_id,
                  rule: `falco: ${e.rule}`,
                  severity: e.severity,
                  ts: e.ts_ms,
                  reason: `${e.priority}: ${e.output || e.rule}`.slice(0, 1000),
                  labels: { rule: e.rule, priority: e.priority, hostname: e.hostname, container_id: e.container_id },
                },
                origin,
                replay,
              );
              return;
            }
            evaluator.beginRecord(origin, record.timestamp, replay);
            if (record.topic === inputs.otlp_metrics) {
              walkOtlpMetrics(record.value, {
                series: (fp, labels, _type, _help, _unit, points) => {
                  const resource = resourceOf(labels, cluster);
                  for (const p of points) {
                    samples++;
                    evaluator.observe(labels, fp, resource, p.ts, p.value, p.stale);
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
              const resource = (id.resource ??= resourceOf(labels, cluster));
              for (const x of s.sampleValues!) {
                samples++;
                evaluator.observe(labels, fp, resource, x.timestamp, x.value, x.stale);
              }
            });
          }),
        );
        if (dead) metrics.dlq(dead);
        metrics.received(samples);
        // Facts first, then the states they came from, then (on return) the input commit: see StateStore.
        const facts = await outbox.send((facts) =>
          producer.send(
            c.output,
            facts.map((f) => ({ key: f.resource_id, value: healthCodec.encode(f), timestamp: f.ts_ms })),
          ),
        );
        metrics.sent(facts.length);
        store.stageJson(evaluator.takeChanges());
        await store.flush();
      },
      holds: () => evaluator.heldOffsets(),
    };
  },
});
