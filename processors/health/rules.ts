import { z } from 'zod';

/** A threshold on one metric's samples: fires when `value op threshold`, resolves when it no longer holds. */
export const thresholdRuleSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/),
    metric: z.string().min(1),
    /** Only series whose labels all equal these. */
    match: z.record(z.string()).default({}),
    op: z.enum(['>', '>=', '<', '<=', '==', '!=']),
    threshold: z.number(),
    severity: z.enum(['warning', 'critical']),
    /** Consecutive samples the condition must hold before it fires (and fail to hold before it resolves). */
    for_samples: z.number().int().positive().default(1),
    reason: z.string().default(''),
  })
  .strict();
export type ThresholdRule = z.infer<typeof thresholdRuleSchema>;

/** Per-series anomaly detection: EWMA of mean and variance, z-score, warm-up and hysteresis. */
export const anomalySchema = z
  .object({
    /** Metric names watched (exact); empty switches detection off. */
    metrics: z.array(z.string()).default([]),
    alpha: z.number().gt(0).lt(1).default(0.1),
    /** Samples a series needs before it can be anomalous. */
    warmup: z.number().int().min(2).default(20),
    /** |z| at which a series becomes anomalous, and below which it is normal again. */
    enter_z: z.number().positive().default(4),
    exit_z: z.number().positive().default(2),
    severity: z.enum(['warning', 'critical']).default('warning'),
  })
  .strict()
  .refine((a) => a.exit_z < a.enter_z, { message: 'exit_z must be below enter_z (hysteresis)' });
export type AnomalyConfig = z.infer<typeof anomalySchema>;

/**
 * Defaults that work on node_exporter, kube-state-metrics and OTel semantic-convention metrics
 * without knowing the estate: a scrape target down, a container not ready, a pod restarting,
 * a filesystem or memory nearly full (as exported ratios), an error status.
 */
export const DEFAULT_RULES: ThresholdRule[] = [
  { name: 'target_down', metric: 'up', match: {}, op: '==', threshold: 0, severity: 'critical', for_samples: 1, reason: 'scrape target is down (up == 0)' },
  { name: 'container_not_ready', metric: 'kube_pod_container_status_ready', match: {}, op: '==', threshold: 0, severity: 'warning', for_samples: 2, reason: 'container not ready' },
  { name: 'container_waiting', metric: 'kube_pod_container_status_waiting', match: {}, op: '==', threshold: 1, severity: 'warning', for_samples: 2, reason: 'container waiting (crash loop or image pull)' },
  { name: 'pod_not_ready', metric: 'kube_pod_status_ready', match: { condition: 'false' }, op: '==', threshold: 1, severity: 'warning', for_samples: 2, reason: 'pod not ready' },
  { name: 'cpu_saturated', metric: 'system_cpu_utilization', match: {}, op: '>=', threshold: 0.95, severity: 'warning', for_samples: 3, reason: 'CPU utilization ≥ 95 %' },
  { name: 'memory_saturated', metric: 'system_memory_utilization', match: { state: 'used' }, op: '>=', threshold: 0.95, severity: 'warning', for_samples: 3, reason: 'memory utilization ≥ 95 %' },
  { name: 'disk_saturated', metric: 'system_filesystem_utilization', match: {}, op: '>=', threshold: 0.9, severity: 'warning', for_samples: 3, reason: 'filesystem ≥ 90 % full' },
];

export function holds(op: ThresholdRule['op'], value: number, threshold: number): boolean {
  switch (op) {
    case '>': return value > threshold;
    case '>=': return value >= threshold;
    case '<': return value < threshold;
    case '<=': return value <= threshold;
    case '==': return value === threshold;
    case '!=': return value !== threshold;
  }
}

/** Exponentially weighted mean and variance of one series, with hysteresis on its z-score. */
export class EwmaDetector {
  n = 0;
  mean = 0;
  variance = 0;
  anomalous = false;
  constructor(readonly cfg: AnomalyConfig) {}

  /** Feeds one value; returns 'enter' or 'exit' when the series changes state, else undefined. */
  observe(value: number): { change: 'enter' | 'exit' | undefined; z: number } {
    const { alpha, warmup, enter_z, exit_z } = this.cfg;
    const sd = Math.sqrt(this.variance);
    const z = this.n >= warmup ? (sd > 0 ? (value - this.mean) / sd : value === this.mean ? 0 : Infinity) : 0;
    let change: 'enter' | 'exit' | undefined;
    if (!this.anomalous && Math.abs(z) >= enter_z) {
      this.anomalous = true;
      change = 'enter';
    } else if (this.anomalous && Math.abs(z) < exit_z) {
      this.anomalous = false;
      change = 'exit';
    }
    // An anomalous value does not move the baseline, so one spike does not hide the next.
    if (!this.anomalous || this.n < warmup) {
      if (this.n === 0) this.mean = value;
      const diff = value - this.mean;
      this.mean += alpha * diff;
      this.variance = (1 - alpha) * (this.variance + alpha * diff * diff);
    }
    this.n++;
    return { change, z };
  }
}
