import assert from 'node:assert/strict';
import { test } from 'node:test';
import { z } from 'zod';
import { MemoryBus } from '../bus/memory.js';
import type { Store } from '../store/store.js';
import { componentSettings } from '../../../tests/helpers/component.js';
import { waitFor } from '../../../tests/helpers/wait.js';
import { Holds, keyedOrigin, partitionKey } from './holds.js';
import { Outbox, processorFactory } from './processor.js';

test('holds: the lowest offset per partition, from origins and keyed origins alike', () => {
  assert.equal(partitionKey('t', 3), 't\u00003');
  const held = new Holds()
    .hold({ topic: 't', partition: 0, offset: 9 })
    .hold(keyedOrigin({ topic: 't', partition: 0, offset: 4 }))
    .hold({ at: partitionKey('t', 1), offset: 7 })
    .hold(undefined)
    .hold({ topic: 't', partition: 0, offset: 5 });
  assert.deepEqual(
    held.offsets,
    new Map([
      ['t\u00000', 4],
      ['t\u00001', 7],
    ]),
  );
});

test('outbox: a failed send keeps what it held, ahead of what came meanwhile; nothing to send calls nothing', async () => {
  const box = new Outbox<number>();
  assert.deepEqual(await box.send(() => assert.fail('called with nothing')), []);
  box.push(1, 2);
  await assert.rejects(
    box.send(async () => {
      box.push(3);
      throw new Error('down');
    }),
    /down/,
  );
  const sent: number[][] = [];
  assert.deepEqual(await box.send(async (xs) => void sent.push([...xs])), [1, 2, 3]);
  assert.deepEqual(sent, [[1, 2, 3]]);
  assert.equal(box.length, 0);
});

test('processorFactory: restore before consuming, holds after each batch bound the commit, stop after leaving the group', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'in', partitions: 1 }]);
  const configSchema = z.object({ input: z.string().default('in'), max_batch: z.number().default(10) }).strict();
  const calls: string[] = [];
  const factory = processorFactory({
    type: 'probe',
    configSchema,
    topics: (c) => ({ consumes: [c.input], produces: [] }),
    create: () => ({
      restore: async () => void calls.push('restore'),
      started: () => void calls.push('started'),
      handle: async (batch) => void calls.push(`handle ${batch.map((r) => r.offset).join(',')}`),
      // The record at offset 1 is still needed.
      holds: () => new Holds().hold({ topic: 'in', partition: 0, offset: 1 }).offsets,
      stop: async () => void calls.push('stop'),
    }),
  });
  assert.equal(factory.kind, 'processor');
  assert.deepEqual(factory.topics(configSchema.parse({})), { consumes: ['in'], produces: [] });
  const run = async () => {
    const c = factory.create(componentSettings(factory, bus, {} as Store), configSchema.parse({}));
    await c.start();
    return c;
  };
  await bus.producer().send('in', [{ value: Buffer.from('a') }, { value: Buffer.from('b') }, { value: Buffer.from('c') }]);
  const first = await run();
  await waitFor(() => calls.includes('handle 0,1,2'), 10_000, 'the batch handled');
  await first.shutdown();
  // The first batch may be handled before start() returns; restore always comes first, stop last.
  const inOrder = (xs: string[]) => [xs[0], ...xs.slice(1, -1).sort(), xs.at(-1)];
  assert.deepEqual(inOrder(calls), ['restore', 'handle 0,1,2', 'started', 'stop']);
  calls.length = 0;
  const second = await run();
  await waitFor(() => calls.includes('handle 1,2'), 10_000, 'the held records read again');
  await second.shutdown();
  await second.shutdown();
  assert.deepEqual(inOrder(calls), ['restore', 'handle 1,2', 'started', 'stop', 'stop'], 'a second shutdown is safe');
  await bus.close();
});
