// Kill -9 of the AirDig engine (issue 12; not the ClickHouse engine, that is engine-crash.test.ts):
// distributed mode on the real Kafka broker, the engine processor in a process of its own, the
// correlations and incidents sinks in another. The engine's input topics are fed the story of
// tests/helpers/engine-story.ts (topology, call edges, changes, drift, health facts, encoded with
// processors/model/): several incidents, changes that arrive after their signal's onset. The
// engine is killed with SIGKILL while signals are open in its windows and after correlations were
// written, the last stage is fed while it is down, and it is started again. The `correlations`
// and `incidents` views must then equal, column for column (the revision aside), those of an
// uninterrupted reference run of the same input in the same stages, on topics, consumer group and
// ClickHouse database of its own.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import Kafka from 'node-rdkafka';
import { KafkaBus } from '../../processors/runtime/bus/kafka.js';
import type { OutMessage } from '../../processors/runtime/bus/types.js';
import { distributedClickhouse, sqlUrl } from '../helpers/clickhouse.js';
import { startAirdig, type RunningAirdig } from '../helpers/airdig.js';
import { EXPECTED_CLAIMS, engineStory, MIN, storyName, type EngineInput } from '../helpers/engine-story.js';
import { kafkaBrokers } from '../helpers/kafka.js';
import { uniqueName, waitFor } from '../helpers/wait.js';

const PARTITIONS = 4;
const INPUTS: EngineInput[] = ['topology', 'edges', 'changes', 'drift', 'health'];

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'airdig-engine-kill-'));
}

/** One run of the story: its topics, its engine, its sinks, its database. */
interface Run {
  name: string;
  engineId: string;
  topics: Record<EngineInput | 'correlations' | 'incidents', string>;
  ch: ReturnType<typeof distributedClickhouse>;
  /** The process its engine runs in (the reference: engine and sinks in one). */
  engine?: RunningAirdig;
  /** What the engine process now running must have received once it has read everything fed. */
  expectReceived: number;
}

function makeRun(name: string, tag: string): Run {
  const t = (what: string) => `ek.${tag}.${name}.${what}`;
  return {
    name,
    engineId: `engine/${name}${tag}`,
    topics: {
      topology: t('topology'),
      edges: t('edges'),
      changes: t('changes'),
      drift: t('drift'),
      health: t('health'),
      correlations: t('correlations'),
      incidents: t('incidents'),
    },
    ch: distributedClickhouse(`airdig_ek_${name}`),
    expectReceived: 0,
  };
}

/** One pipeline file with both runs, each a pipeline of its own (selected with --only). */
function pipelineFile(runs: Run[], tag: string): string {
  const topics: Record<string, object> = { 'airdig.dlq': { partitions: PARTITIONS } };
  const processors: Record<string, object> = {};
  const sinks: Record<string, object> = {};
  const pipelines: Record<string, object> = {};
  for (const r of runs) {
    for (const [what, name] of Object.entries(r.topics)) topics[name] = { partitions: PARTITIONS, compacted: what === 'topology' };
    processors[r.engineId] = {
      inputs: Object.fromEntries(INPUTS.map((i) => [i, r.topics[i]])),
      correlations: r.topics.correlations,
      incidents: r.topics.incidents,
    };
    sinks[`correlations/${r.name}${tag}`] = { input: r.topics.correlations };
    sinks[`incidents/${r.name}${tag}`] = { input: r.topics.incidents };
    pipelines[r.name] = { processors: [r.engineId], sinks: [`correlations/${r.name}${tag}`, `incidents/${r.name}${tag}`] };
  }
  const file = path.join(tmp(), 'engine-kill.yaml');
  // JSON is YAML.
  writeFileSync(file, JSON.stringify({ service: { query: '', query_native: '' }, topics, processors, sinks, pipelines }, null, 2));
  return file;
}

/** A counter or gauge of one component from an airdig process's /metrics. */
async function metric(p: RunningAirdig, name: string, component: string): Promise<number> {
  const text = await (await fetch(`${p.url('admin')}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n'))
    if (line.startsWith(`${name}{`) && line.includes(`component="${component}"`)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

async function query<T>(r: Run, sql: string): Promise<T[]> {
  const res = await fetch(sqlUrl(r.ch.queryBase, `${sql} FORMAT JSONEachRow`));
  const text = await res.text();
  if (!res.ok) throw new Error(`query failed (${res.status}): ${text}`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

const count = async (r: Run, table: string) => Number((await query<{ n: string }>(r, `SELECT count() AS n FROM ${table}`))[0]!.n);

/** Records on a topic (every partition, from its beginning). */
async function topicCount(bus: KafkaBus, topic: string): Promise<number> {
  let n = 0;
  await bus.readToEnd(topic, () => void n++);
  return n;
}

/**
 * Records of the engine's inputs its consumer group has not committed: what a restarted engine
 * reads (again) once it has caught up.
 */
async function uncommitted(brokers: string, r: Run): Promise<number> {
  const c = new Kafka.KafkaConsumer({ 'metadata.broker.list': brokers, 'group.id': `airdig.${r.engineId}`, 'enable.auto.commit': false }, {});
  await new Promise<void>((resolve, reject) => c.connect({ timeout: 30_000 }, (err) => (err ? reject(err) : resolve())));
  try {
    const parts = INPUTS.flatMap((i) => Array.from({ length: PARTITIONS }, (_, p) => ({ topic: r.topics[i], partition: p })));
    const committed = await new Promise<Kafka.TopicPartitionOffset[]>((resolve, reject) =>
      c.committed(parts, 30_000, (err, tps) => (err ? reject(err) : resolve(tps))),
    );
    let n = 0;
    for (const tp of committed) {
      const w = await new Promise<Kafka.WatermarkOffsets>((resolve, reject) =>
        c.queryWatermarkOffsets(tp.topic, tp.partition, 30_000, (err, o) => (err ? reject(err) : resolve(o))),
      );
      n += w.highOffset - (tp.offset >= 0 ? tp.offset : w.lowOffset);
    }
    return n;
  } finally {
    await new Promise<void>((resolve) => c.disconnect(() => resolve()));
  }
}

/**
 * Waits until the run's engine has received everything fed to it and its output has landed:
 * the logs hold every record of the output topics, and that stays so across two looks a second
 * apart (the batch received last has been evaluated and its rows sent).
 */
async function settled(bus: KafkaBus, r: Run, what: string, timeoutMs = 90_000): Promise<void> {
  let last = '';
  let since = 0;
  await waitFor(
    async () => {
      const received = await metric(r.engine!, 'airdig_component_received_total', r.engineId);
      if (received < r.expectReceived) return false;
      const state = [
        await topicCount(bus, r.topics.correlations),
        await count(r, 'correlation_log'),
        await topicCount(bus, r.topics.incidents),
        await count(r, 'incident_log'),
      ];
      const key = state.join(',');
      if (state[0] !== state[1] || state[2] !== state[3] || key !== last) {
        last = key;
        since = Date.now();
        return false;
      }
      return Date.now() - since >= 1_000;
    },
    timeoutMs,
    `${r.name}: ${what} (engine received ${r.expectReceived} and its rows landed)`,
  );
}

interface CorrelationRow {
  id: string;
  cause_id: string;
  signal_id: string;
  score: number;
  claim: number;
  rank: number;
  incident_id: string;
  path: string[];
  [column: string]: unknown;
}
interface IncidentRow {
  id: string;
  status: string;
  signals: string[];
  causes: RankedCause[];
  [column: string]: unknown;
}
type RankedCause = { cause_id: string; cause_kind: string; resource_id: string; probability: number; score: number; explanation: string };

/** The views, every column but the revision, in id order. */
async function views(r: Run): Promise<{ correlations: CorrelationRow[]; incidents: IncidentRow[] }> {
  const correlations = await query<CorrelationRow>(
    r,
    `SELECT id, toUnixTimestamp64Milli(ts) AS ts, cause_id, cause_kind, toUnixTimestamp64Milli(cause_ts) AS cause_ts, cause_resource_id,
            impacted_resource_id, signal, signal_id, score, window_s, incident_id, rank, path, evidence, claim
     FROM correlations ORDER BY id`,
  );
  const incidents = await query<IncidentRow>(
    r,
    `SELECT id, toUnixTimestamp64Milli(opened) AS opened, if(isNull(resolved), 0, toUnixTimestamp64Milli(assumeNotNull(resolved))) AS resolved,
            status, impacted, signals, causes
     FROM incidents ORDER BY id`,
  );
  // A named tuple reads as an object or as an array, by the server's settings: one shape.
  for (const i of incidents)
    i.causes = (i.causes as unknown[]).map((c) =>
      Array.isArray(c) ? { cause_id: c[0], cause_kind: c[1], resource_id: c[2], probability: c[3], score: c[4], explanation: c[5] } : (c as RankedCause),
    );
  return { correlations, incidents };
}

/** Ids written twice under the same revision with different contents: which one the view shows would be chance. */
async function divergentTies(r: Run): Promise<string[]> {
  const c = await query<{ id: string }>(
    r,
    'SELECT id FROM correlation_log GROUP BY id, revision HAVING uniqExact(score, incident_id, rank, evidence) > 1 ORDER BY id',
  );
  const i = await query<{ id: string }>(
    r,
    'SELECT id FROM incident_log GROUP BY id, revision HAVING uniqExact(status, merged_into, signals, causes, resolved) > 1 ORDER BY id',
  );
  return [...c, ...i].map((x) => x.id);
}

const pair = (c: CorrelationRow) => `${storyName(c.cause_id)} → ${storyName(c.signal_id)}`;

/** The rows in a line each, by the story's names: what a failure shows first. */
function brief(v: { correlations: CorrelationRow[]; incidents: IncidentRow[] }): string[] {
  return [
    ...v.correlations.map((c) => `${pair(c)} score ${c.score} rank ${c.rank} ${c.incident_id.slice(0, 10)} via ${c.path.length - 1} hops`).sort(),
    ...v.incidents
      .map(
        (i) =>
          `${i.id.slice(0, 10)} ${i.status} ${i.signals.map(storyName).join(',')}: ${i.causes.map((c) => `${storyName(c.cause_id)} ${c.probability}`).join(', ')}`,
      )
      .sort(),
  ];
}

test(
  'kill -9 of the engine process with signals open: after the restart, correlations and incidents equal an uninterrupted run',
  { timeout: 240_000 },
  async () => {
    const brokers = kafkaBrokers();
    const tag = uniqueName('k')
      .replace(/[^a-z0-9]/g, '')
      .slice(-8);
    const ref = makeRun('ref', tag);
    const crash = makeRun('crash', tag);
    const runs = [ref, crash];
    const config = pipelineFile(runs, tag);
    const bus = new KafkaBus({ brokers, clientId: 'engine-kill-test' });
    const start = (r: Run, only: string[]) =>
      startAirdig(
        ['--config', config, '--kafka', brokers, ...r.ch.args, '--data-dir', tmp(), '--admin', '127.0.0.1:0', '--only', only.join(',')],
        /^airdig: ready$/m,
        120_000,
      );
    const engineOnly = [crash.engineId];
    const T = Math.floor(Date.now() / MIN) * MIN - 3 * 60 * MIN;
    const stages = engineStory(T);
    const feed = async (stage: number) => {
      for (const r of runs) {
        const byInput = new Map<EngineInput, OutMessage[]>();
        for (const [input, m] of stages[stage]!.messages) byInput.set(input, [...(byInput.get(input) ?? []), m]);
        for (const [input, messages] of byInput) await bus.producer().send(r.topics[input], messages);
        r.expectReceived += stages[stage]!.messages.length;
      }
    };
    let crashSinks: RunningAirdig | undefined;
    try {
      [ref.engine, crashSinks, crash.engine] = await Promise.all([
        start(ref, [ref.engineId, `correlations/ref${tag}`, `incidents/ref${tag}`]),
        start(crash, [`correlations/crash${tag}`, `incidents/crash${tag}`]),
        start(crash, engineOnly),
      ]);

      // The first three stages, each read before the next is fed (the deploy of checkout is read
      // after checkout's signal): I1 open, I2 and I3 closed, I4 open.
      for (const stage of [0, 1, 2]) {
        await feed(stage);
        for (const r of runs) await settled(bus, r, stages[stage]!.name);
      }
      const before = await views(crash);
      assert.ok(
        before.correlations.some((c) => pair(c) === 'c3 → s3' && c.claim === 1),
        'correlations were written before the kill',
      );
      const open = before.incidents.filter((i) => i.status === 'open');
      assert.ok(open.length >= 2, `incidents are open (signals in the engine's window) at the kill: ${open.map((i) => i.signals.map(storyName)).join(' | ')}`);
      assert.ok((await metric(crash.engine!, 'airdig_component_queue_depth', crash.engineId)) > 0, 'the engine holds open signals at the kill');

      crash.engine!.child.kill('SIGKILL');
      await crash.engine!.exited;
      // Stage 3 arrives while the engine is down (the reference reads it as it comes).
      await feed(3);
      await settled(bus, ref, stages[3]!.name);
      crash.expectReceived = await uncommitted(brokers, crash);
      crash.engine = await start(crash, engineOnly);
      await settled(bus, crash, `${stages[3]!.name}, after the restart`);
      const restored = /"signals":(\d+)[^\n]*engine state restored|engine state restored[^\n]*"signals":(\d+)/.exec(
        crash.engine.stdout() + crash.engine.stderr(),
      );
      assert.ok(restored && Number(restored[1] ?? restored[2]) > 0, 'the restarted engine restored its open signals from the changelog');

      const want = await views(ref);
      const got = await views(crash);
      // Nothing lost: the story's claims, each once, and nothing else claimed.
      for (const [name, v] of [
        ['reference', want],
        ['restarted', got],
      ] as const) {
        assert.deepEqual(
          v.correlations
            .filter((c) => c.claim === 1)
            .map(pair)
            .sort(),
          [...EXPECTED_CLAIMS].sort(),
          `${name}: the claims`,
        );
        assert.equal(new Set(v.correlations.map((c) => c.id)).size, v.correlations.length, `${name}: one row per correlation id`);
        // Each incident ranks its true cause first: I1 c1, I2 c2, I3 c3, I4 (with I5) c4b.
        assert.deepEqual(
          v.incidents.map((i) => `${i.signals.map(storyName).join(',')}: ${storyName(i.causes[0]?.cause_id ?? '—')}`).sort(),
          ['s1a,s1b,s1c,s1d,s1e,s1f: c1', 's2: c2', 's3: c3', 's4,s5: c4b'],
          `${name}: the incidents and their top causes`,
        );
        assert.deepEqual(
          await divergentTies(name === 'reference' ? ref : crash),
          [],
          `${name}: no id written twice under one revision with different contents`,
        );
      }
      // The same rows, column for column.
      assert.deepEqual(brief(got), brief(want), 'after the kill and restart (in brief)');
      assert.deepEqual(got.correlations, want.correlations, 'correlations after the kill and restart');
      assert.deepEqual(got.incidents, want.incidents, 'incidents after the kill and restart');
    } finally {
      for (const p of [crash.engine, crashSinks, ref.engine]) await p?.stop('SIGTERM');
      await bus.close();
    }
  },
);
