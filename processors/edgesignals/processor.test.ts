import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import { KafkaBus } from '../runtime/bus/kafka.js';
import type { Bus, OutMessage } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { edgeCodec, edgeKey, edgeSides, type EdgeFact } from '../model/edges.js';
import { healthCodec, type HealthFact } from '../model/health.js';
import { healthFactsFactory } from '../health/sink.js';
import { edgeSignalsFactory } from './processor.js';
import { MINUTE_MS } from './signals.js';
import { componentMetric, componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { uniqueName, waitFor } from '../../tests/helpers/wait.js';
import { kafkaBrokers } from '../../tests/helpers/kafka.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('edgesignals');
});
test.after(() => store.close());

/** Minute 0 of the tests: an hour ago, on a minute boundary. */
const T0 = Math.floor((Date.now() - 3_600_000) / MINUTE_MS) * MINUTE_MS;
const at = (m: number) => T0 + m * MINUTE_MS;

/** Edge records as the servicegraph processor sends them: `calls` over the first 20 s of minute m, the first `errors` failed. */
function minute(ns: string, m: number, calls: number, errors: number, client = 'checkout', server = 'payments'): OutMessage[] {
  const out: OutMessage[] = [];
  for (let i = 0; i < calls; i++) out.push(edge(ns, at(m) + Math.floor((i * 20_000) / calls), i < errors, client, server, `${m}-${i}`));
  return out;
}

function edge(ns: string, ts: number, failed: boolean, client: string, server: string, n: string): OutMessage {
  const e: EdgeFact = {
    id: `${ns}-${client}-${server}-${n}`,
    ts_ms: ts,
    trace_id: `${ns}-${n}`,
    ...edgeSides(client, ns, server, ns),
    connection_type: '',
    failed,
    latency_ms: 40 + (ts % 7),
    client_latency_ms: 45,
  };
  return { key: edgeKey(e), value: edgeCodec.encode(e), timestamp: ts };
}

/** One call of another edge at ts: moves the partition's watermark. */
const tick = (ns: string, ts: number) => edge(ns, ts, false, 'clock', 'tick', `tick-${ts}`);

test('edges → edge_signals → airdig.health → health_facts: the failing edge makes server and client unhealthy in resource_health; offsets are committed as minutes close', async () => {
  const ns = uniqueName('es').replace(/-/g, '');
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'airdig.edges', partitions: 1 },
    { name: 'airdig.health', partitions: 2 },
    { name: 'airdig.dlq', partitions: 1 },
  ]);
  const sink = healthFactsFactory.create(componentSettings(healthFactsFactory, bus, store), healthFactsFactory.configSchema.parse({}));
  const settings = componentSettings(edgeSignalsFactory, bus, store);
  const signals = edgeSignalsFactory.create(settings, edgeSignalsFactory.configSchema.parse({}));
  await sink.start();
  await signals.start();
  const committed = () => bus.group('airdig.edge_signals').committed('airdig.edges', 0);
  const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  try {
    const sent: OutMessage[] = [];
    const send = async (ms: OutMessage[]) => {
      sent.push(...ms);
      await bus.producer().send('airdig.edges', ms);
    };
    for (let m = 0; m < 10; m++) await send(minute(ns, m, 100, 0));
    await send(minute(ns, 10, 200, 60));
    await waitFor(
      async () => (await componentMetric(settings.registry, 'airdig_component_received_total', 'edge_signals')) === sent.length,
      10_000,
      'all edges read',
    );
    // Minute 10 is open (and minute 9 too: the watermark is 20 s into minute 10 minus 30 s): nothing committed past minute 9's first record.
    const minute9 = sent.findIndex((r) => edgeCodec.decode(r.value!).ts_ms >= at(9));
    await waitFor(() => committed() === minute9, 10_000, `commit at minute 9's first record (${minute9}); at ${committed()}`);
    const closing = sent.length;
    await send([tick(ns, at(11) + 30_000)]);
    await waitFor(() => committed() === closing, 10_000, `commit up to the tick's minute, the only one open (${closing}); at ${committed()}`);
    const health = await waitFor(
      async () => {
        const rows = await q<{ resource_id: string; status: string; reason: string }>(
          `SELECT resource_id, status, reason FROM resource_health WHERE resource_id IN ('service:${ns}/payments', 'service:${ns}/checkout') ORDER BY resource_id`,
        );
        return rows.length === 2 ? rows : undefined;
      },
      20_000,
      'both sides in resource_health',
    );
    assert.deepEqual(health, [
      { resource_id: `service:${ns}/checkout`, status: 'critical', reason: 'as the caller: checkout → payments errors 30 % (60 of 200 calls), baseline 0 %' },
      { resource_id: `service:${ns}/payments`, status: 'critical', reason: 'checkout → payments errors 30 % (60 of 200 calls), baseline 0 %' },
    ]);
    const facts = await q<{ ts: string; rule: string; state: string }>(
      `SELECT ts, rule, state FROM health_facts FINAL WHERE resource_id = 'service:${ns}/payments' ORDER BY ts`,
    );
    assert.deepEqual(facts, [{ ts: new Date(at(10)).toISOString().replace('T', ' ').replace('Z', ''), rule: 'edge_error_ratio', state: 'firing' }]);
  } finally {
    await signals.shutdown();
    await sink.shutdown();
    await bus.close();
  }
});

for (const kind of ['memory', 'kafka'] as const) {
  test(`${kind} bus: a restarted edge_signals restores the firing signal from its changelog, reads again only the open minute, fires nothing twice and resolves`, async () => {
    const ns = uniqueName('esr').replace(/-/g, '');
    const bus: Bus = kind === 'memory' ? new MemoryBus() : new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-test' });
    const input = uniqueName('edges-in');
    const output = uniqueName('edges-health');
    const id = `edge_signals/${uniqueName('restart')}`;
    await bus.ensureTopics([
      { name: input, partitions: 1 },
      { name: output, partitions: 1 },
      { name: 'airdig.dlq', partitions: 1 },
    ]);
    const config = edgeSignalsFactory.configSchema.parse({ input, output });
    const start = async () => {
      const settings = componentSettings(edgeSignalsFactory, bus, store, id);
      const component = edgeSignalsFactory.create(settings, config);
      await component.start();
      return { component, received: async () => (await componentMetric(settings.registry, 'airdig_component_received_total', id)) ?? 0 };
    };
    const out: HealthFact[] = [];
    const reader = bus.consumer({
      groupId: uniqueName('reader'),
      topics: [output],
      handler: async (batch) => void out.push(...batch.map((r) => healthCodec.decode(r.value))),
    });
    await reader.start();
    const send = (ms: OutMessage[]) => bus.producer().send(input, ms);
    let p = await start();
    try {
      const first: OutMessage[] = [];
      for (let m = 0; m < 5; m++) first.push(...minute(ns, m, 50, 0));
      first.push(...minute(ns, 5, 50, 15), tick(ns, at(6) + 30_000)); // minute 5: 30 % errors, closed by the tick
      await send(first);
      await waitFor(async () => (await p.received()) === first.length, 30_000, 'the first edges handled');
      await waitFor(() => out.length === 2, 30_000, 'the firing facts');
      await p.component.shutdown(); // the firing state is in the changelog; the tick's minute (6) holds the tick
      const second = [...minute(ns, 7, 50, 0), ...minute(ns, 8, 50, 0), tick(ns, at(9) + 30_000)];
      await send(second);
      p = await start();
      await waitFor(() => out.length >= 4, 30_000, 'the resolved facts after the restart');
      await waitFor(async () => (await p.received()) === second.length + 1, 30_000, 'the held tick and the edges sent while down');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(await p.received(), second.length + 1, 'of the records before the restart only the open minute (the tick) is read again');
      assert.deepEqual(
        out.map((f) => [f.resource_id, f.state, f.status, f.ts_ms]),
        [
          [`service:${ns}/payments`, 'firing', 'critical', at(5)],
          [`service:${ns}/checkout`, 'firing', 'critical', at(5)],
          [`service:${ns}/payments`, 'resolved', 'healthy', at(7)],
          [`service:${ns}/checkout`, 'resolved', 'healthy', at(7)],
        ],
      );
      assert.equal(new Set(out.map((f) => f.id)).size, 4);
    } finally {
      await p.component.shutdown();
      await reader.stop();
      await bus.close();
    }
  });
}

test('a record that is not an edge goes to the dead-letter topic; the rest of the batch is judged', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(['airdig.edges', 'airdig.health', 'airdig.dlq'].map((name) => ({ name, partitions: 1 })));
  const settings = componentSettings(edgeSignalsFactory, bus, store);
  const signals = edgeSignalsFactory.create(settings, edgeSignalsFactory.configSchema.parse({}));
  const dead: unknown[] = [];
  const facts: HealthFact[] = [];
  const readers = [
    bus.consumer({ groupId: 'dlq-reader', topics: ['airdig.dlq'], handler: async (b) => void dead.push(...b) }),
    bus.consumer({ groupId: 'health-reader', topics: ['airdig.health'], handler: async (b) => void facts.push(...b.map((r) => healthCodec.decode(r.value))) }),
  ];
  for (const r of readers) await r.start();
  await signals.start();
  try {
    const ns = 'esdlq';
    await bus.producer().send('airdig.edges', [{ key: null, value: Buffer.from([0xff, 0x01]) }, ...minute(ns, 0, 20, 20), tick(ns, at(1) + 30_000)]);
    await waitFor(() => dead.length === 1 && facts.length === 2, 10_000, 'one dead letter and two facts');
    assert.equal(await componentMetric(settings.registry, 'airdig_component_dlq_total', 'edge_signals'), 1);
  } finally {
    await signals.shutdown();
    for (const r of readers) await r.stop();
    await bus.close();
  }
});
