// bench/servicegraph: spans per second per core through pairing (decode what pairing needs, pair,
// emit edges), memory per 100 000 spans in flight, and the time from receipt to the edge being
// queryable in ClickHouse. Reference in the same run: a plain protobufjs decode of the same payloads.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { ManualClock } from '../../processors/runtime/clock.js';
import { ExportTraceServiceRequest } from '../../processors/model/otlp.js';
import { ServiceGraph } from '../../processors/servicegraph/graph.js';
import { forEachSpanView } from '../../processors/servicegraph/spans.js';
import { readConfigFile, resolveConfig, withServiceOverrides } from '../../processors/runtime/config/load.js';
import { defaultRegistry } from '../../processors/components.js';
import { PipelineMetrics } from '../../processors/runtime/metrics.js';
import { Runtime } from '../../processors/runtime/pipeline/runtime.js';
import { machine, median, repoRoot, writeResults } from '../common.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOOP_MS = 2_000;
const REQUESTS = 256;
const TRACES_PER_REQUEST = 20;

/** Requests of 20 traces × 4 spans (root server, client, its server, a db client), one resource per service. */
function payloads(): Uint8Array[] {
  const out: Uint8Array[] = [];
  const now = BigInt(Date.now()) * 1_000_000n;
  let n = 0;
  for (let r = 0; r < REQUESTS; r++) {
    const web: object[] = [];
    const api: object[] = [];
    for (let t = 0; t < TRACES_PER_REQUEST; t++, n++) {
      const traceId = Buffer.alloc(16);
      traceId.writeUInt32BE(n + 1, 12);
      const id = (k: number) => {
        const b = Buffer.alloc(8);
        b.writeUInt32BE(n * 4 + k + 1, 4);
        return b;
      };
      const attrs = [
        { key: 'http.request.method', value: { stringValue: 'GET' } },
        { key: 'url.path', value: { stringValue: `/items/${t}` } },
        { key: 'http.response.status_code', value: { intValue: 200 } },
      ];
      web.push({
        traceId,
        spanId: id(0),
        name: 'GET /',
        kind: 2,
        startTimeUnixNano: Number(now),
        endTimeUnixNano: Number(now + 5_000_000n),
        attributes: attrs,
      });
      web.push({
        traceId,
        spanId: id(1),
        parentSpanId: id(0),
        name: 'GET api',
        kind: 3,
        startTimeUnixNano: Number(now),
        endTimeUnixNano: Number(now + 4_000_000n),
        attributes: attrs,
      });
      api.push({
        traceId,
        spanId: id(2),
        parentSpanId: id(1),
        name: 'GET /items',
        kind: 2,
        startTimeUnixNano: Number(now),
        endTimeUnixNano: Number(now + 3_000_000n),
        attributes: attrs,
      });
      api.push({
        traceId,
        spanId: id(3),
        parentSpanId: id(2),
        name: 'SELECT',
        kind: 3,
        startTimeUnixNano: Number(now),
        endTimeUnixNano: Number(now + 1_000_000n),
        attributes: [{ key: 'db.system', value: { stringValue: 'postgresql' } }],
      });
    }
    const res = (service: string) => ({
      attributes: [
        { key: 'service.name', value: { stringValue: service } },
        { key: 'host.name', value: { stringValue: 'ip-10-0-0-1' } },
      ],
    });
    out.push(
      ExportTraceServiceRequest.encode({
        resourceSpans: [
          { resource: res('web'), scopeSpans: [{ spans: web }] },
          { resource: res('api'), scopeSpans: [{ spans: api }] },
        ],
      }).finish(),
    );
  }
  return out;
}

const SPANS_PER_REQUEST = TRACES_PER_REQUEST * 4;

function loop(ps: Uint8Array[], fn: (p: Uint8Array) => void): number {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < LOOP_MS) for (let k = 0; k < 16; k++) fn(ps[n++ % ps.length]!);
  return (n * SPANS_PER_REQUEST * 1000) / (performance.now() - start);
}

function pairingRate(ps: Uint8Array[]): number {
  let edges = 0;
  const clock = new ManualClock(0);
  const graph = new ServiceGraph({ clock, ttlMs: 2_000, maxItems: 1_000_000, emit: () => edges++ });
  const rate = loop(ps, (p) => forEachSpanView(p, (v) => graph.addSpan(v)));
  if (edges === 0 || graph.pending > 0) throw new Error(`pairing produced ${edges} edges with ${graph.pending} pending`);
  return rate;
}

/** Heap held by 100 000 pending half edges (client spans whose servers have not arrived). */
function memoryPer100k(): number {
  const clock = new ManualClock(0);
  const graph = new ServiceGraph({ clock, ttlMs: 60_000, maxItems: 200_000, emit: () => {} });
  const clientOnly = ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'web' } }] },
        scopeSpans: [
          {
            spans: Array.from({ length: 1_000 }, (_, i) => ({
              traceId: Buffer.alloc(16, 1),
              spanId: Buffer.from(i.toString(16).padStart(16, '0'), 'hex'),
              kind: 3,
              name: 'GET api',
              startTimeUnixNano: 1,
              endTimeUnixNano: 2,
            })),
          },
        ],
      },
    ],
  }).finish();
  global.gc?.();
  const before = process.memoryUsage().heapUsed;
  for (let r = 0; r < 100; r++) {
    forEachSpanView(clientOnly, (v) => graph.addSpan({ ...v, traceId: `${r.toString(16).padStart(4, '0')}${v.traceId.slice(4)}` }));
  }
  global.gc?.();
  const after = process.memoryUsage().heapUsed;
  if (graph.pending !== 100_000) throw new Error(`expected 100000 pending, got ${graph.pending}`);
  return (after - before) / 2 ** 20;
}

/** Milliseconds from handing a request to the embedded pipeline until its edges answer a query. */
async function receiptToQueryable(samples: number): Promise<number[]> {
  const raw = withServiceOverrides(readConfigFile(path.join(repoRoot, 'pipelines/embedded.yaml')), {
    data_dir: mkdtempSync(path.join(tmpdir(), 'airdig-bench-sg-')),
    otlp_http: '127.0.0.1:0',
    otlp_grpc: '',
    query: '',
    admin: '',
  });
  const runtime = new Runtime(resolveConfig(raw, await defaultRegistry().loadAll()), {
    logger: pino({ level: 'silent' }),
    metrics: new PipelineMetrics(new Registry()),
    migrationsDir: path.join(repoRoot, 'schemas/clickhouse'),
  });
  await runtime.start();
  const url = runtime.listening().find((l) => l.name === 'otlp http')!.url;
  const out: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const traceId = Buffer.alloc(16, 0xab);
      traceId.writeUInt32BE(i + 1, 12);
      const now = BigInt(Date.now()) * 1_000_000n;
      const body = ExportTraceServiceRequest.encode({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench-client' } }] },
            scopeSpans: [
              {
                spans: [
                  { traceId, spanId: Buffer.alloc(8, 1), kind: 3, name: 'call', startTimeUnixNano: Number(now), endTimeUnixNano: Number(now + 1_000_000n) },
                ],
              },
            ],
          },
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'bench-server' } }] },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId,
                    spanId: Buffer.alloc(8, 2),
                    parentSpanId: Buffer.alloc(8, 1),
                    kind: 2,
                    name: 'serve',
                    startTimeUnixNano: Number(now),
                    endTimeUnixNano: Number(now + 1_000_000n),
                  },
                ],
              },
            ],
          },
        ],
      }).finish();
      const started = performance.now();
      const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body });
      if (res.status !== 200) throw new Error(`OTLP answered ${res.status}`);
      const id = `${traceId.toString('hex')}${Buffer.alloc(8, 1).toString('hex')}`;
      for (;;) {
        const rows = await (
          await runtime.store!.client.query({ query: `SELECT count() AS n FROM edge_facts WHERE id = '${id}'`, format: 'JSONEachRow' })
        ).json<{ n: string }>();
        if (Number(rows[0]!.n) > 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      out.push(performance.now() - started);
    }
  } finally {
    await runtime.stop();
  }
  return out;
}

const ps = payloads();
const decode: number[] = [];
const pairing: number[] = [];
for (let run = 0; run < RUNS; run++) {
  decode.push(loop(ps, (p) => ExportTraceServiceRequest.decode(p)));
  pairing.push(pairingRate(ps));
  console.log(`run ${run + 1}: decode ${Math.round(decode.at(-1)!)} spans/s, pairing ${Math.round(pairing.at(-1)!)} spans/s`);
}
const mem = memoryPer100k();
const latencies = (await receiptToQueryable(40)).sort((a, b) => a - b);
const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!;
const f = (n: number) => Math.round(n).toLocaleString('en');
const md = `## servicegraph — ${new Date().toISOString().slice(0, 10)}

Requests of ${TRACES_PER_REQUEST} traces × 4 spans (root server, client, its server, a database client; 3 attributes each), ${REQUESTS} distinct requests replayed; median of ${RUNS} runs, one core. Machine: ${machine()}.

| measure | value | reference (plain protobufjs decode) | ratio |
|---|---:|---:|---:|
| pairing: decode + pair + emit, spans/s per core | ${f(median(pairing))} | ${f(median(decode))} | ${(median(pairing) / median(decode)).toFixed(2)}× |
| heap per 100 000 pending half edges | ${mem.toFixed(1)} MiB | | |
| receipt → edge queryable in ClickHouse (embedded, one trace at a time, ${latencies.length} samples) | p50 ${f(p(0.5))} ms, p99 ${f(p(0.99))} ms | | |

Target: ≥ 300 000 spans/s per core on pairing${median(pairing) >= 300_000 ? ' — met' : ' — **not met**: spans are fully decoded with protobufjs before pairing; a wire-level reader of the few fields pairing needs is the next step'}.
Receipt → queryable is dominated by the edge sink's insert batching delay (200 ms, the InsertBatcher default).

Run: \`npm run bench:servicegraph\` (BENCH_RUNS).`;
writeResults('servicegraph', md);
console.log(md);
process.exit(0);
