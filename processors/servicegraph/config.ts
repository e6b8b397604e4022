import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { SPANS_TOPIC } from '../model/otlp.js';
import { EDGES_TOPIC } from '../model/edges.js';

/** How long a half edge waits for its other half (the Collector's servicegraph default is 2 s). */
export const DEFAULT_STORE_TTL_MS = 2_000;
export const DEFAULT_STORE_MAX_ITEMS = 100_000;
export const DEFAULT_EXPIRE_INTERVAL_MS = 1_000;

export const serviceGraphConfigSchema = z
  .object({
    input: topicName.default(SPANS_TOPIC),
    output: topicName.default(EDGES_TOPIC),
    store_ttl_ms: z.number().int().positive().default(DEFAULT_STORE_TTL_MS),
    store_max_items: z.number().int().positive().default(DEFAULT_STORE_MAX_ITEMS),
    expire_interval_ms: z.number().int().positive().default(DEFAULT_EXPIRE_INTERVAL_MS),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type ServiceGraphConfig = z.infer<typeof serviceGraphConfigSchema>;
