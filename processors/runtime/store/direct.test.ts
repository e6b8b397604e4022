import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Store } from './store.js';
import { InsertBatcher } from './batcher.js';
import { compileValueEncoder, DirectRows, DirectRowsWriter, type DirectLayout } from './rowbinary.js';
import { openTestStore } from '../../../tests/helpers/clickhouse.js';

let store: Store;
test.before(async () => {
  store = await openTestStore('direct_rows');
  for (const t of ['checked', 'dedup']) {
    await store.client.command({
      query: `CREATE TABLE ${t} (id String, n UInt32, CONSTRAINT small CHECK n < 100) ENGINE = MergeTree ORDER BY id SETTINGS non_replicated_deduplication_window = 100`,
    });
  }
  await store.client.command({ query: `CREATE TABLE altered (id String, n UInt32, extra String DEFAULT 'default') ENGINE = MergeTree ORDER BY id` });
  await store.client.command({ query: `CREATE TABLE retyped (id String, n UInt64) ENGINE = MergeTree ORDER BY id` });
});
test.after(() => store.close());

const LAYOUT: DirectLayout = {
  name: 'the test writer',
  columns: [
    { name: 'id', type: 'String' },
    { name: 'n', type: 'UInt32' },
  ],
};
const encodeString = compileValueEncoder('String');
const encodeUInt32 = compileValueEncoder('UInt32');
const writer = new DirectRowsWriter(LAYOUT);

/** Rows written as a sink's direct path writes them; toRows gives the same rows as objects. */
function direct(rows: { id: string; n: number }[], out = writer): DirectRows {
  const w = out.begin();
  for (const r of rows) {
    w.u8(0);
    encodeString(w, r.id);
    w.u8(0);
    encodeUInt32(w, r.n);
    out.endRow();
  }
  return out.finish(() => rows.map((r) => ({ ...r })));
}

async function stored(table: string): Promise<Record<string, unknown>[]> {
  return (await store.client.query({ query: `SELECT * FROM ${table} ORDER BY id, n`, format: 'JSONEachRow' })).json();
}

test('a row ClickHouse refuses inside DirectRows is found by bisection and names its item; the other rows are written; the bytes are released after the insert', async () => {
  const events: string[] = [];
  const b = new InsertBatcher<object>({ store, table: 'checked', maxDelayMs: 5, onInsert: (rows) => events.push(`insert ${rows}`) });
  const bad = direct([
    { id: 'a', n: 1 },
    { id: 'b', n: 500 },
    { id: 'c', n: 2 },
  ]);
  const good = direct([{ id: 'd', n: 4 }]);
  for (const [name, item] of [
    ['bad', bad],
    ['good', good],
  ] as const) {
    const release = item.release.bind(item);
    item.release = () => {
      events.push(`release ${name}`);
      release();
    };
  }
  const rejected = await b.write([{ id: 'o1', n: 1 }, bad, { id: 'o2', n: 3 }, good]);
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.index, 1);
  assert.equal(rejected[0]!.rows, undefined); // one row stands for itself
  assert.match(rejected[0]!.error.message, /small/);
  assert.deepEqual(
    (await stored('checked')).map((r) => r.id),
    ['a', 'c', 'd', 'o1', 'o2'],
  );
  // Every insert (the whole block, then the halves of the bisection) comes before the bytes are let go.
  const firstRelease = events.findIndex((e) => e.startsWith('release'));
  assert.ok(firstRelease > 0 && events.slice(firstRelease).every((e) => e.startsWith('release')), events.join(', '));
  assert.deepEqual(events.slice(firstRelease).sort(), ['release bad', 'release good']);
  await b.close();
});

test('the same rows written as objects and as DirectRows make the same insert: the second is deduplicated', async () => {
  const b = new InsertBatcher<object>({ store, table: 'dedup', maxDelayMs: 5 });
  assert.deepEqual(
    await b.write([
      { id: 'x', n: 7 },
      { id: 'y', n: 8 },
    ]),
    [],
  );
  assert.deepEqual(
    await b.write([
      direct([
        { id: 'x', n: 7 },
        { id: 'y', n: 8 },
      ]),
    ]),
    [],
  );
  assert.deepEqual(await b.write([direct([{ id: 'x', n: 9 }])]), []); // other bytes: a new block
  assert.deepEqual(await stored('dedup'), [
    { id: 'x', n: 7 },
    { id: 'x', n: 9 },
    { id: 'y', n: 8 },
  ]);
  await b.close();
});

test('a table whose columns are not the layout gets the row objects instead, with one warning naming the difference', async () => {
  for (const [table, why] of [
    ['altered', /the table has column extra \(String\) that it does not write/],
    ['retyped', /column n is UInt64 in the table, UInt32 in the writer/],
  ] as const) {
    const warnings: string[] = [];
    const b = new InsertBatcher<object>({ store, table, maxDelayMs: 5, onDirectFallback: (m) => warnings.push(m) });
    assert.deepEqual(
      await b.write([
        direct([
          { id: 'p', n: 1 },
          { id: 'q', n: 2 },
        ]),
      ]),
      [],
    );
    assert.deepEqual(await b.write([direct([{ id: 'r', n: 3 }])]), []);
    await b.close();
    assert.equal(warnings.length, 1, warnings.join('\n'));
    assert.match(warnings[0]!, new RegExp(`table ${table} does not have the columns the test writer writes directly`));
    assert.match(warnings[0]!, why);
    const rows = await stored(table);
    assert.deepEqual(
      rows.map((r) => [r.id, Number(r.n), r.extra]),
      [
        ['p', 1, table === 'altered' ? 'default' : undefined],
        ['q', 2, table === 'altered' ? 'default' : undefined],
        ['r', 3, table === 'altered' ? 'default' : undefined],
      ],
    );
  }
});

test('DirectRows whose row objects cannot be made are refused as a whole, counting their rows', async () => {
  const b = new InsertBatcher<object>({ store, table: 'altered', maxDelayMs: 5 });
  const item = new DirectRows(LAYOUT, Buffer.alloc(0), Uint32Array.from([0, 0]), () => {
    throw new Error('record no longer decodes');
  });
  const rejected = await b.write([{ id: 's', n: 1 }, item]);
  await b.close();
  assert.equal(rejected.length, 1);
  assert.equal(rejected[0]!.index, 1);
  assert.equal(rejected[0]!.rows, 2);
  assert.match(rejected[0]!.error.message, /the rows cannot be made: record no longer decodes/);
});

test('a slab takes new rows only once every item in it is released, and then does', () => {
  const out = new DirectRowsWriter(LAYOUT);
  const big = 'z'.repeat(100_000); // ~10 records per 1 MiB slab
  const make = (k: number) => direct([{ id: `${k}${big}`, n: k }], out);
  const first = Array.from({ length: 12 }, (_, k) => make(k));
  const slabA = first[0]!.bytes.buffer;
  const inA = first.filter((i) => i.bytes.buffer === slabA);
  assert.ok(inA.length > 1 && inA.length < first.length, `${inA.length} of ${first.length} in the first slab`);
  const copies = inA.map((i) => Buffer.from(i.bytes));
  // All but one released: the slab stays out of use however many records follow.
  for (const i of inA.slice(1)) i.release();
  for (let k = 0; k < 30; k++) {
    const later = make(100 + k);
    assert.notEqual(later.bytes.buffer, slabA);
    later.release();
  }
  inA.forEach((i, k) => assert.ok(Buffer.from(i.bytes).equals(copies[k]!), `item ${k} intact`));
  // The last one released (twice: the second does nothing): the slab is taken again.
  inA[0]!.release();
  inA[0]!.release();
  const reused = Array.from({ length: 30 }, (_, k) => make(200 + k)).some((i) => i.bytes.buffer === slabA);
  assert.ok(reused, 'the released slab is reused');
});
