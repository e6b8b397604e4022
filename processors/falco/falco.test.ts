import { containerId } from '../identity/ids.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import type { Component } from '../runtime/pipeline/component.js';
import { ExportMetricsServiceRequest } from '../model/otlp.js';
import { otlpMetricsFactory } from '../otlpmetrics/sink.js';
import { healthFactory } from '../health/processor.js';
import { healthFactsFactory } from '../health/sink.js';
import { runtimeEventsFactory } from './sink.js';
import { normalizeFalcoEvent, rfc3339Nanos } from '../model/falco.js';
import { parseFalcoBody } from './receiver.js';
import { componentSettings, openMigratedStore, startHttpReceivers } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const FULL_ID = '3f4e1c2b9a8d7e6f5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d3e2f';
const now = new Date(Date.now() - 60_000);
const iso = (d: Date) => d.toISOString().replace('Z', '123456Z'); // Falco writes nanoseconds

/** An alert as Falco's http_output sends it with json_output: true. */
function falcoEvent(rule: string, priority: string, fields: Record<string, unknown>, time = iso(now)) {
  return {
    hostname: 'ip-10-0-1-23',
    output: `${time.slice(11, 29)}: ${priority} ${rule} (user=root container_id=${fields['container.id'] ?? 'host'})`,
    priority,
    rule,
    source: 'syscall',
    tags: ['container', 'mitre_execution', 'shell'],
    time,
    output_fields: { 'evt.time': 1_700_000_000_123_456_789, 'proc.cmdline': 'bash', 'user.name': 'root', ...fields },
  };
}

test('Falco events: priority, time with nanoseconds, resource by pod, then container (12 hex digits), then host', () => {
  const pod = normalizeFalcoEvent(
    falcoEvent(
      'Terminal shell in container',
      'Notice',
      { 'container.id': FULL_ID.slice(0, 12), 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1' },
      '2026-11-23T10:02:03.123456789Z',
    ),
    'prod',
  );
  assert.equal(pod.resource_id, 'k8s:prod/shop/pod/api-1');
  assert.equal(pod.ts, '2026-11-23T10:02:03.123456789Z');
  assert.equal(pod.ts_ms, Date.parse('2026-11-23T10:02:03.123Z'));
  assert.equal(pod.priority, 'Notice');
  assert.equal(pod.severity, undefined);
  assert.equal(pod.output_fields['evt.time'], '1700000000123456800', 'numbers kept as text');
  const container = normalizeFalcoEvent(falcoEvent('Write below etc', 'ERROR', { 'container.id': FULL_ID.slice(0, 12), 'k8s.ns.name': null }));
  assert.equal(container.resource_id, `container:${FULL_ID.slice(0, 12)}`);
  assert.equal(container.resource_id, containerId(FULL_ID), 'the short id and the full id name one container');
  assert.equal(container.severity, 'warning');
  assert.equal(container.priority, 'Error');
  const host = normalizeFalcoEvent(falcoEvent('Read sensitive file untrusted', 'Critical', { 'container.id': 'host' }));
  assert.equal(host.resource_id, 'host:ip-10-0-1-23');
  assert.equal(host.container_id, '');
  assert.equal(host.severity, 'critical');
  assert.notEqual(host.id, container.id);
  assert.equal(normalizeFalcoEvent({ ...falcoEvent('r', 'Alert', {}), uuid: 'u-1' }).id, 'u-1', "falcosidekick's uuid is the id");
  assert.equal(rfc3339Nanos('2026-11-23T10:02:03+02:00'), BigInt(Date.parse('2026-11-23T08:02:03Z')) * 1_000_000n);
});

test('Falco bodies: a list keeps its valid events; what is wrong is said', () => {
  assert.throws(() => parseFalcoBody('10:20:05.408091526: Warning Sensitive file opened'), /Falco body is not JSON/);
  assert.throws(() => parseFalcoBody('42'), /neither an event object nor a list/);
  assert.deepEqual(parseFalcoBody(JSON.stringify({ priority: 'Warning', time: iso(now) })).errors, ['Falco event without "rule"']);
  const { events, errors } = parseFalcoBody(
    JSON.stringify([
      falcoEvent('a', 'Warning', {}),
      { rule: 'b', priority: 'Loud', time: iso(now) },
      { rule: 'c', priority: 'Warning', time: 'yesterday' },
      falcoEvent('d', 'Debug', {}),
    ]),
  );
  assert.deepEqual(
    events.map((e) => e.row.rule),
    ['a', 'd'],
  );
  assert.deepEqual(errors, [
    'event 1: Falco event "b": unknown priority "Loud" (Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)',
    'event 2: Falco event "c": "time" is not an RFC 3339 time: "yesterday"',
  ]);
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('falco');
});
test.after(() => store.close());

const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();

test('POST /v1/falco: alerts land in runtime_events on their resource and raise health by priority; OTLP metrics of the same container share its identity', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(
    ['falco_events', 'otlp_metrics', 'otlp_spans', 'otlp_logs', 'prometheus_remote_write', 'airdig.health', 'airdig.dlq'].map((name) => ({
      name,
      partitions: 2,
    })),
  );
  const components: Component[] = [
    runtimeEventsFactory.create(componentSettings(runtimeEventsFactory, bus, store), runtimeEventsFactory.configSchema.parse({})),
    healthFactsFactory.create(componentSettings(healthFactsFactory, bus, store), healthFactsFactory.configSchema.parse({})),
    otlpMetricsFactory.create(componentSettings(otlpMetricsFactory, bus, store), otlpMetricsFactory.configSchema.parse({})),
    healthFactory.create(componentSettings(healthFactory, bus, store), healthFactory.configSchema.parse({})),
  ];
  for (const c of components) await c.start();
  const receiver = await startHttpReceivers(bus, store, {}, { otlp: { bearer_token: 's3cret' }, falco: { bearer_token: 's3cret' } });
  const url = receiver.urls.falco!;
  const auth = { Authorization: 'Bearer s3cret' };
  const post = (body: string | Buffer, headers: Record<string, string> = {}, method = 'POST') =>
    fetch(url, { method, headers: { 'Content-Type': 'application/json', ...auth, ...headers }, body: method === 'GET' ? undefined : body });
  try {
    // An OTLP metric from the container, full id: its series carries the container's identity.
    const metrics = ExportMetricsServiceRequest.encode({
      resourceMetrics: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'worker' } },
              { key: 'container.id', value: { stringValue: FULL_ID } },
            ],
          },
          scopeMetrics: [{ metrics: [{ name: 'queue.depth', gauge: { dataPoints: [{ asInt: 3, timeUnixNano: now.getTime() * 1e6 }] } }] }],
        },
      ],
    }).finish();
    const m = await fetch(url.replace('/v1/falco', '/v1/metrics'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf', ...auth },
      body: metrics,
    });
    assert.equal(m.status, 200);

    // Falco's http_output: one event per request; a list (and gzip) works too.
    const one = await post(
      JSON.stringify(falcoEvent('Terminal shell in container', 'Critical', { 'container.id': FULL_ID.slice(0, 12), 'container.name': 'worker' })),
    );
    assert.equal(one.status, 200);
    assert.deepEqual(await one.json(), { accepted: 1, rejected: 0, errors: [] });
    const list = await post(
      gzipSync(
        JSON.stringify([
          falcoEvent('Write below etc', 'Warning', { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1', 'container.id': 'aaaabbbbcccc' }),
          falcoEvent('Contact K8S API Server From Container', 'Notice', { 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1' }),
          { rule: 'broken' },
        ]),
      ),
      { 'Content-Encoding': 'gzip' },
    );
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), { accepted: 2, rejected: 1, errors: ['event 2: Falco event "broken" without "priority"'] });

    // Wrong requests: a clear status and message, and nothing lost of what was accepted.
    const cases: [Promise<Response>, number, RegExp][] = [
      [post('10:20:05.408091526: Warning Sensitive file opened', { 'Content-Type': 'text/plain' }), 415, /takes application\/json/],
      [post('{"rule":'), 400, /not JSON/],
      [post(JSON.stringify({ rule: 'x', priority: 'Warning' })), 400, /without "time"/],
      [post('', {}, 'GET'), 405, /POST Falco alerts/],
      [post(JSON.stringify(falcoEvent('x', 'Warning', {})), { Authorization: 'Bearer wrong' }), 401, /bearer token/],
      [post(Buffer.from('not gzip'), { 'Content-Encoding': 'gzip' }), 400, /broken gzip/],
    ];
    for (const [res, status, message] of cases) {
      const r = await res;
      assert.equal(r.status, status);
      assert.match(((await r.json()) as { message: string }).message, message);
    }

    const rows = await waitFor(
      async () => {
        const r = await q<{ rule: string; priority: string; resource_id: string; container_id: string; k8s_pod: string; tags: string[] }>(
          'SELECT rule, priority, resource_id, container_id, k8s_pod, tags FROM runtime_events FINAL ORDER BY rule',
        );
        return r.length === 3 ? r : undefined;
      },
      10_000,
      'three runtime events',
    );
    assert.deepEqual(
      rows.map((r) => [r.rule, r.priority, r.resource_id, r.container_id, r.k8s_pod]),
      [
        ['Contact K8S API Server From Container', 'Notice', 'k8s:/shop/pod/api-1', '', 'api-1'],
        ['Terminal shell in container', 'Critical', `container:${FULL_ID.slice(0, 12)}`, FULL_ID.slice(0, 12), ''],
        ['Write below etc', 'Warning', 'k8s:/shop/pod/api-1', 'aaaabbbbcccc', 'api-1'],
      ],
    );
    assert.deepEqual(rows[0]!.tags, ['container', 'mitre_execution', 'shell']);

    const health = await waitFor(
      async () => {
        const r = await q<{ resource_id: string; status: string; reason: string }>(
          `SELECT resource_id, status, reason FROM resource_health WHERE resource_id IN ('container:${FULL_ID.slice(0, 12)}', 'k8s:/shop/pod/api-1') ORDER BY resource_id`,
        );
        return r.length === 2 && r.every((x) => x.status !== 'healthy') ? r : undefined;
      },
      10_000,
      'health from the alerts',
    );
    assert.deepEqual(
      health.map((h) => [h.resource_id, h.status]),
      [
        [`container:${FULL_ID.slice(0, 12)}`, 'critical'],
        ['k8s:/shop/pod/api-1', 'warning'],
      ],
    );
    assert.match(health[0]!.reason, /^Critical: .*Terminal shell in container/);
    const series = await waitFor(
      async () => {
        const r = await q<{ resource_id: string }>("SELECT resource_id FROM prom_series FINAL WHERE metric_name = 'queue.depth'");
        return r.length ? r : undefined;
      },
      10_000,
      'the OTLP series',
    );
    assert.deepEqual(series, [{ resource_id: `container:${FULL_ID.slice(0, 12)}` }], 'the metric and the alert meet on one resource');
  } finally {
    for (const c of [receiver, ...components]) await c.shutdown();
    await bus.close();
  }
});
