import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { OutMessage } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { ExportTraceServiceRequest, type ISpan } from '../model/otlp.js';
import type { Component } from '../runtime/pipeline/component.js';
import avro from 'avsc';
import { avroCodec } from '../runtime/avro.js';
import { MalformedInputError } from '../runtime/errors.js';
import { serviceGraphFactory } from './processor.js';
import { edgeRow, serviceEdgesFactory } from './sink.js';
import { edgeKey, edgeSides, type EdgeFact } from '../model/edges.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';
import { openTestStore } from '../../tests/helpers/clickhouse.js';
import { repoRoot } from '../../tests/helpers/kafka.js';
import { loadMigrations, migrate } from '../runtime/store/migrate.js';
import { splitStatements } from '../runtime/store/sql.js';
import path from 'node:path';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('sg');
});
test.after(() => store.close());

const NOW_NS = BigInt(Date.now() - 60_000) * 1_000_000n;
type Half = { service: string; namespace?: string; span: ISpan };

/** Request i: web (root server) → api (client) → api server → db client (mysql); every 3rd api server span fails. */
function traceHalves(i: number, tag: string): Half[] {
  const traceId = Buffer.from(`${tag}${String(i).padStart(6, '0')}`.padEnd(32, 'f').slice(0, 32), 'hex');
  const id = (n: number) => Buffer.from(`${String(i).padStart(6, '0')}0${n}`.padEnd(16, '0').slice(0, 16), 'hex');
  const t = (ms: number) => (NOW_NS + BigInt(i) * 1_000_000n + BigInt(ms) * 1_000_000n).toString();
  return [
    {
      service: `${tag}-web`,
      span: { traceId, spanId: id(1), name: 'GET /', kind: 2, startTimeUnixNano: t(0) as unknown as number, endTimeUnixNano: t(50) as unknown as number },
    },
    {
      service: `${tag}-web`,
      span: {
        traceId,
        spanId: id(2),
        parentSpanId: id(1),
        name: 'GET api',
        kind: 3,
        startTimeUnixNano: t(1) as unknown as number,
        endTimeUnixNano: t(40) as unknown as number,
      },
    },
    {
      service: `${tag}-api`,
      span: {
        traceId,
        spanId: id(3),
        parentSpanId: id(2),
        name: 'GET /items',
        kind: 2,
        startTimeUnixNano: t(2) as unknown as number,
        endTimeUnixNano: t(30) as unknown as number,
        status: { code: i % 3 === 0 ? 2 : 0 },
      },
    },
    {
      service: `${tag}-api`,
      span: {
        traceId,
        spanId: id(4),
        parentSpanId: id(3),
        name: 'SELECT',
        kind: 3,
        startTimeUnixNano: t(3) as unknown as number,
        endTimeUnixNano: t(10) as unknown as number,
        attributes: [{ key: 'db.system', value: { stringValue: `${tag}-mysql` } }],
      },
    },
  ];
}

/** One resource per service (namespace and name), as an SDK sends them. */
function encode(halves: Half[]): Buffer {
  const byService = new Map<string, { service: string; namespace: string | undefined; spans: ISpan[] }>();
  for (const h of halves) {
    const k = `${h.namespace ?? ''}/${h.service}`;
    (byService.get(k) ?? byService.set(k, { service: h.service, namespace: h.namespace, spans: [] }).get(k)!).spans.push(h.span);
  }
  const attributes = (service: string, namespace: string | undefined) => [
    { key: 'service.name', value: { stringValue: service } },
    ...(namespace === undefined ? [] : [{ key: 'service.namespace', value: { stringValue: namespace } }]),
  ];
  return Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [...byService.values()].map((r) => ({ resource: { attributes: attributes(r.service, r.namespace) }, scopeSpans: [{ spans: r.spans }] })),
      }),
    ).finish(),
  );
}

function expected(tag: string, n: number) {
  const errors = Math.ceil(n / 3);
  return [
    { client: `${tag}-api`, server: `${tag}-mysql`, connection_type: 'database', calls: n, errors: 0 },
    { client: `${tag}-web`, server: `${tag}-api`, connection_type: '', calls: n, errors },
    { client: 'user', server: `${tag}-web`, connection_type: 'virtual_node', calls: n, errors: 0 },
  ];
}

async function edgesFor(tag: string) {
  const rows = await (
    await store.client.query({
      query: `SELECT client, server, connection_type, sum(calls) AS calls, sum(errors) AS errors FROM service_edges WHERE startsWith(server, '${tag}-') GROUP BY client, server, connection_type ORDER BY client, server`,
      format: 'JSONEachRow',
    })
  ).json<{ client: string; server: string; connection_type: string; calls: string; errors: string }>();
  return rows.map((r) => ({ ...r, calls: Number(r.calls), errors: Number(r.errors) }));
}

async function edgeCount(tag: string): Promise<number> {
  const [r] = await (
    await store.client.query({ query: `SELECT uniqExact(id) AS n FROM edge_facts WHERE startsWith(trace_id, '${tag}')`, format: 'JSONEachRow' })
  ).json<{ n: string }>();
  return Number(r!.n);
}

/** Runs the service graph and the service_edges sink on a fresh in-process bus. */
async function pipeline(ttlMs = 300) {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'otlp_spans', partitions: 3 },
    { name: 'airdig.edges', partitions: 2 },
    { name: 'airdig.dlq', partitions: 1 },
  ]);
  const sink = serviceEdgesFactory.create(componentSettings(serviceEdgesFactory, bus, store), serviceEdgesFactory.configSchema.parse({}));
  await sink.start();
  const startGraph = async (): Promise<Component> => {
    const g = serviceGraphFactory.create(
      componentSettings(serviceGraphFactory, bus, store),
      serviceGraphFactory.configSchema.parse({ store_ttl_ms: ttlMs, expire_interval_ms: 100 }),
    );
    await g.start();
    return g;
  };
  return { bus, sink, startGraph };
}

for (const shape of ['collector batch, unkeyed', 'keyed by trace id', 'one trace split over messages and partitions'] as const) {
  test(`otlp_spans as the Collector's kafkaexporter writes them (${shape}) give the same edges`, async () => {
    const tag = { 'collector batch, unkeyed': 'a1', 'keyed by trace id': 'b2', 'one trace split over messages and partitions': 'c3' }[shape];
    const n = 12;
    const { bus, sink, startGraph } = await pipeline();
    const graph = await startGraph();
    const traces = Array.from({ length: n }, (_, i) => traceHalves(i, tag));
    let messages: OutMessage[];
    if (shape === 'collector batch, unkeyed') messages = [0, 1, 2].map((b) => ({ value: encode(traces.filter((_, i) => i % 3 === b).flat()) }));
    else if (shape === 'keyed by trace id') messages = traces.map((t) => ({ key: Buffer.from(t[0]!.span.traceId!).toString('hex'), value: encode(t) }));
    // Server halves first, on one partition; client halves later, on another.
    else
      messages = [
        ...traces.map((t) => ({ partition: 0, value: encode([t[2]!, t[3]!]) })),
        ...traces.map((t) => ({ partition: 2, value: encode([t[0]!, t[1]!]) })),
      ];
    await bus.producer().send('otlp_spans', messages);
    await waitFor(async () => (await edgeCount(tag)) >= 3 * n, 15_000, `${3 * n} edges`);
    await graph.shutdown();
    await sink.shutdown();
    assert.deepEqual(await edgesFor(tag), expected(tag, n));
    await bus.close();
  });
}

/**
 * Request i of namespace ns: <tag>-web (ns) → <tag>-orders (ns) → <tag>-pay (ns), and <tag>-orders
 * queries the database <tag>-db; in billing every 2nd orders server span fails.
 */
function namespacedHalves(i: number, tag: string, ns: 'shop' | 'billing'): Half[] {
  const n = ns === 'shop' ? 1 : 2;
  const traceId = Buffer.from(`${tag}${n}${String(i).padStart(6, '0')}`.padEnd(32, 'f').slice(0, 32), 'hex');
  const id = (k: number) => Buffer.from(`${n}${String(i).padStart(6, '0')}${k}`.padEnd(16, '0').slice(0, 16), 'hex');
  const t = (ms: number) => (NOW_NS + BigInt(i) * 1_000_000n + BigInt(ms) * 1_000_000n).toString() as unknown as number;
  const failed = ns === 'billing' && i % 2 === 0;
  return [
    { service: `${tag}-web`, namespace: ns, span: { traceId, spanId: id(1), name: 'call orders', kind: 3, startTimeUnixNano: t(0), endTimeUnixNano: t(40) } },
    {
      service: `${tag}-orders`,
      namespace: ns,
      span: {
        traceId,
        spanId: id(2),
        parentSpanId: id(1),
        name: 'GET /orders',
        kind: 2,
        startTimeUnixNano: t(1),
        endTimeUnixNano: t(30),
        status: { code: failed ? 2 : 0 },
      },
    },
    {
      service: `${tag}-orders`,
      namespace: ns,
      span: { traceId, spanId: id(3), parentSpanId: id(2), name: 'call pay', kind: 3, startTimeUnixNano: t(2), endTimeUnixNano: t(20) },
    },
    {
      service: `${tag}-pay`,
      namespace: ns,
      span: { traceId, spanId: id(4), parentSpanId: id(3), name: 'POST /pay', kind: 2, startTimeUnixNano: t(3), endTimeUnixNano: t(15) },
    },
    {
      service: `${tag}-orders`,
      namespace: ns,
      span: {
        traceId,
        spanId: id(5),
        parentSpanId: id(2),
        name: 'SELECT',
        kind: 3,
        startTimeUnixNano: t(4),
        endTimeUnixNano: t(6),
        attributes: [{ key: 'db.name', value: { stringValue: `${tag}-db` } }],
      },
    },
  ];
}

test('orders of namespace shop and orders of namespace billing are two services in service_edges, each with its namespace and id', async () => {
  const tag = 'e5';
  const n = 8;
  const { bus, sink, startGraph } = await pipeline();
  const keys: string[] = [];
  const records = bus.consumer({ groupId: 'edge-keys', topics: ['airdig.edges'], handler: async (b) => void keys.push(...b.map((r) => r.key!.toString())) });
  await records.start();
  const graph = await startGraph();
  const traces = (['shop', 'billing'] as const).flatMap((ns) => Array.from({ length: n }, (_, i) => namespacedHalves(i, tag, ns)));
  await bus.producer().send(
    'otlp_spans',
    traces.map((t) => ({ value: encode(t) })),
  );
  await waitFor(async () => (await edgeCount(tag)) >= 2 * 3 * n, 15_000, `${2 * 3 * n} edges`);
  await graph.shutdown();
  await sink.shutdown();
  await records.stop();
  // Merged parts keep them apart too: the per-minute aggregate is keyed by namespace and id.
  await store.client.command({ query: 'OPTIMIZE TABLE service_edge_minutes FINAL' });

  const rows = await (
    await store.client.query({
      query: `SELECT client_namespace, client, client_id, server_namespace, server, server_id, connection_type, sum(calls) AS calls, sum(errors) AS errors
              FROM service_edges WHERE startsWith(server, '${tag}-')
              GROUP BY client_namespace, client, client_id, server_namespace, server, server_id, connection_type ORDER BY server_id, client_id`,
      format: 'JSONEachRow',
    })
  ).json<Record<string, string>>();
  const side = (ns: string, name: string) => [ns, `${tag}-${name}`, `service:${ns}/${tag}-${name}`];
  const edge = (c: string[], s: string[], type: string, errors: number) => [...c, ...s, type, n, errors];
  assert.deepEqual(
    rows.map((r) => [
      r.client_namespace,
      r.client,
      r.client_id,
      r.server_namespace,
      r.server,
      r.server_id,
      r.connection_type,
      Number(r.calls),
      Number(r.errors),
    ]),
    [
      // The database reports nothing of its own: one node, namespace '', called from both namespaces.
      edge(side('billing', 'orders'), side('', 'db'), 'database', 0),
      edge(side('shop', 'orders'), side('', 'db'), 'database', 0),
      edge(side('billing', 'web'), side('billing', 'orders'), '', n / 2),
      edge(side('billing', 'orders'), side('billing', 'pay'), '', 0),
      edge(side('shop', 'web'), side('shop', 'orders'), '', 0),
      edge(side('shop', 'orders'), side('shop', 'pay'), '', 0),
    ],
  );
  // Two server nodes named orders, apart.
  const [orders] = await (
    await store.client.query({
      query: `SELECT uniqExact(server_id) AS ids, uniqExact(server) AS names FROM service_edges WHERE server = '${tag}-orders'`,
      format: 'JSONEachRow',
    })
  ).json<{ ids: string; names: string }>();
  assert.deepEqual([Number(orders!.ids), Number(orders!.names)], [2, 1]);

  // Records are keyed (and so partitioned) by both sides' ids, namespace included.
  assert.equal(keys.length, 2 * 3 * n);
  assert.deepEqual([...new Set(keys)].sort(), [
    `service:billing/${tag}-orders|service:/${tag}-db`,
    `service:billing/${tag}-orders|service:billing/${tag}-pay`,
    `service:billing/${tag}-web|service:billing/${tag}-orders`,
    `service:shop/${tag}-orders|service:/${tag}-db`,
    `service:shop/${tag}-orders|service:shop/${tag}-pay`,
    `service:shop/${tag}-web|service:shop/${tag}-orders`,
  ]);
  await bus.close();
});

test('an edge record written before namespaces (schema without them) still decodes: namespace "", the id of its name', () => {
  const before = avro.Type.forSchema({
    type: 'record',
    name: 'Edge',
    namespace: 'airdig',
    fields: [
      { name: 'id', type: 'string' },
      { name: 'ts_ms', type: 'long' },
      { name: 'trace_id', type: 'string' },
      { name: 'client', type: 'string' },
      { name: 'server', type: 'string' },
      { name: 'connection_type', type: 'string' },
      { name: 'failed', type: 'boolean' },
      { name: 'latency_ms', type: 'double' },
      { name: 'client_latency_ms', type: 'double' },
    ],
  });
  const old = {
    id: 't1c1',
    ts_ms: 1_700_000_000_000,
    trace_id: 't1',
    client: 'web',
    server: 'orders',
    connection_type: '',
    failed: true,
    latency_ms: 2.5,
    client_latency_ms: 3,
  };
  const codec = avroCodec<EdgeFact>('edge');
  const e = codec.decode(before.toBuffer(old));
  assert.deepEqual({ ...e }, { ...old, client_namespace: '', server_namespace: '', client_id: '', server_id: '', server_address: '' });
  assert.deepEqual([edgeRow(e).client_id, edgeRow(e).server_id, edgeRow(e).client_namespace], ['service:/web', 'service:/orders', '']);
  // A current record round-trips; bytes that fit no version of the schema are still malformed.
  const now: EdgeFact = { ...old, connection_type: '', ...edgeSides('web', 'shop', 'orders', 'billing'), server_address: 'orders.billing.svc:8080' };
  const bytes = codec.encode(now);
  assert.deepEqual({ ...codec.decode(bytes) }, now);
  assert.equal(edgeKey(now), 'service:shop/web|service:billing/orders');
  assert.throws(() => codec.decode(bytes.subarray(0, bytes.length - 1)), MalformedInputError);
  assert.throws(() => codec.decode(Buffer.concat([bytes, Buffer.from([0])])), MalformedInputError);
});

test('migration 0013 keeps what service_edges counted before it (namespace ""), and counts nothing twice when run again', async () => {
  const old = await openTestStore('sg_0013');
  try {
    const all = loadMigrations(path.join(repoRoot, 'schemas/clickhouse'));
    const m13 = all.find((m) => m.version === 13)!;
    await migrate(
      old,
      all.filter((m) => m.version < 13),
    );
    // Calls written before 0013, one of them 40 days ago: edge_facts keeps 30 days, the aggregate 90.
    await old.client.command({
      query: `INSERT INTO edge_facts (id, ts, trace_id, client, server, connection_type, failed, latency_ms, client_latency_ms) VALUES
        ('o1', now64(3) - INTERVAL 40 DAY, 't', 'web', 'orders', '', 0, 10, 10), ('o2', now64(3) - 120, 't', 'web', 'orders', '', 1, 20, 20),
        ('o3', now64(3) - 120, 't', 'web', 'orders', '', 0, 30, 30)`,
    });
    assert.deepEqual(
      (
        await migrate(
          old,
          all.filter((m) => m.version <= 13),
        )
      ).applied.map((m) => m.version),
      [13],
    );
    // Run again (a process that started before the first recorded it): the copy finds nothing more.
    for (const statement of splitStatements(m13.sql)) await old.client.command({ query: statement });
    await old.client.insert({
      table: 'edge_facts',
      format: 'JSONEachRow',
      values: [
        edgeRow({
          id: 'n1',
          ts_ms: Date.now() - 60_000,
          trace_id: 't',
          ...edgeSides('web', 'shop', 'orders', 'shop'),
          connection_type: '',
          failed: false,
          latency_ms: 5,
          client_latency_ms: 6,
        }),
      ],
    });
    const got = await (
      await old.client.query({
        query: `SELECT client_id, server_id, sum(calls) AS calls, sum(errors) AS errors, count() AS minutes FROM service_edges GROUP BY client_id, server_id ORDER BY client_id`,
        format: 'JSONEachRow',
      })
    ).json<Record<string, string | number>>();
    assert.deepEqual(
      got.map((r) => [r.client_id, r.server_id, Number(r.calls), Number(r.errors), Number(r.minutes)]),
      [
        ['service:/web', 'service:/orders', 3, 1, 2],
        ['service:shop/web', 'service:shop/orders', 1, 0, 1],
      ],
    );
    const tables = await (
      await old.client.query({
        query: `SELECT name FROM system.tables WHERE database = currentDatabase() AND name LIKE 'service_edge%' ORDER BY name`,
        format: 'JSONEachRow',
      })
    ).json<{ name: string }>();
    assert.deepEqual(
      tables.map((t) => t.name),
      ['service_edge_minutes', 'service_edge_minutes_mv', 'service_edges', 'service_edges_mv_0003'],
    );
  } finally {
    await old.close();
  }
});

test('crash: a service graph stopped mid-stream without its window, then restarted, ends with the same service_edges', async () => {
  const tag = 'd4';
  const n = 30;
  const { bus, sink, startGraph } = await pipeline(5_000);
  const traces = Array.from({ length: n }, (_, i) => traceHalves(i, tag));
  const p = bus.producer();
  // First part: every root and db span, and the client halves of web → api; their servers come later.
  await p.send(
    'otlp_spans',
    traces.map((t) => ({ partition: 0, value: encode([t[0]!, t[1]!, t[3]!]) })),
  );
  const first = await startGraph();
  await waitFor(async () => (await edgeCount(tag)) >= 2 * n, 15_000, 'root and db edges');
  // The crash: the window (30 pending client halves) is lost; their records were not committed.
  await first.shutdown();
  await p.send(
    'otlp_spans',
    traces.map((t) => ({ partition: 1, value: encode([t[2]!]) })),
  );
  const second = await startGraph();
  await waitFor(async () => (await edgeCount(tag)) >= 3 * n, 15_000, 'all edges after restart');
  await second.shutdown();
  await sink.shutdown();
  assert.deepEqual(await edgesFor(tag), expected(tag, n));
  await bus.close();
});
