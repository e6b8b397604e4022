import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { OutMessage } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { ExportTraceServiceRequest, type ISpan } from '../otlp/proto.js';
import type { Component } from '../runtime/pipeline/component.js';
import { serviceEdgesFactory, serviceGraphFactory } from './factory.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('sg');
});
test.after(() => store.close());

const NOW_NS = BigInt(Date.now() - 60_000) * 1_000_000n;
type Half = { service: string; span: ISpan };

/** Request i: web (root server) → api (client) → api server → db client (mysql); every 3rd api server span fails. */
function traceHalves(i: number, tag: string): Half[] {
  const traceId = Buffer.from(`${tag}${String(i).padStart(6, '0')}`.padEnd(32, 'f').slice(0, 32), 'hex');
  const id = (n: number) => Buffer.from(`${String(i).padStart(6, '0')}0${n}`.padEnd(16, '0').slice(0, 16), 'hex');
  const t = (ms: number) => (NOW_NS + BigInt(i) * 1_000_000n + BigInt(ms) * 1_000_000n).toString();
  return [
    { service: `${tag}-web`, span: { traceId, spanId: id(1), name: 'GET /', kind: 2, startTimeUnixNano: t(0) as unknown as number, endTimeUnixNano: t(50) as unknown as number } },
    { service: `${tag}-web`, span: { traceId, spanId: id(2), parentSpanId: id(1), name: 'GET api', kind: 3, startTimeUnixNano: t(1) as unknown as number, endTimeUnixNano: t(40) as unknown as number } },
    { service: `${tag}-api`, span: { traceId, spanId: id(3), parentSpanId: id(2), name: 'GET /items', kind: 2, startTimeUnixNano: t(2) as unknown as number, endTimeUnixNano: t(30) as unknown as number, status: { code: i % 3 === 0 ? 2 : 0 } } },
    { service: `${tag}-api`, span: { traceId, spanId: id(4), parentSpanId: id(3), name: 'SELECT', kind: 3, startTimeUnixNano: t(3) as unknown as number, endTimeUnixNano: t(10) as unknown as number, attributes: [{ key: 'db.system', value: { stringValue: `${tag}-mysql` } }] } },
  ];
}

function encode(halves: Half[]): Buffer {
  const byService = new Map<string, ISpan[]>();
  for (const h of halves) (byService.get(h.service) ?? byService.set(h.service, []).get(h.service)!).push(h.span);
  return Buffer.from(
    ExportTraceServiceRequest.encode(
      ExportTraceServiceRequest.fromObject({
        resourceSpans: [...byService].map(([service, spans]) => ({ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ spans }] })),
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
  const [r] = await (await store.client.query({ query: `SELECT uniqExact(id) AS n FROM edge_facts WHERE startsWith(trace_id, '${tag}')`, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(r!.n);
}

/** Runs the service graph and the service_edges sink on a fresh in-process bus. */
async function pipeline(ttlMs = 300) {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 3 }, { name: 'airdig.edges', partitions: 2 }, { name: 'airdig.dlq', partitions: 1 }]);
  const sink = serviceEdgesFactory.create(componentSettings(serviceEdgesFactory, bus, store), serviceEdgesFactory.configSchema.parse({}));
  await sink.start();
  const startGraph = async (): Promise<Component> => {
    const g = serviceGraphFactory.create(componentSettings(serviceGraphFactory, bus, store), serviceGraphFactory.configSchema.parse({ store_ttl_ms: ttlMs, expire_interval_ms: 100 }));
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
    else messages = [...traces.map((t) => ({ partition: 0, value: encode([t[2]!, t[3]!]) })), ...traces.map((t) => ({ partition: 2, value: encode([t[0]!, t[1]!]) }))];
    await bus.producer().send('otlp_spans', messages);
    await waitFor(async () => (await edgeCount(tag)) >= 3 * n, 15_000, `${3 * n} edges`);
    await graph.shutdown();
    await sink.shutdown();
    assert.deepEqual(await edgesFor(tag), expected(tag, n));
    await bus.close();
  });
}

test('crash: a service graph stopped mid-stream without its window, then restarted, ends with the same service_edges', async () => {
  const tag = 'd4';
  const n = 30;
  const { bus, sink, startGraph } = await pipeline(5_000);
  const traces = Array.from({ length: n }, (_, i) => traceHalves(i, tag));
  const p = bus.producer();
  // First part: every root and db span, and the client halves of web → api; their servers come later.
  await p.send('otlp_spans', traces.map((t) => ({ partition: 0, value: encode([t[0]!, t[1]!, t[3]!]) })));
  const first = await startGraph();
  await waitFor(async () => (await edgeCount(tag)) >= 2 * n, 15_000, 'root and db edges');
  // The crash: the window (30 pending client halves) is lost; their records were not committed.
  await first.shutdown();
  await p.send('otlp_spans', traces.map((t) => ({ partition: 1, value: encode([t[2]!]) })));
  const second = await startGraph();
  await waitFor(async () => (await edgeCount(tag)) >= 3 * n, 15_000, 'all edges after restart');
  await second.shutdown();
  await sink.shutdown();
  assert.deepEqual(await edgesFor(tag), expected(tag, n));
  await bus.close();
});
