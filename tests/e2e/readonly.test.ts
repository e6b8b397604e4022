import assert from 'node:assert/strict';
import { test } from 'node:test';
import { openTestStore, testQueryUrl } from '../helpers/clickhouse.js';
import type { Store } from '../../processors/runtime/store/store.js';

// The query endpoint is ClickHouse itself, as a read-only user: every statement below is refused by
// the engine's own parser and grants (no word filter in between), and the table is unchanged after.

let store: Store;
const ROWS = 10;

test.before(async () => {
  store = await openTestStore('airdig_ro');
  await store.client.command({ query: 'CREATE TABLE victim (id UInt32, s String) ENGINE = MergeTree ORDER BY id' });
  await store.client.insert({ table: 'victim', values: Array.from({ length: ROWS }, (_, i) => ({ id: i, s: `row ${i}` })), format: 'JSONEachRow' });
});
test.after(async () => {
  await store.client.command({ query: `DROP DATABASE IF EXISTS ${store.database}` });
  await store.close();
});

async function post(sql: string, init: { headers?: Record<string, string>; params?: Record<string, string> } = {}): Promise<{ status: number; text: string }> {
  const u = new URL(testQueryUrl());
  u.searchParams.set('database', store.database);
  for (const [k, v] of Object.entries(init.params ?? {})) u.searchParams.set(k, v);
  const res = await fetch(u, { method: 'POST', body: sql, ...(init.headers ? { headers: init.headers } : {}) });
  return { status: res.status, text: await res.text() };
}

async function victimIntact(): Promise<void> {
  const r = await store.client.query({ query: 'SELECT count() AS n, sum(id) AS s FROM victim', format: 'JSONEachRow' });
  const [row] = await r.json<{ n: number | string; s: number | string }>();
  assert.deepEqual({ n: Number(row!.n), s: Number(row!.s) }, { n: ROWS, s: (ROWS * (ROWS - 1)) / 2 });
}

const ATTACKS: [string, string][] = [
  ['nested comments around TRUNCATE', '/* /* */ SELECT */ TRUNCATE TABLE victim'],
  ['WITH … INSERT', "WITH 1 AS a INSERT INTO victim SELECT 99, 'forged'"],
  ['dollar-quoted multi-statement', "SELECT $$'$$; DROP TABLE victim; SELECT $$'$$"],
  ['DROP', 'DROP TABLE victim'],
  ['ALTER DELETE', 'ALTER TABLE victim DELETE WHERE 1'],
  ['CREATE', 'CREATE TABLE forged (x UInt8) ENGINE = Memory'],
  ['INSERT', "INSERT INTO victim VALUES (100, 'x')"],
  ['backquoted file()', "SELECT * FROM `file`('/etc/hostname', 'LineAsString')"],
  ['double-quoted file()', `SELECT * FROM "file"('/etc/hostname', 'LineAsString')`],
  ['url()', "SELECT * FROM url('http://127.0.0.1:1/', 'LineAsString')"],
  ['s3()', "SELECT * FROM s3('http://127.0.0.1:1/b/k', 'CSV')"],
  ['remote()', "SELECT * FROM remote('127.0.0.1:1', system.one)"],
  ['executable()', "SELECT * FROM executable('cat', 'TSV', 'x String')"],
  ['input()', "SELECT * FROM input('x String')"],
  ['INTO OUTFILE', "SELECT 'x' INTO/**/OUTFILE '/tmp/airdig-readonly-test' APPEND FORMAT RawBLOB"],
  ['SYSTEM SHUTDOWN', 'SYSTEM SHUTDOWN'],
  ['SYSTEM STOP LISTEN', 'SYSTEM STOP LISTEN HTTP'],
  ['KILL the keep-alive', "KILL QUERY WHERE query_id = 'airdig-keepalive'"],
  ['settings escalation in SQL', 'SELECT 1 SETTINGS readonly = 0'],
  ['GRANT', 'GRANT ALL ON *.* TO airdig_reader'],
  ['CREATE USER', "CREATE USER evil IDENTIFIED BY 'x'"],
];

for (const [name, sql] of ATTACKS) {
  test(`refused by the engine over HTTP: ${name}`, async () => {
    const r = await post(sql);
    assert.notEqual(r.status, 200, `${sql} was accepted: ${r.text}`);
    assert.match(r.text, /^Code: \d+\. DB::Exception: /);
    await victimIntact();
  });
}

test('settings escalation in the URL is refused; per-query limits the plugin sends are accepted', async () => {
  const escalations: Record<string, string>[] = [{ readonly: '0' }, { max_memory_usage: String(1e12) }, { max_execution_time: '100000' }];
  for (const params of escalations) {
    const r = await post('SELECT 1', { params });
    assert.notEqual(r.status, 200, `${JSON.stringify(params)} was accepted`);
  }
  assert.deepEqual(await post('SELECT 1', { params: { max_execution_time: '30' } }), { status: 200, text: '1\n' });
});

test('a POST from a foreign Origin (a web page the SRE opens) is refused before it reaches the engine', async () => {
  const r = await post("INSERT INTO victim VALUES (7, 'x')", { headers: { Origin: 'https://evil.example', 'Content-Type': 'text/plain' } });
  assert.equal(r.status, 403);
  assert.match(r.text, /evil\.example are refused/);
  const nav = await post('SELECT 1', { headers: { 'Sec-Fetch-Site': 'cross-site' } });
  assert.equal(nav.status, 403);
  await victimIntact();
});

test('as "default" a client is the reader; a wrong password for it is refused; the keep-alive user cannot be used', async () => {
  assert.deepEqual(await post("SELECT currentUser(), getSetting('readonly')"), { status: 200, text: 'airdig_reader\t2\n' });
  const wrong = await post('SELECT 1', { headers: { Authorization: `Basic ${Buffer.from('default:guess').toString('base64')}` } });
  assert.equal(wrong.status, 401);
});

test('a memory bomb fails alone with the reader profile limit; the engine keeps answering', async () => {
  const r = await post('SELECT groupArray(number) FROM numbers(10000000000)');
  assert.notEqual(r.status, 200);
  assert.match(r.text, /MEMORY_LIMIT_EXCEEDED|TOO_MANY_ROWS|max_memory_usage/);
  assert.deepEqual(await post('SELECT 1'), { status: 200, text: '1\n' });
});
