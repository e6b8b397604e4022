import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import { serviceSchema } from '../runtime/config/schema.js';
import type { Store } from '../runtime/store/store.js';
import type { Component } from '../runtime/pipeline/component.js';
import { ExportMetricsServiceRequest, ExportTraceServiceRequest } from '../model/otlp.js';
import { healthCodec } from '../model/health.js';
import { topologyCodec } from '../model/topology.js';
import { healthFactory } from '../health/processor.js';
import { placementFactory } from '../placement/processor.js';
import { placementOf } from '../placement/placement.js';
import { runtimeEventsFactory } from '../falco/sink.js';
import { containerId, hostId, k8sObjectId, nodeId, podId, podUidId, serviceId, targetId } from './ids.js';
import { falcoResource, resourceOf } from './resources.js';
import { componentSettings, openMigratedStore, startHttpReceivers } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const FULL_ID = 'containerd://3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';

test('canonical ids: one spelling per kind of resource', () => {
  assert.equal(serviceId('shop', 'orders'), 'service:shop/orders');
  assert.equal(serviceId('', 'orders'), 'service:/orders');
  assert.equal(k8sObjectId('prod', 'shop', 'Deployment', 'api'), 'k8s:prod/shop/deployment/api');
  assert.equal(podId('prod', 'shop', 'api-1'), 'k8s:prod/shop/pod/api-1');
  assert.equal(podUidId('prod', 'u-1'), 'k8s:prod/uid/u-1');
  assert.equal(nodeId('prod', 'n1'), 'k8s:prod//node/n1');
  assert.equal(nodeId('prod', 'n1'), k8sObjectId('prod', '', 'Node', 'n1'), 'a scanned node and a sighted one are the same id');
  assert.equal(containerId(FULL_ID), 'container:3f4e1c2b9a8d');
  assert.equal(containerId('3F4E1C2B9A8D'), 'container:3f4e1c2b9a8d', 'case does not matter');
  assert.equal(containerId('not-hex'), '');
  assert.equal(containerId('3f4e1c2b9a8'), '', 'eleven digits are not an id');
  assert.equal(hostId('web-1'), 'host:web-1');
  assert.equal(targetId('node', '10.0.1.5:9100'), 'target:node/10.0.1.5:9100');
});

test('resourceOf(labels): pod, then container, then node, then the target; the service cluster only where labels name none', () => {
  const pod = { pod: 'api-1', namespace: 'shop', node: 'n1', instance: '10.0.0.1:8080', job: 'api' };
  assert.equal(resourceOf(pod), 'k8s:/shop/pod/api-1');
  assert.equal(resourceOf(pod, 'prod'), 'k8s:prod/shop/pod/api-1');
  assert.equal(resourceOf({ ...pod, cluster: 'eu' }, 'prod'), 'k8s:eu/shop/pod/api-1', "the series' own cluster label wins");
  assert.equal(resourceOf({ 'k8s.pod.name': 'api-1', 'k8s.namespace.name': 'shop', 'k8s.cluster.name': 'eu' }, 'prod'), 'k8s:eu/shop/pod/api-1');
  assert.equal(resourceOf({ 'container.id': FULL_ID, node: 'n1' }, 'prod'), 'container:3f4e1c2b9a8d');
  assert.equal(resourceOf({ node: 'n1', instance: 'x:1' }, 'prod'), 'k8s:prod//node/n1');
  assert.equal(resourceOf({ instance: '10.0.1.5:9100', job: 'node' }, 'prod'), 'target:node/10.0.1.5:9100');
  assert.equal(resourceOf({ 'cloud.resource_id': 'arn:aws:lambda:eu-west-1:1:function:f', pod: 'p', namespace: 'n' }), 'arn:aws:lambda:eu-west-1:1:function:f');
  assert.equal(resourceOf({ __name__: 'x' }), '');
});

test('falcoResource: the pod in the service cluster, else the container, else the host', () => {
  assert.equal(falcoResource({ 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1' }, 'h', 'prod'), 'k8s:prod/shop/pod/api-1');
  assert.equal(falcoResource({ 'k8s.ns.name': '<NA>', 'k8s.pod.name': '<NA>', 'container.id': '3f4e1c2b9a8d' }, 'h', 'prod'), 'container:3f4e1c2b9a8d');
  assert.equal(falcoResource({ 'container.id': 'host' }, 'ip-10-0-1-23'), 'host:ip-10-0-1-23');
  assert.equal(falcoResource({}, ''), '');
});

test('placementOf: pods and nodes without k8s.cluster.name are in the service cluster; an instance id on AWS is its ARN', () => {
  const attrs = { 'service.name': 'orders', 'k8s.pod.name': 'api-1', 'k8s.namespace.name': 'shop', 'k8s.node.name': 'n1' };
  const ids = (a: Record<string, string>, cluster?: string) => placementOf(a, 0, cluster)!.targets.map((t) => t.id);
  assert.deepEqual(ids(attrs, 'prod'), ['k8s:prod/shop/pod/api-1', 'k8s:prod//node/n1']);
  assert.deepEqual(ids({ ...attrs, 'k8s.cluster.name': 'eu' }, 'prod'), ['k8s:eu/shop/pod/api-1', 'k8s:eu//node/n1']);
  assert.deepEqual(ids({ 'service.name': 'a', 'host.id': 'i-0aaaaaaaaaaaaaaa1', 'cloud.region': 'eu-west-1', 'cloud.account.id': '123456789012' }), [
    'arn:aws:ec2:eu-west-1:123456789012:instance/i-0aaaaaaaaaaaaaaa1',
  ]);
  assert.deepEqual(ids({ 'service.name': 'a', 'host.id': 'web-1', 'cloud.region': 'eu-west-1', 'cloud.account.id': '123456789012' }), ['host:web-1']);
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('identity');
});
test.after(() => store.close());

test('one service.cluster_name: Falco intake keys, runtime_events, health facts (Falco and metrics) and placement all name the same pod', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(
    ['falco_events', 'otlp_metrics', 'otlp_spans', 'otlp_logs', 'prometheus_remote_write', 'airdig.health', 'airdig.topology', 'airdig.dlq'].map((name) => ({
      name,
      partitions: 2,
    })),
  );
  const service = serviceSchema.parse({ query: '', admin: '', cluster_name: 'prod' });
  const settings = (f: Parameters<typeof componentSettings>[0]) => ({ ...componentSettings(f, bus, store), service });
  const components: Component[] = [
    runtimeEventsFactory.create(settings(runtimeEventsFactory), runtimeEventsFactory.configSchema.parse({})),
    healthFactory.create(settings(healthFactory), healthFactory.configSchema.parse({})),
    placementFactory.create(settings(placementFactory), placementFactory.configSchema.parse({})),
  ];
  for (const c of components) await c.start();
  const receivers = await startHttpReceivers(bus, store, { service });
  const pod = 'k8s:prod/shop/pod/api-1';
  const now = Date.now() - 30_000;
  try {
    const alert = {
      rule: 'Terminal shell in container',
      priority: 'Critical',
      time: new Date(now).toISOString(),
      hostname: 'n1',
      output: 'shell',
      output_fields: { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1' },
    };
    const r = await fetch(receivers.urls.falco!, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(alert) });
    assert.equal(r.status, 200);

    const resource = (attrs: Record<string, string>) => ({ attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })) });
    const podAttrs = { 'service.name': 'orders', 'service.namespace': 'shop', 'k8s.pod.name': 'api-1', 'k8s.namespace.name': 'shop' };
    const spans = ExportTraceServiceRequest.encode({
      resourceSpans: [
        { resource: resource(podAttrs), scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 7), spanId: Buffer.alloc(8, 7), kind: 2, name: 'x' }] }] },
      ],
    }).finish();
    // `up` 0 from the same pod: the first default rule fires on it.
    const metrics = ExportMetricsServiceRequest.encode({
      resourceMetrics: [
        {
          resource: resource(podAttrs),
          scopeMetrics: [{ metrics: [{ name: 'up', gauge: { dataPoints: [1, 2, 3].map((i) => ({ asDouble: 0, timeUnixNano: (now + i * 1000) * 1e6 })) } }] }],
        },
      ],
    }).finish();
    await bus.producer().send('otlp_spans', [{ value: Buffer.from(spans) }]);
    await bus.producer().send('otlp_metrics', [{ value: Buffer.from(metrics) }]);

    const keys: (string | null)[] = [];
    await bus.readToEnd('falco_events', (rec) => keys.push(rec.key?.toString() ?? null));
    assert.deepEqual(keys, [pod], 'the intake keys the alert by the pod in the service cluster');

    const facts = await waitFor(
      async () => {
        const seen: { resource: string; rule: string }[] = [];
        await bus.readToEnd('airdig.health', (rec) => {
          const f = healthCodec.decode(rec.value);
          seen.push({ resource: f.resource_id, rule: f.rule });
        });
        return seen.some((f) => f.rule.startsWith('falco:')) && seen.some((f) => !f.rule.startsWith('falco:')) ? seen : undefined;
      },
      10_000,
      'health facts from the alert and from up == 0',
    );
    assert.deepEqual([...new Set(facts.map((f) => f.resource))], [pod], 'Falco and metrics facts are on one resource');

    const placed = await waitFor(
      async () => {
        const ids: string[] = [];
        await bus.readToEnd('airdig.topology', (rec) => {
          const t = topologyCodec.decode(rec.value);
          if (t.kind === 'node' && t.type === 'k8s:pod') ids.push(t.id);
        });
        return ids.length ? ids : undefined;
      },
      10_000,
      'the placed pod',
    );
    assert.deepEqual(placed, [pod]);

    const rows = await waitFor(
      async () => {
        const res = await store.client.query({ query: 'SELECT resource_id FROM runtime_events FINAL', format: 'JSONEachRow' });
        const got = await res.json<{ resource_id: string }>();
        return got.length ? got : undefined;
      },
      10_000,
      'the runtime event row',
    );
    assert.deepEqual(rows, [{ resource_id: pod }]);
  } finally {
    await receivers.shutdown();
    for (const c of components) await c.shutdown();
    await bus.close();
  }
});

test('cluster_name is a service setting only: a component that still sets it is told so', () => {
  assert.equal(serviceSchema.parse({}).cluster_name, '');
  assert.throws(() => healthFactory.configSchema.parse({ cluster_name: 'prod' }), /cluster_name/);
  assert.throws(() => runtimeEventsFactory.configSchema.parse({ cluster_name: 'prod' }), /cluster_name/);
});
