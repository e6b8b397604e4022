import assert from 'node:assert/strict';
import { test } from 'node:test';
import Kafka from 'node-rdkafka';
import { busContract } from './contract.js';
import { partitionKey } from '../pipeline/holds.js';
import { uniqueName, waitFor } from '../../../tests/helpers/wait.js';
import { KafkaBus } from './kafka.js';
import { kafkaBrokers } from '../../../tests/helpers/kafka.js';

busContract('kafka bus', async () => new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-test' }));

test('a quiet partition beside a busy one is committed past a released hold without waiting for the consumer to be idle', { timeout: 90_000 }, async () => {
  const brokers = kafkaBrokers();
  const bus = new KafkaBus({ brokers, clientId: 'airdig-test-quiet' });
  const topic = uniqueName('quiet');
  const groupId = uniqueName('quiet-group');
  await bus.ensureTopics([{ name: topic, partitions: 2, compacted: false }]);
  let held = true;
  let quietOffset: number | undefined;
  let idleCalls = 0;
  const consumer = bus.consumer({
    groupId,
    topics: [topic],
    idleMs: 300,
    idle: async () => {
      idleCalls++;
      return new Map();
    },
    handler: async (batch, ctx) => {
      for (const r of batch) if (r.partition === 0) quietOffset = r.offset;
      // Partition 0's record stays held (a window open on it) until released.
      ctx.setHolds(held && quietOffset !== undefined ? new Map([[partitionKey(topic, 0), quietOffset]]) : new Map());
    },
  });
  const producer = bus.producer();
  let busy = true;
  const reader = new Kafka.KafkaConsumer({ 'metadata.broker.list': brokers, 'group.id': groupId }, {});
  await new Promise<void>((resolve, reject) => reader.connect({}, (err) => (err ? reject(err) : resolve())));
  const committed = () =>
    new Promise<number>((resolve, reject) =>
      reader.committed([{ topic, partition: 0 }], 5_000, (err, offsets) => (err ? reject(err) : resolve(offsets[0]!.offset))),
    );
  try {
    await consumer.start();
    await producer.send(topic, [{ key: 'quiet', value: Buffer.from('held'), partition: 0 }]);
    const traffic = (async () => {
      for (let i = 0; busy; i++) {
        await producer.send(topic, [{ key: `busy-${i}`, value: Buffer.from('x'), partition: 1 }]);
        // Longer than the consumer's gap (CONSUME_GAP_MS): each batch ends, as under steady light load.
        await new Promise((r) => setTimeout(r, 150));
      }
    })();
    await waitFor(() => quietOffset !== undefined, 60_000, 'the quiet record handled');
    await new Promise((r) => setTimeout(r, 1_000));
    assert.ok((await committed()) <= quietOffset!, 'held: not committed past the held record');
    held = false;
    idleCalls = 0;
    await waitFor(async () => (await committed()) === quietOffset! + 1, 10_000, 'partition 0 committed past its released hold');
    assert.equal(idleCalls, 0, 'the consumer was busy the whole time: idle() never ran');
    busy = false;
    await traffic;
  } finally {
    busy = false;
    await consumer.stop();
    await new Promise<void>((resolve) => reader.disconnect(() => resolve()));
    await bus.close();
  }
});
