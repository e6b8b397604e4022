import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { SPANS_TOPIC } from '../model/otlp.js';
import { SCANNER_TOPIC } from '../model/inventory.js';
import { CHANGES_TOPIC } from '../model/changes.js';

export const DEFAULT_MAX_REMEMBERED = 100_000;
export const DEFAULT_ROLLOUT_OVERLAP_MS = 10 * 60_000;

/** The deploys processor's config. */
export const deploysConfigSchema = z
  .object({
    inputs: z
      .object({
        otlp_spans: topicName.default(SPANS_TOPIC),
        scanner_resources: topicName.default(SCANNER_TOPIC),
      })
      .strict()
      .default({}),
    output: topicName.default(CHANGES_TOPIC),
    /** Services and workloads whose last version or images are kept (memory and changelog); past it the least recently seen is forgotten. */
    max_remembered: z.number().int().positive().default(DEFAULT_MAX_REMEMBERED),
    /**
     * Spans of the version a deploy replaced, up to this long (span time) after the new version's
     * first span, come from instances the rollout has not replaced yet: not a rollback.
     */
    rollout_overlap_ms: z.number().int().nonnegative().default(DEFAULT_ROLLOUT_OVERLAP_MS),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type DeploysConfig = z.infer<typeof deploysConfigSchema>;
