import { z } from 'zod';

/** One metric name or several (the same signal under Prometheus' and OpenTelemetry's names). */
const metricNames = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).transform((v) => (Array.isArray(v) ? v : [v]));
/** Label equality (`match`) and anchored regular expressions (`match_re`, as PromQL's =~). */
const labelMatchers = {
  match: z.record(z.string()).default({}),
  match_re: z.record(z.string().refine(isRegex, { message: 'not a valid regular expression' })).default({}),
};

function isRegex(s: string): boolean {
  try {
    new RegExp(s);
    return true;
  } catch {
    return false;
  }
}

const selectorSchema = z.object({ metric: metricNames, ...labelMatchers }).strict();
export type Selector = z.infer<typeof selectorSchema>;

/**
 * A health rule, one of four shapes:
 * - `metric`: a threshold on each sample of the matching series (`for_samples` consecutive samples);
 * - `ratio`: increase of the numerator's counters over the denominator's, per resource and window
 *   (error ratio: 5xx requests over all requests);
 * - `quantile`: a quantile of a classic histogram's `_bucket` counters per resource and window
 *   (latency p99), interpolated within the bucket as PromQL's histogram_quantile does;
 * - `increase`: the summed increase of counters per resource and window (container restarts).
 * Windowed rules (ratio, quantile, increase) count `for_samples` in windows; a counter's increase
 * in a window is taken between its samples inside the window, resets counted as PromQL does.
 */
export const ruleSchema = z
  .object({
    name: z.string().regex(/^[a-z][a-z0-9_]*$/),
    metric: metricNames.optional(),
    ...labelMatchers,
    ratio: z.object({ numerator: selectorSchema, denominator: selectorSchema }).strict().optional(),
    quantile: z
      .object({ q: z.number().gt(0).lt(1), metric: metricNames, ...labelMatchers })
      .strict()
      .optional(),
    increase: selectorSchema.optional(),
    /** Ratio: least denominator increase in a window; quantile: least observations; increase: unused. Below it the window is not judged. */
    min_count: z.number().nonnegative().default(1),
    op: z.enum(['>', '>=', '<', '<=', '==', '!=']),
    threshold: z.number(),
    severity: z.enum(['warning', 'critical']),
    /** Consecutive samples (windows, for ratio and quantile rules) the condition must hold before it fires, and fail to hold before it resolves. */
    for_samples: z.number().int().positive().default(1),
    reason: z.string().default(''),
  })
  .strict()
  .superRefine((r, ctx) => {
    const shapes = [r.metric && 'metric', r.ratio && 'ratio', r.quantile && 'quantile', r.increase && 'increase'].filter(Boolean);
    if (shapes.length !== 1)
      ctx.addIssue({
        code: z.ZodIssueCode.custom,
        message: `a rule has exactly one of metric, ratio, quantile, increase (got ${shapes.length ? shapes.join(', ') : 'none'})`,
      });
  });
export type Rule = z.infer<typeof ruleSchema>;
export type RuleInput = z.input<typeof ruleSchema>;

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
 * CPU, memory or a filesystem nearly full (as exported ratios), HTTP server errors over 5 % of
 * requests, HTTP p99 latency over one second. Names are listed as Prometheus and the Collector's
 * prometheusremotewrite exporter write them and as OTLP carries them (dots read as underscores).
 */
export const DEFAULT_RULES: Rule[] = z.array(ruleSchema).parse([
  { name: 'target_down', metric: 'up', op: '==', threshold: 0, severity: 'critical', reason: 'scrape target is down (up == 0)' },
  {
    name: 'container_not_ready',
    metric: 'kube_pod_container_status_ready',
    op: '==',
    threshold: 0,
    severity: 'warning',
    for_samples: 2,
    reason: 'container not ready',
  },
  {
    name: 'container_waiting',
    metric: 'kube_pod_container_status_waiting',
    op: '==',
    threshold: 1,
    severity: 'warning',
    for_samples: 2,
    reason: 'container waiting (crash loop or image pull)',
  },
  {
    name: 'pod_not_ready',
    metric: 'kube_pod_status_ready',
    match: { condition: 'false' },
    op: '==',
    threshold: 1,
    severity: 'warning',
    for_samples: 2,
    reason: 'pod not ready',
  },
  {
    name: 'pod_restarting',
    increase: { metric: 'kube_pod_container_status_restarts_total' },
    min_count: 0,
    op: '>=',
    threshold: 1,
    severity: 'warning',
    reason: 'a container restarted',
  },
  {
    name: 'cpu_saturated',
    metric: ['system_cpu_utilization', 'system_cpu_utilization_ratio'],
    op: '>=',
    threshold: 0.95,
    severity: 'warning',
    for_samples: 3,
    reason: 'CPU utilization ≥ 95 %',
  },
  {
    name: 'memory_saturated',
    metric: ['system_memory_utilization', 'system_memory_utilization_ratio'],
    match: { state: 'used' },
    op: '>=',
    threshold: 0.95,
    severity: 'warning',
    for_samples: 3,
    reason: 'memory utilization ≥ 95 %',
  },
  {
    name: 'disk_saturated',
    metric: ['system_filesystem_utilization', 'system_filesystem_utilization_ratio'],
    op: '>=',
    threshold: 0.9,
    severity: 'warning',
    for_samples: 3,
    reason: 'filesystem ≥ 90 % full',
  },
  {
    name: 'http_error_ratio',
    ratio: {
      numerator: { metric: ['http_requests_total', 'http_server_requests_total'], match_re: { code: '5..' } },
      denominator: { metric: ['http_requests_total', 'http_server_requests_total'] },
    },
    min_count: 10,
    op: '>',
    threshold: 0.05,
    severity: 'warning',
    reason: 'more than 5 % of HTTP requests failed (5xx)',
  },
  {
    name: 'http_server_error_ratio',
    ratio: {
      numerator: {
        metric: ['http_server_request_duration_count', 'http_server_request_duration_seconds_count'],
        match_re: { http_response_status_code: '5..' },
      },
      denominator: { metric: ['http_server_request_duration_count', 'http_server_request_duration_seconds_count'] },
    },
    min_count: 10,
    op: '>',
    threshold: 0.05,
    severity: 'warning',
    reason: 'more than 5 % of HTTP requests failed (5xx)',
  },
  {
    name: 'http_latency_p99',
    quantile: { q: 0.99, metric: ['http_request_duration_seconds', 'http_server_request_duration', 'http_server_request_duration_seconds'] },
    min_count: 10,
    op: '>',
    threshold: 1,
    severity: 'warning',
    reason: 'HTTP p99 latency above 1 s',
  },
]);

export function holds(op: Rule['op'], value: number, threshold: number): boolean {
  switch (op) {
    case '>':
      return value > threshold;
    case '>=':
      return value >= threshold;
    case '<':
      return value < threshold;
    case '<=':
      return value <= threshold;
    case '==':
      return value === threshold;
    case '!=':
      return value !== threshold;
  }
}
