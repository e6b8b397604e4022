/*
 * The engine processor across a restart, in process (the same on the real Kafka broker with kill -9:
 * tests/e2e/engine-kill.test.ts): a second instance on the same bus, consumer group and changelog
 * goes on from the first one's state and gives the rows an uninterrupted run gives.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { BusRecord, OutMessage } from '../runtime/bus/types.js';
import type { Component } from '../runtime/pipeline/component.js';
import type { Store } from '../runtime/store/store.js';
import { TOPOLOGY_TOPIC } from '../model/topology.js';
import { EDGES_TOPIC, edgeCodec, edgeKey, edgeSides } from '../model/edges.js';
import { CHANGES_TOPIC, changeMessage } from '../model/changes.js';
import { DRIFT_TOPIC } from '../model/drift.js';
import { HEALTH_TOPIC, healthCodec } from '../model/health.js';
import { CORRELATIONS_TOPIC, INCIDENTS_TOPIC, correlationCodec, incidentCodec } from '../model/correlations.js';
import { componentMetric, componentSettings } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';
import { EXPECTED_CLAIMS, IDS, DB_ADDRESS, MIN, STORY_IDS, engineStory, storyName, type EngineInput } from '../../tests/helpers/engine-story.js';
import { engineFactory } from './processor.js';

const TOPICS: Record<EngineInput, string> = {
  topology: TOPOLOGY_TOPIC,
  edges: EDGES_TOPIC,
  changes: CHANGES_TOPIC,
  drift: DRIFT_TOPIC,
  health: HEALTH_TOPIC,
};
const T = Date.parse('2026-11-20T10:00:00Z');
const noStore = {} as Store;

async function newBus(): Promise<MemoryBus> {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    ...Object.values(TOPICS).map((name) => ({ name, partitions: 4, compacted: name === TOPOLOGY_TOPIC })),
    { name: CORRELATIONS_TOPIC, partitions: 4 },
    { name: INCIDENTS_TOPIC, partitions: 4 },
  ]);
  return bus;
}

/** An engine on the bus (config: the engine's defaults and `config`); fed counts what it must have received. */
async function startEngine(bus: MemoryBus, config: object = {}) {
  const settings = componentSettings(engineFactory, bus, noStore);
  const component: Component = engineFactory.create(settings, engineFactory.configSchema.parse(config));
  await component.start();
  return {
    component,
    registry: settings.registry,
    received: async () => (await componentMetric(settings.registry, 'airdig_component_received_total', 'engine')) ?? 0,
  };
}

/** One engine (config: as startEngine's) fed the whole story stage by stage, each settled; then check, then everything stopped. */
async function playStory(
  stages: ReturnType<typeof engineStory>,
  config: object,
  check: (engine: Awaited<ReturnType<typeof startEngine>>, out: Awaited<ReturnType<typeof watchOutput>>) => Promise<void>,
): Promise<void> {
  const bus = await newBus();
  const out = await watchOutput(bus);
  const engine = await startEngine(bus, config);
  try {
    let fed = 0;
    for (const stage of stages) {
      await feed(bus, stage.messages);
      fed += stage.messages.length;
      await settle(engine, out, fed);
    }
    await check(engine, out);
  } finally {
    await engine.component.shutdown();
    await out.stop();
    await bus.close();
  }
}

/** Every row the engine sends, in order. */
async function watchOutput(bus: MemoryBus) {
  const rows: BusRecord[] = [];
  const consumer = bus.consumer({ groupId: 'test.output', topics: [CORRELATIONS_TOPIC, INCIDENTS_TOPIC], handler: async (b) => void rows.push(...b) });
  await consumer.start();
  return { rows, stop: () => consumer.stop() };
}

async function feed(bus: MemoryBus, messages: [EngineInput, OutMessage][]): Promise<void> {
  for (const [input, m] of messages) await bus.producer().send(TOPICS[input], [m]);
}

/** Until the engine has received `n` records and its output has stopped growing. */
async function settle(engine: { received: () => Promise<number> }, out: { rows: BusRecord[] }, n: number): Promise<void> {
  await waitFor(async () => (await engine.received()) >= n, 10_000, `the engine to receive ${n} records`);
  let last = -1;
  let since = Date.now();
  await waitFor(
    () => {
      if (out.rows.length !== last) {
        last = out.rows.length;
        since = Date.now();
      }
      return Date.now() - since >= 200;
    },
    10_000,
    'the output to settle',
  );
}

/** The latest row per id (what the views show), revision left out, as one line each by the story's names. */
function latest(rows: BusRecord[]): string[] {
  const byId = new Map<string, string>();
  for (const r of rows) {
    if (r.topic === CORRELATIONS_TOPIC) {
      const { revision_ms: _, ...c } = correlationCodec.decode(r.value);
      byId.set(c.id, `${storyName(c.cause_id)} → ${storyName(c.signal_id)} ${JSON.stringify(c)}`);
    } else {
      const { revision_ms: _, ...i } = incidentCodec.decode(r.value);
      byId.set(i.id, `incident ${i.signals.map(storyName).join(',')} ${JSON.stringify(i)}`);
    }
  }
  return [...byId.values()].sort();
}

const claims = (rows: BusRecord[]) =>
  [
    ...new Map(
      rows
        .filter((r) => r.topic === CORRELATIONS_TOPIC)
        .map((r) => {
          const c = correlationCodec.decode(r.value);
          return [c.id, c] as const;
        }),
    ).values(),
  ]
    .filter((c) => c.score >= 0.5)
    .map((c) => `${storyName(c.cause_id)} → ${storyName(c.signal_id)}`)
    .sort();

test('a restart between two batches gives the rows of an uninterrupted run, and brings back no closed signal', async () => {
  const stages = engineStory(T);
  const run = async (restartBefore: number | undefined) => {
    const bus = await newBus();
    const out = await watchOutput(bus);
    let engine = await startEngine(bus);
    let fed = 0;
    let afterRestart = 0;
    try {
      for (const [i, stage] of stages.entries()) {
        if (i === restartBefore) {
          await engine.component.shutdown();
          afterRestart = out.rows.length;
          engine = await startEngine(bus);
          fed = 0;
        }
        await feed(bus, stage.messages);
        fed += stage.messages.length;
        await settle(engine, out, fed);
      }
      return { rows: out.rows, afterRestart: out.rows.slice(afterRestart) };
    } finally {
      await engine.component.shutdown();
      await out.stop();
      await bus.close();
    }
  };
  const uninterrupted = await run(undefined);
  const restarted = await run(3);
  assert.deepEqual(claims(uninterrupted.rows), [...EXPECTED_CLAIMS].sort());
  assert.deepEqual(latest(restarted.rows), latest(uninterrupted.rows));
  // I2 (s2) and I3 (s3) were closed before the restart: the restarted engine says nothing about them.
  const closed = [STORY_IDS.s2!, STORY_IDS.s3!];
  const about = restarted.afterRestart.filter((r) =>
    r.topic === CORRELATIONS_TOPIC
      ? closed.includes(correlationCodec.decode(r.value).signal_id)
      : incidentCodec.decode(r.value).signals.some((s) => closed.includes(s)),
  );
  assert.deepEqual(
    about.map((r) => r.topic),
    [],
    'rows about incidents closed before the restart',
  );
});

const call = (client: string, server: string, ts: number, address = ''): OutMessage => {
  const [cns, cname] = client.slice('service:'.length).split('/') as [string, string];
  const [sns, sname] = server.slice('service:'.length).split('/') as [string, string];
  const e = {
    id: `${client}>${server}@${ts}`,
    ts_ms: ts,
    trace_id: `t${ts}`,
    ...edgeSides(cname, cns, sname, sns),
    connection_type: address ? ('database' as const) : ('' as const),
    failed: false,
    latency_ms: 5,
    client_latency_ms: 6,
    server_address: address,
  };
  return { key: edgeKey(e), value: edgeCodec.encode(e), timestamp: ts };
};
const fact = (id: string, resource: string, ts: number): OutMessage => ({
  key: resource,
  value: healthCodec.encode({
    id,
    ts_ms: ts,
    resource_id: resource,
    status: 'critical',
    state: 'firing',
    rule: 'http_error_ratio',
    reason: 'errors',
    metric: 'error_ratio',
    value: 0.3,
    threshold: 0.05,
    labels: {},
  }),
  timestamp: ts,
});
const change = (id: string, ts: number, resource: string): OutMessage =>
  changeMessage({
    event_id: id,
    ts_ms: ts,
    source: 'cloudtrail',
    event_source: 'rds.amazonaws.com',
    event_name: 'RebootDBInstance',
    actor: 'carol',
    actor_type: 'IAMUser',
    account: '123456789012',
    region: 'eu-west-1',
    resource_ids: [resource],
    read_only: false,
    error_code: '',
    error_message: '',
    source_ip: '',
    user_agent: '',
    kind: 'cloudtrail',
    summary: '',
    details: '{}',
  });

test("a call edge's server address survives a restart: a database known only by it is still found", async () => {
  // The estate of the story (the database shop-ledger-prod is service:/ledgerdb by its address only).
  const estate = engineStory(T)[0]!.messages.filter(([input]) => input === 'topology');
  const bus = await newBus();
  const out = await watchOutput(bus);
  let engine = await startEngine(bus);
  try {
    await feed(bus, estate);
    // The first call edge has no address; the one a minute later has it (the changelog had only the first).
    await feed(bus, [
      ['edges', call(IDS.ledger, IDS.ledgerDb, T)],
      ['edges', call(IDS.ledger, IDS.ledgerDb, T + MIN, DB_ADDRESS)],
    ]);
    await settle(engine, out, estate.length + 2);
    await engine.component.shutdown();
    engine = await startEngine(bus);
    await feed(bus, [
      ['changes', change('reboot', T + 5 * MIN, IDS.db)],
      ['health', fact('ledger-errors', IDS.ledger, T + 7 * MIN)],
    ]);
    await settle(engine, out, 2);
    const rows = out.rows.filter((r) => r.topic === CORRELATIONS_TOPIC).map((r) => correlationCodec.decode(r.value));
    assert.deepEqual(
      rows.map((r) => [r.cause_id, r.impacted_resource_id, r.path]),
      [['reboot', IDS.ledger, [IDS.db, IDS.ledger]]],
    );
  } finally {
    await engine.component.shutdown();
    await out.stop();
    await bus.close();
  }
});

test('a call edge expires at the same event time whether or not the engine restarted since it was last seen', async () => {
  // Calls live 60 min past their last sighting (kept to 10 min): seen at 0 and 5, the call is gone
  // once the watermark passes 60 — with or without a restart after the sighting at 5.
  const estate = engineStory(T)[0]!.messages.filter(([input]) => input === 'topology');
  const config = { call_ttl_ms: 60 * MIN };
  const run = async (restart: boolean) => {
    const bus = await newBus();
    const out = await watchOutput(bus);
    let engine = await startEngine(bus, config);
    let fed = 0;
    const step = async (messages: [EngineInput, OutMessage][]) => {
      await feed(bus, messages);
      fed += messages.length;
      await settle(engine, out, fed);
    };
    try {
      await step([...estate, ['edges', call(IDS.web, IDS.api, T)], ['edges', call(IDS.web, IDS.api, T + 5 * MIN)]]);
      if (restart) {
        await engine.component.shutdown();
        engine = await startEngine(bus, config);
        fed = 0;
      }
      // At 62 the call (last kept as seen at 0) has expired: a change on api is no cause of web's signal at 63.
      await step([
        ['edges', call(IDS.checkout, IDS.ledger, T + 62 * MIN)],
        ['changes', change('api-change', T + 61 * MIN, IDS.api)],
        ['health', fact('web-errors', IDS.web, T + 63 * MIN)],
      ]);
      return out.rows.filter((r) => r.topic === CORRELATIONS_TOPIC).map((r) => correlationCodec.decode(r.value).cause_id);
    } finally {
      await engine.component.shutdown();
      await out.stop();
      await bus.close();
    }
  };
  assert.deepEqual(await run(false), []);
  assert.deepEqual(await run(true), []);
});

test('a record stamped far ahead of the clock is dropped and counted: it does not move event time past the story, whose answers stay as they are', async () => {
  const stages = engineStory(T);
  const future = Date.parse('2100-01-01T00:00:00Z');
  const [, fact] = stages.flatMap((s) => s.messages).find(([input]) => input === 'health')!;
  const skewed = { ...healthCodec.decode(fact.value as Buffer), id: 'skewed-host-fact', ts_ms: future };
  const [, edge] = stages.flatMap((s) => s.messages).find(([input]) => input === 'edges')!;
  const skewedEdge = { ...edgeCodec.decode(edge.value as Buffer), ts_ms: future };
  // Both arrive early in the story, before most of its signals and causes.
  stages[1]!.messages.push(['health', { key: fact.key, value: healthCodec.encode(skewed), timestamp: future }]);
  stages[1]!.messages.push(['edges', { key: edge.key, value: edgeCodec.encode(skewedEdge), timestamp: future }]);
  await playStory(stages, {}, async (engine, out) => {
    assert.deepEqual(claims(out.rows), [...EXPECTED_CLAIMS].sort());
    assert.equal(await componentMetric(engine.registry, 'airdig_component_dropped_total', 'engine'), 2);
  });
});

test('signals forgotten past max_signals are counted in airdig_component_dropped_total{reason="evicted_signal"}', async () => {
  const stages = engineStory(T);
  const facts = stages.flatMap((s) => s.messages).filter(([input]) => input === 'health').length;
  await playStory(stages, { max_signals: 1 }, async (engine) => {
    const { values } = await engine.registry.getSingleMetric('airdig_component_dropped_total')!.get();
    const evicted = values.filter((v) => v.labels.component === 'engine' && v.labels.reason === 'evicted_signal').reduce((n, v) => n + v.value, 0);
    assert.ok(evicted >= 1 && evicted < facts, `evicted ${evicted} of ${facts} health facts`);
  });
});
