import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KafkaBus } from '../bus/kafka.js';
import { MemoryBus } from '../bus/memory.js';
import type { Bus } from '../bus/types.js';
import { kafkaBrokers } from '../../../tests/helpers/kafka.js';
import { uniqueName } from '../../../tests/helpers/wait.js';
import { changelogTopic, StateStore } from './state-store.js';

test('changelog topics are named after the component', () => {
  assert.equal(changelogTopic('health'), 'airdig.health.changelog');
  assert.equal(changelogTopic('health/edge'), 'airdig.health.edge.changelog');
});

for (const kind of ['memory', 'kafka'] as const) {
  test(`${kind} bus: a new store instance restores the latest value per key and where each input partition stood`, async () => {
    const bus: Bus = kind === 'memory' ? new MemoryBus({ retain_records: 2 }) : new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-test' });
    const id = `proc/${uniqueName('store')}`;
    const rec = (offset: number, partition = 0) => ({ topic: 'in', partition, offset });
    try {
      const first = new StateStore(bus, id);
      assert.equal((await first.restore()).size, 0);
      const seen: [number, boolean][] = [];
      const handle = (s: StateStore, offset: number, partition = 0) => s.handle(rec(offset, partition), (replay) => void seen.push([offset, replay]));
      for (const o of [0, 1, 2]) handle(first, o);
      first.putJson('x', { v: 1 });
      first.putJson('y', { v: 1 });
      first.putJson('z', 1);
      await first.flush();
      handle(first, 3);
      first.putJson('x', { v: 2 });
      first.delete('y');
      await first.flush();
      assert.equal(first.staged, 0);
      handle(first, 4); // handled, never flushed: the crash comes first
      handle(first, 2); // a batch delivered again: skipped
      assert.throws(
        () =>
          first.handle(rec(5), () => {
            throw new Error('poison');
          }),
        /poison/,
      );
      handle(first, 5); // a record its handler threw on is not counted as handled
      assert.deepEqual(seen, [
        [0, false],
        [1, false],
        [2, false],
        [3, false],
        [4, false],
        [5, false],
      ]);
      assert.throws(() => first.put('k', Buffer.alloc(0)), /tombstone; use delete/);

      seen.length = 0;
      const second = new StateStore(bus, id);
      assert.deepEqual(
        Object.fromEntries(await second.restoreJson()),
        { x: { v: 2 }, z: 1 },
        'the latest value per key, y deleted; the memory bus keeps them past its retention',
      );
      for (const o of [3, 4]) handle(second, o);
      handle(second, 0, 1);
      assert.deepEqual(
        seen,
        [
          [3, true],
          [4, false],
          [0, false],
        ],
        'offset 3 was flushed (a replay), 4 was not; another partition is new',
      );
    } finally {
      await bus.close();
    }
  });
}
