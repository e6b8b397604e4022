import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ManualClock } from '../runtime/clock.js';
import { EdgeStore, StoreFullError } from './store.js';

type Pending = { client?: string; server?: string };

function make(maxItems = 3) {
  const clock = new ManualClock(1_000);
  const completed: Pending[] = [];
  const expired: Pending[] = [];
  const store = new EdgeStore<Pending>({
    clock,
    ttlMs: 100,
    maxItems,
    isComplete: (v) => v.client !== undefined && v.server !== undefined,
    onComplete: (v) => completed.push(v),
    onExpire: (v) => expired.push(v),
  });
  return { clock, store, completed, expired };
}

test('two halves complete an entry, which then leaves the store', () => {
  const { store, completed } = make();
  store.upsert(
    'k',
    () => ({}),
    (v) => (v.client = 'a'),
  );
  assert.equal(store.size, 1);
  store.upsert(
    'k',
    () => ({}),
    (v) => (v.server = 'b'),
  );
  assert.equal(store.size, 0);
  assert.deepEqual(completed, [{ client: 'a', server: 'b' }]);
});

test('entries expire after the TTL, driven by the injected clock, oldest first', () => {
  const { clock, store, expired } = make();
  store.upsert(
    'a',
    () => ({}),
    (v) => (v.client = 'a'),
  );
  clock.advance(50);
  store.upsert(
    'b',
    () => ({}),
    (v) => (v.client = 'b'),
  );
  assert.equal(store.expire(), 0);
  clock.advance(50);
  assert.equal(store.expire(), 1);
  assert.deepEqual(expired, [{ client: 'a' }]);
  clock.advance(50);
  assert.equal(store.expire(), 1);
  assert.equal(store.size, 0);
});

test('a full store refuses new keys with a typed error but still completes pending ones', () => {
  const { store, completed } = make(2);
  store.upsert(
    'a',
    () => ({}),
    (v) => (v.client = 'a'),
  );
  store.upsert(
    'b',
    () => ({}),
    (v) => (v.client = 'b'),
  );
  assert.throws(
    () =>
      store.upsert(
        'c',
        () => ({}),
        (v) => (v.client = 'c'),
      ),
    StoreFullError,
  );
  store.upsert(
    'a',
    () => ({}),
    (v) => (v.server = 'x'),
  );
  assert.equal(completed.length, 1);
  store.upsert(
    'c',
    () => ({}),
    (v) => (v.client = 'c'),
  );
  assert.equal(store.size, 2);
});
