// bench/otlp: OTLP traces into the bus, in spans per second per core, for 1, 10 and 100 spans per request.
// - gateway: the receiver's own work on a request (split by trace id, publish to the in-process bus), in a loop;
// - HTTP and gRPC end to end: a load generator in a child process, the receiver in this one; spans per
//   CPU-second of this process (user + system), i.e. per core;
// - reference, in the same run: a plain protobufjs decode of the same payloads (the ceiling for a full decode).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import path from 'node:path';
import { MemoryBus } from '../../processors/runtime/bus/memory.js';
import { otlpFactory } from '../../processors/otlp/receiver.js';
import { tracesSignal } from '../../processors/otlp/signals.js';
import { ExportTraceServiceRequest } from '../../processors/model/otlp.js';
import type { Store } from '../../processors/runtime/store/store.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { machine, median, repoRoot, writeResults } from '../common.js';
import { tracesPayload } from './payload.js';

const execFileP = promisify(execFile);
const SIZES = [1, 10, 100];
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOOP_MS = 1_500;
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 4_000);

function newBus(): MemoryBus {
  // Large enough that the benchmark never fills it; a consumer keeps it drained.
  return new MemoryBus({ max_queued_records: 10_000_000, max_queued_bytes: 8 * 2 ** 30, retain_records: 0 });
}

async function drain(bus: MemoryBus): Promise<void> {
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 4 }]);
  await bus.consumer({ groupId: 'drain', topics: ['otlp_spans'], maxBatch: 10_000, handler: async () => {} }).start();
}

/** Spans/s of fn over the payloads, looping for LOOP_MS. */
async function loop(payloads: Uint8Array[], spans: number, fn: (p: Uint8Array) => unknown | Promise<unknown>): Promise<number> {
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < LOOP_MS) {
    for (let k = 0; k < 64; k++) await fn(payloads[n++ % payloads.length]!);
  }
  return (n * spans * 1000) / (performance.now() - start);
}

async function endToEnd(protocol: 'http' | 'grpc', spans: number): Promise<number> {
  const bus = newBus();
  await drain(bus);
  const receiver = otlpFactory.create(
    componentSettings(otlpFactory, bus, {} as Store),
    otlpFactory.configSchema.parse({ http: '127.0.0.1:0', grpc: '127.0.0.1:0' }),
  );
  await receiver.start();
  const urls = Object.fromEntries(receiver.listening!().map((l) => [l.name, l.url]));
  const target = protocol === 'http' ? urls['otlp http']! : urls['otlp grpc']!.replace('http://', '');
  const cpu0 = process.cpuUsage();
  const { stdout } = await execFileP(process.execPath, [
    path.join(repoRoot, 'dist/bench/otlp/load.js'),
    protocol,
    target,
    String(spans),
    String(LOAD_MS),
    '16',
  ]);
  const cpu = process.cpuUsage(cpu0);
  await receiver.shutdown();
  await bus.close();
  const r = JSON.parse(stdout) as { spans: number; failures: number };
  if (r.failures) throw new Error(`${r.failures} requests failed`);
  return r.spans / ((cpu.user + cpu.system) / 1e6);
}

interface Row {
  spans: number;
  bytes: number;
  decode: number;
  gateway: number;
  http: number;
  grpc: number;
}

const rows: Row[] = [];
for (const spans of SIZES) {
  const payloads = Array.from({ length: 32 }, (_, i) => tracesPayload(spans, i));
  const m = { decode: [] as number[], gateway: [] as number[], http: [] as number[], grpc: [] as number[] };
  for (let run = 0; run < RUNS; run++) {
    m.decode.push(await loop(payloads, spans, (p) => ExportTraceServiceRequest.decode(p)));
    const bus = newBus();
    await drain(bus);
    const producer = bus.producer();
    m.gateway.push(await loop(payloads, spans, (p) => producer.send('otlp_spans', tracesSignal.prepare(p).messages)));
    await bus.close();
    m.http.push(await endToEnd('http', spans));
    m.grpc.push(await endToEnd('grpc', spans));
    console.log(
      `${spans} spans/request, run ${run + 1}: decode ${Math.round(m.decode.at(-1)!)}, gateway ${Math.round(m.gateway.at(-1)!)}, http ${Math.round(m.http.at(-1)!)}, grpc ${Math.round(m.grpc.at(-1)!)} spans/s`,
    );
  }
  rows.push({ spans, bytes: payloads[0]!.length, decode: median(m.decode), gateway: median(m.gateway), http: median(m.http), grpc: median(m.grpc) });
}

const f = (n: number) => Math.round(n).toLocaleString('en');
const md = `## otlp — ${new Date().toISOString().slice(0, 10)}

OTLP trace export requests (one resource with 8 attributes; spans with 10 attributes, 5 spans per trace) into the in-process bus, split by trace id. Median of ${RUNS} runs. Machine: ${machine()}.
- **gateway**: the receiver's work on a request (walk the protobuf, slice it by trace id, publish), in a loop, one core.
- **HTTP / gRPC**: a load generator in a child process (16 concurrent requests, ${LOAD_MS / 1000} s) against the receiver; spans per CPU-second of the receiver's process = spans/s per core.
- **reference**: a plain \`protobufjs\` decode of the same payloads (static code), one core. Target: ≥ 100 000 spans/s per core.

| spans/request | bytes/request | protobufjs decode (reference) | gateway | gateway / decode | OTLP/HTTP per core | HTTP / decode | OTLP/gRPC per core | gRPC / decode |
|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.map((r) => `| ${r.spans} | ${f(r.bytes)} | ${f(r.decode)} | ${f(r.gateway)} | ${(r.gateway / r.decode).toFixed(2)}× | ${f(r.http)} | ${(r.http / r.decode).toFixed(2)}× | ${f(r.grpc)} | ${(r.grpc / r.decode).toFixed(2)}× |`).join('\n')}

Run: \`npm run bench:otlp\` (BENCH_RUNS, BENCH_LOAD_MS).`;
writeResults('otlp', md);
console.log(md);
process.exit(0);
