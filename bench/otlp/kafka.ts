// bench/otlp/kafka.ts: OTLP into a real Kafka broker, AirDig beside the OpenTelemetry Collector
// (otlp receiver → kafka exporter, built by bench/otlp/collector.sh) in the same run, on the same broker.
// - subjects: AirDig's OTLP receiver on the Kafka bus (in this process); the Collector with its default
//   config (sending queue: it answers before Kafka has the spans, acks from the leader only); the
//   Collector answering after Kafka acked (no sending queue, required_acks all — as AirDig does);
// - load: the repo's generator (load.ts) in a child process, the same for every subject;
// - measured from /proc/<pid>/stat: spans per CPU-second of the process under test, the broker's CPU
//   per span; and the generator's request latency p50/p99.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { KafkaBus } from '../../processors/runtime/bus/kafka.js';
import { otlpFactory } from '../../processors/otlp/receiver.js';
import type { Component } from '../../processors/runtime/pipeline/component.js';
import type { Store } from '../../processors/runtime/store/store.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { benchBroker, machine, median, repoRoot, writeResults } from '../common.js';

const execFileP = promisify(execFile);
const SIZES = [1, 100, 1000];
const PROTOCOLS = ['http', 'grpc'] as const;
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const LOAD_MS = Number(process.env.BENCH_LOAD_MS ?? 3_000);
const CONCURRENCY = 16;
const PARTITIONS = 8;
const TOPIC = 'otlp_spans';
const TICKS_PER_S = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());

type Protocol = (typeof PROTOCOLS)[number];
interface Endpoints {
  http: string;
  grpc: string;
}
interface Subject {
  name: string;
  pid: number;
  endpoints: Endpoints;
  stop(): Promise<void>;
}

/** CPU-seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at state; utime and stime are fields 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_S;
}

async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function airdig(brokers: string): Promise<Subject> {
  const bus = new KafkaBus({ brokers, clientId: 'airdig-bench' });
  const settings = { ...componentSettings(otlpFactory, bus, {} as Store), topics: { [TOPIC]: { partitions: PARTITIONS, compacted: false } } };
  const receiver: Component = otlpFactory.create(settings, otlpFactory.configSchema.parse({ http: '127.0.0.1:0', grpc: '127.0.0.1:0' }));
  await receiver.start();
  const urls = Object.fromEntries(receiver.listening!().map((l) => [l.name, l.url]));
  return {
    name: 'AirDig',
    pid: process.pid,
    endpoints: { http: urls['otlp http']!, grpc: urls['otlp grpc']!.replace('http://', '') },
    stop: async () => {
      await receiver.shutdown();
      await bus.close();
    },
  };
}

/** The Collector: otlp receiver → kafka exporter, partitioned by trace id as AirDig is. */
async function collector(binary: string, brokers: string, name: string, waitForAcks: boolean): Promise<Subject> {
  const [httpPort, grpcPort] = [await freePort(), await freePort()];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'airdig-bench-otelcol-'));
  const config = path.join(dir, 'config.yaml');
  const exporter = [
    `    brokers: ["${brokers}"]`,
    `    traces: { topic: ${TOPIC}, encoding: otlp_proto }`,
    '    partition_traces_by_id: true',
    ...(waitForAcks ? ['    sending_queue: { enabled: false }', '    producer: { required_acks: -1 }'] : []),
  ];
  writeFileSync(
    config,
    [
      'receivers:',
      '  otlp:',
      '    protocols:',
      `      grpc: { endpoint: "127.0.0.1:${grpcPort}" }`,
      `      http: { endpoint: "127.0.0.1:${httpPort}" }`,
      'exporters:',
      '  kafka:',
      ...exporter,
      'service:',
      '  telemetry: { logs: { level: warn }, metrics: { level: none } }',
      '  pipelines:',
      '    traces: { receivers: [otlp], exporters: [kafka] }',
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(binary, ['--config', config], { stdio: 'ignore' });
  const endpoints = { http: `http://127.0.0.1:${httpPort}/v1/traces`, grpc: `127.0.0.1:${grpcPort}` };
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the Collector (${name}) exited with ${child.exitCode}`);
    const up = await fetch(endpoints.http, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: new Uint8Array() }).then(
      (r) => r.status === 200,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline) throw new Error(`the Collector (${name}) did not answer within 60 s`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    name,
    pid: child.pid!,
    endpoints,
    stop: async () => {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    },
  };
}

interface Sample {
  spansPerCpuS: number;
  brokerCpuUsPerSpan: number;
  p50Ms: number;
  p99Ms: number;
  /** Requests refused (the Collector's default sending queue refuses when full); not counted as spans. */
  refused: number;
}

async function measure(subject: Subject, brokerPid: number, protocol: Protocol, spans: number, loadMs = LOAD_MS): Promise<Sample> {
  const target = protocol === 'http' ? subject.endpoints.http : subject.endpoints.grpc;
  const [cpu0, broker0] = [cpuSeconds(subject.pid), cpuSeconds(brokerPid)];
  const { stdout } = await execFileP(process.execPath, [
    path.join(repoRoot, 'dist/bench/otlp/load.js'),
    protocol,
    target,
    String(spans),
    String(loadMs),
    String(CONCURRENCY),
  ]);
  const [cpu, brokerCpu] = [cpuSeconds(subject.pid) - cpu0, cpuSeconds(brokerPid) - broker0];
  const r = JSON.parse(stdout) as { spans: number; failures: number; p50Ms: number; p99Ms: number };
  if (r.spans === 0) throw new Error(`${subject.name}: no ${protocol} request answered`);
  return { spansPerCpuS: r.spans / cpu, brokerCpuUsPerSpan: (brokerCpu * 1e6) / r.spans, p50Ms: r.p50Ms, p99Ms: r.p99Ms, refused: r.failures };
}

const binary = path.join(execFileSync('bash', [path.join(repoRoot, 'bench/otlp/collector.sh'), 'path'], { encoding: 'utf8' }).trim(), 'otelcol-airdig-bench');
const broker = benchBroker();
const brokerPid = Number(readFileSync(path.join(repoRoot, '.airdig-test/bench-kafka/pid'), 'utf8').trim());
const setupBus = new KafkaBus({ brokers: broker.brokers, clientId: 'airdig-bench-setup' });
await setupBus.ensureTopics([{ name: TOPIC, partitions: PARTITIONS }]);
await setupBus.close();

const subjects = [
  await airdig(broker.brokers),
  await collector(binary, broker.brokers, 'Collector, default', false),
  await collector(binary, broker.brokers, 'Collector, answers after acks', true),
];
type Cell = Record<string, Sample[]>;
const cells = new Map<string, Cell>();
try {
  // Connections, producer metadata and JIT warm before anything is measured.
  for (const s of subjects) for (const protocol of PROTOCOLS) await measure(s, brokerPid, protocol, 100, 500);
  for (const spans of SIZES) {
    for (const protocol of PROTOCOLS) {
      const cell: Cell = Object.fromEntries(subjects.map((s) => [s.name, []]));
      for (let run = 0; run < RUNS; run++) {
        for (const s of subjects) {
          const sample = await measure(s, brokerPid, protocol, spans);
          cell[s.name]!.push(sample);
          console.log(
            `${spans} spans/request ${protocol} run ${run + 1} ${s.name}: ${Math.round(sample.spansPerCpuS)} spans/CPU-s, broker ${sample.brokerCpuUsPerSpan.toFixed(2)} µs/span, p50 ${sample.p50Ms.toFixed(2)} ms, p99 ${sample.p99Ms.toFixed(2)} ms${sample.refused ? `, ${sample.refused} requests refused` : ''}`,
          );
        }
      }
      cells.set(`${spans} ${protocol}`, cell);
    }
  }
} finally {
  for (const s of subjects) await s.stop();
  broker.stop();
}

const f = (n: number) => Math.round(n).toLocaleString('en');
/** Median, with the range over the runs. */
const spread = (xs: number[], digits = 0) => {
  const show = (n: number) => (digits ? n.toFixed(digits) : f(n));
  return RUNS > 1 ? `${show(median(xs))} (${show(Math.min(...xs))}–${show(Math.max(...xs))})` : show(median(xs));
};
const [ours, defaults, acked] = subjects.map((s) => s.name) as [string, string, string];
const rows: string[] = [];
for (const [key, cell] of cells) {
  const [spans, protocol] = key.split(' ');
  const m = (name: string, pick: (s: Sample) => number) => cell[name]!.map(pick);
  const ratio = (name: string, pick: (s: Sample) => number) => median(m(ours, pick)) / median(m(name, pick));
  const refused = (name: string) => {
    const n = cell[name]!.reduce((sum, s) => sum + s.refused, 0);
    return n ? ` ⚠ ${f(n)} refused` : '';
  };
  rows.push(
    `| ${protocol === 'http' ? 'HTTP' : 'gRPC'} | ${spans} | ${spread(m(ours, (s) => s.spansPerCpuS))}${refused(ours)} | ${spread(m(defaults, (s) => s.spansPerCpuS))}${refused(defaults)} | ${spread(m(acked, (s) => s.spansPerCpuS))}${refused(acked)} | ${ratio(defaults, (s) => s.spansPerCpuS).toFixed(2)}× | ${ratio(acked, (s) => s.spansPerCpuS).toFixed(2)}× | ${spread(
      m(ours, (s) => s.brokerCpuUsPerSpan),
      2,
    )} | ${spread(
      m(defaults, (s) => s.brokerCpuUsPerSpan),
      2,
    )} | ${spread(
      m(acked, (s) => s.brokerCpuUsPerSpan),
      2,
    )} | ${spread(
      m(ours, (s) => s.p50Ms),
      2,
    )} / ${spread(
      m(ours, (s) => s.p99Ms),
      1,
    )} | ${spread(
      m(defaults, (s) => s.p50Ms),
      2,
    )} / ${spread(
      m(defaults, (s) => s.p99Ms),
      1,
    )} | ${spread(
      m(acked, (s) => s.p50Ms),
      2,
    )} / ${spread(
      m(acked, (s) => s.p99Ms),
      1,
    )} |`,
  );
}
const md = `## otlp-kafka — ${new Date().toISOString().slice(0, 10)}

OTLP trace export requests (payloads as in the otlp section) into a real Kafka broker (topic \`${TOPIC}\`, ${PARTITIONS} partitions, one broker started by the run), AirDig's OTLP receiver beside the OpenTelemetry Collector 0.165 (otlp receiver → kafka exporter 0.165.1, \`partition_traces_by_id\`, built by \`bench/otlp/collector.sh\`) on the same broker. The same load generator (${CONCURRENCY} concurrent requests, ${LOAD_MS / 1000} s, a child process) for each; median of ${RUNS} runs, range in brackets. Machine: ${machine()}, load average ${os
  .loadavg()
  .map((l) => l.toFixed(1))
  .join(' ')} at the end.
- **spans/CPU-s**: spans answered per CPU-second (user + system, /proc/<pid>/stat) of the process under test.
- **Collector, default**: its sending queue answers before Kafka has the spans (acks from the leader only); **after acks**: no sending queue, \`required_acks: -1\`, as AirDig answers.
- **refused**: requests answered with an error over all runs (the Collector's default sending queue refuses when it is full); their spans are not counted.
- **broker µs/span**: the broker process's CPU per span answered. **p50 / p99**: request latency at the generator, ms.

| protocol | spans/request | AirDig spans/CPU-s | Collector default | Collector after acks | AirDig / default | AirDig / after acks | broker µs/span AirDig | Collector default | Collector after acks | AirDig p50 / p99 | Collector default | Collector after acks |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Run: \`npm run build && node dist/bench/otlp/kafka.js\` (BENCH_RUNS, BENCH_LOAD_MS).`;
writeResults('otlp-kafka', md);
console.log(md);
process.exit(0);
