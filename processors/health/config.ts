import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { anomalySchema, DEFAULT_RULES, ruleSchema } from './rules.js';
import { REMOTE_WRITE_TOPIC } from '../model/remote-write.js';
import { METRICS_TOPIC } from '../model/otlp.js';
import { FALCO_TOPIC } from '../model/falco.js';
import { HEALTH_TOPIC } from '../model/health.js';

export const healthConfigSchema = z
  .object({
    /** What it reads; "" leaves one out. */
    inputs: z
      .object({
        remote_write: z.union([topicName, z.literal('')]).default(REMOTE_WRITE_TOPIC),
        otlp_metrics: z.union([topicName, z.literal('')]).default(METRICS_TOPIC),
        falco: z.union([topicName, z.literal('')]).default(FALCO_TOPIC),
      })
      .strict()
      .default({}),
    output: topicName.default(HEALTH_TOPIC),
    rules: z.array(ruleSchema).default(DEFAULT_RULES),
    /** Windows of ratio, quantile and increase rules, by event time (the samples' timestamps). */
    window_ms: z.number().int().positive().default(60_000),
    /** A Falco rule stops firing on a resource after this long without another alert. */
    runtime_quiet_ms: z.number().int().positive().default(600_000),
    anomaly: anomalySchema.default({}),
    max_series: z.number().int().positive().default(200_000),
    max_batch: z.number().int().positive().default(500),
  })
  .strict();
export type HealthConfig = z.infer<typeof healthConfigSchema>;

/** The topics it reads: the inputs not left out. */
export const inputsOf = (c: HealthConfig) => [c.inputs.remote_write, c.inputs.otlp_metrics, c.inputs.falco].filter((t) => t !== '');
