import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import { ExportMetricsServiceRequest } from '../model/otlp.js';
import { otlpMetricsFactory } from './sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('otlpm');
});
test.after(() => store.close());

test('gauges, counters, histograms, summaries and exponential histograms land in the prom_* tables as Prometheus would map them', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_metrics', partitions: 1 }]);
  const sink = otlpMetricsFactory.create(componentSettings(otlpMetricsFactory, bus, store), otlpMetricsFactory.configSchema.parse({}));
  await sink.start();
  const t = `${Date.now() - 30_000}000000`;
  const a = (o: Record<string, string>) => Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }));
  const req = ExportMetricsServiceRequest.encode(
    ExportMetricsServiceRequest.fromObject({
      resourceMetrics: [
        {
          resource: {
            attributes: a({
              'service.name': 'om-cart',
              'service.namespace': 'shop',
              'service.instance.id': 'pod-1',
              'k8s.pod.name': 'cart-1',
              'k8s.namespace.name': 'shop',
              'telemetry.sdk.name': 'x',
            }),
          },
          scopeMetrics: [
            {
              metrics: [
                { name: 'om_queue_depth', gauge: { dataPoints: [{ timeUnixNano: t, asInt: 7, attributes: a({ queue: 'orders' }) }] } },
                {
                  name: 'om_orders_total',
                  description: 'Orders.',
                  sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ timeUnixNano: t, asDouble: 42 }] },
                },
                { name: 'om_gone', gauge: { dataPoints: [{ timeUnixNano: t, flags: 1 }] } },
                {
                  name: 'om_latency',
                  unit: 'ms',
                  histogram: {
                    aggregationTemporality: 2,
                    dataPoints: [{ timeUnixNano: t, count: 6, sum: 90, bucketCounts: [1, 2, 3], explicitBounds: [10, 50] }],
                  },
                },
                {
                  name: 'om_rpc',
                  summary: {
                    dataPoints: [
                      {
                        timeUnixNano: t,
                        count: 4,
                        sum: 8,
                        quantileValues: [
                          { quantile: 0.5, value: 1.5 },
                          { quantile: 0.99, value: 4 },
                        ],
                      },
                    ],
                  },
                },
                {
                  name: 'om_size',
                  exponentialHistogram: {
                    aggregationTemporality: 2,
                    dataPoints: [{ timeUnixNano: t, count: 3, sum: 12, scale: 1, zeroCount: 0, positive: { offset: 2, bucketCounts: [1, 2] } }],
                  },
                },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
  await bus.producer().send('otlp_metrics', [{ value: Buffer.from(req) }]);
  const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  type S = { metric_name: string; labels: Record<string, string>; type: string; value: number | null; stale: number };
  const rows = await waitFor(
    async () => {
      const r = await q<S>(
        `SELECT s.metric_name AS metric_name, p.labels AS labels, p.type AS type, s.value AS value, s.stale AS stale FROM prom_samples AS s FINAL JOIN (SELECT * FROM prom_series FINAL) AS p USING fingerprint WHERE s.metric_name LIKE 'om_%' ORDER BY metric_name, toString(labels)`,
      );
      return r.length >= 12 ? r : undefined;
    },
    10_000,
    'twelve samples',
  );
  await sink.shutdown();
  const base = { job: 'shop/om-cart', instance: 'pod-1', 'k8s.namespace.name': 'shop', 'k8s.pod.name': 'cart-1' };
  const find = (name: string, extra: Record<string, string> = {}) =>
    rows.find((r) => r.metric_name === name && Object.entries(extra).every(([k, v]) => r.labels[k] === v));
  assert.deepEqual(find('om_queue_depth')!.labels, { ...base, __name__: 'om_queue_depth', queue: 'orders' });
  assert.equal(find('om_queue_depth')!.value, 7);
  assert.equal(find('om_orders_total')!.type, 'counter');
  assert.equal(find('om_gone')!.stale, 1);
  assert.deepEqual(
    ['10', '50', '+Inf'].map((le) => find('om_latency_bucket', { le })!.value),
    [1, 3, 6],
  );
  assert.equal(find('om_latency_sum')!.value, 90);
  assert.equal(find('om_latency_count')!.value, 6);
  assert.equal(find('om_rpc', { quantile: '0.99' })!.value, 4);
  assert.equal(find('om_rpc_count')!.value, 4);
  const [h] = await q<{ schema: number; positive_spans: number[][]; positive_counts: number[] }>(
    `SELECT schema, positive_spans, positive_counts FROM prom_histograms FINAL WHERE metric_name = 'om_size'`,
  );
  assert.deepEqual(h, { schema: 1, positive_spans: [[3, 2]], positive_counts: [1, 2] });
  const [series] = await q<{ resource_id: string }>(`SELECT resource_id FROM prom_series FINAL WHERE metric_name = 'om_queue_depth'`);
  assert.equal(series!.resource_id, 'k8s:/shop/pod/cart-1');
  await bus.close();
});
