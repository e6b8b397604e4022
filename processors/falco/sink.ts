import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { decodeFalcoRecord, FALCO_TOPIC } from '../model/falco.js';

/** falco_events → runtime_events: every alert, with the resource it happened on (pods in the service's cluster_name). */
export const runtimeEventsFactory = tableSinkFactory({
  type: 'runtime_events',
  configSchema: tableSinkConfig(FALCO_TOPIC, 'runtime_events', 2_000),
  toRows: (r, _c, service) => {
    const { ts_ms: _ms, severity: _s, ...row } = decodeFalcoRecord(r.value, service.cluster_name);
    return [row];
  },
});
