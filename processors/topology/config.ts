import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { TOPOLOGY_TOPIC } from '../model/topology.js';
import { SCANNER_TOPIC } from '../model/inventory.js';

export const topologyConfigSchema = z
  .object({
    input: topicName.default(SCANNER_TOPIC),
    output: topicName.default(TOPOLOGY_TOPIC),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type TopologyConfig = z.infer<typeof topologyConfigSchema>;
