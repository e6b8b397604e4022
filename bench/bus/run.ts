// bench/bus: 1 KiB records produced and consumed through the in-process bus (in memory, and
// durable on disk with fsync per batch, the embedded default, and with fsync never), through the real broker with
// node-rdkafka (AirDig's Kafka bus), and through the same broker with kafkajs as the reference, in
// one run. Each scenario: RECORDS records or TIME_LIMIT_MS, median of RUNS runs.
// BENCH_KAFKA=0 measures the in-process buses only (and leaves bench/RESULTS.md as it is);
// BENCH_PROFILE=DIR writes a CPU profile of each in-process run there.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Kafka as KafkaJs, logLevel } from 'kafkajs';
import { MemoryBus } from '../../processors/runtime/bus/memory.js';
import { KafkaBus } from '../../processors/runtime/bus/kafka.js';
import type { Bus } from '../../processors/runtime/bus/types.js';
import { benchBroker, machine, median, profiled, writeResults } from '../common.js';

const RECORD_BYTES = 1024;
const RECORDS = Number(process.env.BENCH_RECORDS ?? 200_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const BATCH = 1_000;
const TIME_LIMIT_MS = 30_000;
const PARTITIONS = 4;
const WITH_KAFKA = process.env.BENCH_KAFKA !== '0';

interface Result {
  produceRps: number;
  e2eRps: number;
  /** CPU-seconds of this process (every thread: the main one, libuv's pool doing the writes) from the first send until every record was consumed. */
  cpuSeconds: number;
}

interface Repeated extends Result {
  runs: Result[];
}

const payload = randomBytes(RECORD_BYTES);
const keys = Array.from({ length: 1_024 }, (_, i) => Buffer.from(`key-${i}`));

/** Produces RECORDS records in batches (a few batches in flight) while one consumer group reads them. */
async function runBus(bus: Bus, topic: string): Promise<Result> {
  await bus.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  let consumed = 0;
  let done!: () => void;
  const allConsumed = new Promise<void>((r) => (done = r));
  const consumer = bus.consumer({
    groupId: `${topic}-g`,
    topics: [topic],
    maxBatch: 5_000,
    handler: async (batch) => {
      consumed += batch.length;
      if (consumed >= RECORDS) done();
    },
  });
  await consumer.start();
  const producer = bus.producer();
  const cpu = process.cpuUsage();
  const started = performance.now();
  const inflight = new Set<Promise<void>>();
  for (let sent = 0; sent < RECORDS && performance.now() - started < TIME_LIMIT_MS; sent += BATCH) {
    const messages = Array.from({ length: Math.min(BATCH, RECORDS - sent) }, (_, i) => ({ key: keys[(sent + i) & 1023]!, value: payload }));
    const p: Promise<void> = producer.send(topic, messages).finally(() => inflight.delete(p));
    inflight.add(p);
    if (inflight.size >= 32) await Promise.race(inflight);
  }
  await Promise.all(inflight);
  const produced = performance.now();
  await Promise.race([allConsumed, new Promise((r) => setTimeout(r, TIME_LIMIT_MS))]);
  const ended = performance.now();
  const used = process.cpuUsage(cpu);
  await consumer.stop();
  return { produceRps: (RECORDS * 1000) / (produced - started), e2eRps: (consumed * 1000) / (ended - started), cpuSeconds: (used.user + used.system) / 1e6 };
}

async function runKafkaJs(brokers: string, topic: string): Promise<Result> {
  const kafka = new KafkaJs({ clientId: 'bench', brokers: brokers.split(','), logLevel: logLevel.NOTHING });
  const admin = kafka.admin();
  await admin.connect();
  await admin.createTopics({ topics: [{ topic, numPartitions: PARTITIONS, replicationFactor: 1 }] });
  await admin.disconnect();
  const consumer = kafka.consumer({ groupId: `${topic}-g`, maxBytes: 64 * 1024 * 1024 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  let consumed = 0;
  let done!: () => void;
  const allConsumed = new Promise<void>((r) => (done = r));
  await consumer.run({
    autoCommit: false,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary }) => {
      consumed += batch.messages.length;
      resolveOffset(batch.lastOffset());
      await commitOffsetsIfNecessary({ topics: [{ topic, partitions: [{ partition: batch.partition, offset: String(Number(batch.lastOffset()) + 1) }] }] });
      if (consumed >= RECORDS) done();
    },
  });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const cpu = process.cpuUsage();
  const started = performance.now();
  for (let sent = 0; sent < RECORDS && performance.now() - started < TIME_LIMIT_MS; sent += BATCH) {
    const messages = Array.from({ length: Math.min(BATCH, RECORDS - sent) }, (_, i) => ({ key: keys[(sent + i) & 1023]!, value: payload }));
    await producer.send({ topic, acks: -1, messages });
  }
  const produced = performance.now();
  await Promise.race([allConsumed, new Promise((r) => setTimeout(r, TIME_LIMIT_MS))]);
  const ended = performance.now();
  const used = process.cpuUsage(cpu);
  await producer.disconnect();
  await consumer.disconnect();
  return { produceRps: (RECORDS * 1000) / (produced - started), e2eRps: (consumed * 1000) / (ended - started), cpuSeconds: (used.user + used.system) / 1e6 };
}

async function repeat(name: string, fn: (run: number) => Promise<Result>): Promise<Repeated> {
  const rs: Result[] = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await fn(i);
    console.log(
      `${name} run ${i + 1}: produce ${Math.round(r.produceRps)} rec/s, produce+consume ${Math.round(r.e2eRps)} rec/s, ${r.cpuSeconds.toFixed(2)} CPU-s`,
    );
    rs.push(r);
  }
  return {
    produceRps: median(rs.map((r) => r.produceRps)),
    e2eRps: median(rs.map((r) => r.e2eRps)),
    cpuSeconds: median(rs.map((r) => r.cpuSeconds)),
    runs: rs,
  };
}

/** The durable bus with one fsync policy, in a fresh directory per run. */
function durableBus(fsync: 'batch' | 'never', label: string): Promise<Repeated> {
  return repeat(`durable in-process bus (${label})`, async (i) => {
    const dir = mkdtempSync(path.join(tmpdir(), 'airdig-bench-bus-'));
    const bus = await MemoryBus.open(dir, inProcessLimits, { fsync });
    try {
      return await profiled(`bus-durable-${fsync}-${i}`, () => runBus(bus, `bench-disk-${i}`));
    } finally {
      await bus.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

/** "0.52× (0.47–0.55)": the ratio of the medians, and the lowest and highest ratio of a run to the in-memory median. */
function ratio(of: Repeated, to: Repeated, pick: (r: Result) => number): string {
  const rs = of.runs.map((r) => pick(r) / pick(to)).sort((a, b) => a - b);
  return `${(pick(of) / pick(to)).toFixed(2)}× (${rs[0]!.toFixed(2)}–${rs.at(-1)!.toFixed(2)})`;
}

const cpuPerRecord = (r: Repeated) => {
  const us = r.runs.map((x) => (x.cpuSeconds * 1e6) / RECORDS).sort((a, b) => a - b);
  return `${((r.cpuSeconds * 1e6) / RECORDS).toFixed(2)} µs (${us[0]!.toFixed(2)}–${us.at(-1)!.toFixed(2)})`;
};

const inProcessLimits = { max_queued_records: RECORDS, max_queued_bytes: 4 * RECORDS * RECORD_BYTES };
const memory = await repeat('in-process bus', async (i) => {
  const bus = new MemoryBus(inProcessLimits);
  try {
    return await profiled(`bus-memory-${i}`, () => runBus(bus, `bench-mem-${i}`));
  } finally {
    await bus.close();
  }
});
const durable = await durableBus('batch', 'fsync per batch');
const durableNoSync = await durableBus('never', 'fsync never');
const mb = (rps: number) => ((rps * RECORD_BYTES) / 2 ** 20).toFixed(1);
const durableLine = `Durable in-process bus vs in memory in the same run, median ratio (lowest–highest run): fsync per batch (the embedded default: a log under data_dir/bus, send() resolved after the fsync of its batch) produce ${ratio(durable, memory, (r) => r.produceRps)}, produce+consume ${ratio(durable, memory, (r) => r.e2eRps)}; fsync never (send() resolved after the write) produce ${ratio(durableNoSync, memory, (r) => r.produceRps)}, produce+consume ${ratio(durableNoSync, memory, (r) => r.e2eRps)} (target ≥ 0.80×). CPU per record of the process (every thread), median (lowest–highest run): in memory ${cpuPerRecord(memory)}, durable with fsync per batch ${cpuPerRecord(durable)}, with fsync never ${cpuPerRecord(durableNoSync)}.`;
if (!WITH_KAFKA) {
  const row = (name: string, r: Result) =>
    `| ${name} | ${Math.round(r.produceRps).toLocaleString('en')} | ${mb(r.produceRps)} | ${Math.round(r.e2eRps).toLocaleString('en')} | ${mb(r.e2eRps)} |`;
  console.log(
    `\n| bus | produce rec/s | MB/s | produce+consume rec/s | MB/s |\n|---|---:|---:|---:|---:|\n${row('in-process, memory', memory)}\n${row('in-process, durable (fsync per batch)', durable)}\n${row('in-process, durable (fsync never)', durableNoSync)}\n\n${durableLine}`,
  );
  process.exit(0);
}

const broker = benchBroker();
try {
  const stamp = Date.now().toString(36);
  const rdkafka = await repeat('node-rdkafka (none)', async (i) => {
    const bus = new KafkaBus({ brokers: broker.brokers, compression: 'none' });
    try {
      return await runBus(bus, `bench-rdk-${stamp}-${i}`);
    } finally {
      await bus.close();
    }
  });
  const rdkafkaLz4 = await repeat('node-rdkafka (lz4)', async (i) => {
    const bus = new KafkaBus({ brokers: broker.brokers, compression: 'lz4' });
    try {
      return await runBus(bus, `bench-rdk-lz4-${stamp}-${i}`);
    } finally {
      await bus.close();
    }
  });
  const kafkajs = await repeat('kafkajs (none)', (i) => runKafkaJs(broker.brokers, `bench-kjs-${stamp}-${i}`));

  const row = (name: string, r: Result, ref: Result) =>
    `| ${name} | ${Math.round(r.produceRps).toLocaleString('en')} | ${mb(r.produceRps)} | ${Math.round(r.e2eRps).toLocaleString('en')} | ${mb(r.e2eRps)} | ${(r.produceRps / ref.produceRps).toFixed(2)}× | ${(r.e2eRps / ref.e2eRps).toFixed(2)}× |`;
  const md = `## bus — ${new Date().toISOString().slice(0, 10)}

${RECORDS.toLocaleString('en')} records of ${RECORD_BYTES} B, keyed, ${PARTITIONS} partitions, batches of ${BATCH}; median of ${RUNS} runs. Machine: ${machine()}; one single-node Kafka ${'4.1.1'} broker on the same machine.
"produce" is until every record is acknowledged (acks=all, idempotent producer); "produce+consume" until one consumer group has read them all. Ratio: against kafkajs in the same run.

| client | produce rec/s | MB/s | produce+consume rec/s | MB/s | produce vs kafkajs | produce+consume vs kafkajs |
|---|---:|---:|---:|---:|---:|---:|
${row('in-process bus, in memory', memory, kafkajs)}
${row('in-process bus, durable (fsync per batch)', durable, kafkajs)}
${row('in-process bus, durable (fsync never)', durableNoSync, kafkajs)}
${row('node-rdkafka, no compression', rdkafka, kafkajs)}
${row('node-rdkafka, lz4', rdkafkaLz4, kafkajs)}
${row('kafkajs 2.2.4, no compression (reference)', kafkajs, kafkajs)}

${durableLine}

Note (2026-12-04, issue 13): the two durable rows are new. That day's changes (each send framed into one buffer with one crc32 per record, large sends framed into reused blocks, each partition flushing on its own; in the in-memory bus, which the durable one is built on, no copy of a partition's array per trim and no object per record in a commit or a send) made the durable bus 1.25× (fsync per batch) and 1.4× (fsync never) as fast, and cut its CPU per record by 27–30 %, in three alternating pairs of BENCH_KAFKA=0 BENCH_RUNS=5 runs against the code before them (medians 447 k → 558 k rec/s and 2.40 → 1.74 CPU-µs per batch; 556 k → 781 k rec/s and 2.31 → 1.64 CPU-µs never), on the same shared 2 cores. The in-memory bus gained as much (2.1 M → 2.4–2.7 M rec/s), so the ratio above barely moved. What is left per durable record on the event loop is mostly zlib.crc32 of its kibibyte (~0.3 µs here) and the copy into its frame; the 0.80× target is below that cost while the in-memory bus takes ~0.4 µs per record.

Broker and client share the machine's 2 cores, so these numbers bound the pair, not librdkafka alone; where the ceiling of both Kafka clients comes from (~34 k rec/s on the 2026-11-23 machine, ~70 k on this one) (broker CPU, the client's delivery-report path) is not yet profiled.

Run: \`npm run bench:bus\` (BENCH_RECORDS, BENCH_RUNS to change the load).`;
  writeResults('bus', md);
  console.log(md);
} finally {
  broker.stop();
}
process.exit(0);
