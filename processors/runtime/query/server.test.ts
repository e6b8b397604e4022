import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { openStore, type Store } from '../store/store.js';
import { loadMigrations, migrate } from '../store/migrate.js';
import { startQueryServer, checkReadOnly } from './server.js';
import type { Listening } from '../http.js';
import { repoRoot } from '../../../tests/helpers/kafka.js';

let store: Store;
let server: Listening;

test.before(async () => {
  store = openStore({ dataDir: mkdtempSync(path.join(tmpdir(), 'airdig-query-')) });
  await migrate(store, loadMigrations(path.join(repoRoot, 'schemas/clickhouse')));
  await store.client.command({ query: 'CREATE TABLE IF NOT EXISTS q_t (id UInt32, name String) ENGINE = MergeTree ORDER BY id' });
  await store.client.insert({ table: 'q_t', values: [{ id: 1, name: 'a' }, { id: 2, name: 'b' }], format: 'JSONEachRow' });
  server = await startQueryServer({ address: '127.0.0.1:0', store: () => store });
});
test.after(async () => {
  await server.close();
  await server.close();
  await store.close();
});

async function get(query: string, params: Record<string, string> = {}) {
  const u = new URL(server.url);
  u.searchParams.set('query', query);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  const res = await fetch(u);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

test('GET /ping and GET / answer Ok.', async () => {
  for (const p of ['/ping', '/']) {
    const res = await fetch(server.url + p);
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'Ok.\n');
  }
});

test('SELECT over GET and POST, TabSeparated by default, FORMAT in the SQL and default_format honoured', async () => {
  let r = await get('SELECT 1');
  assert.equal(r.status, 200);
  assert.equal(r.body, '1\n');
  assert.match(r.headers.get('content-type')!, /tab-separated-values/);
  r = await get('SELECT id, name FROM q_t ORDER BY id FORMAT JSONEachRow');
  assert.equal(r.body, '{"id":1,"name":"a"}\n{"id":2,"name":"b"}\n');
  assert.equal(r.headers.get('x-clickhouse-format'), 'JSONEachRow');
  assert.match(r.headers.get('content-type')!, /application\/json/);
  r = await get('SELECT count() FROM q_t', { default_format: 'CSVWithNames' });
  assert.equal(r.body, '"count()"\n2\n');
  assert.match(r.headers.get('content-type')!, /text\/csv/);
  const post = await fetch(server.url, { method: 'POST', body: "SELECT name FROM q_t WHERE name = 'b' -- a comment; DROP TABLE q_t" });
  assert.equal(post.status, 200);
  assert.equal(await post.text(), 'b\n');
  // A prefix in ?query= and the rest in the body, as ClickHouse joins them.
  const split = await fetch(`${server.url}/?query=${encodeURIComponent('SELECT id FROM q_t')}`, { method: 'POST', body: 'ORDER BY id DESC LIMIT 1' });
  assert.equal(await split.text(), '2\n');
  r = await get("SELECT 'INSERT INTO q_t; DROP TABLE q_t' AS s");
  assert.equal(r.status, 200, 'keywords inside a string literal count for nothing');
  r = await get('SHOW TABLES');
  assert.match(r.body, /q_t/);
  r = await get('DESCRIBE TABLE q_t');
  assert.match(r.body, /^id\tUInt32/);
});

test('engine errors answer ClickHouse\'s exception text, code header and status', async () => {
  let r = await get('SELECT nosuch FROM q_t');
  assert.equal(r.status, 404);
  assert.equal(r.headers.get('x-clickhouse-exception-code'), '47');
  assert.match(r.body, /^Code: 47\. DB::Exception: .*UNKNOWN_IDENTIFIER/);
  r = await get('SELECT * FROM no_such_table');
  assert.equal(r.headers.get('x-clickhouse-exception-code'), '60');
  assert.equal(r.status, 404);
  r = await get('SELEKT 1');
  assert.ok(r.status >= 400);
  assert.match(r.body, /^Code: \d+\. DB::Exception:/);
});

test('writes, DDL, multi-statements and settings that lift read-only are refused; nothing changes', async () => {
  const refused: [string, number, number][] = [
    ["INSERT INTO q_t VALUES (3, 'c')", 164, 403],
    ['ALTER TABLE q_t DELETE WHERE 1', 164, 403],
    ['DROP TABLE q_t', 164, 403],
    ['CREATE TABLE x (a UInt8) ENGINE = Memory', 164, 403],
    ['TRUNCATE TABLE q_t', 164, 403],
    ['SYSTEM SHUTDOWN', 164, 403],
    ['SET readonly = 0', 164, 403],
    ['SELECT 1; DROP TABLE q_t', 62, 400],
    ['SELECT 1 SETTINGS readonly = 0', 164, 403],
    ["SELECT * FROM file('/etc/passwd', 'LineAsString')", 497, 403],
    ["SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')", 497, 403],
    ["SELECT 1 INTO OUTFILE '/tmp/x'", 497, 403],
    ['', 62, 400],
  ];
  for (const [sql, code, status] of refused) {
    const r = sql ? await get(sql) : await (async () => {
      const res = await fetch(server.url, { method: 'POST', body: '' });
      return { status: res.status, body: await res.text(), headers: res.headers };
    })();
    assert.equal(r.headers.get('x-clickhouse-exception-code'), String(code), sql);
    assert.equal(r.status, status, sql);
    assert.match(r.body, new RegExp(`^Code: ${code}\\. DB::Exception: `), sql);
  }
  const lift = await get('SELECT 1', { readonly: '0' });
  assert.equal(lift.status, 403);
  assert.equal((await get('SELECT count() FROM q_t')).body, '2\n');
});

test('checkReadOnly reads FORMAT only at the top level', () => {
  assert.equal(checkReadOnly('SELECT * FROM (SELECT 1 FORMAT JSON)').format, undefined);
  assert.equal(checkReadOnly("SELECT 'FORMAT CSV' FORMAT JSONCompact;").format, 'JSONCompact');
  assert.equal(checkReadOnly('WITH 1 AS x SELECT x').format, undefined);
});
