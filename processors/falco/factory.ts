import { z } from 'zod';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { decodeFalcoRecord } from './events.js';

/** falco_events → runtime_events: every alert, with the resource it happened on. */
export const runtimeEventsFactory = tableSinkFactory({
  type: 'runtime_events',
  configSchema: tableSinkConfig('falco_events', 'runtime_events', 2_000).extend({
    /** Kubernetes cluster name for the pods Falco alerts name. */
    cluster_name: z.string().default(''),
  }),
  toRows: (r, c) => {
    const { ts_ms: _ms, severity: _s, ...row } = decodeFalcoRecord(r.value, c.cluster_name);
    return [row];
  },
});
