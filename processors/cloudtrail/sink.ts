import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { CHANGES_TOPIC, changeCodec } from '../model/changes.js';

/** airdig.changes (every kind: CloudTrail, deploys, the change API) → change_event_log; the view change_events shows each event id once. */
export const changeEventsFactory = tableSinkFactory({
  type: 'change_events',
  configSchema: tableSinkConfig(CHANGES_TOPIC, 'change_event_log', 2_000),
  toRows: (r) => {
    const { ts_ms, ...e } = changeCodec.decode(r.value);
    return [{ ...e, ts: new Date(ts_ms).toISOString() }];
  },
});
