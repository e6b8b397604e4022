import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { anomalySchema, DEFAULT_RULES, ruleSchema } from './rules.js';

export const healthConfigSchema = z
  .object({
    /** What it reads; "" leaves one out. */
    inputs: z
      .object({
        remote_write: z.union([topicName, z.literal('')]).default('prometheus_remote_write'),
        otlp_metrics: z.union([topicName, z.literal('')]).default('otlp_metrics'),
        falco: z.union([topicName, z.literal('')]).default('falco_events'),
      })
      .strict()
      .default({}),
    output: topicName.default('airdig.health'),
    rules: z.array(ruleSchema).default(DEFAULT_RULES),
    /** Windows of ratio, quantile and increase rules, by record time. */
    window_ms: z.number().int().positive().default(60_000),
    /** A Falco rule stops firing on a resource after this long without another alert. */
    runtime_quiet_ms: z.number().int().positive().default(600_000),
    /** Kubernetes cluster name for the pods Falco alerts name. */
    cluster_name: z.string().default(''),
    anomaly: anomalySchema.default({}),
    max_series: z.number().int().positive().default(200_000),
    max_batch: z.number().int().positive().default(500),
  })
  .strict();
export type HealthConfig = z.infer<typeof healthConfigSchema>;

/** The topics it reads: the inputs not left out. */
export const inputsOf = (c: HealthConfig) => [c.inputs.remote_write, c.inputs.otlp_metrics, c.inputs.falco].filter((t) => t !== '');
