import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prometheus } from '../../protos/gen/prometheus.js';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import { SeriesCache, promSamplesFactory } from './sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

test('a series row is due when the series is new, its metadata changed, or it was written refresh_ms ago', () => {
  const c = new SeriesCache(2, 60_000);
  assert.equal(c.admit('a', 'gauge', '', '', 1_000), true);
  assert.equal(c.admit('a', 'gauge', '', '', 2_000), false, 'known, unchanged, fresh');
  assert.equal(c.admit('a', 'gauge', 'help text', '', 3_000), true, 'help changed');
  assert.equal(c.admit('a', 'gauge', 'help text', '', 62_999), false);
  assert.equal(c.admit('a', 'gauge', 'help text', '', 63_000), true, 'refresh_ms after the last written row');
  // Bounded: a third series forgets the least recently written one, which is then written again.
  assert.equal(c.admit('b', '', '', '', 63_000), true);
  assert.equal(c.admit('c', '', '', '', 63_000), true);
  assert.equal(c.admit('b', '', '', '', 63_001), false);
  assert.equal(c.admit('a', 'gauge', 'help text', '', 63_001), true, 'a was forgotten');
  c.clear();
  assert.equal(c.admit('b', '', '', '', 63_002), true, 'after clear() every series is due again');
  const off = new SeriesCache(0, 60_000);
  assert.equal(off.admit('a', '', '', '', 1), true);
  assert.equal(off.admit('a', '', '', '', 1), true, 'series_cache 0: a row beside every sample');
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('series_cache');
});
test.after(async () => {
  await store.close();
});

function body(job: string, requests: number, at: number): Buffer {
  return Buffer.from(
    prometheus.WriteRequest.encode({
      timeseries: ['a', 'b', 'c'].map((i) => ({
        labels: [
          { name: '__name__', value: 'up' },
          { name: 'instance', value: `${i}:9100` },
          { name: 'job', value: job },
        ],
        samples: [{ value: 1, timestamp: at + requests * 15_000 }],
      })),
    }).finish(),
  );
}

test('through prometheus_samples: ten scrapes of three series write thirty samples and three series rows', async () => {
  // prom_series unmerged for the test: its row count is then the series rows written, repeats and all.
  await store.client.command({ query: 'SYSTEM STOP MERGES prom_series' });
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'prometheus_remote_write', partitions: 1 }]);
  const settings = componentSettings(promSamplesFactory, bus, store);
  const sink = promSamplesFactory.create(settings, promSamplesFactory.configSchema.parse({}));
  await sink.start();
  try {
    const job = `cache-${Date.now()}`;
    const at = Date.now() - 600_000;
    const header = { 'airdig.rw.proto': 'prometheus.WriteRequest' };
    const q = async (sql: string) => Number((await (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
    // One scrape at a time, each its own insert, so that ReplacingMergeTree's collapsing of duplicates
    // inside one inserted block cannot hide series rows written again.
    for (let i = 0; i < 10; i++) {
      await bus.producer().send('prometheus_remote_write', [{ value: body(job, i, at), headers: header }]);
      const want = 3 * (i + 1);
      await waitFor(
        async () => (await q(`SELECT count() AS n FROM prom_samples WHERE fingerprint IN (SELECT fingerprint FROM prom_series WHERE job = '${job}')`)) === want,
        20_000,
        `${want} samples`,
      );
    }
    // What the sink received and wrote: the 30 samples (the series rows beside them are not counted there).
    const metrics = await settings.registry.metrics();
    assert.match(metrics, /airdig_component_received_total\{component="prometheus_samples",kind="sink"\} 30\b/);
    assert.match(metrics, /airdig_component_sent_total\{component="prometheus_samples",kind="sink"\} 30\b/);
    // The series rows written: one per series, not one per sample (no merges ran to hide repeats, and each scrape was its own insert).
    assert.equal(await q(`SELECT count() AS n FROM prom_series WHERE job = '${job}'`), 3);
    assert.equal(await q(`SELECT count() AS n FROM prom_series FINAL WHERE job = '${job}'`), 3);
  } finally {
    await sink.shutdown();
    await bus.close();
    await store.client.command({ query: 'SYSTEM START MERGES prom_series' });
  }
});

test('through prometheus_samples: received and sent count the samples and histograms, not the series or exemplar rows beside them', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'prometheus_remote_write', partitions: 1 }]);
  const settings = componentSettings(promSamplesFactory, bus, store);
  const sink = promSamplesFactory.create(settings, promSamplesFactory.configSchema.parse({}));
  await sink.start();
  try {
    const job = `counted-${Date.now()}`;
    const at = Date.now() - 60_000;
    const value = Buffer.from(
      prometheus.WriteRequest.encode({
        timeseries: [
          {
            labels: [
              { name: '__name__', value: 'up' },
              { name: 'job', value: job },
            ],
            samples: [
              { value: 1, timestamp: at },
              { value: 1, timestamp: at + 15_000 },
            ],
            exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 1, timestamp: at }],
          },
          {
            labels: [
              { name: '__name__', value: 'latency_seconds' },
              { name: 'job', value: job },
            ],
            histograms: [{ countInt: 3, sum: 1.5, schema: 1, zeroThreshold: 1e-128, zeroCountInt: 1, timestamp: at }],
          },
        ],
      }).finish(),
    );
    await bus.producer().send('prometheus_remote_write', [{ value, headers: { 'airdig.rw.proto': 'prometheus.WriteRequest' } }]);
    const sample = (name: string) => new RegExp(`airdig_component_${name}_total\\{component="prometheus_samples",kind="sink"\\} (\\d+)`);
    await waitFor(async () => Number(sample('sent').exec(await settings.registry.metrics())?.[1] ?? 0) > 0, 20_000, 'the record written');
    const metrics = await settings.registry.metrics();
    assert.equal(sample('received').exec(metrics)?.[1], '3', 'two samples and one histogram received');
    assert.equal(sample('sent').exec(metrics)?.[1], '3');
    const q = async (sql: string) => Number((await (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
    assert.equal(await q(`SELECT count() AS n FROM prom_series FINAL WHERE job = '${job}'`), 2, 'the two series rows were written all the same');
  } finally {
    await sink.shutdown();
    await bus.close();
  }
});
