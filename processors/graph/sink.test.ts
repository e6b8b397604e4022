// graph_nodes as the scanner (topology) and the traces (placement) both describe a node: a sighting
// from traces adds what it knows and never erases what a scan said; the latest scan describes it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import { ManualClock } from '../runtime/clock.js';
import type { Component } from '../runtime/pipeline/component.js';
import type { Store } from '../runtime/store/store.js';
import { ExportTraceServiceRequest } from '../model/otlp.js';
import { parseScanBody } from '../inventory/records.js';
import { scannerCodec } from '../model/inventory.js';
import { placementFactory } from '../placement/processor.js';
import { topologyFactory } from '../topology/processor.js';
import { graphEdgesFactory, graphNodesFactory } from './sink.js';
import { topologyKey, type TopologyRecord } from '../model/topology.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';
const T0 = Date.parse('2026-11-23T10:00:00Z');
const instanceArn = (id: string) => `arn:aws:ec2:${REGION}:${ACCOUNT}:instance/${id}`;

let store: Store;
test.before(async () => {
  store = await openMigratedStore('graph');
});
test.after(() => store.close());

async function rows<T>(sql: string): Promise<T[]> {
  return (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
}

interface NodeRow {
  type: string;
  provider: string;
  account: string;
  region: string;
  name: string;
  attributes: Record<string, string>;
  first_seen: string;
  last_seen: string;
  gone: boolean;
}

const nodeRow = async (id: string) =>
  (await rows<NodeRow>(`SELECT type, provider, account, region, name, attributes, first_seen, last_seen, gone FROM graph_nodes WHERE id = '${id}'`))[0];
const versions = async (id: string, source: string) =>
  Number((await rows<{ n: string }>(`SELECT count() AS n FROM graph_node_versions WHERE id = '${id}' AND source = '${source}'`))[0]!.n);
const shown = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');

/** topology + placement + the graph sinks on one MemoryBus, the placement's clock in the test's hand. */
async function pipeline() {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'otlp_spans', partitions: 2 },
    { name: 'scanner_resources', partitions: 2 },
    { name: 'airdig.topology', partitions: 2, compacted: true },
    { name: 'airdig.dlq', partitions: 1 },
  ]);
  const clock = new ManualClock(T0);
  const placement = placementFactory.create(
    { ...componentSettings(placementFactory, bus, store), clock },
    placementFactory.configSchema.parse({ refresh_ms: 60_000 }),
  );
  const components: Component[] = [
    graphNodesFactory.create(componentSettings(graphNodesFactory, bus, store), graphNodesFactory.configSchema.parse({})),
    graphEdgesFactory.create(componentSettings(graphEdgesFactory, bus, store), graphEdgesFactory.configSchema.parse({})),
    topologyFactory.create(componentSettings(topologyFactory, bus, store), topologyFactory.configSchema.parse({})),
    placement,
  ];
  for (const c of components) await c.start();
  const producer = bus.producer();
  return {
    clock,
    /** A complete scan of aws/ACCOUNT/REGION taken at `time`. */
    async scan(id: string, time: number, resources: object[]) {
      const body = { scan: { id, provider: 'aws', account: ACCOUNT, region: REGION, completeness: 'complete', time: new Date(time).toISOString() }, resources };
      const { records, errors } = parseScanBody(Buffer.from(JSON.stringify(body)), time);
      assert.deepEqual(errors, []);
      await producer.send(
        'scanner_resources',
        records.map((r) => ({ key: r.scope, value: scannerCodec.encode(r) })),
      );
    },
    /** Spans of service shop/<service> on the EC2 instance hostId, seen at the placement's clock. */
    async spans(service: string, hostId: string, extra: Record<string, string> = {}) {
      const attrs = {
        'service.name': service,
        'service.namespace': 'shop',
        'cloud.provider': 'aws',
        'cloud.region': REGION,
        'cloud.account.id': ACCOUNT,
        'host.id': hostId,
        ...extra,
      };
      const value = Buffer.from(
        ExportTraceServiceRequest.encode({
          resourceSpans: [
            {
              resource: { attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })) },
              scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 7), spanId: Buffer.alloc(8, 7), kind: 2, name: 'GET /' }] }],
            },
          ],
        }).finish(),
      );
      await producer.send('otlp_spans', [{ value }]);
    },
    async close() {
      for (const c of components.reverse()) await c.shutdown();
      await bus.close();
    },
  };
}

const untilVersions = (id: string, source: string, n: number) =>
  waitFor(async () => (await versions(id, source)) >= n, 10_000, `${n} ${source} version(s) of ${id}`);

test("a sighting from traces after a scan keeps the scan's name and attributes; the runs_on edge is there", async () => {
  const p = await pipeline();
  try {
    const id = instanceArn('i-0aaaaaaaaaaaaaaa1');
    await p.scan('scan-a', T0 - 60_000, [
      {
        id: 'i-0aaaaaaaaaaaaaaa1',
        type: 'ec2:instance',
        name: 'web-1',
        attributes: { instance_type: 't3.small', private_ip: '10.0.1.5' },
        tags: { Team: 'shop' },
      },
    ]);
    await untilVersions(id, 'scanner', 1);
    await p.spans('checkout', 'i-0aaaaaaaaaaaaaaa1');
    await untilVersions(id, 'traces', 1);
    const edge = await waitFor(
      async () => (await rows<{ src: string; gone: boolean }>(`SELECT src, gone FROM graph_edges WHERE dst = '${id}' AND type = 'runs_on'`))[0],
      10_000,
      'the runs_on edge',
    );
    assert.deepEqual(edge, { src: 'service:shop/checkout', gone: false });
    assert.deepEqual(await nodeRow(id), {
      type: 'ec2:instance',
      provider: 'aws',
      account: ACCOUNT,
      region: REGION,
      name: 'web-1',
      attributes: { instance_type: 't3.small', private_ip: '10.0.1.5', 'tags.Team': 'shop', aliases: 'i-0aaaaaaaaaaaaaaa1', scope: `aws/${ACCOUNT}/${REGION}` },
      first_seen: shown(T0 - 60_000),
      last_seen: shown(T0),
      gone: false,
    });
  } finally {
    await p.close();
  }
});

test('sighting first, scan later: the scan describes the node, a later sighting does not undo it, a later scan renames it; merges change nothing', async () => {
  const p = await pipeline();
  try {
    const id = instanceArn('i-0bbbbbbbbbbbbbbb2');
    // Only traces know it: they name it.
    await p.spans('cart', 'i-0bbbbbbbbbbbbbbb2', { 'host.name': 'ip-10-0-2-7' });
    await untilVersions(id, 'traces', 1);
    assert.deepEqual(await nodeRow(id), {
      type: 'ec2:instance',
      provider: 'aws',
      account: ACCOUNT,
      region: REGION,
      name: 'ip-10-0-2-7',
      attributes: {},
      first_seen: shown(T0),
      last_seen: shown(T0),
      gone: false,
    });

    await p.scan('scan-b1', T0 + 1_000, [
      { id: 'i-0bbbbbbbbbbbbbbb2', type: 'ec2:instance', name: 'worker-2', attributes: { instance_type: 'm5.large' }, tags: { Old: 'yes' } },
    ]);
    await untilVersions(id, 'scanner', 1);
    const scanned = { instance_type: 'm5.large', 'tags.Old': 'yes', aliases: 'i-0bbbbbbbbbbbbbbb2', scope: `aws/${ACCOUNT}/${REGION}` };
    assert.deepEqual(await nodeRow(id), {
      type: 'ec2:instance',
      provider: 'aws',
      account: ACCOUNT,
      region: REGION,
      name: 'worker-2',
      attributes: scanned,
      first_seen: shown(T0),
      last_seen: shown(T0 + 1_000),
      gone: false,
    });

    // The placement refresh: the service is seen there again, after the scan.
    p.clock.advance(61_000);
    await p.spans('cart', 'i-0bbbbbbbbbbbbbbb2', { 'host.name': 'ip-10-0-2-7' });
    await untilVersions(id, 'traces', 2);
    assert.deepEqual(await nodeRow(id), {
      type: 'ec2:instance',
      provider: 'aws',
      account: ACCOUNT,
      region: REGION,
      name: 'worker-2',
      attributes: scanned,
      first_seen: shown(T0),
      last_seen: shown(T0 + 61_000),
      gone: false,
    });

    // A later scan that renames it wins over the older scan; what the older scan said and the newer does not is gone.
    await p.scan('scan-b2', T0 + 62_000, [
      { id: 'i-0bbbbbbbbbbbbbbb2', type: 'ec2:instance', name: 'worker-2b', attributes: { instance_type: 'm5.xlarge' }, tags: { Team: 'shop' } },
    ]);
    await untilVersions(id, 'scanner', 2);
    const expected = {
      type: 'ec2:instance',
      provider: 'aws',
      account: ACCOUNT,
      region: REGION,
      name: 'worker-2b',
      attributes: { instance_type: 'm5.xlarge', 'tags.Team': 'shop', aliases: 'i-0bbbbbbbbbbbbbbb2', scope: `aws/${ACCOUNT}/${REGION}` },
      first_seen: shown(T0),
      last_seen: shown(T0 + 62_000),
      gone: false,
    };
    assert.deepEqual(await nodeRow(id), expected);
    const edges = await waitFor(
      async () => {
        const r = await rows<{ first_seen: string; last_seen: string }>(
          `SELECT first_seen, last_seen FROM graph_edges WHERE src = 'service:shop/cart' AND dst = '${id}' AND type = 'runs_on'`,
        );
        return r[0]?.last_seen === shown(T0 + 61_000) ? r : undefined;
      },
      10_000,
      'the refreshed runs_on edge',
    );
    assert.deepEqual(edges, [{ first_seen: shown(T0), last_seen: shown(T0 + 61_000) }]);

    // Merged (as a background merge would), every source's versions survive and the view says the same.
    await store.client.command({ query: 'OPTIMIZE TABLE graph_node_versions FINAL' });
    const merged = await rows<{ source: string; n: string | number }>(
      `SELECT source, count() AS n FROM graph_node_versions FINAL WHERE id = '${id}' GROUP BY source ORDER BY source`,
    );
    assert.deepEqual(
      merged.map((r) => [r.source, Number(r.n)]),
      [
        ['scanner', 2],
        ['traces', 2],
      ],
    );
    assert.deepEqual(await nodeRow(id), expected);
  } finally {
    await p.close();
  }
});

test('a sighting fills what no scan said; a scan that no longer sees a node still marks it gone, and traces bring it back', async () => {
  const p = await pipeline();
  try {
    const id = instanceArn('i-0ccccccccccccccc3');
    const other = instanceArn('i-0ddddddddddddddd4');
    // This scan gives the instance no name (no Name tag); the traces' host.name fills it.
    await p.scan('scan-c1', T0 - 5_000, [
      { id: 'i-0ccccccccccccccc3', type: 'ec2:instance', attributes: { instance_type: 't3.micro' } },
      { id: 'i-0ddddddddddddddd4', type: 'ec2:instance', name: 'other' },
    ]);
    await untilVersions(id, 'scanner', 1);
    await p.spans('search', 'i-0ccccccccccccccc3', { 'host.name': 'ip-10-0-3-9' });
    await untilVersions(id, 'traces', 1);
    const described = {
      type: 'ec2:instance',
      provider: 'aws',
      account: ACCOUNT,
      region: REGION,
      name: 'ip-10-0-3-9',
      attributes: { instance_type: 't3.micro', aliases: 'i-0ccccccccccccccc3', scope: `aws/${ACCOUNT}/${REGION}` },
    };
    assert.deepEqual(await nodeRow(id), { ...described, first_seen: shown(T0 - 5_000), last_seen: shown(T0), gone: false });

    // A complete scan without it marks it gone; the gone version erases no description either.
    await p.scan('scan-c2', T0 + 10_000, [{ id: 'i-0ddddddddddddddd4', type: 'ec2:instance', name: 'other' }]);
    await untilVersions(id, 'scanner', 2);
    assert.deepEqual(await nodeRow(id), { ...described, first_seen: shown(T0 - 5_000), last_seen: shown(T0), gone: true });
    assert.equal((await nodeRow(other))?.gone, false);

    // Traces see it again: it is back, still described as the scan (and the traces) said.
    p.clock.set(T0 + 70_000);
    await p.spans('search', 'i-0ccccccccccccccc3', { 'host.name': 'ip-10-0-3-9' });
    await untilVersions(id, 'traces', 2);
    assert.deepEqual(await nodeRow(id), { ...described, first_seen: shown(T0 - 5_000), last_seen: shown(T0 + 70_000), gone: false });
  } finally {
    await p.close();
  }
});

test('on the compacted airdig.topology, a sighting and a scan of the same node or edge have different keys', () => {
  const scanned: TopologyRecord = {
    kind: 'node',
    id: 'arn:aws:ec2:r:1:instance/i-1',
    dst: '',
    type: 'ec2:instance',
    provider: 'aws',
    account: '1',
    region: 'r',
    name: 'web',
    attributes: {},
    seen_ms: 1,
    source: 'scanner',
    gone: false,
  };
  const sighted: TopologyRecord = { ...scanned, name: '', source: 'traces' };
  assert.equal(topologyKey(scanned), scanned.id);
  assert.notEqual(topologyKey(sighted), topologyKey(scanned));
  // Versions of one source still replace each other (a gone version replaces the scan's).
  assert.equal(topologyKey({ ...scanned, gone: true, seen_ms: 2 }), topologyKey(scanned));
  assert.equal(topologyKey({ ...sighted, seen_ms: 2 }), topologyKey(sighted));
  const edge: TopologyRecord = { ...scanned, kind: 'edge', dst: 'arn:aws:ec2:r:1:subnet/s-1', type: 'member_of' };
  assert.equal(topologyKey(edge), `${edge.id}|member_of|${edge.dst}`);
  assert.notEqual(topologyKey({ ...edge, source: 'traces' }), topologyKey(edge));
});
