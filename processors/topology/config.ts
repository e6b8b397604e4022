import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';

export const topologyConfigSchema = z
  .object({
    input: topicName.default('scanner_resources'),
    output: topicName.default('airdig.topology'),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type TopologyConfig = z.infer<typeof topologyConfigSchema>;
