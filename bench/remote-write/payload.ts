import { compressSync } from 'snappy';
import { prometheus, io } from '../../protos/gen/prometheus.js';

/** A Prometheus-sized batch: `series` series × 1 sample, node_exporter-like labels over 50 targets. Returns snappy bodies. */
export function remoteWriteBodies(series: number, seed: number): { v1: Buffer; v2: Buffer } {
  const { v1, v2 } = rawBodies(series, seed, Date.now() + seed);
  return { v1: compressSync(v1), v2: compressSync(v2) };
}

/**
 * Distinct bodies of one shape, cheaply: the uncompressed body once, then each request's sample
 * timestamps rewritten in place (same varint length) and compressed again. The receiver answers a
 * byte-identical body seen in its replay window without publishing it, so a load of repeated
 * bodies would measure the replay cache, not the path.
 */
export class DistinctBodies {
  readonly #raw: Buffer;
  readonly #offsets: number[] = [];
  readonly #base: number;

  constructor(series: number, version: '1.0' | '2.0') {
    this.#base = Date.now();
    const raw = rawBodies(series, 0, this.#base);
    this.#raw = version === '2.0' ? raw.v2 : raw.v1;
    // Sample.timestamp is field 2 (varint) in both versions: tag 0x10, then the varint of the time.
    const needle = Buffer.concat([Buffer.from([0x10]), varint(this.#base)]);
    for (let at = this.#raw.indexOf(needle); at >= 0; at = this.#raw.indexOf(needle, at + needle.length)) this.#offsets.push(at + 1);
    if (this.#offsets.length !== series) throw new Error(`found ${this.#offsets.length} sample timestamps, expected ${series}`);
  }

  /** The i-th body (i < 2^20, so the varint keeps its length), snappy-compressed. */
  next(i: number): Buffer {
    const stamp = varint(this.#base + i);
    for (const at of this.#offsets) stamp.copy(this.#raw, at);
    return compressSync(this.#raw);
  }
}

function varint(n: number): Buffer {
  const out: number[] = [];
  for (; n >= 0x80; n = Math.floor(n / 0x80)) out.push((n % 0x80) | 0x80);
  out.push(n);
  return Buffer.from(out);
}

function rawBodies(series: number, seed: number, now: number): { v1: Buffer; v2: Buffer } {
  const labelsOf = (i: number): [string, string][] => [
    ['__name__', `node_metric_${i % 40}_total`],
    ['cpu', String(i % 8)],
    ['instance', `10.0.${(i % 50) >> 4}.${i % 50}:9100`],
    ['job', 'node'],
    ['mode', ['idle', 'user', 'system', 'iowait'][i % 4]!],
  ];
  const v1 = prometheus.WriteRequest.encode({
    timeseries: Array.from({ length: series }, (_, i) => ({
      labels: labelsOf(i).map(([name, value]) => ({ name, value })),
      samples: [{ value: i * 1.5 + seed, timestamp: now }],
    })),
  }).finish();
  const symbols = [''];
  const index = new Map<string, number>([['', 0]]);
  const ref = (s: string) => {
    let r = index.get(s);
    if (r === undefined) {
      r = symbols.length;
      symbols.push(s);
      index.set(s, r);
    }
    return r;
  };
  const timeseries = Array.from({ length: series }, (_, i) => ({
    labelsRefs: labelsOf(i).flatMap(([n, v]) => [ref(n), ref(v)]),
    samples: [{ value: i * 1.5 + seed, timestamp: now }],
  }));
  const v2 = io.prometheus.write.v2.Request.encode({ symbols, timeseries }).finish();
  return { v1: Buffer.from(v1), v2: Buffer.from(v2) };
}
