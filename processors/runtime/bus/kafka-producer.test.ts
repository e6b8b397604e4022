// The Kafka producer's answers against the real broker: after the acks, soon, and failed for every
// send whose records failed — alone and through the coalescing producer the OTLP receiver uses.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { uniqueName } from '../../../tests/helpers/wait.js';
import { kafkaBrokers } from '../../../tests/helpers/kafka.js';
import { BusUnavailableError } from '../errors.js';
import { KafkaBus } from './kafka.js';
import { coalescingProducer } from './coalesce.js';
import { partitionForKey } from './partitioner.js';
import type { BusRecord } from './types.js';

let bus: KafkaBus;

test.before(async () => {
  bus = new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-producer-test' });
  await bus.ping();
});
test.after(() => bus.close());

async function readAll(topic: string): Promise<BusRecord[]> {
  const out: BusRecord[] = [];
  await bus.readToEnd(topic, (r) => out.push(r));
  return out;
}

test('kafka producer: a send resolves once the broker has the records, a few milliseconds at low load', async () => {
  const topic = uniqueName('produce-latency');
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  const producer = bus.producer();
  await producer.send(topic, [{ key: 'warm', value: Buffer.from('up') }]);
  const latencies: number[] = [];
  for (let i = 0; i < 40; i++) {
    const start = performance.now();
    await producer.send(topic, [{ key: `k${i}`, value: Buffer.from(`v${i}`) }]);
    latencies.push(performance.now() - start);
  }
  // Acknowledged means on the broker: every record is there at once, with the offset it was given.
  const records = await readAll(topic);
  assert.deepEqual(
    records.map((r) => r.value.toString()),
    ['up', ...Array.from({ length: 40 }, (_, i) => `v${i}`)],
  );
  latencies.sort((a, b) => a - b);
  // The old producer waited for linger.ms 5 plus a 5 ms poll interval: never under 5 ms, 10 ms typical.
  // The fastest send and the median (loose: the test machine runs other work beside the broker).
  const all = latencies.map((l) => l.toFixed(1)).join(' ');
  assert.ok(latencies[0]! < 5, `fastest send ${latencies[0]!.toFixed(2)} ms, want < 5 ms (all: ${all})`);
  assert.ok(latencies[20]! < 15, `median send ${latencies[20]!.toFixed(2)} ms, want < 15 ms (all: ${all})`);
});

test('kafka producer: a send with one record the broker cannot take fails as a whole, the others still land', async () => {
  const topic = uniqueName('produce-fail');
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  const producer = bus.producer();
  await assert.rejects(
    producer.send(topic, [
      { value: Buffer.from('good'), partition: 0 },
      { value: Buffer.from('nowhere'), partition: 7 },
    ]),
    BusUnavailableError,
  );
  await producer.send(topic, [{ value: Buffer.from('after'), partition: 0 }]);
  assert.deepEqual(
    (await readAll(topic)).map((r) => r.value.toString()),
    ['good', 'after'],
  );
});

test('coalescing on kafka: concurrent sends share one record per partition and each gets its own answer', async () => {
  const topic = uniqueName('produce-coalesce');
  await bus.ensureTopics([{ name: topic, partitions: 2 }]);
  const producer = coalescingProducer(bus.producer(), { partitions: () => 2, maxBytes: 1_000_000 });
  const keys = Array.from({ length: 30 }, (_, i) => `trace-${i}`);
  const answers = await Promise.allSettled(keys.map((k) => producer.send(topic, [{ key: k, value: Buffer.from(`<${k}>`) }])));
  assert.deepEqual(
    answers.map((a) => a.status),
    keys.map(() => 'fulfilled'),
  );
  const records = await readAll(topic);
  assert.equal(records.length, 2, 'one record per partition');
  for (const r of records) {
    const expected = keys.filter((k) => partitionForKey(Buffer.from(k), 2) === r.partition).map((k) => `<${k}>`);
    assert.equal(r.value.toString(), expected.join(''));
  }
});

test('coalescing on kafka: a merged record that fails fails every send in it, and only those', async () => {
  const topic = uniqueName('produce-coalesce-fail');
  await bus.ensureTopics([{ name: topic, partitions: 1 }]);
  // Told 4 partitions where there is 1: keys placed on 1–3 cannot be delivered.
  const producer = coalescingProducer(bus.producer(), { partitions: () => 4, maxBytes: 1_000_000 });
  const keys = Array.from({ length: 24 }, (_, i) => `k${i}`);
  const answers = await Promise.allSettled(keys.map((k) => producer.send(topic, [{ key: k, value: Buffer.from(k) }])));
  const placed = keys.map((k) => partitionForKey(Buffer.from(k), 4));
  assert.ok(placed.includes(0) && placed.some((p) => p !== 0), 'keys on the real partition and on missing ones');
  assert.deepEqual(
    answers.map((a) => a.status),
    placed.map((p) => (p === 0 ? 'fulfilled' : 'rejected')),
  );
  // A send spanning a good and a failed record fails too: its request is not acknowledged.
  const good = keys.find((_, i) => placed[i] === 0)!;
  const bad = keys.find((_, i) => placed[i] !== 0)!;
  await assert.rejects(
    producer.send(topic, [
      { key: good, value: Buffer.from('g') },
      { key: bad, value: Buffer.from('b') },
    ]),
    BusUnavailableError,
  );
  const landed = (await readAll(topic)).map((r) => r.value.toString());
  assert.deepEqual(landed, [keys.filter((_, i) => placed[i] === 0).join(''), 'g']);
});
