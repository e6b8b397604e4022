// Metrics and logs intake: split by resource, counted, answered — and the official SDK exporters as peers.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-proto';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { BusRecord } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { otlpFactory } from './receiver.js';
import { ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportMetricsServiceResponse } from '../model/otlp.js';
import { logsSignal, metricsSignal } from './signals.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const attrs = (o: Record<string, string>) => Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }));
const t = '1763892120000000000';

function metricsRequest(): Uint8Array {
  const dp = (v: number) => ({ attributes: attrs({ route: `/r${v}` }), timeUnixNano: t, asDouble: v });
  const scope = {
    scope: { name: 'm' },
    metrics: [
      { name: 'g', gauge: { dataPoints: [dp(1), dp(2)] } },
      { name: 's', sum: { dataPoints: [dp(3)], aggregationTemporality: 2, isMonotonic: true } },
      { name: 'h', histogram: { dataPoints: [{ count: 3, sum: 6, bucketCounts: [1, 2], explicitBounds: [1], timeUnixNano: t }], aggregationTemporality: 2 } },
      { name: 'e', exponentialHistogram: { dataPoints: [{ count: 1, scale: 2, positive: { offset: 1, bucketCounts: [1] }, timeUnixNano: t }] } },
      { name: 'q', summary: { dataPoints: [{ count: 2, sum: 3, quantileValues: [{ quantile: 0.5, value: 1 }], timeUnixNano: t }] } },
    ],
  };
  return ExportMetricsServiceRequest.encode(
    ExportMetricsServiceRequest.fromObject({
      resourceMetrics: [
        { resource: { attributes: attrs({ 'service.name': 'a' }) }, scopeMetrics: [scope] },
        { resource: { attributes: attrs({ 'service.name': 'b' }) }, scopeMetrics: [scope] },
      ],
    }),
  ).finish();
}

test('metrics: one message per resource, keyed by a stable hash of the resource; every data point counted', () => {
  const p = metricsSignal.prepare(metricsRequest());
  assert.equal(p.items, 2 * 6);
  assert.equal(p.messages.length, 2);
  const again = metricsSignal.prepare(metricsRequest());
  assert.deepEqual(
    p.messages.map((m) => m.key),
    again.messages.map((m) => m.key),
  );
  assert.notEqual(p.messages[0]!.key, p.messages[1]!.key);
  const first = ExportMetricsServiceRequest.decode(p.messages[0]!.value!);
  assert.equal(first.resourceMetrics.length, 1);
  assert.equal(first.resourceMetrics[0]!.scopeMetrics![0]!.metrics!.length, 5);
});

test('logs: one message per resource, records counted; JSON with hex ids converts', () => {
  const json = JSON.stringify({
    resourceLogs: [
      {
        resource: { attributes: attrs({ 'service.name': 'a' }) },
        scopeLogs: [
          {
            logRecords: [
              { timeUnixNano: t, body: { stringValue: 'x' }, traceId: '0af7651916cd43dd8448eb211c80319c', spanId: '00f067aa0ba902b7' },
              { body: { stringValue: 'y' } },
            ],
          },
        ],
      },
      { resource: { attributes: attrs({ 'service.name': 'b' }) }, scopeLogs: [{ logRecords: [{ severityNumber: 17, body: { stringValue: 'z' } }] }] },
    ],
  });
  const p = logsSignal.prepare(logsSignal.fromJson(json));
  assert.equal(p.items, 3);
  assert.equal(p.messages.length, 2);
  const rec = ExportLogsServiceRequest.decode(p.messages[0]!.value!).resourceLogs[0]!.scopeLogs![0]!.logRecords![0]!;
  assert.equal(Buffer.from(rec.traceId!).toString('hex'), '0af7651916cd43dd8448eb211c80319c');
  assert.throws(
    () => logsSignal.fromJson('{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"traceId":"not hex!"}]}]}]}'),
    /logRecords\[0\]\.traceId: expected a hex-encoded id/,
  );
  assert.deepEqual(JSON.parse(metricsSignal.response({ messages: [], items: 5, rejected: 2, rejectReason: 'bad' }, 'json') as string), {
    partialSuccess: { rejectedDataPoints: '2', errorMessage: '2 data point(s) rejected: bad' },
  });
});

async function receiver(bus: MemoryBus) {
  const r = otlpFactory.create(componentSettings(otlpFactory, bus, {} as Store), otlpFactory.configSchema.parse({ http: '127.0.0.1:0', grpc: '127.0.0.1:0' }));
  await r.start();
  return { r, urls: Object.fromEntries(r.listening!().map((l) => [l.name, l.url])) };
}

async function collect(bus: MemoryBus, topic: string): Promise<BusRecord[]> {
  const got: BusRecord[] = [];
  await bus.consumer({ groupId: `t-${topic}`, topics: [topic], handler: async (b) => void got.push(...b) }).start();
  return got;
}

test('HTTP /v1/metrics and gRPC MetricsService put metrics on otlp_metrics; /v1/logs puts logs on otlp_logs', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'otlp_metrics', partitions: 2 },
    { name: 'otlp_logs', partitions: 2 },
  ]);
  const metrics = await collect(bus, 'otlp_metrics');
  const logs = await collect(bus, 'otlp_logs');
  const { r, urls } = await receiver(bus);
  try {
    const res = await fetch(urls['otlp metrics']!, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: metricsRequest() });
    assert.equal(res.status, 200);
    assert.deepEqual(ExportMetricsServiceResponse.toObject(ExportMetricsServiceResponse.decode(Buffer.from(await res.arrayBuffer()))), {});
    const client = new grpc.Client(urls['otlp grpc']!.replace('http://', ''), grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(metricsRequest()),
        (e) => resolve(e),
      ),
    );
    client.close();
    assert.equal(err, null);
    const lres = await fetch(urls['otlp logs']!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ body: { stringValue: 'hello' } }] }] }] }),
    });
    assert.equal(lres.status, 200);
    assert.deepEqual(await lres.json(), {});
    await waitFor(() => metrics.length >= 4 && logs.length >= 1, 5_000, 'metrics and logs on their topics');
    const bad = await fetch(urls['otlp metrics']!, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-protobuf' },
      body: Buffer.from([0x0a, 0x09, 0x01]),
    });
    assert.equal(bad.status, 400);
  } finally {
    await r.shutdown();
    await bus.close();
  }
});

test('the official OTLP/HTTP protobuf metrics and logs exporters are accepted', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'otlp_metrics', partitions: 2 },
    { name: 'otlp_logs', partitions: 2 },
  ]);
  const metrics = await collect(bus, 'otlp_metrics');
  const logs = await collect(bus, 'otlp_logs');
  const { r, urls } = await receiver(bus);
  try {
    const resource = resourceFromAttributes({ 'service.name': 'sdk-peer' });
    const reader = new PeriodicExportingMetricReader({ exporter: new OTLPMetricExporter({ url: urls['otlp metrics']! }), exportIntervalMillis: 60_000 });
    const meters = new MeterProvider({ resource, readers: [reader] });
    const counter = meters.getMeter('test').createCounter('orders_total');
    counter.add(3, { route: '/buy' });
    meters.getMeter('test').createHistogram('latency_ms').record(12.5);
    await meters.forceFlush();
    await meters.shutdown();
    const loggers = new LoggerProvider({
      resource,
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: urls['otlp logs']! }) })],
    });
    loggers.getLogger('test').emit({ body: 'card declined', severityNumber: 17, severityText: 'ERROR', attributes: { order: '42' } });
    await loggers.forceFlush();
    await loggers.shutdown();
    await waitFor(() => metrics.length >= 1 && logs.length >= 1, 10_000, 'SDK metrics and logs');
    const names = ExportMetricsServiceRequest.decode(metrics[0]!.value).resourceMetrics[0]!.scopeMetrics!.flatMap((s) => s.metrics!.map((m) => m.name));
    assert.deepEqual(names.sort(), ['latency_ms', 'orders_total']);
    const rec = ExportLogsServiceRequest.decode(logs[0]!.value).resourceLogs[0]!.scopeLogs![0]!.logRecords![0]!;
    assert.equal(rec.body?.stringValue, 'card declined');
    assert.equal(rec.severityNumber, 17);
  } finally {
    await r.shutdown();
    await bus.close();
  }
});
