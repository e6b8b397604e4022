import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { BusRecord } from '../runtime/bus/types.js';
import { DlqHeaders, headerString } from '../runtime/bus/dlq.js';
import type { Store } from '../runtime/store/store.js';
import { otelTracesFactory } from './sink.js';
import { ExportTraceServiceRequest } from '../model/otlp.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('traces');
});
test.after(() => store.close());

const TRACE = '0af7651916cd43dd8448eb211c80319c';
// Recent timestamps: the table's TTL (30 days) would drop old ones at once.
const BASE_S = Math.floor(Date.now() / 1000) - 3600;
const ns = (offsetNs: number) => (BigInt(BASE_S) * 1_000_000_000n + BigInt(offsetNs)).toString();
const clickhouseTime = (offsetNs: number) => `${new Date(BASE_S * 1000).toISOString().slice(0, 19).replace('T', ' ')}.${String(offsetNs).padStart(9, '0')}`;

function request(): Uint8Array {
  return ExportTraceServiceRequest.encode(
    ExportTraceServiceRequest.fromObject({
      resourceSpans: [
        {
          resource: {
            attributes: [
              { key: 'service.name', value: { stringValue: 'checkout' } },
              { key: 'host.id', value: { stringValue: 'i-0abc' } },
            ],
          },
          scopeSpans: [
            {
              scope: { name: 'io.opentelemetry.http', version: '2.1.0' },
              spans: [
                {
                  traceId: Buffer.from(TRACE, 'hex'),
                  spanId: Buffer.from('00f067aa0ba902b7', 'hex'),
                  parentSpanId: Buffer.from('1111111111111111', 'hex'),
                  traceState: 'vendor=x',
                  name: 'POST /orders',
                  kind: 2,
                  startTimeUnixNano: ns(123_456_789),
                  endTimeUnixNano: ns(173_456_789),
                  attributes: [
                    { key: 'http.response.status_code', value: { intValue: 500 } },
                    { key: 'retry', value: { boolValue: true } },
                    { key: 'ratio', value: { doubleValue: 0.25 } },
                    { key: 'tags', value: { arrayValue: { values: [{ stringValue: 'a' }, { intValue: 2 }] } } },
                  ],
                  events: [{ timeUnixNano: ns(150_000_000), name: 'exception', attributes: [{ key: 'exception.type', value: { stringValue: 'Timeout' } }] }],
                  links: [{ traceId: Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex'), spanId: Buffer.from('0102030405060708', 'hex'), traceState: '' }],
                  status: { code: 2, message: 'upstream timeout' },
                },
                {
                  traceId: Buffer.from(TRACE, 'hex'),
                  spanId: Buffer.from('2222222222222222', 'hex'),
                  name: 'SELECT orders',
                  kind: 3,
                  startTimeUnixNano: ns(130_000_000),
                  endTimeUnixNano: ns(140_000_000),
                },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
}

test("spans land in otel_traces with the Collector schema's values; a replay adds nothing; a bad message goes to the DLQ", async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'otlp_spans', partitions: 2 },
    { name: 'airdig.dlq', partitions: 1 },
  ]);
  const dlq: BusRecord[] = [];
  await bus.consumer({ groupId: 'dlq-reader', topics: ['airdig.dlq'], handler: async (b) => void dlq.push(...b) }).start();
  const settings = componentSettings(otelTracesFactory, bus, store);
  const sink = otelTracesFactory.create(settings, otelTracesFactory.configSchema.parse({}));
  await sink.start();
  const p = bus.producer();
  await p.send('otlp_spans', [{ key: TRACE, value: Buffer.from(request()) }]);
  await p.send('otlp_spans', [{ key: 'junk', value: Buffer.from([0x0a, 0xff, 0x01]) }]);
  await p.send('otlp_spans', [{ key: TRACE, value: Buffer.from(request()) }]); // a replay of the same message
  const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  await waitFor(
    async () => (await settings.registry.metrics()).includes('airdig_component_received_total{component="otel_traces",kind="sink"} 4'),
    10_000,
    'both copies handled',
  );
  await waitFor(() => dlq.length >= 1, 10_000, 'the bad message in the DLQ');
  await sink.shutdown();

  assert.equal(headerString(dlq[0]!.headers, DlqHeaders.component), 'otel_traces');
  assert.match(headerString(dlq[0]!.headers, DlqHeaders.error)!, /not an ExportTraceServiceRequest/);
  const rows = await q<Record<string, unknown>>(`SELECT * FROM otel_traces FINAL WHERE TraceId = '${TRACE}' ORDER BY SpanName`);
  assert.equal(rows.length, 2);
  const r = rows[0]!;
  assert.deepEqual(
    {
      Timestamp: r.Timestamp,
      SpanId: r.SpanId,
      ParentSpanId: r.ParentSpanId,
      TraceState: r.TraceState,
      SpanKind: r.SpanKind,
      ServiceName: r.ServiceName,
      ScopeName: r.ScopeName,
      ScopeVersion: r.ScopeVersion,
      Duration: Number(r.Duration),
      StatusCode: r.StatusCode,
      StatusMessage: r.StatusMessage,
    },
    {
      Timestamp: clickhouseTime(123_456_789),
      SpanId: '00f067aa0ba902b7',
      ParentSpanId: '1111111111111111',
      TraceState: 'vendor=x',
      SpanKind: 'SPAN_KIND_SERVER',
      ServiceName: 'checkout',
      ScopeName: 'io.opentelemetry.http',
      ScopeVersion: '2.1.0',
      Duration: 50_000_000,
      StatusCode: 'STATUS_CODE_ERROR',
      StatusMessage: 'upstream timeout',
    },
  );
  assert.deepEqual(r.ResourceAttributes, { 'service.name': 'checkout', 'host.id': 'i-0abc' });
  assert.deepEqual(r.SpanAttributes, { 'http.response.status_code': '500', retry: 'true', ratio: '0.25', tags: '["a",2]' });
  assert.deepEqual(r['Events.Name'], ['exception']);
  assert.deepEqual(r['Events.Timestamp'], [clickhouseTime(150_000_000)]);
  assert.deepEqual(r['Events.Attributes'], [{ 'exception.type': 'Timeout' }]);
  assert.deepEqual(r['Links.TraceId'], ['4bf92f3577b34da6a3ce929d0e0e4736']);
  assert.equal(rows[1]!.SpanKind, 'SPAN_KIND_CLIENT');
  assert.equal(rows[1]!.StatusCode, 'STATUS_CODE_UNSET');
  const ids = await q<{ TraceId: string; Start: string; End: string }>(
    `SELECT TraceId, min(Start) AS Start, max(End) AS End FROM otel_traces_trace_id_ts WHERE TraceId = '${TRACE}' GROUP BY TraceId`,
  );
  const second = clickhouseTime(0).slice(0, 19);
  assert.deepEqual(ids, [{ TraceId: TRACE, Start: second, End: second }]);
  await bus.close();
});
