import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { SPANS_TOPIC } from '../model/otlp.js';
import { TOPOLOGY_TOPIC } from '../model/topology.js';

/** A placement already reported is reported again after this long, to move last_seen. */
export const DEFAULT_REFRESH_MS = 60_000;
export const DEFAULT_MAX_REMEMBERED = 100_000;

export const placementConfigSchema = z
  .object({
    input: topicName.default(SPANS_TOPIC),
    output: topicName.default(TOPOLOGY_TOPIC),
    refresh_ms: z.number().int().positive().default(DEFAULT_REFRESH_MS),
    max_remembered: z.number().int().positive().default(DEFAULT_MAX_REMEMBERED),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type PlacementConfig = z.infer<typeof placementConfigSchema>;
