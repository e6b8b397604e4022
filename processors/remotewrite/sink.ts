import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import type { BusRecord } from '../runtime/bus/types.js';
import { headerString } from '../runtime/bus/dlq.js';
import { MalformedInputError } from '../runtime/errors.js';
import { resourceOf } from '../identity/resources.js';
import type { ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { TableSink, type RowsByTable } from '../runtime/pipeline/table-sink.js';
import { REMOTE_WRITE_TOPIC, RW_PROTO_HEADER } from '../model/remote-write.js';
import {
  PROTO_V1,
  PROTO_V2,
  readMetadataV1,
  walkRemoteWrite,
  type MetricMetadataV1,
  type RemoteWriteVersion,
  type SampleValue,
  type SeriesIdentity,
  type SeriesView,
} from './wire.js';
import { compileValueEncoder, DirectRowsWriter, Writer, type DirectLayout } from '../runtime/store/rowbinary.js';

export { fingerprint } from './wire.js';

/** The series-row cache settings every prom_* sink has. */
export const seriesCacheConfig = {
  /** Series remembered as written (their prom_series row is not sent again); 0 writes a series row beside every sample. */
  series_cache: z.number().int().min(0).default(1_000_000),
  /** A remembered series' row is written again once its samples are this much newer (prom_series.last_seen is as fresh as this). */
  series_refresh_ms: z.number().int().positive().default(600_000),
};

export const promSamplesConfigSchema = z
  .object({
    input: topicName.default(REMOTE_WRITE_TOPIC),
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
  const out = new Map<string, object[]>([
    ['prom_series', rows.series],
    ['prom_samples', rows.samples],
  ]);
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
  constructor(
    readonly maxSeries: number,
    readonly refreshMs: number,
  ) {}

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

  /** 1.0 metadata by metric family, as Prometheus sends it apart from the samples; the newest wins. Kept across clear(). */
  readonly #families = new Map<string, MetricMetadataV1>();
  static readonly MAX_FAMILIES = 100_000;

  learn(m: MetricMetadataV1): void {
    if (!m.family) return;
    if (this.#families.size >= SeriesCache.MAX_FAMILIES && !this.#families.has(m.family)) this.#families.clear();
    this.#families.set(m.family, m);
  }

  /** The metadata of a series' metric: its own name, else its family's (without _bucket, _sum, _count, _total, _created, _info). */
  metadataOf(metric: string): MetricMetadataV1 | undefined {
    if (this.#families.size === 0) return undefined;
    const exact = this.#families.get(metric);
    if (exact) return exact;
    const m = /^(.*)_(bucket|sum|count|total|created|info|gcount|gsum)$/.exec(metric);
    return m ? this.#families.get(m[1]!) : undefined;
  }
}

/** A prom_series row: labels as given (sorted), its fingerprint, its resource and metadata. */
export function seriesRow(fp: string, labels: Readonly<Record<string, string>>, type: string, help: string, unit: string, lastSeenMs: number): object {
  return {
    fingerprint: fp,
    metric_name: labels.__name__ ?? '',
    labels,
    job: labels.job ?? '',
    instance: labels.instance ?? '',
    resource_id: resourceOf(labels),
    type,
    help,
    unit,
    last_seen: iso(lastSeenMs),
  };
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

/** prom_samples' columns as schemas/clickhouse/0006_prometheus.sql makes them, in order. */
export const PROM_SAMPLES_LAYOUT: DirectLayout = {
  name: 'the prometheus_samples sink',
  columns: [
    { name: 'metric_name', type: 'LowCardinality(String)' },
    { name: 'fingerprint', type: 'String' },
    { name: 'ts', type: 'DateTime64(3)' },
    { name: 'value', type: 'Float64' },
    { name: 'stale', type: 'UInt8' },
  ],
};

// One writer for every sink making prom_samples rows: a record's rows are written synchronously.
const sampleRows = new DirectRowsWriter(PROM_SAMPLES_LAYOUT);
const encodeString = compileValueEncoder('String');

/**
 * A series' metric_name and fingerprint columns as RowBinaryWithDefaults (each after its "not
 * default" byte), and the byte before ts: what every sample row of the series starts with.
 */
function samplePrefix(id: SeriesIdentity): Uint8Array {
  const w = new Writer(128);
  w.u8(0);
  encodeString(w, id.metric);
  w.u8(0);
  encodeString(w, id.fingerprint);
  w.u8(0);
  return (id.sampleRow = w.buf.subarray(0, w.pos));
}

// The times iso() writes as ISO 8601 that DateTime64(3) reads back exactly: years 0000 to 9999 (toISOString
// writes others as ±YYYYYY, which the encoder refuses). In that range the ticks are the milliseconds.
const MIN_ISO_MS = -62_167_219_200_000;
const MAX_ISO_MS = 253_402_300_799_999;

/** A sample row from the walk's values, byte for byte the object row's; false if only the object path can say. */
function writeSample(w: Writer, prefix: Uint8Array, x: SampleValue): boolean {
  const ms = x.timestamp;
  if (!(ms >= MIN_ISO_MS && ms <= MAX_ISO_MS)) return false;
  w.raw(prefix);
  w.i64(ms);
  w.u8(0);
  // float() sends NaN as 'nan', which the encoder reads as the canonical NaN: whatever NaN came (the stale marker's own bits), this one goes.
  w.f64(Number.isNaN(x.value) ? NaN : x.value);
  w.u8(0);
  w.u8(x.stale ? 1 : 0);
  sampleRows.endRow();
  return true;
}

/**
 * Rows for prom_series, prom_samples, prom_histograms and prom_exemplars from one prometheus_remote_write record.
 * With `direct`, the samples are one DirectRows (written as RowBinary from the walk) unless a value needs the
 * object path; the other tables' rows are objects.
 */
export function promRows(record: BusRecord, seen?: SeriesCache, direct = false): PromRows {
  const proto = headerString(record.headers, RW_PROTO_HEADER) ?? PROTO_V1;
  if (proto !== PROTO_V1 && proto !== PROTO_V2) throw new MalformedInputError(`unknown ${RW_PROTO_HEADER} "${proto}"`);
  const version: RemoteWriteVersion = proto === PROTO_V1 ? '1.0' : '2.0';
  const series: object[] = [];
  const samples: object[] = [];
  const histograms: object[] = [];
  const exemplars: object[] = [];
  // 1.0 metadata may come after the series it describes: walk first, learn it, then make the rows.
  const views: SeriesView[] = [];
  const walk = walkRemoteWrite(record.value, version, true, (s) => views.push(s));
  const cache = seen ?? new SeriesCache(0, 1); // without a sink's cache: every series row is due, metadata of this record only
  for (const m of readMetadataV1(record.value, walk.metadataFields)) cache.learn(m);
  let w = direct ? sampleRows.begin() : undefined;
  for (const s of views) {
    const id = s.identity!;
    const metric = id.metric;
    const fp = id.fingerprint;
    let last = 0;
    const prefix = w ? (id.sampleRow ?? samplePrefix(id)) : undefined;
    for (const x of s.sampleValues!) {
      if (w && !writeSample(w, prefix!, x)) {
        // Back to row objects for every sample of the record (the series rows are made once, below).
        sampleRows.abort();
        w = undefined;
      }
      if (!w) samples.push({ metric_name: metric, fingerprint: fp, ts: iso(x.timestamp), value: float(x.value), stale: x.stale ? 1 : 0 });
      last = Math.max(last, x.timestamp);
    }
    for (const h of s.histogramValues!) {
      histograms.push({
        metric_name: metric,
        fingerprint: fp,
        ts: iso(h.timestamp),
        count: float(h.count),
        sum: float(h.sum),
        schema: h.schema,
        zero_threshold: float(h.zero_threshold),
        zero_count: float(h.zero_count),
        positive_spans: h.positive_spans,
        positive_deltas: h.positive_deltas,
        positive_counts: h.positive_counts.map(float),
        negative_spans: h.negative_spans,
        negative_deltas: h.negative_deltas,
        negative_counts: h.negative_counts.map(float),
        custom_values: h.custom_values.map(float),
        reset_hint: h.reset_hint,
      });
      last = Math.max(last, h.timestamp);
    }
    for (const e of s.exemplarValues!)
      exemplars.push({ metric_name: metric, fingerprint: fp, ts: iso(e.timestamp), value: float(e.value), labels: Object.fromEntries(e.labels) });
    const meta = s.metadata ?? cache.metadataOf(metric);
    const type = METRIC_TYPES[meta?.type ?? 0] ?? '';
    const help = meta?.help ?? '';
    const unit = meta?.unit ?? '';
    const lastSeen = last || record.timestamp;
    if (cache.admit(fp, type, help, unit, lastSeen)) series.push(seriesRow(fp, id.labelMap, type, help, unit, lastSeen));
  }
  if (w === undefined && direct) {
    // Given up above: the samples of the series before are objects too.
    samples.length = 0;
    for (const s of views) {
      const metric = s.identity!.metric;
      const fp = s.identity!.fingerprint;
      for (const x of s.sampleValues!)
        samples.push({ metric_name: metric, fingerprint: fp, ts: iso(x.timestamp), value: float(x.value), stale: x.stale ? 1 : 0 });
    }
  } else if (w) {
    const rows = sampleRows.finish(() => promRows(record).samples);
    if (rows.rows > 0) samples.push(rows);
  }
  return { series, samples, histograms, exemplars };
}

/** prometheus_remote_write → prom_series, prom_samples, prom_histograms, prom_exemplars. */
export const promSamplesFactory: Factory<PromSamplesConfig> = {
  kind: 'sink',
  type: 'prometheus_samples',
  configSchema: promSamplesConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) => promSink(c, (r, seen) => promRows(r, seen, true))(settings),
};
