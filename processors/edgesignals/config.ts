import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { EDGES_TOPIC } from '../model/edges.js';
import { HEALTH_TOPIC } from '../model/health.js';

const severity = z.enum(['warning', 'critical']);

/** Baselines per edge (EWMA of mean and variance, z-score with hysteresis: processors/detectors/ewma.ts), one value per judged minute. */
export const edgeAnomalySchema = z
  .object({
    /** Switches each baseline on or off. */
    error_ratio: z.boolean().default(true),
    latency_p95: z.boolean().default(true),
    alpha: z.number().gt(0).lt(1).default(0.1),
    /** Judged minutes an edge needs before it can be anomalous. */
    warmup: z.number().int().min(2).default(10),
    enter_z: z.number().positive().default(4),
    exit_z: z.number().positive().default(2),
    /** Least standard deviation of the error ratio a z-score is taken against (0.005: half a percentage point), so a spotless baseline does not fire on one error. */
    error_ratio_min_sd: z.number().nonnegative().default(0.005),
    /** Least standard deviation of p95 latency: this fraction of the baseline, and at least latency_min_sd_ms. */
    latency_min_sd_ratio: z.number().nonnegative().default(0.1),
    latency_min_sd_ms: z.number().nonnegative().default(1),
    severity: severity.default('warning'),
  })
  .strict()
  .refine((a) => a.exit_z < a.enter_z, { message: 'exit_z must be below enter_z (hysteresis)' });
export type EdgeAnomalyConfig = z.infer<typeof edgeAnomalySchema>;

export const edgeSignalsConfigSchema = z
  .object({
    input: topicName.default(EDGES_TOPIC),
    output: topicName.default(HEALTH_TOPIC),
    /** Event time a minute stays open after its end: a partition's watermark is its latest edge time minus this. */
    allowed_lateness_ms: z.number().int().nonnegative().default(30_000),
    /** Calls a minute of an edge needs to be judged (and to move its baselines). */
    min_calls: z.number().int().positive().default(20),
    /** The absolute rule: a judged minute whose error ratio is above this is bad. */
    max_error_ratio: z.number().gt(0).lt(1).default(0.05),
    /** Status of an error signal while the absolute rule holds (a baseline anomaly alone is anomaly.severity). */
    error_severity: severity.default('critical'),
    anomaly: edgeAnomalySchema.default({}),
    /** Consecutive good judged minutes after which a firing signal resolves. */
    resolve_after_minutes: z.number().int().positive().default(2),
    /** Edges whose state (baselines, signals) is kept; the least recently judged one is evicted past it. */
    max_edges: z.number().int().positive().default(100_000),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
export type EdgeSignalsConfig = z.infer<typeof edgeSignalsConfigSchema>;
