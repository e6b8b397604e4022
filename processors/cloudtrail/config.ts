import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { CLOUDTRAIL_TOPIC, CHANGES_TOPIC } from '../model/changes.js';

/** The changes processor's config. */
export const changesConfigSchema = z
  .object({
    input: topicName.default(CLOUDTRAIL_TOPIC),
    output: topicName.default(CHANGES_TOPIC),
    /** Event ids remembered to skip duplicates (the same record from S3, EventBridge and LookupEvents). */
    dedup_window: z.number().int().nonnegative().default(100_000),
    max_batch: z.number().int().positive().default(1_000),
  })
  .strict();
export type ChangesConfig = z.infer<typeof changesConfigSchema>;
