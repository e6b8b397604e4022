// resource_aliases and resources: every other name of a node, and one row per canonical resource
// with its health, open drift, last change and criticality, fed through the real sinks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Component } from '../runtime/pipeline/component.js';
import type { Store } from '../runtime/store/store.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../model/topology.js';
import { healthCodec } from '../model/health.js';
import { changeCodec, type ChangeEvent } from '../model/changes.js';
import { graphEdgesFactory, graphNodesFactory, resourceAliasesFactory } from './sink.js';
import { healthFactsFactory } from '../health/sink.js';
import { changeEventsFactory } from '../cloudtrail/sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const I1 = 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0aaaaaaaaaaaaaaa1';
const T = Date.now() - 3_600_000;

let store: Store;
test.before(async () => {
  store = await openMigratedStore('resources');
});
test.after(() => store.close());

const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();

test('resource_aliases maps IPs, DNS names and short ids to the canonical id; resources joins health, last change and criticality', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(['airdig.topology', 'airdig.health', 'airdig.changes', 'airdig.dlq'].map((name) => ({ name, partitions: 2 })));
  const factories = [graphNodesFactory, graphEdgesFactory, resourceAliasesFactory, healthFactsFactory, changeEventsFactory];
  const components: Component[] = factories.map((f) => f.create(componentSettings(f as never, bus, store), f.configSchema.parse({}) as never));
  for (const c of components) await c.start();
  const base = { provider: 'aws', account: '123456789012', region: 'eu-west-1', seen_ms: T, gone: false };
  const records: TopologyRecord[] = [
    {
      ...base,
      kind: 'node',
      id: I1,
      dst: '',
      type: 'ec2:instance',
      name: 'web-1',
      attributes: { aliases: 'i-0aaaaaaaaaaaaaaa1,10.0.1.5,ip-10-0-1-5.eu-west-1.compute.internal' },
      source: 'scanner',
    },
    { ...base, kind: 'node', id: 'service:shop/checkout', dst: '', type: 'service', name: 'checkout', attributes: {}, source: 'traces' },
    { ...base, kind: 'node', id: 'service:shop/cart', dst: '', type: 'service', name: 'cart', attributes: {}, source: 'traces' },
    { ...base, kind: 'edge', id: 'service:shop/checkout', dst: I1, type: 'runs_on', name: '', attributes: {}, source: 'traces' },
    { ...base, kind: 'edge', id: 'service:shop/cart', dst: I1, type: 'runs_on', name: '', attributes: {}, source: 'traces' },
  ];
  const change: ChangeEvent = {
    event_id: 'res-ct-1',
    ts_ms: T + 60_000,
    source: 'cloudtrail',
    event_source: 'ec2.amazonaws.com',
    event_name: 'StopInstances',
    actor: 'alice',
    actor_type: 'IAMUser',
    account: '123456789012',
    region: 'eu-west-1',
    resource_ids: [I1],
    read_only: false,
    error_code: '',
    error_message: '',
    source_ip: '',
    user_agent: '',
    kind: 'cloudtrail',
    summary: '',
    details: '{}',
  };
  const p = bus.producer();
  await p.send(
    'airdig.topology',
    records.map((r) => ({ key: topologyKey(r), value: topologyCodec.encode(r), timestamp: r.seen_ms })),
  );
  await p.send('airdig.changes', [
    { key: I1, value: changeCodec.encode(change) },
    { key: I1, value: changeCodec.encode({ ...change, event_id: 'res-ct-2', ts_ms: T + 120_000, event_name: 'DescribeInstances', read_only: true }) },
  ]);
  await p.send('airdig.health', [
    {
      key: I1,
      value: healthCodec.encode({
        id: 'res-h-1',
        ts_ms: T + 90_000,
        resource_id: I1,
        status: 'critical',
        state: 'firing',
        rule: 'target_down',
        reason: 'up == 0',
        metric: 'up',
        value: 0,
        threshold: 0,
        labels: {},
      }),
    },
  ]);
  try {
    const aliases = await waitFor(
      async () => {
        const r = await q<{ alias: string; resource_id: string }>(`SELECT alias, resource_id FROM resource_aliases WHERE resource_id = '${I1}' ORDER BY alias`);
        return r.length === 4 ? r : undefined;
      },
      10_000,
      'aliases',
    );
    assert.deepEqual(
      aliases.map((a) => a.alias),
      ['10.0.1.5', 'i-0aaaaaaaaaaaaaaa1', 'ip-10-0-1-5.eu-west-1.compute.internal', 'web-1'],
    );
    const row = await waitFor(
      async () => {
        const r = await q<{ health: string; last_change: string | null; criticality: string; name: string }>(
          `SELECT health, last_change, criticality, name FROM resources WHERE resource_id = '${I1}'`,
        );
        return r[0]?.health === 'critical' && r[0].last_change ? r[0] : undefined;
      },
      10_000,
      'the resource row',
    );
    assert.equal(row.name, 'web-1');
    assert.equal(Date.parse(row.last_change!.replace(' ', 'T') + 'Z'), T + 60_000, 'the read-only call after it is not a change');
    assert.equal(Number(row.criticality), 2, 'two services run on it');
    const [svc] = await q<{ health: string; last_change: string | null }>(`SELECT health, last_change FROM resources WHERE resource_id = 'service:shop/cart'`);
    assert.deepEqual(svc, { health: 'unknown', last_change: null });
  } finally {
    for (const c of components) await c.shutdown();
    await bus.close();
  }
});
