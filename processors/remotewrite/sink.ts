import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import type { BusRecord } from '../runtime/bus/types.js';
import { headerString } from '../runtime/bus/dlq.js';
import { MalformedInputError } from '../runtime/errors.js';
import { resourceOf } from '../identity/resources.js';
import type { ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { TableSink, type RowsByTable } from '../runtime/pipeline/table-sink.js';
import {
  REMOTE_WRITE_TOPIC,
  RW_PROTO_HEADER,
  PROTO_V1,
  PROTO_V2,
  readMetadataV1,
  walkRemoteWrite,
  type MetricMetadataV1,
  walkRemoteWriteColumns,
  type ExemplarValue,
  type NativeHistogram,
  type RemoteWriteVersion,
  type SampleColumns,
  type SampleValue,
  type SeriesIdentity,
  type SeriesView,
  type WalkResult,
} from '../model/remote-write.js';
import { compileValueEncoder, DirectRowsWriter, Writer, type DirectLayout } from '../runtime/store/rowbinary.js';
import { float, iso } from '../runtime/store/format.js';

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

/** A series whose row was written, as its cache remembers it: in the cache's map while its generation is the cache's. */
interface SeenSeries {
  readonly fp: string;
  readonly type: string;
  readonly help: string;
  readonly unit: string;
  readonly written: number;
  readonly cache: SeriesCache;
  generation: number;
}

/**
 * The series whose prom_series row was sent: a row is due only for a series not seen yet, one whose
 * type/help/unit changed, or one last written refreshMs (of sample time) ago. Bounded: past maxSeries
 * the least recently written is forgotten (its row is simply written again when it comes back).
 * The owning sink clears it when a write fails, so a redelivered batch sends its series rows again.
 */
export class SeriesCache {
  readonly #seen = new Map<string, SeenSeries>();
  /** Bumped by clear(): entries of an older generation are no longer in #seen. */
  #generation = 0;
  constructor(
    readonly maxSeries: number,
    readonly refreshMs: number,
  ) {}

  /**
   * True (and remembered) when the series' row is due. Given the series' identity (whose fingerprint
   * is fp), its entry is kept on it too, so that a known series costs no look-up by fingerprint.
   */
  admit(fp: string, type: string, help: string, unit: string, lastSeenMs: number, id?: SeriesIdentity): boolean {
    if (this.maxSeries === 0) return true;
    const mine = id?.seen as SeenSeries | undefined;
    const e = mine && mine.cache === this && mine.generation === this.#generation ? mine : this.#seen.get(fp);
    if (e && e.type === type && e.help === help && e.unit === unit && lastSeenMs - e.written < this.refreshMs) {
      if (id) id.seen = e;
      return false;
    }
    if (e) this.#forget(e);
    else if (this.#seen.size >= this.maxSeries) this.#forget(this.#seen.values().next().value!);
    const added: SeenSeries = { fp, type, help, unit, written: lastSeenMs, cache: this, generation: this.#generation };
    this.#seen.set(fp, added);
    if (id) id.seen = added;
    return true;
  }

  #forget(e: SeenSeries): void {
    this.#seen.delete(e.fp);
    e.generation = -1;
  }

  clear(): void {
    this.#seen.clear();
    this.#generation++;
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

/**
 * The tables whose rows are what a prom_* sink received: its samples and histograms (as the
 * receiver counts them). Series rows (prom_series) and exemplars ride along and are not counted.
 */
export const PROM_COUNTED_TABLES: ReadonlySet<string> = new Set(['prom_samples', 'prom_histograms']);

/**
 * prom_* tables fed by a sink, from the rows its decoder builds for each record (series rows only when
 * the cache says they are due). airdig_component_received_total and …_sent_total count the samples and
 * histograms (PROM_COUNTED_TABLES); the prom_series rows written beside them are not counted there.
 */
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
      countedTables: PROM_COUNTED_TABLES,
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

const TWO_32 = 2 ** 32;
// A double's bytes by way of this scratch (what Buffer's writeDoubleLE does, without its checks).
const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
/** Bytes of a sample row after the series' prefix: ts (8), value's "not default" byte, value (8), stale's, stale (1). */
const SAMPLE_TAIL = 19;

/**
 * A series' sample rows from the walk's columns, byte for byte the object rows': the series' prefix,
 * then ts, value and stale. False (some rows may be written: abort) if a time only the object path can say.
 */
function writeSamples(w: Writer, prefix: Uint8Array, samples: SampleColumns): boolean {
  const n = samples.count;
  const p = prefix.length;
  w.ensure(n * (p + SAMPLE_TAIL));
  const out = w.buf;
  const { timestamps, values, stale } = samples;
  let at = w.pos;
  for (let k = 0; k < n; k++) {
    const ms = timestamps[k]!;
    if (!(ms >= MIN_ISO_MS && ms <= MAX_ISO_MS)) return false;
    for (let i = 0; i < p; i++) out[at + i] = prefix[i]!;
    at += p;
    // DateTime64(3): the milliseconds as a 64-bit two's complement integer (a byte store keeps the low 8 bits).
    const hi = Math.floor(ms / TWO_32);
    const lo = ms - hi * TWO_32;
    out[at] = lo;
    out[at + 1] = lo >>> 8;
    out[at + 2] = lo >>> 16;
    out[at + 3] = lo >>> 24;
    out[at + 4] = hi;
    out[at + 5] = hi >> 8;
    out[at + 6] = hi >> 16;
    out[at + 7] = hi >> 24;
    out[at + 8] = 0;
    // float() sends NaN as 'nan', which the encoder reads as the canonical NaN: whatever NaN came (the stale marker's own bits), this one goes.
    const v = values[k]!;
    F64[0] = v !== v ? NaN : v;
    if (LITTLE_ENDIAN) for (let i = 0; i < 8; i++) out[at + 9 + i] = F64_BYTES[i]!;
    else out.writeDoubleLE(F64[0]!, at + 9);
    out[at + 17] = 0;
    out[at + 18] = stale[k]!;
    at += SAMPLE_TAIL;
    w.pos = at;
    sampleRows.endRow();
  }
  return true;
}

function versionOf(record: BusRecord): RemoteWriteVersion {
  const proto = headerString(record.headers, RW_PROTO_HEADER) ?? PROTO_V1;
  if (proto !== PROTO_V1 && proto !== PROTO_V2) throw new MalformedInputError(`unknown ${RW_PROTO_HEADER} "${proto}"`);
  return proto === PROTO_V1 ? '1.0' : '2.0';
}

function sampleValueRow(metric: string, fp: string, x: SampleValue): object {
  return { metric_name: metric, fingerprint: fp, ts: iso(x.timestamp), value: float(x.value), stale: x.stale ? 1 : 0 };
}

function histogramRow(metric: string, fp: string, h: NativeHistogram): object {
  return {
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
  };
}

function exemplarRow(metric: string, fp: string, e: ExemplarValue): object {
  return { metric_name: metric, fingerprint: fp, ts: iso(e.timestamp), value: float(e.value), labels: Object.fromEntries(e.labels) };
}

/**
 * The prom_series rows due for the walked series (ids[i], its metadata metas[i], its newest sample or
 * histogram time lasts[i]), once the record's 1.0 metadata is learnt.
 */
function seriesRows(
  record: BusRecord,
  metadataFields: readonly [number, number][],
  seen: SeriesCache | undefined,
  ids: readonly SeriesIdentity[],
  metas: readonly SeriesView['metadata'][],
  lasts: readonly number[],
): object[] {
  const cache = seen ?? new SeriesCache(0, 1); // without a sink's cache: every series row is due, metadata of this record only
  for (const m of readMetadataV1(record.value, metadataFields)) cache.learn(m);
  const series: object[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i]!;
    const meta = metas[i] ?? cache.metadataOf(id.metric);
    const type = METRIC_TYPES[meta?.type ?? 0] ?? '';
    const help = meta?.help ?? '';
    const unit = meta?.unit ?? '';
    const lastSeen = lasts[i] || record.timestamp;
    if (cache.admit(id.fingerprint, type, help, unit, lastSeen, id)) series.push(seriesRow(id.fingerprint, id.labelMap, type, help, unit, lastSeen));
  }
  return series;
}

/**
 * Rows for prom_series, prom_samples, prom_histograms and prom_exemplars from one prometheus_remote_write record.
 * With `direct`, the samples are one DirectRows (written as RowBinary from the walk) unless a value needs the
 * object path; the other tables' rows are objects.
 */
export function promRows(record: BusRecord, seen?: SeriesCache, direct = false): PromRows {
  const version = versionOf(record);
  if (direct) {
    const rows = directPromRows(record, version, seen);
    if (rows) return rows;
    // A sample only the object path can write: all of the record's rows that way (nothing was remembered yet).
  }
  const samples: object[] = [];
  const rest = new SeriesOfRecord();
  const walk = walkRemoteWrite(record.value, version, true, (s) => {
    const id = s.identity!;
    let last = 0;
    for (const x of s.sampleValues!) {
      samples.push(sampleValueRow(id.metric, id.fingerprint, x));
      last = Math.max(last, x.timestamp);
    }
    rest.add(s, last);
  });
  return { ...rest.rows(record, walk.metadataFields, seen), samples };
}

/**
 * What a record's walk collects beside its samples: the histogram and exemplar rows, and each
 * series with its metadata and latest timestamp, for its prom_series row once the walk is done
 * (1.0 metadata may come after the series it describes).
 */
class SeriesOfRecord {
  readonly histograms: object[] = [];
  readonly exemplars: object[] = [];
  readonly #ids: SeriesIdentity[] = [];
  readonly #metas: SeriesView['metadata'][] = [];
  readonly #lasts: number[] = [];

  /** One walked series whose samples (latest at `last`) were taken already. */
  add(s: SeriesView, last: number): void {
    const id = s.identity!;
    if (s.histograms > 0 || s.exemplars > 0) {
      for (const h of s.histogramValues!) {
        this.histograms.push(histogramRow(id.metric, id.fingerprint, h));
        last = Math.max(last, h.timestamp);
      }
      for (const e of s.exemplarValues!) this.exemplars.push(exemplarRow(id.metric, id.fingerprint, e));
    }
    this.#ids.push(id);
    this.#metas.push(s.metadata);
    this.#lasts.push(last);
  }

  rows(record: BusRecord, metadataFields: WalkResult['metadataFields'], seen: SeriesCache | undefined): Omit<PromRows, 'samples'> {
    return {
      series: seriesRows(record, metadataFields, seen, this.#ids, this.#metas, this.#lasts),
      histograms: this.histograms,
      exemplars: this.exemplars,
    };
  }
}

/**
 * promRows with the samples written as RowBinary during the walk, from its sample columns (no object
 * per sample); undefined, with nothing written or remembered, if a sample needs the object path.
 */
function directPromRows(record: BusRecord, version: RemoteWriteVersion, seen: SeriesCache | undefined): PromRows | undefined {
  const rest = new SeriesOfRecord();
  const w = sampleRows.begin();
  let rows = 0;
  let objectsNeeded = false;
  let walk: WalkResult;
  try {
    walk = walkRemoteWriteColumns(record.value, version, (s, samples) => {
      const id = s.identity!;
      let last = 0;
      const n = samples.count;
      if (n > 0 && !objectsNeeded) {
        if (writeSamples(w, id.sampleRow ?? samplePrefix(id), samples)) rows += n;
        else objectsNeeded = true;
      }
      const ts = samples.timestamps;
      for (let k = 0; k < n; k++) last = Math.max(last, ts[k]!);
      rest.add(s, last);
    });
  } catch (err) {
    sampleRows.abort();
    throw err;
  }
  if (objectsNeeded || rows === 0) sampleRows.abort();
  if (objectsNeeded) return undefined;
  const samples = rows > 0 ? [sampleRows.finish(() => promRows(record).samples)] : [];
  return { ...rest.rows(record, walk.metadataFields, seen), samples };
}

/** prometheus_remote_write → prom_series, prom_samples, prom_histograms, prom_exemplars. */
export const promSamplesFactory: Factory<PromSamplesConfig> = {
  kind: 'sink',
  type: 'prometheus_samples',
  configSchema: promSamplesConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) => promSink(c, (r, seen) => promRows(r, seen, true))(settings),
};
