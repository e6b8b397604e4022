import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore, toStoreError, type Store } from './store.js';
import { openTestStore } from '../../../tests/helpers/clickhouse.js';
import { loadMigrations, migrate, MIGRATIONS_TABLE } from './migrate.js';
import { InsertBatcher } from './batcher.js';
import { repoRoot } from '../../../tests/helpers/kafka.js';
import { StoreError } from '../errors.js';

let store: Store;

test.before(async () => {
  store = await openTestStore('airdig_store');
});
test.after(async () => {
  await store.close();
  await store.close();
});

async function rows<T>(sql: string): Promise<T[]> {
  return (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
}

test('every migration in schemas/clickhouse applies to the real engine, and a second run applies nothing', async () => {
  const migrations = loadMigrations(path.join(repoRoot, 'schemas/clickhouse'));
  assert.ok(migrations.length >= 1);
  const first = await migrate(store, migrations);
  assert.equal(first.applied.length, migrations.length);
  const second = await migrate(store, migrations);
  assert.equal(second.applied.length, 0);
  assert.equal(second.skipped.length, migrations.length);
  const recorded = await rows<{ version: number }>(`SELECT version FROM ${MIGRATIONS_TABLE} FINAL ORDER BY version`);
  assert.deepEqual(
    recorded.map((r) => Number(r.version)),
    migrations.map((m) => m.version),
  );
  const tables = await rows<{ name: string }>(`SELECT name FROM system.tables WHERE database = currentDatabase() AND name = 'dead_letters'`);
  assert.equal(tables.length, 1);
});

test('a migration edited after it was applied is refused; badly named files are refused', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'airdig-mig-'));
  writeFileSync(path.join(dir, '0001_t.sql'), 'CREATE TABLE IF NOT EXISTS mig_t (a UInt8) ENGINE = MergeTree ORDER BY a;\n-- a ; in a comment\n');
  assert.equal((await migrate(store, loadMigrations(dir), 'mig_test_log')).applied.length, 1);
  writeFileSync(path.join(dir, '0001_t.sql'), 'CREATE TABLE IF NOT EXISTS mig_t (a UInt16) ENGINE = MergeTree ORDER BY a;');
  await assert.rejects(migrate(store, loadMigrations(dir), 'mig_test_log'), /changed after it was applied/);
  const bad = mkdtempSync(path.join(tmpdir(), 'airdig-mig-'));
  writeFileSync(path.join(bad, '1_x.sql'), 'SELECT 1');
  assert.throws(() => loadMigrations(bad), /not named NNNN_name.sql/);
  const gap = mkdtempSync(path.join(tmpdir(), 'airdig-mig-'));
  writeFileSync(path.join(gap, '0002_x.sql'), 'SELECT 1');
  assert.throws(() => loadMigrations(gap), /out of sequence/);
});

test('batched inserts: one block for many writes, identical blocks written once, refused rows found alone', async () => {
  await store.client.command({
    query: `CREATE TABLE IF NOT EXISTS batch_t (id String, n UInt32) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100`,
  });
  let inserts = 0;
  const b = new InsertBatcher<{ id: string; n: unknown }>({ store, table: 'batch_t', maxRows: 1_000, maxDelayMs: 50, onInsert: () => inserts++ });
  const results = await Promise.all([
    b.write([{ id: 'a', n: 1 }]),
    b.write([
      { id: 'b', n: 2 },
      { id: 'c', n: 3 },
    ]),
  ]);
  assert.deepEqual(results, [[], []]);
  assert.equal(inserts, 1, 'two writes within the delay make one insert');
  // The same block again (a replay after a crash, or a retry after a timeout) is deduplicated by its token.
  await Promise.all([
    b.write([{ id: 'a', n: 1 }]),
    b.write([
      { id: 'b', n: 2 },
      { id: 'c', n: 3 },
    ]),
  ]);
  assert.deepEqual(await rows(`SELECT id, n FROM batch_t ORDER BY id`), [
    { id: 'a', n: 1 },
    { id: 'b', n: 2 },
    { id: 'c', n: 3 },
  ]);
  // A row ClickHouse can never take is reported to its caller by index; its neighbours are written.
  const [rejected] = await Promise.all([
    b.write([
      { id: 'd', n: 4 },
      { id: 'bad', n: 'not a number' },
      { id: 'e', n: 5 },
    ]),
    b.write([{ id: 'f', n: 6 }]),
  ]);
  assert.equal(rejected!.length, 1);
  assert.equal(rejected![0]!.index, 1);
  assert.ok(rejected![0]!.error instanceof StoreError);
  assert.equal(rejected![0]!.error.retryable, false);
  assert.deepEqual(
    (await rows<{ id: string }>(`SELECT id FROM batch_t ORDER BY id`)).map((r) => r.id),
    ['a', 'b', 'c', 'd', 'e', 'f'],
  );
  await b.close();
});

test('errors carry the ClickHouse code and say whether a retry can help; an unreachable server is retryable', async () => {
  const err = await store.client.query({ query: 'SELECT nosuch', format: 'JSONEachRow' }).then(
    () => undefined,
    (e: unknown) => toStoreError(e, 'query'),
  );
  assert.ok(err instanceof StoreError);
  assert.equal(err.clickhouseCode, 47);
  assert.equal(err.retryable, false);
  const gone = openStore({ url: 'http://airdig:x@127.0.0.1:1' });
  await assert.rejects(gone.ping(), (e: unknown) => e instanceof StoreError && e.retryable);
  await gone.close();
});
