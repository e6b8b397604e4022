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

test('a partition that comes back to its consumer from an older commit is not handed again what that consumer handled', { timeout: 120_000 }, async () => {
  const bus = new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-test-back' });
  const topic = uniqueName('back');
  const groupId = uniqueName('back-group');
  await bus.ensureTopics([{ name: topic, partitions: 2, compacted: false }]);
  const seen = new Map<number, number[]>([
    [0, []],
    [1, []],
  ]);
  const seenByOther: number[] = [];
  // Every record stays held (a window open on it), so nothing is committed: a partition that moves
  // away and back is read again from its start.
  const holdAll = new Map([
    [partitionKey(topic, 0), 0],
    [partitionKey(topic, 1), 0],
  ]);
  const first = bus.consumer({
    groupId,
    topics: [topic],
    handler: async (batch, ctx) => {
      for (const r of batch) seen.get(r.partition)!.push(r.offset);
      ctx.setHolds(holdAll);
    },
  });
  const other = bus.consumer({
    groupId,
    topics: [topic],
    handler: async (batch, ctx) => {
      for (const r of batch) seenByOther.push(r.offset);
      ctx.setHolds(holdAll);
    },
  });
  const producer = bus.producer();
  const send = (from: number, to: number) =>
    Promise.all(
      [0, 1].map((partition) =>
        producer.send(
          topic,
          Array.from({ length: to - from }, (_, i) => ({ key: `k${from + i}`, value: Buffer.from(`${partition}:${from + i}`), partition })),
        ),
      ),
    );
  const count = () => seen.get(0)!.length + seen.get(1)!.length;
  try {
    await first.start();
    await send(0, 10);
    await waitFor(() => count() === 20, 60_000, 'the first consumer handled both partitions');
    // A second member takes a partition (and reads it from its start: nothing was committed), then leaves.
    await other.start();
    await waitFor(() => seenByOther.length >= 10, 60_000, 'the second consumer took a partition');
    await other.stop();
    await new Promise((r) => setTimeout(r, 3_000));
    // The partition is back with the first consumer, read again from offset 0; only new records reach its handler.
    await send(10, 15);
    await waitFor(() => count() >= 30, 60_000, 'the first consumer handled the new records of both partitions');
    await new Promise((r) => setTimeout(r, 1_000));
    for (const [partition, offsets] of seen)
      assert.deepEqual(
        offsets,
        Array.from({ length: 15 }, (_, i) => i),
        `partition ${partition}: each offset handed to the first consumer once`,
      );
  } finally {
    await Promise.all([first.stop(), other.stop()]);
    await bus.close();
  }
});
