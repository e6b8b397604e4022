import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import type { Factory } from '../runtime/pipeline/component.js';
import { promSink, seriesCacheConfig, seriesRow, type PromRows, type SeriesCache } from '../remotewrite/sink.js';
import { float, iso } from '../runtime/store/format.js';
import { walkOtlpMetrics } from '../model/otlp-series.js';
import { METRICS_TOPIC } from '../model/otlp.js';

export const otlpMetricsConfigSchema = z
  .object({
    input: topicName.default(METRICS_TOPIC),
    max_batch: z.number().int().positive().default(500),
    ...seriesCacheConfig,
  })
  .strict();
export type OtlpMetricsConfig = z.infer<typeof otlpMetricsConfigSchema>;

/** The prom_* rows of one otlp_metrics record. */
export function otlpMetricRows(value: Uint8Array, seen?: SeriesCache): PromRows {
  const c: PromRows = { series: [], samples: [], histograms: [], exemplars: [] };
  walkOtlpMetrics(value, {
    series(fp, labels, type, help, unit, points) {
      let last = 0;
      for (const p of points) {
        c.samples.push({ metric_name: labels.__name__, fingerprint: fp, ts: iso(p.ts), value: float(p.stale ? NaN : p.value), stale: p.stale ? 1 : 0 });
        last = Math.max(last, p.ts);
      }
      if (!seen || seen.admit(fp, type, help, unit, last)) c.series.push(seriesRow(fp, labels, type, help, unit, last));
    },
    histogram(fp, labels, help, unit, ts, row) {
      c.histograms.push(row);
      if (!seen || seen.admit(fp, 'histogram', help, unit, ts)) c.series.push(seriesRow(fp, labels, 'histogram', help, unit, ts));
    },
  });
  return c;
}

/** otlp_metrics → prom_series, prom_samples, prom_histograms (the tables remote write fills). */
export const otlpMetricsFactory: Factory<OtlpMetricsConfig> = {
  kind: 'sink',
  type: 'otlp_metrics',
  configSchema: otlpMetricsConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) => promSink(c, (r, seen) => otlpMetricRows(r.value, seen))(settings),
};
