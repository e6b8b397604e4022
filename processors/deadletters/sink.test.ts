import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import { sendToDlq } from '../runtime/bus/dlq.js';
import type { Store } from '../runtime/store/store.js';
import { MalformedInputError } from '../runtime/errors.js';
import { deadLettersFactory } from './sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('dlq');
});
test.after(() => store.close());

test('a DLQ record lands in dead_letters with its bytes, origin and reason; a replay adds no row', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'airdig.dlq', partitions: 1 }]);
  const settings = componentSettings(deadLettersFactory, bus, store);
  const sink = deadLettersFactory.create(settings, deadLettersFactory.configSchema.parse({}));
  await sink.start();
  const original = {
    topic: 'otlp_spans',
    partition: 3,
    offset: 41,
    key: Buffer.from('trace-1'),
    value: Buffer.from([0xff, 0x00, 0x12]),
    headers: { source: 'test' },
    timestamp: Date.UTC(2026, 10, 23, 10, 2),
  };
  await sendToDlq(bus.producer(), original, new MalformedInputError('truncated protobuf'), 'servicegraph');
  await sendToDlq(bus.producer(), original, new MalformedInputError('truncated protobuf'), 'servicegraph');
  type Row = {
    source_topic: string;
    source_partition: number;
    source_offset: string;
    component: string;
    error_code: string;
    error: string;
    key_base64: string;
    value_base64: string;
    headers: Record<string, string>;
  };
  const rows = await waitFor(
    async () => {
      const r = await (await store.client.query({ query: 'SELECT * EXCEPT ts FROM dead_letters FINAL', format: 'JSONEachRow' })).json<Row>();
      return settings.registry.getSingleMetric('airdig_component_sent_total') && r.length > 0 ? r : undefined;
    },
    10_000,
    'dead letter row',
  );
  await waitFor(
    async () => (await settings.registry.metrics()).includes('airdig_component_received_total{component="dead_letters",kind="sink"} 2'),
    10_000,
    'both received',
  );
  await sink.shutdown();
  assert.equal(rows.length, 1);
  const [row] = rows;
  assert.equal(row!.source_topic, 'otlp_spans');
  assert.equal(row!.source_partition, 3);
  assert.equal(Number(row!.source_offset), 41);
  assert.equal(row!.component, 'servicegraph');
  assert.equal(row!.error_code, 'AIRDIG_MALFORMED_INPUT');
  assert.equal(row!.error, 'truncated protobuf');
  assert.equal(Buffer.from(row!.key_base64, 'base64').toString(), 'trace-1');
  assert.deepEqual([...Buffer.from(row!.value_base64, 'base64')], [0xff, 0x00, 0x12]);
  assert.deepEqual(row!.headers, { source: 'test' });
  await bus.close();
});
