// bench/engine: changes and signals per CPU-second through the engine (decode, identity resolution,
// the walk, candidates, scoring, incidents, evaluate, the output encoded and sent) on a graph of
// 100 000 resources with 1 000 changes and 10 000 health facts per simulated minute, through the
// real engine processor on the in-process bus and on a real Kafka broker, beside a plain decode of
// the same records in the same run (the ceiling); the time from the last record a correlation needs
// to its row being queryable in the `correlations` view of the embedded ClickHouse server, at the
// real rate; and the memory of the engine on a graph of 200 000 resources.
import { fork } from 'node:child_process';
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { fileURLToPath } from 'node:url';
import { MemoryBus } from '../../processors/runtime/bus/memory.js';
import { KafkaBus } from '../../processors/runtime/bus/kafka.js';
import type { Bus } from '../../processors/runtime/bus/types.js';
import type { Component } from '../../processors/runtime/pipeline/component.js';
import type { Store } from '../../processors/runtime/store/store.js';
import { engineFactory } from '../../processors/engine/processor.js';
import { correlationsFactory, incidentsFactory } from '../../processors/engine/sink.js';
import { correlatorOptions, engineConfigSchema } from '../../processors/engine/config.js';
import { Correlator } from '../../processors/engine/correlator.js';
import { changeCodec, CHANGES_TOPIC } from '../../processors/model/changes.js';
import { healthCodec, HEALTH_TOPIC } from '../../processors/model/health.js';
import { edgeCodec, EDGES_TOPIC } from '../../processors/model/edges.js';
import { topologyCodec, TOPOLOGY_TOPIC } from '../../processors/model/topology.js';
import { DRIFT_TOPIC } from '../../processors/model/drift.js';
import { CORRELATIONS_TOPIC, INCIDENTS_TOPIC } from '../../processors/model/correlations.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { benchBroker, benchClickHouse, machine, median, profiled, writeResults } from '../common.js';
import { change, chunks as cut, decoders, fact, feedPlan, makeLoad, type Load, type Message } from './load.js';

setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const RUNS = env('BENCH_RUNS', 3);
const RESOURCES = env('BENCH_RESOURCES', 100_000);
const BIG = env('BENCH_BIG_RESOURCES', 200_000);
const WARM_MIN = env('BENCH_WARMUP_MINUTES', 3);
const MINUTES = env('BENCH_MINUTES', 5);
const PROBES = env('BENCH_PROBES', 40);
const SIZES_MINUTES = env('BENCH_SIZES_MINUTES', 60);
const KAFKA_RUNS = env('BENCH_KAFKA_RUNS', 3);
const CHUNK = 1_000;
const MIN = 60_000;
const ONLY = process.env.BENCH_ONLY?.split(',');
const part = (name: string) => !ONLY || ONLY.includes(name);
const RATES = { changesPerMin: 1_000, signalsPerMin: 10_000, edgesPerMin: 1_000, churnPerMin: 50, plantedPerMin: 10 };
const T0 = Date.parse('2026-12-01T10:00:00Z');

const f = (n: number) => Math.round(n).toLocaleString('en');
const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
const spread = (xs: number[]) => `${f(Math.min(...xs))}–${f(Math.max(...xs))}`;
const log = (s: string) => process.stderr.write(`bench:engine ${s}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The topics of the engine's pipeline, by their default names (a prefix for a run on Kafka). */
function topics(prefix = '') {
  return {
    topology: `${prefix}${TOPOLOGY_TOPIC}`,
    edges: `${prefix}${EDGES_TOPIC}`,
    changes: `${prefix}${CHANGES_TOPIC}`,
    drift: `${prefix}${DRIFT_TOPIC}`,
    health: `${prefix}${HEALTH_TOPIC}`,
    correlations: `${prefix}${CORRELATIONS_TOPIC}`,
    incidents: `${prefix}${INCIDENTS_TOPIC}`,
  };
}
const topicSpecs = (t: ReturnType<typeof topics>) => Object.entries(t).map(([k, name]) => ({ name, partitions: 4, compacted: k === 'topology' }));

const chunks = <T>(xs: readonly T[], size = CHUNK): T[][] => cut(xs, size);

/** Sends messages in their order, one send per topic (all placed before the consumer wakes). */
async function send(bus: Bus, ms: readonly Message[], rename: (t: string) => string = (t) => t): Promise<void> {
  const by = new Map<string, { key: string; value: Buffer; timestamp: number }[]>();
  for (const m of ms) {
    const t = rename(m.topic);
    let list = by.get(t);
    if (!list) by.set(t, (list = []));
    list.push({ key: m.key, value: m.value, timestamp: m.ts || Date.now() });
  }
  const producer = bus.producer();
  await Promise.all([...by].map(([t, list]) => producer.send(t, list)));
}

/** The engine processor with a count of the records it has handled (a batch is handled once its output is sent). */
function engineOn(bus: Bus, store: Store | undefined, id: string, config: object) {
  const settings = componentSettings(engineFactory, bus, store as Store, id);
  const metrics = settings.metrics;
  let received = 0;
  let handled = 0;
  let waiter: { n: number; resolve: () => void } | undefined;
  settings.metrics = {
    ...metrics,
    received: (n = 1) => {
      received += n;
      metrics.received(n);
    },
    sent: (n = 1) => {
      metrics.sent(n);
      handled = received;
      if (waiter && handled >= waiter.n) {
        waiter.resolve();
        waiter = undefined;
      }
    },
  };
  const component: Component = engineFactory.create(settings, engineFactory.configSchema.parse(config));
  return {
    component,
    get handled() {
      return handled;
    },
    /** Until n records are handled (at most timeoutMs). */
    until(n: number, timeoutMs = 300_000): Promise<void> {
      if (handled >= n) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`engine handled ${handled} of ${n} records in ${timeoutMs} ms`)), timeoutMs);
        waiter = {
          n,
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
        };
      });
    },
  };
}

interface Fixed {
  load: Load;
  warm: Message[][];
  measured: Message[][];
  records: number;
  counts: { changes: number; health: number; edges: number; topology: number };
}

function fixedLoad(resources: number): Fixed {
  const load = makeLoad({ resources, minutes: WARM_MIN + MINUTES, t0: T0, ...RATES });
  const { warm, measured } = feedPlan(load, T0, WARM_MIN, CHUNK);
  const counts = { changes: 0, health: 0, edges: 0, topology: 0 };
  for (const c of measured)
    for (const m of c) counts[m.topic === CHANGES_TOPIC ? 'changes' : m.topic === HEALTH_TOPIC ? 'health' : m.topic === EDGES_TOPIC ? 'edges' : 'topology']++;
  return { load, warm, measured, records: measured.reduce((n, c) => n + c.length, 0), counts };
}

interface EngineRun {
  restoreCpuS: number;
  restoreWallS: number;
  cpuS: number;
  wallS: number;
  records: number;
  /** Heap and RSS at the end (before and after a full collection), and the heap the bus and the load held before the engine started. */
  heapBase: number;
  heap: number;
  heapAfterGc: number;
  rss: number;
  samples: { minute: number; heap: number; rss: number }[];
}

/** One run of the engine processor: restore the graph, warm up, then the measured minutes, chunk by chunk (each handled before the next is sent). */
async function engineRun(
  bus: Bus,
  fx: Fixed,
  o: { id: string; prefix?: string; feed: (ms: Message[], i: number) => Promise<void>; sample?: boolean },
): Promise<EngineRun> {
  const t = topics(o.prefix);
  const h = engineOn(bus, undefined, o.id, {
    inputs: { topology: t.topology, edges: t.edges, changes: t.changes, drift: t.drift, health: t.health },
    correlations: t.correlations,
    incidents: t.incidents,
  });
  collectGarbage();
  const heapBase = process.memoryUsage().heapUsed;
  let cpu = process.cpuUsage();
  let wall = performance.now();
  await h.component.start();
  const restoreCpuS = cpuSeconds(process.cpuUsage(cpu));
  const restoreWallS = (performance.now() - wall) / 1000;
  let fed = 0;
  let i = 0;
  for (const c of fx.warm) {
    await o.feed(c, i++);
    await h.until((fed += c.length));
  }
  collectGarbage();
  const samples: EngineRun['samples'] = [];
  const perMinute = Math.ceil(fx.records / MINUTES);
  cpu = process.cpuUsage();
  wall = performance.now();
  let sent = 0;
  await profiled(`engine-${o.id}`, async () => {
    for (const c of fx.measured) {
      await o.feed(c, i++);
      await h.until((fed += c.length));
      sent += c.length;
      if (o.sample && sent % perMinute < CHUNK) {
        const m = process.memoryUsage();
        samples.push({ minute: Math.round(sent / perMinute), heap: m.heapUsed, rss: m.rss });
      }
    }
  });
  const cpuS = cpuSeconds(process.cpuUsage(cpu));
  const wallS = (performance.now() - wall) / 1000;
  const m = process.memoryUsage();
  collectGarbage();
  const heapAfterGc = process.memoryUsage().heapUsed;
  await h.component.shutdown();
  return { restoreCpuS, restoreWallS, cpuS, wallS, records: fx.records, heapBase, heap: m.heapUsed, heapAfterGc, rss: m.rss, samples };
}

async function memoryEngineRun(fx: Fixed, sample = false): Promise<EngineRun> {
  const bus = new MemoryBus({ max_queued_records: 10_000_000, max_queued_bytes: 16 * 2 ** 30, retain_records: 0 });
  await bus.ensureTopics(topicSpecs(topics()));
  for (const c of chunks(fx.load.topology, 50_000)) await send(bus, c);
  try {
    return await engineRun(bus, fx, { id: 'engine', feed: (ms) => send(bus, ms), sample });
  } finally {
    await bus.close();
  }
}

/** The ceiling: the same records decoded, one by one, by their topic's codec. */
function decodeRun(cs: readonly (readonly Message[])[]): number {
  const cpu = process.cpuUsage();
  let n = 0;
  for (const ms of cs) for (const m of ms) if (decoders[m.topic]!(m.value)) n++;
  return n / cpuSeconds(process.cpuUsage(cpu));
}

/** The engine's state on the load, fed straight to a Correlator: its sizes per simulated minute (what must stay bounded). */
function sizesRun(resources: number, minutes: number): { minute: number; sizes: Record<string, number>; heap: number }[] {
  const load = makeLoad({ resources, minutes, t0: T0, ...RATES });
  const c = new Correlator(correlatorOptions(engineConfigSchema.parse({})));
  for (const m of load.topology) c.topology(topologyCodec.decode(m.value));
  const feed = (m: Message) => {
    if (m.topic === TOPOLOGY_TOPIC) c.topology(topologyCodec.decode(m.value));
    else if (m.topic === EDGES_TOPIC) {
      const e = edgeCodec.decode(m.value);
      c.call(e.client_id, e.server_id, e.ts_ms, e.server_address ?? '');
    } else if (m.topic === CHANGES_TOPIC) c.change(changeCodec.decode(m.value));
    else c.health(healthCodec.decode(m.value));
  };
  for (const m of load.calls) feed(m);
  const out: { minute: number; sizes: Record<string, number>; heap: number }[] = [];
  for (let minute = 1, ms = load.nextMinute(); ms; ms = load.nextMinute(), minute++) {
    for (const batch of chunks(ms)) {
      for (const m of batch) feed(m);
      c.graph.expireCalls(c.watermark - 24 * 3_600_000);
      c.evaluate(Date.now());
    }
    if (minute % 5 === 0 || minute === minutes) {
      collectGarbage();
      out.push({ minute, sizes: c.sizes(), heap: process.memoryUsage().heapUsed });
      log(`sizes: minute ${minute}: ${JSON.stringify(c.sizes())}, heap ${mib(process.memoryUsage().heapUsed)}`);
    }
  }
  return out;
}

/** Milliseconds from the last record a correlation needs to its row answering in the `correlations` view, at the real rate, on the embedded ClickHouse server. */
async function latency(resources: number, probes: number) {
  const { engine, store } = await benchClickHouse('engine', 'bench');
  const bus = new MemoryBus({ max_queued_records: 10_000_000, max_queued_bytes: 16 * 2 ** 30, retain_records: 0 });
  await bus.ensureTopics(topicSpecs(topics()));
  const liveMinutes = Math.ceil((probes * 2.5) / 60) + 1;
  const start = Date.now();
  const load = makeLoad({ resources, minutes: WARM_MIN + liveMinutes, t0: start - WARM_MIN * MIN, ...RATES });
  for (const c of chunks(load.topology, 50_000)) await send(bus, c);
  const h = engineOn(bus, store, 'engine', {});
  const sinks = [correlationsFactory, incidentsFactory].map((f) => f.create(componentSettings(f, bus, store), f.configSchema.parse({})));
  for (const s of sinks) await s.start();
  await h.component.start();
  // Catch up on the minutes before now, then follow the clock.
  const pending: Message[] = [...load.calls];
  for (let m = load.nextMinute(); m; m = load.nextMinute()) {
    pending.push(...m);
    if (m.length && m.at(-1)!.ts > Date.now()) break;
  }
  let next = 0;
  const due = () => {
    const now = Date.now();
    let end = next;
    while (end < pending.length && pending[end]!.ts <= now) end++;
    const out = pending.slice(next, end);
    next = end;
    return out;
  };
  let fed = 0;
  const catchUp = due();
  for (const c of chunks(catchUp)) {
    await send(bus, c);
    await h.until((fed += c.length));
  }
  log(`latency: caught up ${f(catchUp.length)} records; following the clock`);
  let stopped = false;
  const follower = (async () => {
    while (!stopped) {
      const ms = due();
      if (next >= pending.length - 10_000) {
        const more = load.nextMinute();
        if (more) pending.push(...more);
      }
      if (ms.length) await send(bus, ms);
      await sleep(100);
    }
  })();
  const cpu0 = process.cpuUsage();
  const wall0 = performance.now();
  const lat: number[] = [];
  const query = async <T>(q: string) => (await (await store.client.query({ query: q, format: 'JSONEachRow' })).json()) as T[];
  try {
    for (let k = 0; k < probes; k++) {
      const target = load.probeTargets[(k * 7919) % load.probeTargets.length]!;
      const causeId = `probe-ct-${k}`;
      const signalId = `probe-h-${k}`;
      const now = Date.now();
      const cause = {
        topic: CHANGES_TOPIC,
        key: target.sg,
        value: changeCodec.encode(change(causeId, now - MIN, 'RevokeSecurityGroupIngress', target.sg)),
        ts: now - MIN,
      };
      const signal = {
        topic: HEALTH_TOPIC,
        key: target.service,
        value: healthCodec.encode(fact(signalId, now, target.service, `probe_${k}`, 'firing', 'critical')),
        ts: now,
      };
      // Half the probes: the signal is the last record needed; the other half: the change, late (CloudTrail is minutes behind).
      const [first, last] = k % 2 === 0 ? [cause, signal] : [signal, cause];
      await send(bus, [first]);
      await sleep(500);
      const t = performance.now();
      await send(bus, [last]);
      for (;;) {
        const [row] = await query<{ n: string }>(`SELECT count() AS n FROM correlations WHERE cause_id = '${causeId}' AND signal_id = '${signalId}'`);
        if (Number(row!.n) > 0) break;
        if (performance.now() - t > 60_000) throw new Error(`probe ${k}: no correlation after 60 s`);
        await sleep(20);
      }
      lat.push(performance.now() - t);
      if ((k + 1) % 10 === 0) log(`latency: ${k + 1}/${probes} probes, last ${f(lat.at(-1)!)} ms`);
      await sleep(1_000);
    }
  } finally {
    stopped = true;
    await follower;
  }
  const cpuPerS = cpuSeconds(process.cpuUsage(cpu0)) / ((performance.now() - wall0) / 1000);
  const ratePerMin = (pending.slice(0, next).filter((m) => m.ts >= start).length / (Date.now() - start)) * MIN;
  // The planted incidents the clock reached (each signal at least 20 s ago): how many of their signals carry the planted change as a claim.
  const reached = new Set(
    pending
      .slice(0, next)
      .filter((m) => m.ts < Date.now() - 20_000 && m.topic === HEALTH_TOPIC)
      .map((m) => healthCodec.decode(m.value).id),
  );
  const pairs = load.planted.flatMap((p) => p.signalIds.filter((s) => reached.has(s)).map((s) => [p.causeId, s] as const));
  await sleep(3_000);
  let claimed = 0;
  for (const batch of chunks(pairs, 200)) {
    const rows = await query<{ n: string }>(
      `SELECT count() AS n FROM correlations WHERE claim = 1 AND (cause_id, signal_id) IN (${batch.map(([c, s]) => `('${c}', '${s}')`).join(',')})`,
    );
    claimed += Number(rows[0]!.n);
  }
  const [rows] = await query<{ c: string; i: string }>('SELECT (SELECT count() FROM correlations) AS c, (SELECT count() FROM incidents) AS i');
  await h.component.shutdown();
  for (const s of sinks) await s.shutdown();
  await bus.close();
  await store.close();
  await engine.stop();
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))]!;
  return {
    p50: q(0.5),
    p99: q(0.99),
    max: lat.at(-1)!,
    n: lat.length,
    cpuPerS,
    ratePerMin,
    claimed,
    pairs: pairs.length,
    correlations: Number(rows!.c),
    incidents: Number(rows!.i),
  };
}

/** The same runs through a real Kafka broker: a child process produces each chunk when asked, the engine here consumes it. */
async function kafkaRuns(fx: Fixed, resources: number, runs: number): Promise<EngineRun[]> {
  const broker = benchBroker();
  const out: EngineRun[] = [];
  try {
    for (let r = 0; r < runs; r++) {
      const prefix = `bench-${Date.now().toString(36)}-`;
      const bus = new KafkaBus({ brokers: broker.brokers });
      await bus.ensureTopics(topicSpecs(topics(prefix)));
      const child = fork(path.join(path.dirname(fileURLToPath(import.meta.url)), 'feed.js'), [
        JSON.stringify({ brokers: broker.brokers, prefix, resources, minutes: WARM_MIN + MINUTES, warmMinutes: WARM_MIN, t0: T0, rates: RATES, chunk: CHUNK }),
      ]);
      const replies = new Map<string, () => void>();
      child.on('message', (m: { done: string }) => replies.get(m.done)?.());
      const ask = (op: string) =>
        new Promise<void>((resolve, reject) => {
          replies.set(op, resolve);
          child.once('exit', (code) => reject(new Error(`feeder exited (${code}) before ${op}`)));
          child.send(op);
        });
      try {
        log(`kafka run ${r + 1}: producing the graph`);
        await ask('topology');
        log(`kafka run ${r + 1}: graph produced; engine restoring and consuming`);
        out.push(await engineRun(bus, fx, { id: `engine-${prefix.slice(0, -1)}`, prefix, feed: (_ms, i) => ask(`chunk ${i}`) }));
      } finally {
        child.send('exit');
        await bus.close();
      }
      log(`kafka run ${r + 1}: ${f(out.at(-1)!.records / out.at(-1)!.cpuS)} records/CPU-s`);
    }
  } finally {
    broker.stop();
  }
  return out;
}

// ---------------------------------------------------------------------------------------------

const started = Date.now();
const load0 = process.uptime();
log(`generating ${f(RESOURCES)} resources and ${WARM_MIN} + ${MINUTES} minutes of stream`);
const fx = fixedLoad(RESOURCES);
log(
  `graph: ${f(fx.load.nodes)} nodes, ${f(fx.load.topology.length)} topology records, ${f(fx.load.calls.length)} call pairs; measured stream: ${f(fx.records)} records (${JSON.stringify(fx.counts)}) (${(process.uptime() - load0).toFixed(0)} s)`,
);
const uptimeAtStart = (await import('node:os')).loadavg();

const decode: number[] = [];
const engine: EngineRun[] = [];
if (part('engine')) {
  for (let run = 0; run < RUNS; run++) {
    decode.push(decodeRun(fx.measured));
    engine.push(await memoryEngineRun(fx));
    const e = engine.at(-1)!;
    log(
      `run ${run + 1}/${RUNS}: decode ${f(decode.at(-1)!)} records/CPU-s; engine ${f(e.records / e.cpuS)} records/CPU-s (${e.cpuS.toFixed(1)} CPU-s, ${e.wallS.toFixed(1)} s), restore ${e.restoreCpuS.toFixed(1)} CPU-s`,
    );
  }
}
const topologyDecode = part('engine') ? median([0, 1, 2].map(() => decodeRun([fx.load.topology]))) : 0;

let big: EngineRun | undefined;
if (part('big')) {
  log(`generating ${f(BIG)} resources`);
  const bigFx = fixedLoad(BIG);
  big = await memoryEngineRun(bigFx, true);
  log(
    `${f(BIG)} resources: ${f(big.records / big.cpuS)} records/CPU-s, heap ${mib(big.heapAfterGc)} (${mib(big.heapBase)} before the engine), RSS ${mib(big.rss)}`,
  );
}

const sizes = part('sizes') ? sizesRun(BIG, SIZES_MINUTES) : [];

let kafka: EngineRun[] = [];
if (part('kafka') && KAFKA_RUNS > 0) kafka = await kafkaRuns(fx, RESOURCES, KAFKA_RUNS);

const lat = part('latency') ? await latency(RESOURCES, PROBES) : undefined;
const loadAtEnd = (await import('node:os')).loadavg();

// ---------------------------------------------------------------------------------------------

const rate = (e: EngineRun) => e.records / e.cpuS;
const sigRate = (e: EngineRun) => ((fx.counts.changes + fx.counts.health) / e.records) * rate(e);
const lines: string[] = [];
if (engine.length) {
  const er = engine.map(rate);
  lines.push(
    `| engine processor, in-process bus | ${f(median(er))} (${spread(er)}) | ${f(median(engine.map(sigRate)))} | ${f(median(decode))} (${spread(decode)}) | ${(median(er) / median(decode)).toFixed(3)}× | ${f(median(engine.map((e) => e.records / e.wallS)))} |`,
  );
}
if (kafka.length) {
  const kr = kafka.map(rate);
  lines.push(
    `| engine processor, Kafka (node-rdkafka, broker on the same machine) | ${f(median(kr))} (${spread(kr)}) | ${f(median(kafka.map(sigRate)))} | ${f(median(decode))} | ${(median(kr) / median(decode)).toFixed(3)}× | ${f(median(kafka.map((e) => e.records / e.wallS)))} |`,
  );
}
if (big)
  lines.push(
    `| engine processor, in-process bus, ${f(BIG)} resources (1 run) | ${f(rate(big))} | ${f(sigRate(big))} | ${f(median(decode))} | ${(rate(big) / median(decode)).toFixed(3)}× | ${f(big.records / big.wallS)} |`,
  );

const e0 = engine.length ? engine[engine.length >> 1]! : undefined;
const md = `## engine — ${new Date().toISOString().slice(0, 10)}

${machine()}; load average ${uptimeAtStart.map((x) => x.toFixed(1)).join(' ')} at the start, ${loadAtEnd.map((x) => x.toFixed(1)).join(' ')} at the end (the 2 cores are shared).
A graph of ${f(fx.load.nodes)} resources in ${f(RESOURCES / 5_000)} VPCs (subnets, security groups, instances with a volume and an interface each, RDS, load balancers and target groups, Lambda, a Kubernetes cluster's nodes, deployments, replica sets, pods and services per VPC, 750 traced services per VPC on pods or instances, each calling 3 others, one in 5 a database): ${f(fx.load.topology.length)} topology records as the topology processor and placement write them, restored by the engine from the compacted topic, and ${f(fx.load.calls.length)} call pairs.
Stream in event time, per simulated minute: ${f(RATES.changesPerMin)} changes (CloudTrail writes on instances, volumes, interfaces, security groups, RDS, load balancers, Lambda, subnets, nodes; deploys; 8 % read-only or failed), ${f(RATES.signalsPerMin)} health facts (half firing, half resolving 1–8 minutes later; on services, scrape targets by IP, pods, RDS, load balancers), ${f(RATES.edgesPerMin)} call edges seen again and ${RATES.churnPerMin} topology records (pods moving node, instances launched); ${RATES.plantedPerMin} of the changes a minute are planted breaking changes followed by 2–6 signals on services depending on them. ${WARM_MIN} minutes of warm-up, then ${MINUTES} minutes measured (${f(fx.records)} records: ${f(fx.counts.changes)} changes, ${f(fx.counts.health)} health facts, ${f(fx.counts.edges)} edges, ${f(fx.counts.topology)} topology), fed in chunks of ${CHUNK} records each handled before the next is sent. Engine defaults (max_signals 10 000: at this rate the signal window is full and the oldest are evicted).
CPU is the process's CPU-seconds (user + system, every thread) while the measured minutes are handled: decoding, identity resolution, walks, candidates, scores, incidents, evaluate, the output encoded and sent, commits. Ceiling: a plain Avro decode of the same records by their topics' codecs, in the same run. Median of ${RUNS} runs (spread in brackets).

| path | records per CPU-s | changes + health facts per CPU-s | ceiling: plain decode per CPU-s | engine / decode | records per wall-s |
|---|---:|---:|---:|---:|---:|
${lines.join('\n')}

${e0 ? `- Graph restore (${f(fx.load.topology.length)} records read to the end of the compacted topic, decoded, applied): ${e0.restoreCpuS.toFixed(1)} CPU-s, ${e0.restoreWallS.toFixed(1)} s (in-process bus); a plain decode of those records: ${f(topologyDecode)} records/CPU-s, ${(fx.load.topology.length / topologyDecode).toFixed(1)} CPU-s.${kafka.length ? ` On Kafka: ${median(kafka.map((k) => k.restoreWallS)).toFixed(1)} s, ${median(kafka.map((k) => k.restoreCpuS)).toFixed(1)} CPU-s.` : ''}` : ''}
${e0 ? `- Memory, ${f(RESOURCES)} resources, after the stream: heap ${mib(e0.heapAfterGc)} after a full collection (${mib(e0.heapBase)} of it the bus and the load before the engine started: the compacted topology topic and the encoded stream), RSS ${mib(e0.rss)}.${kafka.length ? ` On Kafka: heap ${mib(median(kafka.map((k) => k.heapAfterGc)))}, RSS ${mib(median(kafka.map((k) => k.rss)))}.` : ''}` : ''}
${big ? `- ${f(BIG)} resources: heap ${mib(big.heapAfterGc)} after a full collection (${mib(big.heapBase)} before the engine started), RSS ${mib(big.rss)}; heap through the measured minutes (no collection forced): ${big.samples.map((s) => `${s.minute}: ${mib(s.heap)}`).join(', ')}.` : ''}
${sizes.length ? `- Bounded state: a Correlator fed the stream straight (${f(BIG)} resources, ${SIZES_MINUTES} simulated minutes, evaluated every ${CHUNK} records), its sizes every 5 minutes: ${sizes.map((s) => `min ${s.minute}: ${s.sizes.signals} signals, ${s.sizes.causes} causes, ${s.sizes.walks} walks (${f(s.sizes.watched)} watched nodes), ${f(s.sizes.emitted)} rows remembered, heap ${mib(s.heap)}`).join('; ')}.` : ''}
${lat ? `- Latency, embedded (in-process bus, the engine and the correlations and incidents sinks, the embedded ClickHouse server), ${f(RESOURCES)} resources, at the real rate (${f(lat.ratePerMin)} records a minute, following the clock after ${WARM_MIN} minutes caught up): from sending the last record a correlation needs (half the probes the signal, half a late change) to its row answering in the \`correlations\` view: p50 ${f(lat.p50)} ms, p99 ${f(lat.p99)} ms, max ${f(lat.max)} ms over ${lat.n} probes, one at a time (target p99 ≤ 5 s: ${lat.p99 <= 5_000 ? 'met' : '**not met**'}). The process used ${lat.cpuPerS.toFixed(2)} CPU-s per second meanwhile. The planted changes are claims (score ≥ 0.5) on ${lat.claimed} of the ${lat.pairs} planted signals the clock reached; ${f(lat.correlations)} correlations, ${f(lat.incidents)} incidents in the views at the end.` : ''}

Run: \`npm run bench:engine\` (BENCH_RUNS, BENCH_RESOURCES, BENCH_BIG_RESOURCES, BENCH_WARMUP_MINUTES, BENCH_MINUTES, BENCH_PROBES, BENCH_SIZES_MINUTES, BENCH_KAFKA_RUNS, BENCH_ONLY=engine,big,sizes,kafka,latency); ${((Date.now() - started) / 60_000).toFixed(0)} minutes.`;
if (!ONLY && !process.env.BENCH_NO_WRITE) writeResults('engine', md);
console.log(md);
process.exit(0);
