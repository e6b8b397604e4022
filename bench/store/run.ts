// bench/store: rows per CPU-second into ClickHouse through AirDig's sinks (in-process bus → sink →
// RowBinary over HTTP → the embedded ClickHouse server), beside a plain insert of the same rows,
// pre-encoded in RowBinary, in the same run (the ceiling). CPU is counted for AirDig's process and for
// the ClickHouse server process separately (/proc/PID/stat).
import { readFileSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Readable } from 'node:stream';
import { drainStream } from '@clickhouse/client';
import { MemoryBus } from '../../processors/runtime/bus/memory.js';
import type { BusRecord } from '../../processors/runtime/bus/types.js';
import type { Factory } from '../../processors/runtime/pipeline/component.js';
import type { RowsByTable } from '../../processors/runtime/pipeline/table-sink.js';
import { avroCodec } from '../../processors/runtime/avro.js';
import { rowBinaryEncoderFor } from '../../processors/runtime/store/batcher.js';
import { DirectRows } from '../../processors/runtime/store/rowbinary.js';
import type { Store } from '../../processors/runtime/store/store.js';
import { SeriesCache, promRows, promRowsByTable, promSamplesFactory } from '../../processors/remotewrite/sink.js';
import { otelTracesFactory, traceRowsDirect } from '../../processors/oteltraces/sink.js';
import { edgeRow, serviceEdgesFactory } from '../../processors/servicegraph/sink.js';
import { edgeKey, edgeSides, type EdgeFact } from '../../processors/model/edges.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { benchClickHouse, machine, median, profiled, writeResults } from '../common.js';
import { prometheus } from '../../protos/gen/prometheus.js';
import { tracesPayload } from '../otlp/payload.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SCALE = Number(process.env.BENCH_SCALE ?? 1);
const CLOCK_TICK = 100; // USER_HZ of /proc/PID/stat on Linux

// A full garbage collection before each measured part, so that neither pays for the garbage of what was
// made before it (the messages, the other path's rows): each is charged its own.
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

interface Scenario {
  name: string;
  /** What a unit is (samples, spans, edges) and how many the messages hold. */
  unit: string;
  units: number;
  topic: string;
  factory: Factory<any>;
  config: Record<string, unknown>;
  messages: () => { value: Buffer; headers?: Record<string, string>; key?: string }[];
  /** The rows the sink makes of records, by table, the way the sink makes them (for the ceiling); a new function per run, as a new sink. */
  rowsOf: () => (r: BusRecord) => RowsByTable;
  /** The table counted to know the sink is done, and how many rows it must hold. */
  countTable: string;
  countRows: number;
}

function serverCpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
    .replace(/^.*\) /, '')
    .split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICK; // utime, stime (fields 14 and 15)
}

const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

async function count(store: Store, table: string): Promise<number> {
  const r = await store.client.query({ query: `SELECT count() AS n FROM ${table}`, format: 'JSONEachRow' });
  return Number((await r.json<{ n: string | number }>())[0]!.n);
}

async function truncateAll(store: Store, tables: string[]): Promise<void> {
  for (const t of tables) await store.client.command({ query: `TRUNCATE TABLE IF EXISTS ${t}` });
}

interface Measured {
  units: number;
  airdigCpu: number;
  serverCpu: number;
  wallS: number;
}

/** The sink path: records on the in-process bus → the sink → ClickHouse. */
async function viaSink(s: Scenario, store: Store, pid: number): Promise<Measured> {
  const bus = new MemoryBus({ max_queued_records: 10_000_000, max_queued_bytes: 8 * 2 ** 30, retain_records: 0 });
  await bus.ensureTopics([{ name: s.topic, partitions: 4 }]);
  const messages = s.messages();
  const sink = s.factory.create(componentSettings(s.factory, bus, store), s.factory.configSchema.parse(s.config));
  await sink.start();
  collectGarbage();
  const m = await profiled(`store-${s.name}-sink`, async () => {
    const cpu0 = process.cpuUsage();
    const server0 = serverCpuSeconds(pid);
    const t0 = performance.now();
    await bus.producer().send(s.topic, messages);
    const deadline = Date.now() + 300_000;
    for (let n = 0; (n = await count(store, s.countTable)) < s.countRows;) {
      if (Date.now() > deadline) throw new Error(`${s.name}: ${n} of ${s.countRows} rows in ${s.countTable} after 300 s`);
      await new Promise((r) => setTimeout(r, 100));
    }
    const wallS = (performance.now() - t0) / 1000;
    return { units: s.units, airdigCpu: cpuSeconds(process.cpuUsage(cpu0)), serverCpu: serverCpuSeconds(pid) - server0, wallS };
  });
  await sink.shutdown();
  await bus.close();
  return m;
}

/**
 * The ceiling: the same rows, made and encoded beforehand as the sink makes them (RowBinary written from
 * the protobuf bytes where the sink does so), sent as plain RowBinary inserts of 10 000 rows, each one
 * ready Buffer: the least AirDig can do to put the rows in, so that only the send is counted.
 */
async function plainInsert(s: Scenario, store: Store, pid: number): Promise<Measured> {
  const byTable = new Map<string, object[]>();
  const rowsOf = s.rowsOf();
  s.messages().forEach((m, i) => {
    const record = {
      topic: s.topic,
      partition: 0,
      offset: i,
      key: null,
      value: m.value,
      headers: m.headers ?? {},
      timestamp: Date.now(),
    } as unknown as BusRecord;
    for (const [t, rows] of rowsOf(record)) {
      let list = byTable.get(t);
      if (!list) byTable.set(t, (list = []));
      list.push(...rows);
    }
  });
  const blocks: { query: string; body: Buffer }[] = [];
  for (const [t, rows] of byTable) {
    const encoder = await rowBinaryEncoderFor(store, t);
    // Blocks of 10 000 rows, whatever the items are (a DirectRows item holds a record's rows).
    const all = encoder.encode(rows);
    if (all.refused.length || all.fallbacks.length)
      throw new Error(`${s.name}: the ceiling's rows for ${t} do not encode as the sink's: ${all.fallbacks.join('; ')}`);
    for (let i = 0; i < all.rows; i += 10_000) blocks.push({ query: encoder.insertQuery, body: Buffer.concat(all.slice(i, Math.min(i + 10_000, all.rows))) });
    for (const r of rows) if (r instanceof DirectRows) r.release();
  }
  byTable.clear();
  collectGarbage();
  const cpu0 = process.cpuUsage();
  const server0 = serverCpuSeconds(pid);
  const t0 = performance.now();
  for (const b of blocks) {
    const r = await store.client.exec({ query: b.query, values: Readable.from([b.body], { objectMode: false }), decompress_response_stream: false });
    await drainStream(r.stream);
  }
  const wallS = (performance.now() - t0) / 1000;
  return { units: s.units, airdigCpu: cpuSeconds(process.cpuUsage(cpu0)), serverCpu: serverCpuSeconds(pid) - server0, wallS };
}

/** A remote write 1.0 body (decoded, as the receiver puts it on the bus): `series` distinct node_exporter-like series × 1 sample. */
function remoteWriteBody(series: number, request: number): Buffer {
  const ts = Date.now() + request * 15_000;
  const timeseries = Array.from({ length: series }, (_, i) => ({
    labels: [
      ['__name__', `node_metric_${i % 40}_total`],
      ['cpu', String(i % 8)],
      ['instance', `10.0.${i >> 8}.${i & 255}:9100`],
      ['job', 'node'],
      ['mode', ['idle', 'user', 'system', 'iowait'][i % 4]!],
    ].map(([name, value]) => ({ name, value })),
    samples: [{ value: i * 1.5 + request, timestamp: ts }],
  }));
  return Buffer.from(prometheus.WriteRequest.encode({ timeseries }).finish());
}

function scenarios(): Scenario[] {
  const series = 2_000;
  const requests = Math.round(100 * SCALE);
  const rwHeader = { 'airdig.rw.proto': 'prometheus.WriteRequest' };
  const spansPerRequest = 100;
  const traceRequests = Math.round(1_000 * SCALE);
  const edges = Math.round(100_000 * SCALE);
  const edgeCodec = avroCodec<EdgeFact>('edge');
  const now = Date.now();
  const c = promSamplesFactory.configSchema.parse({}) as { series_cache: number; series_refresh_ms: number };
  return [
    {
      name: 'prom_samples',
      unit: 'samples',
      units: series * requests,
      topic: 'prometheus_remote_write',
      factory: promSamplesFactory,
      config: { max_batch: 10 },
      messages: () => Array.from({ length: requests }, (_, i) => ({ value: remoteWriteBody(series, i), headers: rwHeader })),
      rowsOf: () => {
        const seen = new SeriesCache(c.series_cache, c.series_refresh_ms);
        return (r) => promRowsByTable(promRows(r, seen, true));
      },
      countTable: 'prom_samples',
      countRows: series * requests,
    },
    {
      name: 'otel_traces',
      unit: 'spans',
      units: spansPerRequest * traceRequests,
      topic: 'otlp_spans',
      factory: otelTracesFactory,
      config: {},
      messages: () => Array.from({ length: traceRequests }, (_, i) => ({ value: Buffer.from(tracesPayload(spansPerRequest, i)) })),
      rowsOf: () => (r) => new Map([['otel_traces', traceRowsDirect(r.value)]]),
      countTable: 'otel_traces',
      countRows: spansPerRequest * traceRequests,
    },
    {
      name: 'service_edges',
      unit: 'edges',
      units: edges,
      topic: 'airdig.edges',
      factory: serviceEdgesFactory,
      config: {},
      messages: () =>
        Array.from({ length: edges }, (_, i) => {
          const e: EdgeFact = {
            id: `e${i}`,
            ts_ms: now + i,
            trace_id: (i + 1).toString(16).padStart(32, '0'),
            ...edgeSides(`svc-${i % 7}`, `ns-${i % 3}`, `svc-${(i + 1) % 7}`, `ns-${(i + 1) % 3}`),
            connection_type: i % 5 === 0 ? 'database' : '',
            failed: i % 13 === 0,
            latency_ms: (i % 200) / 3,
            client_latency_ms: (i % 200) / 2,
          };
          return { value: edgeCodec.encode(e), key: edgeKey(e) };
        }),
      rowsOf: () => (r) => new Map([['edge_facts', [edgeRow(edgeCodec.decode(r.value))]]]),
      countTable: 'edge_facts',
      countRows: edges,
    },
  ];
}

const f = (n: number) => Math.round(n).toLocaleString('en');
const spread = (xs: number[]) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;

const { engine, store } = await benchClickHouse('store', 'bench');
const pid = engine.pid!;
const tables = ['prom_series', 'prom_samples', 'prom_histograms', 'prom_exemplars', 'otel_traces', 'otel_traces_trace_id_ts', 'edge_facts'];

const lines: string[] = [];
const verdicts: string[] = [];
const only = process.env.BENCH_ONLY?.split(',');
for (const s of scenarios().filter((x) => !only || only.includes(x.name))) {
  const sink: Measured[] = [];
  const ceiling: Measured[] = [];
  for (let run = 0; run < RUNS; run++) {
    await truncateAll(store, tables);
    ceiling.push(await plainInsert(s, store, pid));
    await truncateAll(store, tables);
    sink.push(await viaSink(s, store, pid));
    process.stderr.write(`bench:store ${s.name} run ${run + 1}/${RUNS}: sink ${f(s.units / sink.at(-1)!.airdigCpu)} ${s.unit}/AirDig-CPU-s\n`);
  }
  const perAirdig = sink.map((m) => m.units / m.airdigCpu);
  const perTotal = sink.map((m) => m.units / (m.airdigCpu + m.serverCpu));
  const ceilTotal = ceiling.map((m) => m.units / (m.airdigCpu + m.serverCpu));
  const ceilAirdig = ceiling.map((m) => m.units / m.airdigCpu);
  const serverPer = sink.map((m) => m.units / m.serverCpu);
  const wall = sink.map((m) => m.units / m.wallS);
  const ratio = median(perTotal) / median(ceilTotal);
  lines.push(
    `| ${s.name} | ${f(s.units)} ${s.unit} | ${f(median(perAirdig))} (${spread(perAirdig)}) | ${f(median(serverPer))} | ${f(median(perTotal))} | ${f(median(ceilAirdig))} | ${f(median(ceilTotal))} | ${ratio.toFixed(2)}× | ${f(median(wall))} |`,
  );
  const target = s.name === 'prom_samples' ? 500_000 : s.name === 'otel_traces' ? 200_000 : undefined;
  if (target)
    verdicts.push(
      `- ${s.name}: ${f(median(perAirdig))} ${s.unit} per AirDig CPU-second (target ${f(target)}: ${median(perAirdig) >= target ? 'met' : 'not met'}); ${(ratio * 100).toFixed(0)} % of the ceiling (target 50 %: ${ratio >= 0.5 ? 'met' : 'not met'}).`,
    );
}
await store.close();
await engine.stop();

writeResults(
  'store',
  `## store — ${new Date().toISOString().slice(0, 10)}

${machine()}; the embedded ClickHouse server (chDB 26.7) in its own process; median of ${RUNS} runs (spread in brackets).
Sink path: records on the in-process bus → the component's sink → RowBinaryWithDefaults over HTTP (otel_traces and prom_samples
rows written straight from the protobuf bytes, the others from row objects). Ceiling: the same rows, made by the sink's own
code (written from the protobuf bytes where the sink does so) and encoded in RowBinary beforehand, inserted plainly in blocks
of 10 000 ready buffers (only the send and the server's work are counted). A full garbage collection precedes each measured
part, so that neither pays for garbage made before it. "Total" counts AirDig's CPU plus the server's.

| table | load | sink: per AirDig CPU-s | sink: per server CPU-s | sink: per total CPU-s | ceiling: per AirDig CPU-s | ceiling: per total CPU-s | sink / ceiling | sink: per wall-s |
|---|---|---|---|---|---|---|---|---|
${lines.join('\n')}

${verdicts.join('\n')}

prom_samples: 2 000 distinct series × 100 scrapes; the sink writes a prom_series row only for a new or changed series (or one
not written for \`series_refresh_ms\`), so the load is the samples plus 2 000 series rows, in the ceiling as in the sink.
Run: \`npm run bench:store\` (BENCH_RUNS, BENCH_SCALE, BENCH_ONLY=prom_samples,…).`,
);
console.log(lines.join('\n'));
console.log(verdicts.join('\n'));
