import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import { ExportLogsServiceRequest } from '../model/otlp.js';
import { otelLogsFactory } from './sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('logs');
});
test.after(() => store.close());

test("log records land in otel_logs with the Collector schema's values; a record without time uses its observed time", async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_logs', partitions: 1 }]);
  const sink = otelLogsFactory.create(componentSettings(otelLogsFactory, bus, store), otelLogsFactory.configSchema.parse({}));
  await sink.start();
  const base = BigInt(Math.floor(Date.now() / 1000) - 60) * 1_000_000_000n;
  const req = ExportLogsServiceRequest.encode(
    ExportLogsServiceRequest.fromObject({
      resourceLogs: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'payments' } }] },
          scopeLogs: [
            {
              scope: { name: 'pino', version: '9' },
              logRecords: [
                {
                  timeUnixNano: (base + 5n).toString(),
                  severityNumber: 17,
                  severityText: 'ERROR',
                  body: { stringValue: 'card declined' },
                  attributes: [{ key: 'order', value: { intValue: 42 } }],
                  traceId: Buffer.alloc(16, 0xab),
                  spanId: Buffer.alloc(8, 0xcd),
                  flags: 1,
                },
                { observedTimeUnixNano: base.toString(), body: { kvlistValue: { values: [{ key: 'k', value: { stringValue: 'v' } }] } } },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
  await bus.producer().send('otlp_logs', [{ value: Buffer.from(req) }]);
  type Row = Record<string, unknown>;
  const rows = await waitFor(
    async () => {
      const r = await (
        await store.client.query({ query: `SELECT * FROM otel_logs WHERE ServiceName = 'payments' ORDER BY Timestamp DESC`, format: 'JSONEachRow' })
      ).json<Row>();
      return r.length >= 2 ? r : undefined;
    },
    10_000,
    'two log rows',
  );
  await sink.shutdown();
  const [a, b] = rows;
  assert.equal(a!.Body, 'card declined');
  assert.equal(a!.SeverityText, 'ERROR');
  assert.equal(a!.SeverityNumber, 17);
  assert.equal(a!.TraceId, 'ab'.repeat(16));
  assert.equal(a!.SpanId, 'cd'.repeat(8));
  assert.equal(a!.TraceFlags, 1);
  assert.equal(a!.ScopeName, 'pino');
  assert.deepEqual(a!.LogAttributes, { order: '42' });
  assert.match(String(a!.Timestamp), /\.000000005$/);
  assert.equal(b!.Body, '{"k":"v"}');
  assert.match(String(b!.Timestamp), /\.000000000$/);
  await bus.close();
});
