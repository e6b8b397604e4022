import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import type { Factory } from '../runtime/pipeline/component.js';
import { TableSink } from '../runtime/pipeline/table-sink.js';
import { decodeFalcoRecord } from './events.js';

const runtimeEventsConfig = z
  .object({
    input: topicName.default('falco_events'),
    table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/).default('runtime_events'),
    /** Kubernetes cluster name for the pods Falco alerts name. */
    cluster_name: z.string().default(''),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();

/** falco_events → runtime_events: every alert, with the resource it happened on. */
export const runtimeEventsFactory: Factory<z.infer<typeof runtimeEventsConfig>> = {
  kind: 'sink',
  type: 'runtime_events',
  configSchema: runtimeEventsConfig,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) =>
    new TableSink(settings, {
      input: c.input,
      table: c.table,
      maxBatch: c.max_batch,
      onRefused: 'dlq',
      toRows: (r) => {
        const { ts_ms: _ms, severity: _s, ...row } = decodeFalcoRecord(r.value, c.cluster_name);
        return [row];
      },
    }),
};
