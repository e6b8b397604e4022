import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { DRIFT_TOPIC, driftCodec } from '../model/drift.js';

/** airdig.drift → drift_event_log; the view drift_events shows each drift once. */
export const driftEventsFactory = tableSinkFactory({
  type: 'drift_events',
  configSchema: tableSinkConfig(DRIFT_TOPIC, 'drift_event_log', 2_000),
  toRows: (r) => {
    const { ts_ms, cause_ts_ms, ...d } = driftCodec.decode(r.value);
    return [{ ...d, ts: new Date(ts_ms).toISOString(), cause_ts: new Date(cause_ts_ms).toISOString() }];
  },
});
