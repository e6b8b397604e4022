/*
 * OTLP metrics as Prometheus series: how an otlp_metrics record reads as the series, samples and
 * native histograms the prom_* tables and the health rules see, as Prometheus' own OTLP receiver
 * maps them.
 */
import { MalformedInputError } from '../runtime/errors.js';
import { float, iso } from '../runtime/store/format.js';
import { ExportMetricsServiceRequest, type IKeyValue, attributesToMap, toBigInt } from './otlp.js';
import { fingerprint } from './remote-write.js';

/** Resource attributes kept as labels: the ones that say which resource it is (the rest would explode cardinality). */
const IDENTITY_ATTRIBUTES = [
  'host.id',
  'host.name',
  'k8s.pod.uid',
  'k8s.pod.name',
  'k8s.namespace.name',
  'k8s.node.name',
  'k8s.cluster.name',
  'cloud.resource_id',
  'cloud.region',
  'cloud.account.id',
  'container.id',
];
const NO_RECORDED_VALUE = 1;
const ms = (nanos: unknown) => Number(toBigInt(nanos) / 1_000_000n);

export interface Point {
  ts: number;
  value: number;
  stale: boolean;
}

/** What walking an OTLP metrics request yields: series with their points, and native histograms. */
export interface OtlpSeriesVisitor {
  series(fp: string, labels: Record<string, string>, type: string, help: string, unit: string, points: Point[]): void;
  histogram(fp: string, labels: Record<string, string>, help: string, unit: string, ts: number, row: object): void;
}

/** One series: labels sorted as Prometheus keeps them, its fingerprint, its points. */
function emit(
  v: OtlpSeriesVisitor,
  base: Record<string, string>,
  name: string,
  extra: Record<string, string>,
  type: string,
  help: string,
  unit: string,
  points: Point[],
): void {
  const labels = Object.entries({ ...base, ...extra, __name__: name }).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  v.series(fingerprint(labels), Object.fromEntries(labels), type, help, unit, points);
}

/**
 * OTLP metrics as Prometheus series, the way Prometheus' own OTLP receiver maps them: job from
 * service.namespace/service.name, instance from service.instance.id; gauges and sums as samples
 * (monotonic sums are counters); histograms as _bucket{le} / _sum / _count; summaries as
 * {quantile} / _sum / _count; exponential histograms as native histograms. A data point flagged
 * "no recorded value" becomes a stale marker.
 */
export function walkOtlpMetrics(value: Uint8Array, c: OtlpSeriesVisitor): void {
  let req;
  try {
    req = ExportMetricsServiceRequest.decode(value);
  } catch (err) {
    throw new MalformedInputError(`otlp_metrics message is not an ExportMetricsServiceRequest: ${(err as Error).message}`);
  }
  for (const rm of req.resourceMetrics) {
    const res = attributesToMap(rm.resource?.attributes);
    const base: Record<string, string> = {};
    const service = res['service.name'];
    if (service) base.job = res['service.namespace'] ? `${res['service.namespace']}/${service}` : service;
    if (res['service.instance.id']) base.instance = res['service.instance.id'];
    for (const k of IDENTITY_ATTRIBUTES) if (res[k]) base[k] = res[k]!;
    for (const sm of rm.scopeMetrics ?? []) {
      for (const m of sm.metrics ?? []) {
        const name = m.name ?? '';
        const help = m.description ?? '';
        const unit = m.unit ?? '';
        const attrs = (a: IKeyValue[] | null | undefined) => attributesToMap(a);
        if (m.gauge || m.sum) {
          const points = (m.gauge ?? m.sum)!.dataPoints ?? [];
          const type = m.sum?.isMonotonic ? 'counter' : 'gauge';
          for (const p of points) {
            const v = p.asDouble ?? (p.asInt !== undefined && p.asInt !== null ? Number(BigInt.asIntN(64, toBigInt(p.asInt))) : 0);
            emit(c, base, name, attrs(p.attributes), type, help, unit, [
              { ts: ms(p.timeUnixNano), value: v, stale: ((p.flags ?? 0) & NO_RECORDED_VALUE) !== 0 },
            ]);
          }
        } else if (m.histogram) {
          for (const p of m.histogram.dataPoints ?? []) {
            const ts = ms(p.timeUnixNano);
            const stale = ((p.flags ?? 0) & NO_RECORDED_VALUE) !== 0;
            const a = attrs(p.attributes);
            const bounds = p.explicitBounds ?? [];
            const counts = (p.bucketCounts ?? []).map((x) => Number(toBigInt(x)));
            let cumulative = 0;
            for (let i = 0; i < counts.length; i++) {
              cumulative += counts[i]!;
              const le = i < bounds.length ? String(bounds[i]) : '+Inf';
              emit(c, base, `${name}_bucket`, { ...a, le }, 'histogram', help, unit, [{ ts, value: cumulative, stale }]);
            }
            emit(c, base, `${name}_sum`, a, 'histogram', help, unit, [{ ts, value: p.sum ?? 0, stale }]);
            emit(c, base, `${name}_count`, a, 'histogram', help, unit, [{ ts, value: Number(toBigInt(p.count)), stale }]);
          }
        } else if (m.summary) {
          for (const p of m.summary.dataPoints ?? []) {
            const ts = ms(p.timeUnixNano);
            const stale = ((p.flags ?? 0) & NO_RECORDED_VALUE) !== 0;
            const a = attrs(p.attributes);
            for (const q of p.quantileValues ?? [])
              emit(c, base, name, { ...a, quantile: String(q.quantile ?? 0) }, 'summary', help, unit, [{ ts, value: q.value ?? 0, stale }]);
            emit(c, base, `${name}_sum`, a, 'summary', help, unit, [{ ts, value: p.sum ?? 0, stale }]);
            emit(c, base, `${name}_count`, a, 'summary', help, unit, [{ ts, value: Number(toBigInt(p.count)), stale }]);
          }
        } else if (m.exponentialHistogram) {
          for (const p of m.exponentialHistogram.dataPoints ?? []) {
            const labels = Object.entries({ ...base, ...attrs(p.attributes), __name__: name }).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0));
            const fp = fingerprint(labels);
            const ts = ms(p.timeUnixNano);
            // OTel bucket i covers (base^i, base^(i+1)]; Prometheus' covers (base^(i-1), base^i]: offsets shift by one.
            const pos = (p.positive?.bucketCounts ?? []).map((x) => Number(toBigInt(x)));
            const neg = (p.negative?.bucketCounts ?? []).map((x) => Number(toBigInt(x)));
            c.histogram(fp, Object.fromEntries(labels), help, unit, ts, {
              metric_name: name,
              fingerprint: fp,
              ts: iso(ts),
              count: Number(toBigInt(p.count)),
              sum: float(p.sum ?? 0),
              schema: p.scale ?? 0,
              zero_threshold: float(p.zeroThreshold ?? 0),
              zero_count: Number(toBigInt(p.zeroCount)),
              positive_spans: pos.length ? [[(p.positive?.offset ?? 0) + 1, pos.length]] : [],
              positive_deltas: [],
              positive_counts: pos,
              negative_spans: neg.length ? [[(p.negative?.offset ?? 0) + 1, neg.length]] : [],
              negative_deltas: [],
              negative_counts: neg,
              custom_values: [],
              reset_hint: 0,
            });
          }
        }
      }
    }
  }
}
