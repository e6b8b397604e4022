import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import { ManualClock } from '../runtime/clock.js';
import type { Store } from '../runtime/store/store.js';
import { ExportTraceServiceRequest } from '../model/otlp.js';
import { placementFactory } from './processor.js';
import { graphEdgesFactory, graphNodesFactory } from '../graph/sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('placement');
});
test.after(() => store.close());

test('services on an EC2 instance become runs_on edges in graph_edges and nodes in graph_nodes, reported once per refresh', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'otlp_spans', partitions: 2 },
    { name: 'airdig.topology', partitions: 2, compacted: true },
  ]);
  const clock = new ManualClock(Date.now());
  const psettings = { ...componentSettings(placementFactory, bus, store), clock };
  const placement = placementFactory.create(psettings, placementFactory.configSchema.parse({ refresh_ms: 60_000 }));
  const nodes = graphNodesFactory.create(componentSettings(graphNodesFactory, bus, store), graphNodesFactory.configSchema.parse({}));
  const edges = graphEdgesFactory.create(componentSettings(graphEdgesFactory, bus, store), graphEdgesFactory.configSchema.parse({}));
  for (const c of [nodes, edges, placement]) await c.start();
  const message = (service: string) =>
    Buffer.from(
      ExportTraceServiceRequest.encode({
        resourceSpans: [
          {
            resource: {
              attributes: Object.entries({
                'service.name': service,
                'service.namespace': 'pl',
                'cloud.provider': 'aws',
                'cloud.region': 'eu-west-1',
                'cloud.account.id': '123456789012',
                'host.id': 'i-0aaaaaaaaaaaaaaa1',
              }).map(([key, v]) => ({ key, value: { stringValue: v } })),
            },
            scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 1), kind: 2, name: 'x' }] }],
          },
        ],
      }).finish(),
    );
  const p = bus.producer();
  await p.send('otlp_spans', [{ value: message('pl-checkout') }, { value: message('pl-cart') }, { value: message('pl-checkout') }]);
  const instance = 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0aaaaaaaaaaaaaaa1';
  const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  const got = await waitFor(
    async () => {
      const r = await q<{ src: string; dst: string; type: string }>(`SELECT src, dst, type FROM graph_edges WHERE dst = '${instance}' ORDER BY src`);
      return r.length >= 2 ? r : undefined;
    },
    10_000,
    'runs_on edges',
  );
  assert.deepEqual(got, [
    { src: 'service:pl/pl-cart', dst: instance, type: 'runs_on' },
    { src: 'service:pl/pl-checkout', dst: instance, type: 'runs_on' },
  ]);
  const node = await q<{ id: string; type: string; provider: string; account: string; region: string }>(
    `SELECT id, type, provider, account, region FROM graph_nodes WHERE id = '${instance}'`,
  );
  assert.deepEqual(node, [{ id: instance, type: 'ec2:instance', provider: 'aws', account: '123456789012', region: 'eu-west-1' }]);
  // Within the refresh interval a placement is not reported again; after it, last_seen moves.
  const versions = async () => Number((await q<{ n: string }>(`SELECT count() AS n FROM graph_edge_versions WHERE dst = '${instance}'`))[0]!.n);
  await waitFor(async () => (await versions()) === 2, 5_000, 'two edge versions');
  clock.advance(61_000);
  await p.send('otlp_spans', [{ value: message('pl-checkout') }]);
  await waitFor(async () => (await versions()) === 3, 10_000, 'a refreshed version');
  const [e] = await q<{ first_seen: string; last_seen: string }>(`SELECT first_seen, last_seen FROM graph_edges WHERE src = 'service:pl/pl-checkout'`);
  assert.ok(e!.last_seen > e!.first_seen, 'last_seen moved');
  for (const c of [placement, nodes, edges]) await c.shutdown();
  await bus.close();
});
