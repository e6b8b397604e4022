import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { openStore, type Store } from '../../processors/runtime/store/store.js';

/**
 * The ClickHouse server of this test run: `airdig clickhouse`, started on free ports by scripts/test.mjs
 * (npm test) like the Kafka broker. Each test file works in a database of its own on it.
 */
function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run the tests with npm test, which starts the test ClickHouse server (scripts/test.mjs)`);
  return v;
}

/** The writer's URL (http://airdig:PASSWORD@127.0.0.1:PORT), without a database. */
export const testClickhouseUrl = () => env('AIRDIG_TEST_CLICKHOUSE_URL');
/** AirDig's HTTP query endpoint of that server (read-only as "default"). */
export const testQueryUrl = () => env('AIRDIG_TEST_CLICKHOUSE_QUERY');
/** Its native-protocol query endpoint, host:port. */
export const testQueryNative = () => env('AIRDIG_TEST_CLICKHOUSE_NATIVE');

export function freshDatabase(prefix: string): string {
  return `${prefix.replace(/[^A-Za-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
}

/** The writer's URL with a fresh database in its path (for `airdig run --clickhouse URL`). */
export function freshDatabaseUrl(prefix: string): { url: string; database: string } {
  const database = freshDatabase(prefix);
  const u = new URL(testClickhouseUrl());
  u.pathname = `/${database}`;
  return { url: u.toString(), database };
}

/** A store on the test server, in a fresh database (created by ping()). */
export async function openTestStore(prefix: string): Promise<Store> {
  const store = openStore({ url: testClickhouseUrl(), database: freshDatabase(prefix) });
  await store.ping();
  return store;
}

/** Runs a read-only query through the test server's query endpoint, in database, as JSONEachRow. */
export async function queryRows<T>(database: string, sql: string): Promise<T[]> {
  const u = new URL(testQueryUrl());
  u.searchParams.set('database', database);
  const res = await fetch(u, { method: 'POST', body: `${sql} FORMAT JSONEachRow` });
  const text = await res.text();
  if (!res.ok) throw new Error(`query failed (${res.status}): ${text}`);
  return text
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as T);
}

/** `airdig run` flags that write to the test server in a fresh database, and the query base for reading it back. */
export function distributedClickhouse(prefix: string): { args: string[]; database: string; queryBase: string } {
  const { url, database } = freshDatabaseUrl(prefix);
  return { args: ['--clickhouse', url], database, queryBase: `${testQueryUrl()}/?database=${database}` };
}

/** base (a query endpoint URL, maybe with ?database=) with the SQL as its query parameter. */
export function sqlUrl(base: string, sql: string): URL {
  const u = new URL(base);
  u.searchParams.set('query', sql);
  return u;
}

/** The pid of the embedded ClickHouse engine child (dist/airdig-clickhouse) that owns dataDir, if one runs. */
export function enginePid(dataDir: string): number | undefined {
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (argv[0]?.endsWith('airdig-clickhouse') && argv.includes(`--path=${path.join(dataDir, 'clickhouse')}`)) return Number(d);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}
