import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import type { Component } from '../runtime/pipeline/component.js';
import { ExportTraceServiceRequest } from '../model/otlp.js';
import { changeCodec, type ChangeEvent } from '../model/changes.js';
import { scannerCodec } from '../model/inventory.js';
import { parseScanBody } from '../inventory/records.js';
import { scanK8sJson } from '../scanners/k8s.js';
import { changeEventsFactory } from '../cloudtrail/sink.js';
import { deploysFactory } from './processor.js';
import { DeployTracker, serviceSighting } from './tracker.js';
import { componentMetric, componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';
import type { OutMessage } from '../runtime/bus/types.js';

const T0 = Date.parse('2026-11-23T09:00:00Z');
const nanos = (ms: number) => (BigInt(ms) * 1_000_000n).toString();

/** One trace of a service's spans (resource attributes as an SDK sets them), started at the given times; keyed by its trace id. */
function spans(service: string, attrs: Record<string, string>, starts: number[], trace = 1): OutMessage {
  const traceId = Buffer.alloc(16, trace);
  const value = ExportTraceServiceRequest.encode(
    ExportTraceServiceRequest.fromObject({
      resourceSpans: [
        {
          resource: {
            attributes: Object.entries({ 'service.name': service, 'service.namespace': 'shop', ...attrs }).map(([key, v]) => ({
              key,
              value: { stringValue: v },
            })),
          },
          scopeSpans: [
            {
              spans: starts.map((t, i) => ({
                traceId,
                spanId: Buffer.alloc(8, i + 1),
                name: 'GET /',
                kind: 2,
                startTimeUnixNano: nanos(t),
                endTimeUnixNano: nanos(t + 5),
              })),
            },
          ],
        },
      ],
    }),
  ).finish();
  return { key: traceId.toString('hex'), value: Buffer.from(value) };
}

/** A scan of one Deployment from kubectl's JSON, as `airdig scan k8s` and POST /v1/resources make it. */
function deploymentScan(images: Record<string, string>, at: number): OutMessage[] {
  const kubectl = {
    kind: 'Deployment',
    metadata: { name: 'checkout', namespace: 'shop', uid: 'uid-checkout' },
    spec: { replicas: 2, template: { spec: { containers: Object.entries(images).map(([name, image]) => ({ name, image })) } } },
    status: { readyReplicas: 2 },
  };
  const { body } = scanK8sJson(JSON.stringify(kubectl), { cluster: 'prod', now: at });
  const { records, errors } = parseScanBody(Buffer.from(JSON.stringify(body)), at);
  assert.deepEqual(errors, []);
  return records.map((r) => ({ key: r.scope, value: scannerCodec.encode(r), timestamp: r.seen_ms }));
}

test('tracker: baseline, deploy, rollout overlap, stale spans, a missing attribute keeps its value, bounded memory', () => {
  const t = new DeployTracker({ maxRemembered: 2, rolloutOverlapMs: 60_000 });
  const s = (version: string, environment = 'production', name = 'orders') =>
    serviceSighting({ 'service.name': name, 'service.namespace': 'shop', 'service.version': version, 'deployment.environment': environment })!;
  assert.equal(serviceSighting({ 'service.name': 'x' }), undefined, 'neither version nor environment: nothing to follow');
  assert.equal(t.observeService(s('1.4.2'), T0), undefined, 'the first sighting is the baseline');
  const d = t.observeService(s('1.5.0'), T0 + 1_000)!;
  assert.deepEqual(
    [d.kind, d.ts_ms, d.summary, d.event_name, d.resource_ids],
    ['deploy', T0 + 1_000, 'shop/orders 1.4.2 → 1.5.0', 'service.version', ['service:shop/orders']],
  );
  assert.deepEqual(JSON.parse(d.details), { 'service.version': { from: '1.4.2', to: '1.5.0' } });
  assert.equal(t.observeService(s('1.4.2'), T0 + 30_000), undefined, 'an old instance during the rollout');
  assert.equal(t.observeService(s('0.9.0'), T0 + 500), undefined, 'a span from before the current version took over');
  assert.equal(t.observeService({ ...s('1.5.0'), version: '' }, T0 + 2_000), undefined, 'no service.version: the version stays');
  const env = t.observeService(s('1.5.0', 'staging'), T0 + 90_000)!;
  assert.equal(env.summary, 'shop/orders environment production → staging');
  const rollback = t.observeService(s('1.4.2', 'staging'), T0 + 200_000)!;
  assert.equal(rollback.summary, 'shop/orders 1.5.0 → 1.4.2', 'a rollback past the overlap is a deploy');
  assert.notEqual(rollback.event_id, d.event_id);
  t.takeChanges();
  t.observeService(s('1', 'p', 'a'), T0);
  t.observeService(s('1', 'p', 'b'), T0);
  assert.equal(t.size, 2);
  const changes = new Map(t.takeChanges());
  assert.equal(changes.get('service\u0000service:shop/orders'), null, 'the least recently seen is forgotten, in the changelog too');
  assert.equal(t.observeService(s('9.9.9'), T0 + 300_000), undefined, 'forgotten: a baseline again');
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('deploys');
});
test.after(() => store.close());

async function topics(bus: MemoryBus) {
  await bus.ensureTopics([
    // One partition: the order spans are seen in is the order they were sent (across partitions the
    // first new-version span seen may be another one; the change's id does not depend on it).
    { name: 'otlp_spans', partitions: 1 },
    { name: 'scanner_resources', partitions: 2 },
    { name: 'airdig.changes', partitions: 2 },
    { name: 'airdig.dlq', partitions: 1 },
  ]);
}

/** The changes on the bus's airdig.changes, in order of partition and offset. */
async function changesOn(bus: MemoryBus): Promise<ChangeEvent[]> {
  const out: ChangeEvent[] = [];
  await bus.readToEnd('airdig.changes', (r) => void out.push(changeCodec.decode(r.value)));
  return out;
}

test('deploys from spans: first sighting none, a new version one with its first span time, the same ids on replay, state restored after a restart', async () => {
  const bus = new MemoryBus();
  await topics(bus);
  const sink = changeEventsFactory.create(componentSettings(changeEventsFactory, bus, store), changeEventsFactory.configSchema.parse({}));
  await sink.start();
  const start = async (b: MemoryBus) => {
    const settings = componentSettings(deploysFactory, b, store);
    const p = deploysFactory.create(settings, deploysFactory.configSchema.parse({}));
    await p.start();
    return { p, received: () => componentMetric(settings.registry, 'airdig_component_received_total', 'deploys') };
  };
  const feed = async (b: MemoryBus, d: Awaited<ReturnType<typeof start>>, messages: OutMessage[], total: number) => {
    await b.producer().send('otlp_spans', messages);
    await waitFor(async () => (await d.received()) === total, 10_000, `${total} records processed`);
  };
  const attrs = (version: string) => ({ 'service.version': version, 'deployment.environment': 'production' });
  // The spans: hours before they arrive (event time), two traces per version.
  const sequence = [
    [spans('orders', attrs('1.4.2'), [T0, T0 + 10], 1), spans('orders', attrs('1.4.2'), [T0 + 20], 2)],
    [
      spans('orders', attrs('1.5.0'), [T0 + 60_000, T0 + 59_000], 3),
      spans('orders', attrs('1.5.0'), [T0 + 65_000], 4),
      spans('orders', attrs('1.4.2'), [T0 + 66_000], 5),
    ],
  ];
  const components: Component[] = [sink];
  try {
    let d = await start(bus);
    components.push(d.p);
    await feed(bus, d, sequence[0]!, 2);
    assert.deepEqual(await changesOn(bus), [], 'the first sighting is the baseline, not a deploy');
    await feed(bus, d, sequence[1]!, 5);
    const changes = await changesOn(bus);
    assert.equal(changes.length, 1, 'one deploy for one new version');
    const [c] = changes;
    assert.deepEqual(
      [c!.kind, c!.source, c!.ts_ms, c!.resource_ids, c!.summary],
      ['deploy', 'otlp', T0 + 59_000, ['service:shop/orders'], 'shop/orders 1.4.2 → 1.5.0'],
      "the first new-version span's start time, not the arrival",
    );

    // Restart: the version comes back from the changelog; neither 1.5.0 again nor the old instance is a deploy.
    await d.p.shutdown();
    components.pop();
    d = await start(bus);
    components.push(d.p);
    await feed(bus, d, [spans('orders', attrs('1.5.0'), [T0 + 120_000], 6), spans('orders', attrs('1.4.2'), [T0 + 121_000], 7)], 2);
    assert.equal((await changesOn(bus)).length, 1, 'no spurious deploy after the restart');
    await feed(bus, d, [spans('orders', attrs('1.6.0'), [T0 + 180_000], 8)], 3);
    const after = await changesOn(bus);
    assert.equal(after.length, 2, 'a version after the restart is compared with the restored one');
    assert.equal(after[1]!.summary, 'shop/orders 1.5.0 → 1.6.0');

    // A replay of the same spans on a fresh processor gives the same change, with the same id.
    const replayBus = new MemoryBus();
    await topics(replayBus);
    const r = await start(replayBus);
    try {
      await feed(replayBus, r, sequence[0]!, 2);
      await feed(replayBus, r, sequence[1]!, 5);
      const replayed = await changesOn(replayBus);
      assert.deepEqual(replayed, [c], 'the same change, id and all');
    } finally {
      await r.p.shutdown();
      await replayBus.close();
    }

    const rows = await waitFor(
      async () => {
        const got = await (
          await store.client.query({
            query: `SELECT kind, summary, details, ts FROM change_events WHERE has(resource_ids, 'service:shop/orders') ORDER BY ts`,
            format: 'JSONEachRow',
          })
        ).json<{ kind: string; summary: string; details: string; ts: string }>();
        return got.length >= 2 ? got : undefined;
      },
      10_000,
      'two deploys in change_events',
    );
    assert.deepEqual(rows, [
      { kind: 'deploy', summary: 'shop/orders 1.4.2 → 1.5.0', details: '{"service.version":{"from":"1.4.2","to":"1.5.0"}}', ts: '2026-11-23 09:00:59.000' },
      { kind: 'deploy', summary: 'shop/orders 1.5.0 → 1.6.0', details: '{"service.version":{"from":"1.5.0","to":"1.6.0"}}', ts: '2026-11-23 09:03:00.000' },
    ]);
  } finally {
    for (const c of components.reverse()) await c.shutdown();
    await bus.close();
  }
});

test('deploys from scans: a Deployment whose images differ between two scans is one deploy; the same images again are none', async () => {
  const bus = new MemoryBus();
  await topics(bus);
  const settings = componentSettings(deploysFactory, bus, store);
  const p = deploysFactory.create(settings, deploysFactory.configSchema.parse({}));
  await p.start();
  const received = () => componentMetric(settings.registry, 'airdig_component_received_total', 'deploys');
  try {
    const scans = [
      deploymentScan({ app: 'ghcr.io/acme/checkout:2.0.0', proxy: 'envoy:1.31' }, T0),
      deploymentScan({ app: 'ghcr.io/acme/checkout:2.0.0', proxy: 'envoy:1.31' }, T0 + 3_600_000),
      deploymentScan({ app: 'ghcr.io/acme/checkout:2.1.0', proxy: 'envoy:1.31' }, T0 + 7_200_000),
    ];
    let n = 0;
    for (const s of scans) {
      await bus.producer().send('scanner_resources', s);
      n += s.length;
      await waitFor(async () => (await received()) === n, 10_000, `${n} scan records`);
    }
    const changes = await changesOn(bus);
    assert.equal(changes.length, 1);
    const [c] = changes;
    assert.deepEqual(
      [c!.kind, c!.source, c!.event_name, c!.ts_ms, c!.resource_ids, c!.summary],
      [
        'deploy',
        'scan',
        'images',
        T0 + 7_200_000,
        ['k8s:prod/shop/deployment/checkout'],
        'deployment shop/checkout: app ghcr.io/acme/checkout:2.0.0 → ghcr.io/acme/checkout:2.1.0',
      ],
    );
    assert.deepEqual(JSON.parse(c!.details), {
      images: { from: { app: 'ghcr.io/acme/checkout:2.0.0', proxy: 'envoy:1.31' }, to: { app: 'ghcr.io/acme/checkout:2.1.0', proxy: 'envoy:1.31' } },
    });
  } finally {
    await p.shutdown();
    await bus.close();
  }
});
