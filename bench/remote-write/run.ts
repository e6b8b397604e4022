// bench/remote-write: samples per second per core, from the HTTP request to the bus and from the bus
// into ClickHouse, for 1.0 and 2.0 bodies of 2 000 series × 1 sample (a Prometheus-sized batch).
// Reference in the same run: a plain snappy + protobufjs decode of the same bodies.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { uncompressSync } from 'snappy';
import { prometheus, io } from '../../protos/gen/prometheus.js';
import { MemoryBus } from '../../processors/runtime/bus/memory.js';
import { remoteWriteFactory } from '../../processors/remotewrite/receiver.js';
import { promSamplesFactory } from '../../processors/remotewrite/sink.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { benchClickHouse, machine, median, repoRoot, writeResults } from '../common.js';
import { remoteWriteBodies } from './payload.js';

const execFileP = promisify(execFile);
const SERIES = 2_000;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 4_000);
const LOOP_MS = 1_500;
const SINK_REQUESTS = 40;

/** Samples per CPU-second of fn, called for LOOP_MS of wall time (CPU time, so a busy machine does not count). */
function loop(fn: (i: number) => void): number {
  let n = 0;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  while (performance.now() - start < LOOP_MS) fn(n++);
  const cpu = process.cpuUsage(cpu0);
  return (n * SERIES) / ((cpu.user + cpu.system) / 1e6);
}

function newBus(): MemoryBus {
  return new MemoryBus({ max_queued_records: 10_000_000, max_queued_bytes: 8 * 2 ** 30, retain_records: 0 });
}

async function httpToBus(version: '1.0' | '2.0'): Promise<number> {
  const bus = newBus();
  await bus.ensureTopics([{ name: 'prometheus_remote_write', partitions: 4 }]);
  await bus.consumer({ groupId: 'drain', topics: ['prometheus_remote_write'], maxBatch: 10_000, handler: async () => {} }).start();
  const settings = { ...componentSettings(remoteWriteFactory, bus, {} as never), topics: { prometheus_remote_write: { partitions: 4, compacted: false } } };
  const receiver = remoteWriteFactory.create(settings, remoteWriteFactory.configSchema.parse({ listen: '127.0.0.1:0' }));
  await receiver.start();
  const cpu0 = process.cpuUsage();
  const { stdout } = await execFileP(process.execPath, [
    path.join(repoRoot, 'dist/bench/remote-write/load.js'),
    receiver.listening!()[0]!.url,
    version,
    String(SERIES),
    String(LOAD_MS),
    '8',
  ]);
  const cpu = process.cpuUsage(cpu0);
  const replayed = /airdig_component_dropped_total\{[^}]*reason="replayed_request"[^}]*\} (\d+)/.exec(await settings.registry.metrics());
  if (replayed && Number(replayed[1]) > 0) throw new Error(`${replayed[1]} samples were answered from the replay window: the load must send distinct bodies`);
  await receiver.shutdown();
  await bus.close();
  const r = JSON.parse(stdout) as { samples: number; failures: number };
  if (r.failures) throw new Error(`${r.failures} requests failed`);
  return r.samples / ((cpu.user + cpu.system) / 1e6);
}

/** Samples/s from the bus into ClickHouse (the embedded engine, a server process of its own), one consumer. */
async function busToClickHouse(version: '1.0' | '2.0'): Promise<number> {
  const { engine, store } = await benchClickHouse('rw');
  const bus = newBus();
  await bus.ensureTopics([{ name: 'prometheus_remote_write', partitions: 1 }]);
  const header = { 'airdig.rw.proto': version === '1.0' ? 'prometheus.WriteRequest' : 'io.prometheus.write.v2.Request' };
  const messages = Array.from({ length: SINK_REQUESTS }, (_, i) => ({
    value: uncompressSync(remoteWriteBodies(SERIES, i)[version === '1.0' ? 'v1' : 'v2'], { asBuffer: true }) as Buffer,
    headers: header,
  }));
  const settings = componentSettings(promSamplesFactory, bus, store);
  const sink = promSamplesFactory.create(settings, promSamplesFactory.configSchema.parse({ max_batch: 10 }));
  await sink.start();
  const started = performance.now();
  await bus.producer().send('prometheus_remote_write', messages);
  for (;;) {
    const text = await settings.registry.metrics();
    const m = /airdig_component_received_total\{component="prometheus_samples",kind="sink"\} (\d+)/.exec(text);
    // The sink counts what it received in samples (the series rows it writes beside them are not counted).
    if (m && Number(m[1]) >= SINK_REQUESTS * SERIES) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const elapsed = performance.now() - started;
  await sink.shutdown();
  await bus.close();
  await store.close();
  await engine.stop();
  return (SINK_REQUESTS * SERIES * 1000) / elapsed;
}

const rows: string[] = [];
const verdict: string[] = [];
const f = (n: number) => Math.round(n).toLocaleString('en');
/** The median and, in brackets, the range of the runs. */
const spread = (xs: number[]) => `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
for (const version of ['1.0', '2.0'] as const) {
  const bodies = Array.from({ length: 8 }, (_, i) => remoteWriteBodies(SERIES, i)[version === '1.0' ? 'v1' : 'v2']);
  const decodeOne =
    version === '1.0'
      ? (b: Buffer) => prometheus.WriteRequest.decode(uncompressSync(b, { asBuffer: true }) as Buffer)
      : (b: Buffer) => io.prometheus.write.v2.Request.decode(uncompressSync(b, { asBuffer: true }) as Buffer);
  const ref: number[] = [];
  const http: number[] = [];
  for (let run = 0; run < RUNS; run++) {
    ref.push(loop((i) => decodeOne(bodies[i % bodies.length]!)));
    http.push(await httpToBus(version));
    console.log(`${version} run ${run + 1}: reference decode ${f(ref.at(-1)!)}, HTTP → bus ${f(http.at(-1)!)} samples/s`);
  }
  const sink = await busToClickHouse(version);
  console.log(`${version}: bus → ClickHouse ${f(sink)} samples/s`);
  verdict.push(`${version} ${median(http) >= 1_000_000 ? 'met' : 'not met'} (${f(median(http))} samples/s per core)`);
  rows.push(
    `| ${version} | ${f(bodies[0]!.length)} | ${spread(ref)} | ${spread(http)} | ${(median(http) / median(ref)).toFixed(2)}× | ${f(sink)} | ${(sink / median(ref)).toFixed(2)}× |`,
  );
}
const md = `## remote-write — ${new Date().toISOString().slice(0, 10)}

Bodies of ${SERIES.toLocaleString('en')} series × 1 sample (5 labels each, 50 targets), snappy; median of ${RUNS} runs (range in brackets). Machine: ${machine()}.
- **HTTP → bus**: a load generator in a child process (8 concurrent requests, ${LOAD_MS / 1000} s) against the receiver; samples per CPU-second of the receiver's process (snappy, validation, split by target, in-process bus).
- **bus → ClickHouse**: the prometheus_samples sink writing ${SINK_REQUESTS} bodies into the embedded engine (prom_series + prom_samples), one consumer, wall clock.
- **reference**: snappy decompression + a full \`protobufjs\` decode of the same bodies, per CPU-second. Target: ≥ 1 000 000 samples/s per core into the bus (qryn: ~20 000 per thread in JS, ~500 000 in Go).

| version | compressed bytes | snappy + protobufjs decode (reference) | HTTP → bus per core | vs reference | bus → ClickHouse | vs reference |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Target into the bus: ${verdict.join('; ')}. The receiver validates every series and hashes its target from the label bytes without decoding strings; a 2.0 body is walked twice (symbols first) and each partition's piece carries the whole symbols table. The load sends distinct bodies (the receiver answers a byte-identical body inside its replay window without publishing it; the run fails if any was). The sink into ClickHouse writes RowBinary from the walk (prom_samples) and a series row only when its cache says it is due; its figure is wall clock of one consumer.

Run: \`npm run bench:remote-write\` (BENCH_RUNS, BENCH_LOAD_MS).`;
writeResults('remote-write', md);
console.log(md);
process.exit(0);
