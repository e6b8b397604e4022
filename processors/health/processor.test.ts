import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compressSync } from 'snappy';
import { prometheus } from '../../protos/gen/prometheus.js';
import { ExportMetricsServiceRequest } from '../model/otlp.js';
import { MemoryBus } from '../runtime/bus/memory.js';
import { KafkaBus } from '../runtime/bus/kafka.js';
import type { Bus } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import type { Component } from '../runtime/pipeline/component.js';
import { remoteWriteFactory } from '../remotewrite/receiver.js';
import { promSamplesFactory } from '../remotewrite/sink.js';
import { healthFactory } from './processor.js';
import { healthCodec, type HealthFact } from '../model/health.js';
import { healthFactsFactory } from './sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { uniqueName, waitFor } from '../../tests/helpers/wait.js';
import { kafkaBrokers } from '../../tests/helpers/kafka.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('health');
});
test.after(() => store.close());

const T0 = Date.now() - 10 * 60_000;
const body = (job: string, value: number, i: number) =>
  compressSync(
    Buffer.from(
      prometheus.WriteRequest.encode({
        timeseries: [
          {
            labels: [
              { name: '__name__', value: 'up' },
              { name: 'instance', value: 'db:9100' },
              { name: 'job', value: job },
            ],
            samples: [{ value, timestamp: T0 + i * 15_000 }],
          },
        ],
      }).finish(),
    ),
  );

/** Remote write → health → health_facts on one in-process bus; `samples` adds the prom_samples sink, `maxQueued` caps each partition's uncommitted records. */
async function pipeline(o: { partitions?: number; maxQueued?: number; samples?: boolean } = {}) {
  const partitions = o.partitions ?? 2;
  const bus = new MemoryBus(o.maxQueued ? { max_queued_records: o.maxQueued } : {});
  await bus.ensureTopics([
    { name: 'prometheus_remote_write', partitions },
    { name: 'airdig.health', partitions: 2 },
    { name: 'airdig.dlq', partitions: 1 },
  ]);
  const topics = { prometheus_remote_write: { partitions, compacted: false } };
  const sinks = [healthFactsFactory.create(componentSettings(healthFactsFactory, bus, store), healthFactsFactory.configSchema.parse({}))];
  if (o.samples ?? true) sinks.push(promSamplesFactory.create(componentSettings(promSamplesFactory, bus, store), promSamplesFactory.configSchema.parse({})));
  for (const s of sinks) await s.start();
  const receiver = remoteWriteFactory.create(
    { ...componentSettings(remoteWriteFactory, bus, store), topics },
    remoteWriteFactory.configSchema.parse({ listen: '127.0.0.1:0' }),
  );
  await receiver.start();
  const url = receiver.listening!()[0]!.url;
  const startHealth = async (): Promise<Component> => {
    const h = healthFactory.create(componentSettings(healthFactory, bus, store), healthFactory.configSchema.parse({}));
    await h.start();
    return h;
  };
  const send = async (job: string, value: number, i: number) => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
      body: body(job, value, i),
    });
    assert.equal(res.status, 204, `${job} sample ${i}: ${res.status} ${await res.text()}`);
  };
  const stop = async () => {
    await receiver.shutdown();
    for (const s of sinks) await s.shutdown();
    await bus.close();
  };
  return { send, startHealth, stop };
}

const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
const facts = (job: string) =>
  q<{ ts: string; status: string; state: string; rule: string }>(
    `SELECT ts, status, state, rule FROM health_facts FINAL WHERE resource_id = 'target:${job}/db:9100' ORDER BY ts`,
  );
const health = async (job: string) =>
  (await q<{ status: string; reason: string }>(`SELECT status, reason FROM resource_health WHERE resource_id = 'target:${job}/db:9100'`))[0];
const at = (i: number) => new Date(T0 + i * 15_000).toISOString().replace('T', ' ').replace('Z', '');

test('a target whose up drops to 0 is critical in resource_health within one sample, and healthy again when it recovers', async () => {
  const job = 'hp-live';
  const p = await pipeline();
  const h = await p.startHealth();
  try {
    await p.send(job, 1, 0);
    await waitFor(async () => (await health(job))?.status === 'healthy', 10_000, 'healthy from its first samples');
    await p.send(job, 0, 1);
    const down = await waitFor(async () => ((await health(job))?.status === 'critical' ? health(job) : undefined), 10_000, 'critical');
    assert.equal(down!.reason, 'scrape target is down (up == 0)');
    await p.send(job, 1, 2);
    await waitFor(async () => (await health(job))?.status === 'healthy', 10_000, 'healthy again');
    assert.deepEqual(await facts(job), [
      { ts: at(1), status: 'critical', state: 'firing', rule: 'target_down' },
      { ts: at(2), status: 'healthy', state: 'resolved', rule: 'target_down' },
    ]);
  } finally {
    await h.shutdown();
    await p.stop();
  }
});

test('crash: the health processor stopped while a target is down and restarted ends with the same health_facts', async () => {
  const job = 'hp-crash';
  const p = await pipeline();
  let h = await p.startHealth();
  try {
    await p.send(job, 1, 0);
    await p.send(job, 0, 1);
    await waitFor(async () => (await facts(job)).length === 1, 10_000, 'the firing fact');
    // The crash: the processor's state (target_down firing) is gone; its opening record was not committed.
    await h.shutdown();
    await p.send(job, 0, 2);
    await p.send(job, 1, 3);
    h = await p.startHealth();
    await waitFor(async () => (await facts(job)).length === 2, 10_000, 'the resolved fact after the restart');
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual(await facts(job), [
      { ts: at(1), status: 'critical', state: 'firing', rule: 'target_down' },
      { ts: at(3), status: 'healthy', state: 'resolved', rule: 'target_down' },
    ]);
  } finally {
    await h.shutdown();
    await p.stop();
  }
});

test('a down target beside a busy one on the same partition: intake is never refused, and the rule resolves when the target is back', async () => {
  // One partition capped at 100 uncommitted records; the busy target sends 600 requests while the other is down.
  const p = await pipeline({ partitions: 1, maxQueued: 100, samples: false });
  const h = await p.startHealth();
  try {
    await p.send('hp-down', 1, 0);
    await p.send('hp-down', 0, 1);
    await waitFor(async () => (await facts('hp-down')).length === 1, 10_000, 'the firing fact');
    for (let i = 0; i < 600; i++) await p.send('hp-busy', i + 1, i % 40); // each request a new body: none is a resend
    await p.send('hp-down', 1, 2);
    await waitFor(async () => (await facts('hp-down')).length === 2, 10_000, 'the resolved fact');
    assert.deepEqual(await facts('hp-down'), [
      { ts: at(1), status: 'critical', state: 'firing', rule: 'target_down' },
      { ts: at(2), status: 'healthy', state: 'resolved', rule: 'target_down' },
    ]);
  } finally {
    await h.shutdown();
    await p.stop();
  }
});

for (const kind of ['memory', 'kafka'] as const) {
  test(`${kind} bus: a restarted health processor restores the firing rule from its changelog, reads nothing again, and resolves it once`, async () => {
    const bus: Bus = kind === 'memory' ? new MemoryBus() : new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-test' });
    const input = uniqueName('health-rw');
    const output = uniqueName('health-out');
    const id = `health/${uniqueName('restart')}`;
    await bus.ensureTopics([
      { name: input, partitions: 1 },
      { name: output, partitions: 1 },
      { name: 'airdig.dlq', partitions: 1 },
    ]);
    const config = healthFactory.configSchema.parse({ inputs: { remote_write: input, otlp_metrics: '', falco: '' }, output });
    const start = async () => {
      const settings = componentSettings(healthFactory, bus, store, id);
      const component = healthFactory.create(settings, config);
      await component.start();
      const received = async () =>
        Number(new RegExp(`airdig_component_received_total\\{component="${id}",kind="processor"\\} (\\d+)`).exec(await settings.registry.metrics())?.[1] ?? 0);
      return { component, received };
    };
    const out: HealthFact[] = [];
    const reader = bus.consumer({
      groupId: uniqueName('reader'),
      topics: [output],
      handler: async (batch) => void out.push(...batch.map((r) => healthCodec.decode(r.value))),
    });
    await reader.start();
    const send = (job: string, value: number, i: number) =>
      bus.producer().send(input, [
        {
          value: Buffer.from(
            prometheus.WriteRequest.encode({
              timeseries: [
                {
                  labels: [
                    { name: '__name__', value: 'up' },
                    { name: 'instance', value: 'db:9100' },
                    { name: 'job', value: job },
                  ],
                  samples: [{ value, timestamp: T0 + i * 15_000 }],
                },
              ],
            }).finish(),
          ),
        },
      ]);
    let h = await start();
    try {
      await send('down', 1, 0);
      await send('down', 0, 1);
      for (let i = 0; i < 50; i++) await send('busy', i + 1, i);
      await waitFor(async () => (await h.received()) === 52, 30_000, 'the first 52 samples handled');
      await waitFor(() => out.length === 1, 30_000, 'the firing fact');
      await h.component.shutdown();
      await send('down', 0, 2);
      await send('down', 1, 3);
      h = await start();
      await waitFor(() => out.length >= 2, 30_000, 'the resolved fact after the restart');
      await waitFor(async () => (await h.received()) === 2, 30_000, 'the 2 samples sent while it was down');
      assert.equal(await h.received(), 2, 'nothing before the restart is read again');
      assert.deepEqual(
        out.map((f) => [f.resource_id, f.state, f.status, f.ts_ms]),
        [
          ['target:down/db:9100', 'firing', 'critical', T0 + 15_000],
          ['target:down/db:9100', 'resolved', 'healthy', T0 + 3 * 15_000],
        ],
      );
    } finally {
      await h.component.shutdown();
      await reader.stop();
      await bus.close();
    }
  });
}

test('OTLP metrics: an HTTP server histogram (semantic conventions) raises error-ratio and p99-latency facts per window', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(['otlp_metrics', 'prometheus_remote_write', 'falco_events', 'airdig.health', 'airdig.dlq'].map((name) => ({ name, partitions: 1 })));
  const sink = healthFactsFactory.create(componentSettings(healthFactsFactory, bus, store), healthFactsFactory.configSchema.parse({}));
  const h = healthFactory.create(componentSettings(healthFactory, bus, store), healthFactory.configSchema.parse({ window_ms: 60_000 }));
  await sink.start();
  await h.start();
  const W = 60_000;
  const base = Math.floor(T0 / W) * W;
  const bounds = [0.1, 0.5, 2.5];
  // Cumulative per status code: [count per bucket incl. +Inf]; a window of healthy traffic, then one with 20 % 5xx, all slow.
  const totals: Record<string, number[]> = { '200': [0, 0, 0, 0], '500': [0, 0, 0, 0] };
  const point = (code: string, t: number) => {
    const counts = totals[code]!;
    return {
      attributes: [{ key: 'http.response.status_code', value: { intValue: Number(code) } }],
      timeUnixNano: t * 1e6,
      startTimeUnixNano: base * 1e6,
      count: counts.reduce((a, b) => a + b, 0),
      sum: 1,
      bucketCounts: counts,
      explicitBounds: bounds,
    };
  };
  const send = async (t: number) => {
    const value = Buffer.from(
      ExportMetricsServiceRequest.encode({
        resourceMetrics: [
          {
            resource: {
              attributes: [
                { key: 'service.name', value: { stringValue: 'checkout' } },
                { key: 'service.namespace', value: { stringValue: 'shop' } },
                { key: 'service.instance.id', value: { stringValue: 'otel-1' } },
              ],
            },
            scopeMetrics: [
              {
                metrics: [
                  { name: 'http.server.request.duration', unit: 's', histogram: { aggregationTemporality: 2, dataPoints: [point('200', t), point('500', t)] } },
                ],
              },
            ],
          },
        ],
      }).finish(),
    );
    await bus.producer().send('otlp_metrics', [{ key: 'checkout', value, timestamp: t }]);
  };
  const add = (code: string, perBucket: number[]) => perBucket.forEach((n, i) => (totals[code]![i]! += n));
  try {
    await send(base + 1_000);
    add('200', [100, 0, 0, 0]); // fast, no errors
    await send(base + 30_000);
    await send(base + W + 1_000);
    add('200', [0, 0, 80, 0]); // slow
    add('500', [0, 0, 10, 10]); // 20 of 100 failed, half of them beyond 2.5 s
    await send(base + W + 30_000);
    await send(base + 2 * W + 1_000); // closes the second window
    const rows = await waitFor(
      async () => {
        const r = await q<{ rule: string; state: string; status: string; value: number; ts: string; resource_id: string }>(
          "SELECT rule, state, status, value, ts, resource_id FROM health_facts FINAL WHERE resource_id = 'target:shop/checkout/otel-1' ORDER BY rule",
        );
        return r.length === 2 ? r : undefined;
      },
      10_000,
      'two facts',
    );
    assert.deepEqual(
      rows.map((r) => [r.rule, r.state, r.status, Number(r.value.toFixed(3))]),
      [
        ['http_latency_p99', 'firing', 'warning', 2.5],
        ['http_server_error_ratio', 'firing', 'warning', 0.2],
      ],
    );
    assert.equal(rows[0]!.ts, new Date(base + 2 * W).toISOString().replace('T', ' ').replace('Z', ''));
  } finally {
    await h.shutdown();
    await sink.shutdown();
    await bus.close();
  }
});
