import assert from 'node:assert/strict';
import { test } from 'node:test';
import { busContract } from './contract.js';
import { MemoryBus } from './memory.js';
import { BusFullError } from '../errors.js';
import { partitionForKey, murmur2 } from './partitioner.js';

busContract('memory bus', async () => new MemoryBus());

test('memory bus: a full partition refuses a send whole, and takes it again once the group committed', async () => {
  const bus = new MemoryBus({ max_queued_records: 10 });
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  let gate!: () => void;
  let opened = new Promise<void>((r) => (gate = r));
  const seen: number[] = [];
  const c = bus.consumer({
    groupId: 'g',
    topics: ['t'],
    handler: async (batch) => {
      await opened;
      for (const r of batch) seen.push(Number(r.value.toString()));
    },
  });
  await c.start();
  const p = bus.producer();
  await p.send(
    't',
    Array.from({ length: 8 }, (_, i) => ({ value: Buffer.from(String(i)) })),
  );
  await assert.rejects(
    p.send(
      't',
      Array.from({ length: 3 }, () => ({ value: Buffer.from('x') })),
    ),
    (e: unknown) => e instanceof BusFullError && e.retryable,
  );
  gate();
  while (seen.length < 8) await new Promise((r) => setTimeout(r, 5));
  await p.send('t', [{ value: Buffer.from('8') }, { value: Buffer.from('9') }, { value: Buffer.from('10') }]);
  while (seen.length < 11) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(seen, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  assert.equal(c.lag(), 0);
  await c.stop();
  await bus.close();
  opened = Promise.resolve();
});

test('memory bus: a topic nobody reads keeps only its newest records', async () => {
  const bus = new MemoryBus({ max_queued_records: 100, retain_records: 5 });
  await bus.ensureTopics([{ name: 'unread', partitions: 1 }]);
  for (let i = 0; i < 12; i++) await bus.producer().send('unread', [{ value: Buffer.from(String(i)) }]);
  const [d] = bus.describe();
  assert.equal(d!.end, 12);
  assert.equal(d!.held, 5);
  await bus.close();
});

test('memory bus: trimming thousands of records keeps offsets and values straight, for the group reading and for one that joins later', async () => {
  const bus = new MemoryBus({ retain_records: 50 });
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  const seen: number[] = [];
  const c = bus.consumer({
    groupId: 'a',
    topics: ['t'],
    maxBatch: 70,
    handler: async (batch) => {
      for (const r of batch) {
        assert.equal(Number(r.value.toString()), r.offset);
        seen.push(r.offset);
      }
    },
  });
  await c.start();
  for (let sent = 0; sent < 5_000; sent += 100) {
    await bus.producer().send(
      't',
      Array.from({ length: 100 }, (_, i) => ({ value: Buffer.from(String(sent + i)) })),
    );
    if (sent % 1_000 === 0) await new Promise((r) => setImmediate(r)); // let the consumer commit, and so trim, between sends
  }
  while (c.lag() > 0) await new Promise((r) => setTimeout(r, 2));
  await c.stop();
  assert.deepEqual(
    seen,
    Array.from({ length: 5_000 }, (_, i) => i),
  );
  const [d] = bus.describe();
  assert.deepEqual({ end: d!.end, held: d!.held }, { end: 5_000, held: 50 });
  const kept: number[] = [];
  await bus.readToEnd('t', (r) => {
    assert.equal(Number(r.value.toString()), r.offset);
    kept.push(r.offset);
  });
  assert.deepEqual(
    kept,
    Array.from({ length: 50 }, (_, i) => 4_950 + i),
  );
  const late: number[] = [];
  const l = bus.consumer({ groupId: 'late', topics: ['t'], handler: async (batch) => void late.push(...batch.map((r) => Number(r.value.toString()))) });
  await l.start();
  while (late.length < 50) await new Promise((r) => setTimeout(r, 2));
  await l.stop();
  assert.deepEqual(late, kept);
  await bus.close();
});

test('memory bus: a consumer of a busy and a silent topic leaves no wait behind on the silent one', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'busy', partitions: 1 },
    { name: 'silent', partitions: 1 },
  ]);
  // Each turn of the consumer's loop used to leave one more abort listener on its signal for the
  // silent topic; past ten, node warns of a leak.
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.name);
  process.on('warning', onWarning);
  let seen = 0;
  const c = bus.consumer({ groupId: 'g', topics: ['busy', 'silent'], handler: async (batch) => void (seen += batch.length) });
  await c.start();
  try {
    for (let i = 0; i < 30; i++) {
      await bus.producer().send('busy', [{ value: Buffer.from(String(i)) }]);
      while (seen <= i) await new Promise((r) => setTimeout(r, 1));
    }
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(warnings, []);
  } finally {
    process.off('warning', onWarning);
    await c.stop();
    await bus.close();
  }
});

test("murmur2 partitioner matches Kafka's Java client", () => {
  // Values from Kafka's own UtilsTest.testMurmur2.
  const cases: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
  ];
  for (const [s, h] of cases) assert.equal(murmur2(Buffer.from(s)), h, s);
  assert.equal(partitionForKey(Buffer.from('foobar'), 7), (-790332482 & 0x7fffffff) % 7);
});
