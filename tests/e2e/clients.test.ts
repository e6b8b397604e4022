// Official ClickHouse clients, unchanged, against `airdig run` on its embedded default: clickhouse-go v2
// over HTTP and native (with the Grafana plugin's own SQL), clickhouse-connect, clickhouse-jdbc. They
// connect as "default" with no password, as they would to any ClickHouse server (tests/clients/).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startAirdig, type RunningAirdig, FREE_PORTS as FREE } from '../helpers/airdig.js';
import { repoRoot } from '../helpers/kafka.js';
import { sqlUrl } from '../helpers/clickhouse.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);
const TRACE_ID = '5b8efff798038103d269b633813fc60c';

interface CaseResult {
  client: string;
  case: string;
  ok: boolean;
  rows?: unknown[][];
  error?: string;
  code?: number;
}

let a: RunningAirdig;

test.before(async () => {
  a = await startAirdig(['--data-dir', mkdtempSync(path.join(tmpdir(), 'airdig-clients-')), ...FREE], /^airdig: ready$/m, 90_000);
  // A trace the Grafana plugin's trace queries find (its tests use this trace id).
  const now = BigInt(Date.now()) * 1_000_000n;
  const body = {
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeSpans: [
          {
            spans: [
              {
                traceId: TRACE_ID,
                spanId: '0102030405060708',
                name: 'GET /cart',
                kind: 2,
                startTimeUnixNano: String(now),
                endTimeUnixNano: String(now + 5_000_000n),
              },
              {
                traceId: TRACE_ID,
                spanId: '0102030405060709',
                parentSpanId: '0102030405060708',
                name: 'SELECT',
                kind: 3,
                startTimeUnixNano: String(now),
                endTimeUnixNano: String(now + 1_000_000n),
              },
            ],
          },
        ],
      },
    ],
  };
  const r = await fetch(`${a.url('otlp http')}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(r.status, 200);
  await waitFor(
    async () => (await (await fetch(sqlUrl(a.url('query'), `SELECT count() FROM otel_traces WHERE TraceId = '${TRACE_ID}'`))).text()) === '2\n',
    30_000,
    'the trace in otel_traces',
  );
});
test.after(async () => {
  assert.equal(await a.stop('SIGTERM'), 0);
});

async function runClient(client: 'go' | 'python' | 'jdbc'): Promise<Map<string, CaseResult>> {
  const hostPort = (u: string) => u.replace(/^\w+:\/\//, '').replace(/\/.*$/, '');
  const native = /^ {2}query-native +tcp:\/\/(\S+)/m.exec(a.stdout())?.[1];
  assert.ok(native, 'airdig printed its native query endpoint');
  const { stdout } = await execFileP('bash', [path.join(repoRoot, 'tests/clients/run.sh'), client], {
    env: { ...process.env, CH_HTTP: hostPort(a.url('query')), CH_NATIVE: native, CH_USER: 'default', CH_PASSWORD: '', CH_DATABASE: 'default' },
    maxBuffer: 64 * 1024 * 1024,
    timeout: 240_000,
  });
  const out = new Map<string, CaseResult>();
  for (const line of stdout.split('\n').filter(Boolean)) {
    const r = JSON.parse(line) as CaseResult;
    out.set(`${r.client} ${r.case}`, r);
  }
  return out;
}

function expectCommon(results: Map<string, CaseResult>, client: string): void {
  const get = (c: string) => {
    const r = results.get(`${client} ${c}`);
    assert.ok(r, `${client} ran no case ${c}`);
    return r;
  };
  const ok = (c: string) => {
    const r = get(c);
    assert.equal(r.ok, true, `${client} ${c}: ${r.error}`);
    return r.rows;
  };
  assert.deepEqual(ok('select1'), [[1]]);
  assert.match(String(ok('version')![0]![0]), /^26\./);
  assert.deepEqual(ok('whoami'), [['airdig_reader', 2]]);
  assert.ok((ok('tables')!.map((r) => r[0]) as string[]).includes('otel_traces'));
  assert.deepEqual(ok('types'), [
    [
      '18446744073709551615',
      -2147483648,
      3.141592653589793,
      'héllo "wörld"\n',
      '2024-01-02T03:04:05.123456789Z',
      ['a', 'b', ''],
      { k1: 'v1', k2: 'v2' },
      null,
      'lc',
    ],
  ]);
  assert.deepEqual(ok('numbers'), [[100000, '4999950000']]);
  assert.deepEqual(ok('params'), [['42']]);
  assert.deepEqual(ok('settings'), [['30']]);
  for (const c of ['insert_refused', 'ddl_refused', 'file_refused']) {
    const r = get(c);
    assert.equal(r.ok, false, `${client} ${c} was accepted`);
    assert.match(r.error ?? '', /\b(497|164)\b/, `${client} ${c}: ${r.error}`);
  }
}

test("clickhouse-go v2 over HTTP and native, and the Grafana plugin's trace, log and query-builder SQL", async () => {
  const results = await runClient('go');
  for (const client of ['clickhouse-go-http', 'clickhouse-go-native']) {
    expectCommon(results, client);
    assert.deepEqual(results.get(`${client} params_named`)?.rows, [['42']]);
    assert.equal(results.get(`${client} lz4`)?.ok, true, results.get(`${client} lz4`)?.error);
    const grafana = [...results.values()].filter((r) => r.client === client && r.case.startsWith('grafana:'));
    assert.ok(grafana.length >= 15, `${client}: ${grafana.length} Grafana statements ran`);
    for (const g of grafana) assert.equal(g.ok, true, `${client} ${g.case}: ${g.error}`);
    const lookup = results.get(`${client} grafana:trace_id_lookup`)!;
    assert.equal(lookup.rows!.length, 2, 'the trace view finds both spans of the trace');
  }
});

test('clickhouse-connect (Python), including server-side {name:Type} parameters', async () => {
  const results = await runClient('python');
  expectCommon(results, 'clickhouse-connect');
  assert.deepEqual(results.get('clickhouse-connect params_client')?.rows, [['42']]);
});

test('clickhouse-jdbc 0.10 (JDBC over HTTP, compress=1)', async () => {
  const results = await runClient('jdbc');
  expectCommon(results, 'clickhouse-jdbc');
});
