import assert from 'node:assert/strict';
import { test } from 'node:test';
import { OldestFirst } from './oldest.js';

test('OldestFirst pops by (time, id), skips items removed elsewhere, and rebuilds to the same order', () => {
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const live = new Map<string, { time: number }>();
  const heap = new OldestFirst<{ time: number }>();
  for (let i = 0; i < 2_000; i++) {
    const id = `s${i}`;
    const item = { time: Math.floor(random() * 300) }; // many equal times: ties go by id
    live.set(id, item);
    heap.push(item.time, id, item);
  }
  for (const id of [...live.keys()]) if (random() < 0.3) live.delete(id);
  const expected = [...live.entries()].sort(([a, x], [b, y]) => x.time - y.time || (a < b ? -1 : 1)).map(([, item]) => item);
  const isLive = (id: string, item: { time: number }) => live.get(id) === item;
  const half = expected.length >> 1;
  const popped: { time: number }[] = [];
  for (let i = 0; i < half; i++) {
    const item = heap.pop(isLive)!;
    popped.push(item);
    live.delete([...live.entries()].find(([, v]) => v === item)![0]);
  }
  heap.rebuild([...live.entries()].map(([id, item]) => [item.time, id, item]));
  assert.equal(heap.size, live.size);
  for (let item = heap.pop(isLive); item; item = heap.pop(isLive)) popped.push(item);
  assert.deepEqual(popped, expected);
  assert.equal(heap.pop(isLive), undefined);
});
