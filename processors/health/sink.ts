import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { iso } from '../runtime/store/format.js';
import { HEALTH_TOPIC, healthCodec } from '../model/health.js';

/** airdig.health → health_facts (history); the view resource_health gives the latest per resource. */
export const healthFactsFactory = tableSinkFactory({
  type: 'health_facts',
  configSchema: tableSinkConfig(HEALTH_TOPIC, 'health_facts', 2_000),
  toRows: (r) => {
    const f = healthCodec.decode(r.value);
    return [
      {
        id: f.id,
        ts: iso(f.ts_ms),
        resource_id: f.resource_id,
        status: f.status,
        state: f.state,
        rule: f.rule,
        reason: f.reason,
        metric: f.metric,
        value: Number.isFinite(f.value) ? f.value : String(f.value).toLowerCase(),
        threshold: f.threshold,
        labels: f.labels,
      },
    ];
  },
});
