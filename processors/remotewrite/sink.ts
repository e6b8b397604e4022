import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import type { BusRecord } from '../runtime/bus/types.js';
import { headerString } from '../runtime/bus/dlq.js';
import { MalformedInputError } from '../runtime/errors.js';
import { containerResource } from '../falco/events.js';
import type { ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { TableSink, type RowsByTable } from '../runtime/pipeline/table-sink.js';
import { RW_PROTO_HEADER } from './factory.js';
import { PROTO_V1, PROTO_V2, walkRemoteWrite, type RemoteWriteVersion } from './wire.js';

/** The series-row cache settings every prom_* sink has. */
export const seriesCacheConfig = {
  /** Series remembered as written (their prom_series row is not sent again); 0 writes a series row beside every sample. */
  series_cache: z.number().int().min(0).default(1_000_000),
  /** A remembered series' row is written again once its samples are this much newer (prom_series.last_seen is as fresh as this). */
  series_refresh_ms: z.number().int().positive().default(600_000),
};

export const promSamplesConfigSchema = z
  .object({
    input: topicName.default('prometheus_remote_write'),
    max_batch: z.number().int().positive().default(1_000),
    ...seriesCacheConfig,
  })
  .strict();
export type PromSamplesConfig = z.infer<typeof promSamplesConfigSchema>;

const METRIC_TYPES = ['', 'counter', 'gauge', 'histogram', 'gaugehistogram', 'summary', 'info', 'stateset'];

/** Non-finite floats as ClickHouse reads them from JSON strings (JSON itself has no NaN or Inf). */
export function float(v: number): number | string {
  if (Number.isFinite(v)) return v;
  return Number.isNaN(v) ? 'nan' : v > 0 ? 'inf' : '-inf';
}

/**
 * 64-bit hash of the sorted labels, in hex: the series' fingerprint. Two 32-bit FNV-1a lanes over
 * the UTF-16 code units (names and values separated by 0xffff, which no label contains), each
 * finished with murmur3's avalanche: not cryptographic, a series id.
 */
export function fingerprint(labels: [string, string][]): string {
  let a = 0x811c9dc5;
  let b = 0x050c5d1f;
  const add = (c: number) => {
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x01000193) ^ (a >>> 15);
  };
  for (const [n, v] of labels) {
    for (let i = 0; i < n.length; i++) add(n.charCodeAt(i));
    add(0xffff);
    for (let i = 0; i < v.length; i++) add(v.charCodeAt(i));
    add(0xffff);
  }
  return hex32(fmix(a)) + hex32(fmix(b ^ a));
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

const HEX_BYTE = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
/** 8 lower-case hex digits; by byte from a table, as toString(16) + padStart costs more per sample. */
const hex32 = (n: number) => HEX_BYTE[n >>> 24]! + HEX_BYTE[(n >>> 16) & 255]! + HEX_BYTE[(n >>> 8) & 255]! + HEX_BYTE[n & 255]!;

/**
 * A resource identity from series labels, Prometheus' (pod, namespace, node, instance) or
 * OpenTelemetry's (cloud.resource_id, k8s.*, container.id), in the ids the placement processor
 * gives the same resources: pod, then container, then node, then the scrape target itself.
 */
export function resourceOf(labels: Record<string, string>): string {
  if (labels['cloud.resource_id']) return labels['cloud.resource_id'];
  const cluster = labels.cluster ?? labels['k8s.cluster.name'] ?? '';
  const pod = labels.pod ?? labels['k8s.pod.name'];
  const namespace = labels.namespace ?? labels['k8s.namespace.name'];
  if (pod && namespace) return `k8s:${cluster}/${namespace}/pod/${pod}`;
  const container = labels['container.id'] ? containerResource(labels['container.id']) : '';
  if (container) return container;
  const node = labels.node ?? labels['k8s.node.name'];
  if (node) return `k8s:${cluster}//node/${node}`;
  if (labels.instance) return `target:${labels.job ?? ''}/${labels.instance}`;
  return '';
}

let lastMs = NaN;
let lastIso = '';
/** Unix milliseconds as ISO 8601; the samples of a request mostly share a timestamp, so the last one is kept. */
export function iso(ms: number): string {
  if (ms !== lastMs) {
    lastIso = new Date(ms).toISOString();
    lastMs = ms;
  }
  return lastIso;
}

/** The rows one request adds to the prom_* tables. */
export interface PromRows {
  series: object[];
  samples: object[];
  histograms: object[];
  exemplars: object[];
}

export function promRowsByTable(rows: PromRows): RowsByTable {
  const out = new Map<string, object[]>([['prom_series', rows.series], ['prom_samples', rows.samples]]);
  if (rows.histograms.length) out.set('prom_histograms', rows.histograms);
  if (rows.exemplars.length) out.set('prom_exemplars', rows.exemplars);
  return out;
}

/**
 * The series whose prom_series row was sent: a row is due only for a series not seen yet, one whose
 * type/help/unit changed, or one last written refreshMs (of sample time) ago. Bounded: past maxSeries
 * the least recently written is forgotten (its row is simply written again when it comes back).
 * The owning sink clears it when a write fails, so a redelivered batch sends its series rows again.
 */
export class SeriesCache {
  readonly #seen = new Map<string, { type: string; help: string; unit: string; written: number }>();
  constructor(readonly maxSeries: number, readonly refreshMs: number) {}

  /** True (and remembered) when the series' row is due. */
  admit(fp: string, type: string, help: string, unit: string, lastSeenMs: number): boolean {
    if (this.maxSeries === 0) return true;
    const e = this.#seen.get(fp);
    if (e && e.type === type && e.help === help && e.unit === unit && lastSeenMs - e.written < this.refreshMs) return false;
    if (e) this.#seen.delete(fp);
    else if (this.#seen.size >= this.maxSeries) this.#seen.delete(this.#seen.keys().next().value!);
    this.#seen.set(fp, { type, help, unit, written: lastSeenMs });
    return true;
  }

  clear(): void {
    this.#seen.clear();
  }
}

/** A prom_series row: labels as given (sorted), its fingerprint, its resource and metadata. */
export function seriesRow(fp: string, labels: Record<string, string>, type: string, help: string, unit: string, lastSeenMs: number): object {
  return { fingerprint: fp, metric_name: labels.__name__ ?? '', labels, job: labels.job ?? '', instance: labels.instance ?? '', resource_id: resourceOf(labels), type, help, unit, last_seen: iso(lastSeenMs) };
}

/** prom_* tables fed by a sink, from the rows its decoder builds for each record (series rows only when the cache says they are due). */
export function promSink(
  c: { input: string; max_batch: number; series_cache: number; series_refresh_ms: number },
  rowsOf: (r: BusRecord, seen: SeriesCache) => PromRows,
): (settings: ComponentSettings) => TableSink<object> {
  return (settings) => {
    const seen = new SeriesCache(c.series_cache, c.series_refresh_ms);
    return new TableSink(settings, {
      input: c.input,
      table: 'prom_samples',
      maxBatch: c.max_batch,
      toRowsByTable: (r) => promRowsByTable(rowsOf(r, seen)),
      onRefused: 'dlq',
      onWriteFailed: () => seen.clear(),
    });
  };
}

/** Rows for prom_series, prom_samples, prom_histograms and prom_exemplars from one prometheus_remote_write record. */
export function promRows(record: BusRecord, seen?: SeriesCache): PromRows {
  const proto = headerString(record.headers, RW_PROTO_HEADER) ?? PROTO_V1;
  if (proto !== PROTO_V1 && proto !== PROTO_V2) throw new MalformedInputError(`unknown ${RW_PROTO_HEADER} "${proto}"`);
  const version: RemoteWriteVersion = proto === PROTO_V1 ? '1.0' : '2.0';
  const series: object[] = [];
  const samples: object[] = [];
  const histograms: object[] = [];
  const exemplars: object[] = [];
  walkRemoteWrite(record.value, version, true, (s) => {
    const labels = s.labels!;
    const metric = labels.find(([n]) => n === '__name__')?.[1] ?? '';
    const fp = fingerprint(labels);
    let last = 0;
    for (const x of s.sampleValues!) {
      samples.push({ metric_name: metric, fingerprint: fp, ts: iso(x.timestamp), value: float(x.value), stale: x.stale ? 1 : 0 });
      last = Math.max(last, x.timestamp);
    }
    for (const h of s.histogramValues!) {
      histograms.push({
        metric_name: metric, fingerprint: fp, ts: iso(h.timestamp), count: float(h.count), sum: float(h.sum), schema: h.schema,
        zero_threshold: float(h.zero_threshold), zero_count: float(h.zero_count),
        positive_spans: h.positive_spans, positive_deltas: h.positive_deltas, positive_counts: h.positive_counts.map(float),
        negative_spans: h.negative_spans, negative_deltas: h.negative_deltas, negative_counts: h.negative_counts.map(float),
        custom_values: h.custom_values.map(float), reset_hint: h.reset_hint,
      });
      last = Math.max(last, h.timestamp);
    }
    for (const e of s.exemplarValues!) exemplars.push({ metric_name: metric, fingerprint: fp, ts: iso(e.timestamp), value: float(e.value), labels: Object.fromEntries(e.labels) });
    const type = METRIC_TYPES[s.metadata?.type ?? 0] ?? '';
    const help = s.metadata?.help ?? '';
    const unit = s.metadata?.unit ?? '';
    const lastSeen = last || record.timestamp;
    // The label map is built only for a series row that is due: most samples belong to known series.
    if (!seen || seen.admit(fp, type, help, unit, lastSeen)) series.push(seriesRow(fp, Object.fromEntries(labels), type, help, unit, lastSeen));
  });
  return { series, samples, histograms, exemplars };
}

/** prometheus_remote_write → prom_series, prom_samples, prom_histograms, prom_exemplars. */
export const promSamplesFactory: Factory<PromSamplesConfig> = {
  kind: 'sink',
  type: 'prometheus_samples',
  configSchema: promSamplesConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) => promSink(c, promRows)(settings),
};
