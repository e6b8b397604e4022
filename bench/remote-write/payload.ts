import { compressSync } from 'snappy';
import { prometheus, io } from '../../protos/gen/prometheus.js';

/** A Prometheus-sized batch: `series` series × 1 sample, node_exporter-like labels over 50 targets. Returns snappy bodies. */
export function remoteWriteBodies(series: number, seed: number): { v1: Buffer; v2: Buffer } {
  const now = Date.now() + seed;
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
  return { v1: compressSync(Buffer.from(v1)), v2: compressSync(Buffer.from(v2)) };
}
