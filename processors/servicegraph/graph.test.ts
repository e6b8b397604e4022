import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../runtime/clock.js';
import { placementOf } from '../placement/placement.js';
import { ServiceGraph, type SpanView, type DropReason } from './graph.js';
import type { EdgeFact } from '../model/edges.js';

function span(p: Partial<SpanView> & Pick<SpanView, 'spanId' | 'kind' | 'service'>): SpanView {
  return {
    traceId: 't1',
    parentSpanId: '',
    namespace: '',
    startMs: 1_000,
    durationMs: 10,
    failed: false,
    peerService: '',
    dbName: '',
    dbSystem: '',
    serverAddress: '',
    ...p,
  };
}

function graph() {
  const clock = new ManualClock(0);
  const edges: EdgeFact[] = [];
  const drops: DropReason[] = [];
  const g = new ServiceGraph({ clock, ttlMs: 1_000, maxItems: 2, emit: (e) => edges.push(e), onDrop: (r) => drops.push(r) });
  return { clock, g, edges, drops };
}

test('a client span and its server span make one edge, whichever comes first; latency from the server', () => {
  for (const order of ['client-first', 'server-first']) {
    const { g, edges } = graph();
    const c = span({ spanId: 'c1', kind: 3, service: 'frontend', durationMs: 30 });
    const s = span({ spanId: 's1', parentSpanId: 'c1', kind: 2, service: 'checkout', durationMs: 20, failed: true });
    if (order === 'client-first') [c, s].forEach((x) => g.addSpan(x));
    else [s, c].forEach((x) => g.addSpan(x));
    assert.deepEqual(
      edges,
      [
        {
          id: 't1c1',
          ts_ms: 1_000,
          trace_id: 't1',
          client: 'frontend',
          server: 'checkout',
          client_namespace: '',
          server_namespace: '',
          client_id: 'service:/frontend',
          server_id: 'service:/checkout',
          connection_type: '',
          failed: true,
          latency_ms: 20,
          client_latency_ms: 30,
        },
      ],
      order,
    );
    assert.equal(g.pending, 0);
  }
});

test('a service is its namespace and name: orders of shop and orders of billing are two servers, each with its id', () => {
  const { g, edges } = graph();
  g.addSpan(span({ spanId: 'c1', kind: 3, service: 'web', namespace: 'shop' }));
  g.addSpan(span({ spanId: 's1', parentSpanId: 'c1', kind: 2, service: 'orders', namespace: 'shop' }));
  g.addSpan(span({ spanId: 's2', parentSpanId: 'c2', kind: 2, service: 'orders', namespace: 'billing' }));
  g.addSpan(span({ spanId: 'c2', kind: 3, service: 'invoicer', namespace: 'billing' }));
  const sides = (e: EdgeFact) => [e.client_namespace, e.client, e.client_id, e.server_namespace, e.server, e.server_id];
  assert.deepEqual(edges.map(sides), [
    ['shop', 'web', 'service:shop/web', 'shop', 'orders', 'service:shop/orders'],
    ['billing', 'invoicer', 'service:billing/invoicer', 'billing', 'orders', 'service:billing/orders'],
  ]);
  // The canonical id is the one placement gives the service's node in graph_nodes.
  assert.equal(edges[1]!.server_id, placementOf({ 'service.name': 'orders', 'service.namespace': 'billing' }, 0)!.service.id);
});

test('virtual nodes (user, a database, a server that never reported) have namespace ""; the instrumented side keeps its own', () => {
  const { g, edges, clock } = graph();
  g.addSpan(span({ spanId: 'r', kind: 2, service: 'web', namespace: 'shop' }));
  g.addSpan(span({ spanId: 'd', kind: 3, service: 'orders', namespace: 'billing', dbSystem: 'postgresql' }));
  g.addSpan(span({ spanId: 'x', kind: 3, service: 'orders', namespace: 'shop', peerService: 'fraud-api' }));
  clock.advance(1_000);
  g.expire();
  const sides = (e: EdgeFact) => [e.client_id, e.server_id, e.connection_type];
  assert.deepEqual(edges.map(sides), [
    ['service:/user', 'service:shop/web', 'virtual_node'],
    ['service:billing/orders', 'service:/postgresql', 'database'],
    ['service:shop/orders', 'service:/fraud-api', 'virtual_node'],
  ]);
  assert.deepEqual(
    edges.map((e) => [e.client_namespace, e.server_namespace]),
    [
      ['', 'shop'],
      ['billing', ''],
      ['shop', ''],
    ],
  );
});

test('database calls complete at once; producer/consumer pairs are messaging edges; a root server span is called by "user"', () => {
  const { g, edges } = graph();
  g.addSpan(span({ spanId: 'd', kind: 3, service: 'checkout', dbSystem: 'postgresql', dbName: 'orders' }));
  g.addSpan(span({ spanId: 'p', kind: 4, service: 'checkout' }));
  g.addSpan(span({ spanId: 'q', parentSpanId: 'p', kind: 5, service: 'mailer' }));
  g.addSpan(span({ spanId: 'r', kind: 2, service: 'frontend' }));
  assert.deepEqual(
    edges.map((e) => [e.client, e.server, e.connection_type]),
    [
      ['checkout', 'orders', 'database'],
      ['checkout', 'mailer', 'messaging_system'],
      ['user', 'frontend', 'virtual_node'],
    ],
  );
});

test('expiry: a client without server gets a virtual server; a server without client is counted, not emitted', () => {
  const { g, edges, drops, clock } = graph();
  g.addSpan(span({ spanId: 'a', kind: 3, service: 'checkout', peerService: 'fraud-api', serverAddress: 'fraud.internal' }));
  g.addSpan(span({ spanId: 'b', parentSpanId: 'zz', kind: 2, service: 'payments' }));
  clock.advance(999);
  assert.equal(g.expire(), 0);
  clock.advance(1);
  assert.equal(g.expire(), 2);
  assert.deepEqual(
    edges.map((e) => [e.client, e.server, e.connection_type]),
    [['checkout', 'fraud-api', 'virtual_node']],
  );
  assert.deepEqual(drops, ['expired_server_without_client']);
  g.addSpan(span({ spanId: 'x', kind: 3, service: 's' }));
  clock.advance(1_000);
  g.expire();
  assert.equal(edges.at(-1)!.server, 'unknown');
});

test('a full store drops the new half with a count; internal spans are not calls', () => {
  const { g, drops } = graph();
  g.addSpan(span({ spanId: 'a', kind: 3, service: 'x' }));
  g.addSpan(span({ spanId: 'b', kind: 3, service: 'x' }));
  g.addSpan(span({ spanId: 'c', kind: 3, service: 'x' }));
  g.addSpan(span({ spanId: 'i', kind: 1, service: 'x' }));
  assert.deepEqual(drops, ['store_full', 'not_a_call']);
});

test('held offsets: the lowest offset per partition among pending edges', () => {
  const { g } = graph();
  g.addSpan(span({ spanId: 'a', kind: 3, service: 'x' }), { topic: 'otlp_spans', partition: 0, offset: 7 });
  g.addSpan(span({ spanId: 'b', kind: 3, service: 'x' }), { topic: 'otlp_spans', partition: 0, offset: 9 });
  assert.equal(g.heldOffsets().get('otlp_spans\u00000'), 7);
  g.addSpan(span({ spanId: 's', parentSpanId: 'a', kind: 2, service: 'y' }), { topic: 'otlp_spans', partition: 1, offset: 1 });
  assert.equal(g.heldOffsets().get('otlp_spans\u00000'), 9);
});
