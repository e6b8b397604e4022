import { MalformedInputError } from '../runtime/errors.js';
import { ProtoReader } from '../wire/protobuf.js';

/** The topic's default name: remote-write bodies as Prometheus sent them (uncompressed), split by scrape target. */
export const REMOTE_WRITE_TOPIC = 'prometheus_remote_write';

/** Header naming the protobuf message of a prometheus_remote_write record. */
export const RW_PROTO_HEADER = 'airdig.rw.proto';

/*
 * Prometheus remote write on the wire, for both protocol versions, without generated code:
 *   1.0 prometheus.WriteRequest: timeseries = 1 (labels = 1 {name = 1, value = 2}, samples = 2
 *       {value = 1 double, timestamp = 2 int64}, exemplars = 3, histograms = 4), metadata = 3.
 *   2.0 io.prometheus.write.v2.Request: symbols = 4 (symbols[0] is ""), timeseries = 5
 *       (labels_refs = 1 packed uint32, samples = 2, histograms = 3, exemplars = 4, metadata = 5,
 *       created_timestamp = 6).
 * One walk validates (sorted, unique label names, __name__ present, symbol refs in range) and
 * counts; values are decoded only when the caller asks for them.
 */

export type RemoteWriteVersion = '1.0' | '2.0';

export const PROTO_V1 = 'prometheus.WriteRequest';
export const PROTO_V2 = 'io.prometheus.write.v2.Request';

/** Prometheus' stale marker: a NaN with this exact bit pattern (little-endian on the wire). */
const STALE_NAN_BYTES = [0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f];
const NAME_LABEL = Buffer.from('__name__');
const JOB_LABEL = Buffer.from('job');
const INSTANCE_LABEL = Buffer.from('instance');
const decoder = new TextDecoder('utf-8', { fatal: true });

export class InvalidRemoteWrite extends MalformedInputError {}

export interface SampleValue {
  value: number;
  timestamp: number;
  stale: boolean;
}

/**
 * The samples of one series as columns, as a columns walk (walkRemoteWriteColumns) reads them: no
 * object per sample. One instance per walk, refilled for each series: valid until onSeries returns.
 */
export class SampleColumns {
  count = 0;
  timestamps = new Float64Array(64);
  values = new Float64Array(64);
  /** 1 for Prometheus' stale marker (its exact NaN bits), else 0. */
  stale = new Uint8Array(64);

  add(value: number, timestamp: number, stale: boolean): void {
    const k = this.count;
    if (k === this.values.length) this.#grow();
    this.values[k] = value;
    this.timestamps[k] = timestamp;
    this.stale[k] = stale ? 1 : 0;
    this.count = k + 1;
  }

  #grow(): void {
    const n = 2 * this.values.length;
    const grown = <T extends Float64Array | Uint8Array>(a: T, b: T): T => (b.set(a), b);
    this.values = grown(this.values, new Float64Array(n));
    this.timestamps = grown(this.timestamps, new Float64Array(n));
    this.stale = grown(this.stale, new Uint8Array(n));
  }
}

export interface NativeHistogram {
  count: number;
  sum: number;
  schema: number;
  zero_threshold: number;
  zero_count: number;
  negative_spans: [number, number][];
  negative_deltas: number[];
  negative_counts: number[];
  positive_spans: [number, number][];
  positive_deltas: number[];
  positive_counts: number[];
  reset_hint: number;
  timestamp: number;
  custom_values: number[];
}

export interface ExemplarValue {
  labels: [string, string][];
  value: number;
  timestamp: number;
}

/** One series as the walk sees it. Decoded fields are filled only with decode: true. */
export interface SeriesView {
  /** Byte range of the TimeSeries message in the request, for slicing it into smaller requests. */
  start: number;
  end: number;
  /** 32-bit FNV-1a of the job and instance label values' bytes: which target the series is from. */
  target: number;
  samples: number;
  histograms: number;
  exemplars: number;
  labels?: readonly [string, string][];
  /** With decode: the series' labels, fingerprint and label map, shared by every walk that meets the same label bytes. */
  identity?: SeriesIdentity;
  sampleValues?: SampleValue[];
  histogramValues?: NativeHistogram[];
  exemplarValues?: ExemplarValue[];
  /** 2.0: metric type, help and unit from the series' metadata (1.0 sends metadata per metric family: readMetadataV1). */
  metadata?: { type: number; help: string; unit: string };
  createdTimestamp?: number;
}

export interface WalkResult {
  series: number;
  samples: number;
  histograms: number;
  exemplars: number;
  /** 2.0: payload byte ranges of every symbols entry, to copy into split requests. */
  symbolFields: [number, number][];
  /** 1.0: payload byte ranges of the request's metadata entries. */
  metadataFields: [number, number][];
}

/** The shared protobuf reader (wire/protobuf.ts), its errors InvalidRemoteWrite, with the whole buffer as a DataView for comparing keys (keyIs). */
class Reader extends ProtoReader {
  readonly view: DataView;
  constructor(buf: Uint8Array) {
    super(buf, InvalidRemoteWrite);
    this.view = viewOf(buf);
  }
}

function compareBytes(buf: Uint8Array, a0: number, a1: number, b0: number, b1: number): number {
  const n = Math.min(a1 - a0, b1 - b0);
  for (let i = 0; i < n; i++) {
    const d = buf[a0 + i]! - buf[b0 + i]!;
    if (d !== 0) return d;
  }
  return a1 - a0 - (b1 - b0);
}

function bytesEqual(buf: Uint8Array, s: number, e: number, what: Buffer): boolean {
  if (e - s !== what.length) return false;
  for (let i = 0; i < what.length; i++) if (buf[s + i] !== what[i]) return false;
  return true;
}

function text(buf: Uint8Array, s: number, e: number): string {
  try {
    return decoder.decode(buf.subarray(s, e));
  } catch {
    throw new InvalidRemoteWrite('label or symbol is not valid UTF-8');
  }
}

const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a over bytes s..e continuing from h; a non-ASCII byte has the range checked as UTF-8. */
function fnv(buf: Uint8Array, s: number, e: number, h: number): number {
  let ascii = true;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    if (b >= 0x80) ascii = false;
    h = Math.imul(h ^ b, 0x01000193);
  }
  if (!ascii) text(buf, s, e);
  return h;
}

/** The target hash of a series from its job and instance value ranges (-1 when absent). */
function targetHash(buf: Uint8Array, js: number, je: number, is: number, ie: number): number {
  return fnv(buf, is, ie, Math.imul(fnv(buf, js, je, FNV_OFFSET) ^ 0xff, 0x01000193)) >>> 0;
}

function zigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

/** Checks one series' label names (as byte ranges, in order): sorted, unique, __name__ present. */
function checkLabels(buf: Uint8Array, names: number[], index: number): void {
  let hasName = false;
  for (let i = 0; i < names.length; i += 2) {
    const s = names[i]!;
    const e = names[i + 1]!;
    if (e === s) throw new InvalidRemoteWrite(`timeseries[${index}]: empty label name`);
    if (bytesEqual(buf, s, e, NAME_LABEL)) hasName = true;
    if (i > 0) {
      const c = compareBytes(buf, names[i - 2]!, names[i - 1]!, s, e);
      if (c === 0) throw new InvalidRemoteWrite(`timeseries[${index}]: duplicate label name "${text(buf, s, e)}"`);
      if (c > 0)
        throw new InvalidRemoteWrite(
          `timeseries[${index}]: labels are not sorted by name ("${text(buf, names[i - 2]!, names[i - 1]!)}" before "${text(buf, s, e)}")`,
        );
    }
  }
  if (!hasName) throw new InvalidRemoteWrite(`timeseries[${index}]: no __name__ label`);
}

/**
 * 64-bit hash of the sorted labels, in hex: the series' fingerprint. Two 32-bit FNV-1a lanes over
 * the UTF-16 code units (names and values separated by 0xffff, which no label contains), each
 * finished with murmur3's avalanche: not cryptographic, a series id.
 */
export function fingerprint(labels: readonly [string, string][]): string {
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
 * A series' labels as text with what is derived from them, made once per distinct label bytes:
 * a Prometheus sends the same series with the same bytes every scrape, so decoding, checking and
 * fingerprinting them again per sample is what remote write cost most. Immutable once made.
 */
export class SeriesIdentity {
  /** Free for one reader (the health processor) to keep its resource id of the series. */
  resource: string | undefined;
  /** Free for the prom_samples sink: the RowBinary of the columns every sample row of the series starts with. */
  sampleRow: Uint8Array | undefined;
  /** Free for the prom_* sinks' series cache: its entry for this series (it checks the entry is its own and current). */
  seen: object | undefined;
  #fingerprint: string | undefined;
  #map: Record<string, string> | undefined;
  #metric: string | undefined;

  constructor(
    readonly labels: readonly [string, string][],
    readonly target: number,
  ) {}

  get fingerprint(): string {
    return (this.#fingerprint ??= fingerprint(this.labels));
  }

  get labelMap(): Readonly<Record<string, string>> {
    return (this.#map ??= Object.fromEntries(this.labels));
  }

  get metric(): string {
    return (this.#metric ??= this.labelMap.__name__ ?? '');
  }
}

/** An entry of a BytesTable: its key bytes (and a view of them), its value, the next entry whose key shares its hash. */
interface BytesEntry<V> {
  readonly key: DataView;
  readonly value: V;
  readonly next: BytesEntry<V> | undefined;
}

/** A DataView of all of bytes, for keyIs. */
const viewOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

/** Values by their exact key bytes, chained by a 32-bit hash of them. Bounded: cleared when full. */
class BytesTable<V> {
  readonly #byHash = new Map<number, BytesEntry<V>>();
  #count = 0;
  constructor(readonly max: number) {}

  /** The entry whose key is bytes [from, to) of the buffer `at` views. */
  find(hash: number, at: DataView, from: number, to: number): BytesEntry<V> | undefined {
    for (let e = this.#byHash.get(hash); e; e = e.next) if (keyIs(e.key, at, from, to)) return e;
    return undefined;
  }

  /** Remembers value under a copy of bytes [from, to) of buf (a copy: a Buffer's slice() would share its memory). */
  add(hash: number, buf: Uint8Array, from: number, to: number, value: V): BytesEntry<V> {
    if (this.#count >= this.max) {
      this.#byHash.clear();
      this.#count = 0;
    }
    const key = new Uint8Array(to - from);
    key.set(buf.subarray(from, to));
    const e = { key: viewOf(key), value, next: this.#byHash.get(hash) };
    this.#byHash.set(hash, e);
    this.#count++;
    return e;
  }
}

/**
 * Whether key is bytes [from, to) of the buffer `at` views, 8 bytes at a time read as doubles (a
 * third of the time of comparing bytes): equal doubles have equal bits but for 0 and -0, and a NaN
 * equals nothing, so two NaNs have their bits compared.
 */
function keyIs(key: DataView, at: DataView, from: number, to: number): boolean {
  return key.byteLength === to - from && bytesAre(key, 0, at, from, to);
}

/** Whether bytes [k, k + to - from) of key are bytes [from, to) of the buffer `at` views (both in range). */
function bytesAre(key: DataView, k: number, at: DataView, from: number, to: number): boolean {
  const n = to - from;
  let i = 0;
  for (; i + 8 <= n; i += 8) {
    const a = key.getFloat64(k + i, true);
    const b = at.getFloat64(from + i, true);
    if (a === b) {
      if (a === 0 && 1 / a !== 1 / b) return false;
    } else if (
      a === a ||
      b === b ||
      key.getInt32(k + i, true) !== at.getInt32(from + i, true) ||
      key.getInt32(k + i + 4, true) !== at.getInt32(from + i + 4, true)
    )
      return false;
  }
  for (; i < n; i++) if (key.getUint8(k + i) !== at.getUint8(from + i)) return false;
  return true;
}

const MAX_IDENTITIES = 200_000;

/**
 * Identities by their label text (name 0xff value 0xff …), shared by every walk in the process (in
 * embedded mode the sink and the health processor meet the same series).
 */
const identities = new BytesTable<SeriesIdentity>(MAX_IDENTITIES);

/**
 * The labels of the series being walked, one (name, value) pair of byte ranges at a time: the name
 * ranges for checkLabels, where the job and instance values are for the target hash, and the key
 * bytes (name 0xff value 0xff …, 0xff being no UTF-8 byte) for the identity. One instance, reused:
 * the walk is synchronous.
 */
class LabelScan {
  readonly names: number[] = [];
  readonly values: number[] = [];
  #key = new Uint8Array(4096);
  #keyView = viewOf(this.#key);
  #keyLen = 0;
  #hash = FNV_OFFSET;
  #js = 0;
  #je = 0;
  #is = 0;
  #ie = 0;

  start(): void {
    this.names.length = 0;
    this.values.length = 0;
    this.#keyLen = 0;
    this.#hash = FNV_OFFSET;
    this.#js = this.#je = this.#is = this.#ie = 0;
  }

  add(buf: Uint8Array, ns: number, ne: number, vs: number, ve: number, keyed: boolean): void {
    this.names.push(ns, ne);
    this.values.push(vs, ve);
    if (bytesEqual(buf, ns, ne, JOB_LABEL)) {
      this.#js = vs;
      this.#je = ve;
    } else if (bytesEqual(buf, ns, ne, INSTANCE_LABEL)) {
      this.#is = vs;
      this.#ie = ve;
    }
    if (keyed) {
      this.#append(buf, ns, ne);
      this.#append(buf, vs, ve);
    }
  }

  #append(buf: Uint8Array, s: number, e: number): void {
    const need = this.#keyLen + (e - s) + 1;
    if (need > this.#key.length) {
      const bigger = new Uint8Array(Math.max(need, this.#key.length * 2));
      bigger.set(this.#key.subarray(0, this.#keyLen));
      this.#key = bigger;
      this.#keyView = viewOf(bigger);
    }
    const key = this.#key;
    let n = this.#keyLen;
    let h = this.#hash;
    for (let i = s; i < e; i++) {
      const b = buf[i]!;
      key[n++] = b;
      h = Math.imul(h ^ b, 0x01000193);
    }
    key[n++] = 0xff;
    this.#hash = Math.imul(h ^ 0xff, 0x01000193);
    this.#keyLen = n;
  }

  /** Checks the series' label names and returns its target hash. */
  finish(buf: Uint8Array, index: number): number {
    checkLabels(buf, this.names, index);
    return targetHash(buf, this.#js, this.#je, this.#is, this.#ie);
  }

  /**
   * The entry of the series' identity (its key the label text): remembered when these exact label
   * bytes were met before, else checked, decoded and remembered.
   */
  identity(buf: Uint8Array, index: number): BytesEntry<SeriesIdentity> {
    const hash = this.#hash | 0;
    const known = identities.find(hash, this.#keyView, 0, this.#keyLen);
    if (known) return known;
    const target = this.finish(buf, index);
    const labels: [string, string][] = [];
    for (let i = 0; i < this.names.length; i += 2)
      labels.push([text(buf, this.names[i]!, this.names[i + 1]!), text(buf, this.values[i]!, this.values[i + 1]!)]);
    return identities.add(hash, this.#key, 0, this.#keyLen, new SeriesIdentity(labels, target));
  }
}
const labelScan = new LabelScan();

/** Sets the walked series' target (and with decode, its identity and labels); with decode, returns the identity's entry. */
function identify(series: SeriesView, buf: Uint8Array, index: number, decode: boolean): BytesEntry<SeriesIdentity> | undefined {
  if (!decode) {
    series.target = labelScan.finish(buf, index);
    return undefined;
  }
  const entry = labelScan.identity(buf, index);
  useIdentity(series, entry.value);
  return entry;
}

function useIdentity(series: SeriesView, id: SeriesIdentity): void {
  series.identity = id;
  series.labels = id.labels;
  series.target = id.target;
}

/** A series view with every field there from the start (one object shape, however it is filled). */
function newSeries(start: number, end: number, decode: boolean): SeriesView {
  return {
    start,
    end,
    target: 0,
    samples: 0,
    histograms: 0,
    exemplars: 0,
    labels: undefined,
    identity: undefined,
    sampleValues: decode ? [] : undefined,
    histogramValues: decode ? NONE : undefined,
    exemplarValues: decode ? NONE : undefined,
    metadata: undefined,
    createdTimestamp: undefined,
  };
}

/** The one view of a columns walk, made ready for its next series (onSeries keeps nothing of it). */
function resetSeries(s: SeriesView, start: number, end: number, columns: SampleColumns): SeriesView {
  columns.count = 0;
  s.start = start;
  s.end = end;
  s.target = 0;
  s.samples = 0;
  s.histograms = 0;
  s.exemplars = 0;
  s.labels = undefined;
  s.identity = undefined;
  s.sampleValues = undefined;
  s.histogramValues = NONE;
  s.exemplarValues = NONE;
  s.metadata = undefined;
  s.createdTimestamp = undefined;
  return s;
}

/** No histograms or exemplars, shared by the series that have none (most): two arrays fewer per series. */
const NONE: never[] = Object.freeze([]) as unknown as never[];

/** A series' own list of histograms or exemplars, made at the first one. */
function own<K extends 'histogramValues' | 'exemplarValues'>(series: SeriesView, key: K): NonNullable<SeriesView[K]> {
  const list = series[key];
  if (list && list !== NONE) return list as NonNullable<SeriesView[K]>;
  return (series[key] = [] as unknown as SeriesView[K]) as NonNullable<SeriesView[K]>;
}

/** Adds a walked series to the body's counts. */
function tally(result: WalkResult, series: SeriesView): void {
  result.series++;
  result.samples += series.samples;
  result.histograms += series.histograms;
  result.exemplars += series.exemplars;
}

function readPackedOrSingle(r: Reader, wire: number, end: number, read: (end: number) => number, out: number[]): void {
  if (wire === 2) {
    const e = r.len(end);
    while (r.pos < e) out.push(read(e));
    r.pos = e;
  } else out.push(read(end));
}

function readSpans(r: Reader, end: number, out: [number, number][]): void {
  const e = r.len(end);
  let offset = 0;
  let length = 0;
  while (r.pos < e) {
    const t = r.varint(e);
    if (t >>> 3 === 1 && (t & 7) === 0) offset = zigzag(r.varint(e));
    else if (t >>> 3 === 2 && (t & 7) === 0) length = r.varint(e);
    else r.skip(t & 7, e);
  }
  out.push([offset, length]);
}

function readHistogram(r: Reader, end: number): NativeHistogram {
  const h: NativeHistogram = {
    count: 0,
    sum: 0,
    schema: 0,
    zero_threshold: 0,
    zero_count: 0,
    negative_spans: [],
    negative_deltas: [],
    negative_counts: [],
    positive_spans: [],
    positive_deltas: [],
    positive_counts: [],
    reset_hint: 0,
    timestamp: 0,
    custom_values: [],
  };
  while (r.pos < end) {
    const t = r.varint(end);
    const f = t >>> 3;
    const w = t & 7;
    switch (f) {
      case 1:
        h.count = r.varint(end);
        break;
      case 2:
        h.count = r.double(end);
        break;
      case 3:
        h.sum = r.double(end);
        break;
      case 4:
        h.schema = zigzag(r.varint(end));
        break;
      case 5:
        h.zero_threshold = r.double(end);
        break;
      case 6:
        h.zero_count = r.varint(end);
        break;
      case 7:
        h.zero_count = r.double(end);
        break;
      case 8:
        readSpans(r, end, h.negative_spans);
        break;
      case 9:
        readPackedOrSingle(r, w, end, (e) => zigzag(r.varint(e)), h.negative_deltas);
        break;
      case 10:
        readPackedOrSingle(r, w, end, (e) => r.double(e), h.negative_counts);
        break;
      case 11:
        readSpans(r, end, h.positive_spans);
        break;
      case 12:
        readPackedOrSingle(r, w, end, (e) => zigzag(r.varint(e)), h.positive_deltas);
        break;
      case 13:
        readPackedOrSingle(r, w, end, (e) => r.double(e), h.positive_counts);
        break;
      case 14:
        h.reset_hint = r.varint(end);
        break;
      case 15:
        h.timestamp = r.int64(end);
        break;
      case 16:
        readPackedOrSingle(r, w, end, (e) => r.double(e), h.custom_values);
        break;
      default:
        r.skip(w, end);
    }
  }
  return h;
}

// The fields of the Sample readSampleFields read last (the walk is synchronous).
let sampleValue = 0;
let sampleTimestamp = 0;
let sampleStale = false;

/** A Sample (value = 1 double, timestamp = 2 int64) into sampleValue, sampleTimestamp and sampleStale, with Prometheus' stale NaN recognised by its bits. */
function readSampleFields(r: Reader, end: number): void {
  let value = 0;
  let timestamp = 0;
  let stale = false;
  while (r.pos < end) {
    const t = r.varint(end);
    if (t === 0x09) {
      const p = r.pos;
      stale = p + 8 <= end;
      for (let i = 0; i < 8 && stale; i++) stale = r.buf[p + i] === STALE_NAN_BYTES[i];
      value = r.double(end);
    } else if (t === 0x10) timestamp = r.int64(end);
    else r.skip(t & 7, end);
  }
  sampleValue = value;
  sampleTimestamp = timestamp;
  sampleStale = stale;
}

/** A series' Sample: into the series' values, or into the walk's columns when it has them. */
function readSample(r: Reader, end: number, series: SeriesView, columns: SampleColumns | undefined): void {
  readSampleFields(r, end);
  if (columns) columns.add(sampleValue, sampleTimestamp, sampleStale);
  else series.sampleValues!.push({ value: sampleValue, timestamp: sampleTimestamp, stale: sampleStale });
}

/** A 1.0 Label's name and value ranges into the label scan. */
function scanLabel(r: Reader, buf: Uint8Array, e: number, decode: boolean): void {
  let ns = r.pos;
  let ne = r.pos;
  let vs = r.pos;
  let ve = r.pos;
  while (r.pos < e) {
    const lt = r.varint(e);
    if ((lt & 7) !== 2) {
      r.skip(lt & 7, e);
      continue;
    }
    const le = r.len(e);
    if (lt >>> 3 === 1) {
      ns = r.pos;
      ne = le;
    } else if (lt >>> 3 === 2) {
      vs = r.pos;
      ve = le;
    }
    r.pos = le;
  }
  labelScan.add(buf, ns, ne, vs, ve, decode);
}

/**
 * 1.0 series' identities by the bytes of their label fields as sent (tags, lengths and all), in
 * front of the identities by label text: a Prometheus sends a series' labels as the same bytes
 * every scrape, so a hit skips reading the labels one by one. An entry is made only from bytes
 * that were read, checked and identified, so a hit needs no check.
 */
const rawIdentities = new BytesTable<SeriesIdentity>(MAX_IDENTITIES);

/**
 * The entry met at each series index of the last body walked: a Prometheus shard sends its series in
 * the same order body after body, so the one at the same index is tried first, without hashing.
 */
const lastAtIndex: (BytesEntry<SeriesIdentity> | undefined)[] = [];
const MAX_HINTS = 100_000;

/** Identifies a decoded 1.0 series from its label fields (payload ranges in labels[0, nLabels), all within [from, to) when contiguous). */
function identifyV1(
  series: SeriesView,
  r: Reader,
  buf: Uint8Array,
  index: number,
  labels: number[],
  nLabels: number,
  from: number,
  to: number,
  contiguous: boolean,
): void {
  let hash = FNV_OFFSET;
  if (contiguous) {
    const hint = lastAtIndex[index];
    if (hint && keyIs(hint.key, r.view, from, to)) return useIdentity(series, hint.value);
    // FNV-1a over 32-bit words (a quarter of the multiplies; the map mixes the key again).
    let i = from;
    for (; i + 4 <= to; i += 4) hash = Math.imul(hash ^ (buf[i]! | (buf[i + 1]! << 8) | (buf[i + 2]! << 16) | (buf[i + 3]! << 24)), 0x01000193);
    for (; i < to; i++) hash = Math.imul(hash ^ buf[i]!, 0x01000193);
    hash |= 0;
    const raw = rawIdentities.find(hash, r.view, from, to);
    if (raw) {
      if (index < MAX_HINTS) lastAtIndex[index] = raw;
      return useIdentity(series, raw.value);
    }
  }
  const at = r.pos;
  labelScan.start();
  for (let k = 0; k < nLabels; k += 2) {
    r.pos = labels[k]!;
    scanLabel(r, buf, labels[k + 1]!, true);
  }
  r.pos = at;
  identify(series, buf, index, true);
  if (!contiguous) return;
  const raw = rawIdentities.add(hash, buf, from, to, series.identity!);
  if (index < MAX_HINTS) lastAtIndex[index] = raw;
}

/** Called for each series walked; a columns walk passes its samples as columns. */
type OnSeries = (s: SeriesView, samples: SampleColumns | undefined) => void;

function walkV1(buf: Uint8Array, decode: boolean, onSeries: OnSeries, columns?: SampleColumns): WalkResult {
  const r = new Reader(buf);
  const result: WalkResult = { series: 0, samples: 0, histograms: 0, exemplars: 0, symbolFields: [], metadataFields: [] };
  const end = buf.length;
  // With decode, the series' label fields (payload start, end), read once the series is walked; reused,
  // its length never reset (a runtime call): nLabels counts what is in use.
  const labels: number[] = [];
  const view = newSeries(0, 0, true);
  while (r.pos < end) {
    const tag = r.varint(end);
    const f = tag >>> 3;
    const w = tag & 7;
    if (f === 1 && w === 2) {
      const tsEnd = r.len(end);
      const series = columns ? resetSeries(view, r.pos, tsEnd, columns) : newSeries(r.pos, tsEnd, decode);
      if (!decode) labelScan.start(); // with decode, identifyV1 starts it when the labels are read
      let nLabels = 0;
      let labelsFrom = -1;
      let labelsTo = -1;
      let contiguous = true;
      while (r.pos < tsEnd) {
        const at = r.pos;
        const t = r.varint(tsEnd);
        const ft = t >>> 3;
        if ((t & 7) !== 2) {
          r.skip(t & 7, tsEnd);
          continue;
        }
        const e = r.len(tsEnd);
        if (ft === 1) {
          if (decode) {
            if (labelsFrom < 0) labelsFrom = at;
            else if (labelsTo !== at) contiguous = false;
            labelsTo = e;
            labels[nLabels++] = r.pos;
            labels[nLabels++] = e;
          } else scanLabel(r, buf, e, false);
        } else if (ft === 2) {
          series.samples++;
          if (decode) readSample(r, e, series, columns);
        } else if (ft === 3) {
          series.exemplars++;
          if (decode) own(series, 'exemplarValues').push(readExemplarV1(r, e));
        } else if (ft === 4) {
          series.histograms++;
          if (decode) own(series, 'histogramValues').push(readHistogram(r, e));
        }
        r.pos = e;
      }
      if (decode) identifyV1(series, r, buf, result.series, labels, nLabels, labelsFrom, labelsTo, contiguous && labelsFrom >= 0);
      else identify(series, buf, result.series, false);
      tally(result, series);
      onSeries(series, columns);
    } else if (f === 3 && w === 2) {
      const e = r.len(end);
      result.metadataFields.push([r.pos, e]);
      r.pos = e;
    } else r.skip(w, end);
  }
  return result;
}

function readExemplarV1(r: Reader, end: number): ExemplarValue {
  const ex: ExemplarValue = { labels: [], value: 0, timestamp: 0 };
  while (r.pos < end) {
    const t = r.varint(end);
    if (t >>> 3 === 1 && (t & 7) === 2) {
      const e = r.len(end);
      let name = '';
      let value = '';
      while (r.pos < e) {
        const lt = r.varint(e);
        if ((lt & 7) !== 2) {
          r.skip(lt & 7, e);
          continue;
        }
        const le = r.len(e);
        if (lt >>> 3 === 1) name = text(r.buf, r.pos, le);
        else if (lt >>> 3 === 2) value = text(r.buf, r.pos, le);
        r.pos = le;
      }
      ex.labels.push([name, value]);
    } else if (t === 0x11) ex.value = r.double(end);
    else if (t === 0x18) ex.timestamp = r.int64(end);
    else r.skip(t & 7, end);
  }
  return ex;
}

/**
 * 2.0: what was met at a series index of the last 2.0 body walked with decode. A Prometheus shard sends
 * its series in the same order body after body, and the same symbol table while its series stay: when
 * this body's symbols are the bytes of the one the hint was made under (its generation), the same
 * labels_refs bytes are the same labels; else the hint's label text is compared in place with the
 * symbols the refs point to (no key built, no hash). The entry was made from labels that were checked,
 * so a match needs no check.
 */
interface HintV2 {
  /** The identity's entry among the identities by label text. */
  entry: BytesEntry<SeriesIdentity>;
  /** The series' packed labels_refs payload (undefined if not sent as one packed field), under symbols of `generation`. */
  refs: DataView | undefined;
  generation: number;
}
const lastAtIndexV2: (HintV2 | undefined)[] = [];

/**
 * The symbols of the last 2.0 body walked with decode, as the bytes from the first symbol's payload
 * (always "") to the last one's end, and their generation: the same bytes are the same symbol table.
 */
let lastSymbols: DataView = new DataView(new ArrayBuffer(0));
let symbolsGeneration = 0;
/** Symbol bytes kept to compare with the next body: a bigger table is not remembered (its hints fall back to comparing text). */
const MAX_SYMBOL_BYTES = 8 << 20;

/** Makes bytes [from, to) of the body `at` views the remembered symbols, a new generation unless they are the same bytes. */
function useSymbols(at: DataView, buf: Uint8Array, from: number, to: number): void {
  if (lastSymbols.byteLength === to - from && bytesAre(lastSymbols, 0, at, from, to)) return;
  symbolsGeneration++;
  if (to - from > MAX_SYMBOL_BYTES) {
    lastSymbols = new DataView(new ArrayBuffer(0));
    symbolsGeneration++; // what comes next is compared with nothing: its hints are of no generation
    return;
  }
  const copy = new Uint8Array(to - from);
  copy.set(buf.subarray(from, to));
  lastSymbols = viewOf(copy);
}

/** A copy of bytes [from, to) of buf, viewed. */
function copyOf(buf: Uint8Array, from: number, to: number): DataView {
  const copy = new Uint8Array(to - from);
  copy.set(buf.subarray(from, to));
  return viewOf(copy);
}

/** Whether the symbols that refs (name, value, …) point to, each followed by 0xff, are the bytes of key; false for a ref out of range. */
function refsAre(key: DataView, at: DataView, symbols: readonly number[], nSymbols: number, refs: readonly number[]): boolean {
  const n = key.byteLength;
  let k = 0;
  for (let i = 0; i < refs.length; i++) {
    const ref = refs[i]!;
    if (ref >= nSymbols) return false;
    const s = symbols[2 * ref]!;
    const e = symbols[2 * ref + 1]!;
    const len = e - s;
    if (k + len >= n || !bytesAre(key, k, at, s, e) || key.getUint8(k + len) !== 0xff) return false;
    k += len + 1;
  }
  return k === n;
}

function walkV2(buf: Uint8Array, decode: boolean, onSeries: OnSeries, columns?: SampleColumns): WalkResult {
  const r = new Reader(buf);
  const result: WalkResult = { series: 0, samples: 0, histograms: 0, exemplars: 0, symbolFields: [], metadataFields: [] };
  const end = buf.length;
  // Symbols come first in well-formed requests but may follow series on the wire: collect both, then check.
  const symbols: number[] = [];
  const seriesRanges: number[] = [];
  while (r.pos < end) {
    const tag = r.varint(end);
    const f = tag >>> 3;
    const w = tag & 7;
    if (f === 4 && w === 2) {
      const e = r.len(end);
      symbols.push(r.pos, e);
      result.symbolFields.push([r.pos, e]);
      r.pos = e;
    } else if (f === 5 && w === 2) {
      const e = r.len(end);
      seriesRanges.push(r.pos, e);
      r.pos = e;
    } else if (f >= 1 && f <= 3) {
      throw new InvalidRemoteWrite(`field ${f} is not part of ${PROTO_V2}: this looks like a remote write 1.0 body (${PROTO_V1}) sent as 2.0`);
    } else r.skip(w, end);
  }
  const nSymbols = symbols.length / 2;
  if (seriesRanges.length > 0 && (nSymbols === 0 || symbols[1] !== symbols[0])) {
    throw new InvalidRemoteWrite('symbols must start with the empty string');
  }
  const sym = (ref: number, index: number): [number, number] => {
    if (ref >= nSymbols) throw new InvalidRemoteWrite(`timeseries[${index}]: symbol reference ${ref} is out of range (${nSymbols} symbols)`);
    return [symbols[2 * ref]!, symbols[2 * ref + 1]!];
  };
  const refs: number[] = [];
  const view = newSeries(0, 0, true);
  if (decode && seriesRanges.length > 0) useSymbols(r.view, buf, symbols[0]!, symbols[symbols.length - 1]!);
  for (let i = 0; i < seriesRanges.length; i += 2) {
    const where = result.series;
    const series = columns ? resetSeries(view, seriesRanges[i]!, seriesRanges[i + 1]!, columns) : newSeries(seriesRanges[i]!, seriesRanges[i + 1]!, decode);
    refs.length = 0;
    // The payload of the series' one packed labels_refs field, if it sent them so (else refsFrom is -1).
    let refsFrom = -1;
    let refsTo = -1;
    r.pos = series.start;
    const e0 = series.end;
    while (r.pos < e0) {
      const t = r.varint(e0);
      const ft = t >>> 3;
      const wt = t & 7;
      if (ft === 1 && wt === 2) {
        const e = r.len(e0);
        refsFrom = refs.length === 0 ? r.pos : -1;
        refsTo = e;
        while (r.pos < e) refs.push(r.varint(e));
      } else if (ft === 1 && wt === 0) {
        refsFrom = -1;
        refs.push(r.varint(e0));
      } else if (ft === 2 && wt === 2) {
        const e = r.len(e0);
        series.samples++;
        if (decode) readSample(r, e, series, columns);
        r.pos = e;
      } else if (ft === 3 && wt === 2) {
        const e = r.len(e0);
        series.histograms++;
        if (decode) own(series, 'histogramValues').push(readHistogram(r, e));
        r.pos = e;
      } else if (ft === 4 && wt === 2) {
        const e = r.len(e0);
        series.exemplars++;
        if (decode) {
          const ex: ExemplarValue = { labels: [], value: 0, timestamp: 0 };
          const exRefs: number[] = [];
          while (r.pos < e) {
            const xt = r.varint(e);
            if (xt >>> 3 === 1) readPackedOrSingle(r, xt & 7, e, (ee) => r.varint(ee), exRefs);
            else if (xt === 0x11) ex.value = r.double(e);
            else if (xt === 0x18) ex.timestamp = r.int64(e);
            else r.skip(xt & 7, e);
          }
          for (let k = 0; k + 1 < exRefs.length; k += 2) ex.labels.push([text(buf, ...sym(exRefs[k]!, where)), text(buf, ...sym(exRefs[k + 1]!, where))]);
          own(series, 'exemplarValues').push(ex);
        }
        r.pos = e;
      } else if (ft === 5 && wt === 2) {
        const e = r.len(e0);
        let type = 0;
        let help = 0;
        let unit = 0;
        while (r.pos < e) {
          const mt = r.varint(e);
          if (mt === 0x08) type = r.varint(e);
          else if (mt === 0x18) help = r.varint(e);
          else if (mt === 0x20) unit = r.varint(e);
          else r.skip(mt & 7, e);
        }
        const hs = sym(help, where);
        const us = sym(unit, where);
        if (decode) series.metadata = { type, help: text(buf, ...hs), unit: text(buf, ...us) };
        r.pos = e;
      } else if (ft === 6 && wt === 0) {
        const ct = r.int64(e0);
        if (decode) series.createdTimestamp = ct;
      } else r.skip(wt, e0);
    }
    if (refs.length % 2 !== 0) throw new InvalidRemoteWrite(`timeseries[${where}]: labels_refs has an odd length (${refs.length})`);
    const hint = decode && where < MAX_HINTS ? lastAtIndexV2[where] : undefined;
    const packed = refsFrom >= 0;
    if (hint && packed && hint.generation === symbolsGeneration && hint.refs && keyIs(hint.refs, r.view, refsFrom, refsTo))
      useIdentity(series, hint.entry.value);
    else if (hint && refsAre(hint.entry.key, r.view, symbols, nSymbols, refs)) {
      useIdentity(series, hint.entry.value);
      hint.refs = packed ? copyOf(buf, refsFrom, refsTo) : undefined;
      hint.generation = symbolsGeneration;
    } else {
      labelScan.start();
      for (let k = 0; k < refs.length; k += 2) {
        const nr = refs[k]!;
        const vr = refs[k + 1]!;
        if (nr >= nSymbols) sym(nr, where);
        if (vr >= nSymbols) sym(vr, where);
        const ns = symbols[2 * nr]!,
          ne = symbols[2 * nr + 1]!;
        const vs = symbols[2 * vr]!,
          ve = symbols[2 * vr + 1]!;
        labelScan.add(buf, ns, ne, vs, ve, decode);
      }
      const entry = identify(series, buf, where, decode);
      if (entry && where < MAX_HINTS) lastAtIndexV2[where] = { entry, refs: packed ? copyOf(buf, refsFrom, refsTo) : undefined, generation: symbolsGeneration };
    }
    if (series.samples > 0 && series.histograms > 0) throw new InvalidRemoteWrite(`timeseries[${where}]: a series carries samples or histograms, not both`);
    tally(result, series);
    onSeries(series, columns);
  }
  return result;
}

/** 1.0 MetricMetadata: type = 1 (enum), metric_family_name = 2, help = 4, unit = 5. */
export interface MetricMetadataV1 {
  family: string;
  type: number;
  help: string;
  unit: string;
}

/** The 1.0 metadata entries at the given payload ranges (WalkResult.metadataFields). */
export function readMetadataV1(buf: Uint8Array, ranges: readonly [number, number][]): MetricMetadataV1[] {
  const r = new Reader(buf);
  return ranges.map(([s, e]) => {
    const m: MetricMetadataV1 = { family: '', type: 0, help: '', unit: '' };
    r.pos = s;
    while (r.pos < e) {
      const t = r.varint(e);
      if (t === 0x08) m.type = r.varint(e);
      else if (t === 0x12 || t === 0x22 || t === 0x2a) {
        const le = r.len(e);
        const v = text(buf, r.pos, le);
        if (t === 0x12) m.family = v;
        else if (t === 0x22) m.help = v;
        else m.unit = v;
        r.pos = le;
      } else r.skip(t & 7, e);
    }
    return m;
  });
}

/** Validates a decompressed remote write body and calls onSeries for each series, in order. */
export function walkRemoteWrite(buf: Uint8Array, version: RemoteWriteVersion, decode: boolean, onSeries: (s: SeriesView) => void = () => {}): WalkResult {
  return version === '1.0' ? walkV1(buf, decode, onSeries) : walkV2(buf, decode, onSeries);
}

/**
 * walkRemoteWrite with decode, but each series' samples as columns instead of SampleValue objects
 * (its sampleValues stay undefined). The view and the columns are the same objects for every series,
 * refilled: valid until onSeries returns; its identity, metadata, histogram and exemplar values may be kept.
 */
export function walkRemoteWriteColumns(buf: Uint8Array, version: RemoteWriteVersion, onSeries: (s: SeriesView, samples: SampleColumns) => void): WalkResult {
  const columns = new SampleColumns();
  const on = onSeries as OnSeries;
  return version === '1.0' ? walkV1(buf, true, on, columns) : walkV2(buf, true, on, columns);
}
