/*
 * Every query of the Grafana dashboards (docker/grafana/dashboards, from processors/grafana) against
 * the demo's data: the built CLI's `airdig demo` on free ports plays its story; once it has told
 * its answer, a few OpenTelemetry log records go in through its OTLP intake (the story sends none),
 * and each panel's, annotation's and variable's SQL runs on the demo's query endpoint with the
 * plugin's macros expanded as its backend expands them and the variables set as Grafana sets them
 * (from their own queries). Each must succeed, return rows, and hold what its panel needs.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ROOT_CONTEXT, trace, TraceFlags } from '@opentelemetry/api';
import { OTLPLogExporter } from '@opentelemetry/exporter-logs-otlp-proto';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { dashboards, type DashboardQuery } from '../../processors/grafana/dashboards.js';
import { expandMacros, type MacroContext } from '../../processors/grafana/macros.js';
import { PANEL_NEEDS } from '../../processors/grafana/needs.js';
import { FREE_PORTS, startCommand } from '../helpers/airdig.js';
import { repoRoot } from '../helpers/kafka.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);

interface Result {
  columns: { name: string; type: string }[];
  rows: Record<string, unknown>[];
}

/** One statement on the query endpoint (ClickHouse's HTTP interface), its result as JSON. */
async function run(queryUrl: string, sql: string): Promise<Result> {
  const response = await fetch(`${queryUrl}/?default_format=JSON`, { method: 'POST', body: sql });
  const text = await response.text();
  if (!response.ok) throw new Error(`HTTP ${response.status}: ${text.trim()}\n${sql}`);
  const json = JSON.parse(text) as { meta: { name: string; type: string }[]; data: Record<string, unknown>[] };
  return { columns: json.meta, rows: json.data };
}

const isTime = (type: string) => /^(Nullable\()?(DateTime|DateTime64|Date)\b/.test(type);
const isNumber = (type: string) => /^(Nullable\()?(U?Int\d+|Float\d+|Decimal)/.test(type);

/** Sends OTel log records through the demo's OTLP/HTTP intake, as a service's SDK would. */
async function sendLogs(url: string, traceId: string): Promise<number> {
  const records = [
    { service: 'payments', severityNumber: 17, severityText: 'ERROR', body: 'cannot open a connection to orders-db:5432: timeout' },
    { service: 'payments', severityNumber: 17, severityText: 'ERROR', body: 'charge failed: database unavailable' },
    { service: 'checkout', severityNumber: 13, severityText: 'WARN', body: 'payments answered 503, retrying' },
    { service: 'checkout', severityNumber: 9, severityText: 'INFO', body: 'order placed' },
  ];
  for (const service of new Set(records.map((r) => r.service))) {
    const provider = new LoggerProvider({
      resource: resourceFromAttributes({ 'service.name': service, 'service.namespace': 'shop' }),
      processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url }) })],
    });
    const context = trace.setSpanContext(ROOT_CONTEXT, { traceId, spanId: traceId.slice(0, 16), traceFlags: TraceFlags.SAMPLED });
    for (const r of records.filter((x) => x.service === service))
      provider.getLogger('airdig-grafana-test').emit({ body: r.body, severityNumber: r.severityNumber, severityText: r.severityText, context });
    await provider.forceFlush();
    await provider.shutdown();
  }
  return records.length;
}

/** Checks one query's result against what its panel needs; returns the rows. */
function checkResult(q: DashboardQuery, result: Result): Record<string, unknown>[] {
  const at = `${q.dashboard} / ${q.where} (${q.refId})`;
  const names = result.columns.map((c) => c.name);
  const type = (name: string) => result.columns.find((c) => c.name === name)?.type ?? '';
  assert.ok(result.rows.length > 0, `${at}: no rows`);
  for (const column of [...q.shape.columns, ...(PANEL_NEEDS[q.kind]?.(q.refId) ?? [])])
    assert.ok(names.includes(column), `${at}: no column ${column} in ${names.join(', ')}`);
  if (q.shape.timeSeries) {
    assert.ok(isTime(type('time')), `${at}: time is ${type('time')}`);
    assert.ok(
      result.columns.some((c) => c.name !== 'time' && isNumber(c.type)),
      `${at}: no number beside the time`,
    );
  }
  if (q.kind === 'annotation') {
    assert.ok(isTime(type('time')), `${at}: time is ${type('time')}`);
    for (const row of result.rows) assert.ok(String(row.text).length > 0, `${at}: an annotation without text`);
  }
  if (q.kind === 'logs') assert.ok(isTime(type('timestamp')), `${at}: timestamp is ${type('timestamp')}`);
  return result.rows;
}

test('every Grafana panel, annotation and variable query returns what its panel needs on the demo data', { timeout: 240_000 }, async () => {
  const started = Date.now();
  const demo = await startCommand('demo', FREE_PORTS, /^Look further/m, 180_000);
  try {
    const out = demo.stdout();
    const queryUrl = /^ {2}query +(http:\/\/\S+?)\/\?/m.exec(out)?.[1];
    const logsUrl = /^ {2}otlp logs +(http:\/\/\S+)$/m.exec(out)?.[1];
    assert.ok(queryUrl && logsUrl, out);

    const [errorTrace] = (await run(queryUrl, "SELECT TraceId FROM otel_traces WHERE StatusCode = 'STATUS_CODE_ERROR' LIMIT 1")).rows;
    assert.ok(errorTrace, 'the demo has a failed trace');
    const sent = await sendLogs(logsUrl, String(errorTrace.TraceId));
    await waitFor(async () => Number((await run(queryUrl, 'SELECT count() AS n FROM otel_logs')).rows[0]!.n) >= sent, 20_000, 'the log records in otel_logs');

    // A range covering the story (it starts some six minutes of story time before the present).
    const context: MacroContext = { from: new Date(started - 30 * 60_000), to: new Date(Date.now() + 60_000), intervalMs: 60_000 };
    const rowsOf = new Map<string, Record<string, unknown>[]>();
    const expanded: { name: string; sql: string }[] = [];
    let ran = 0;
    for (const d of dashboards()) {
      const values: Record<string, string> = {};
      for (const q of d.queries) {
        const sql = expandMacros(q.sql, context).replace(/\$\{(\w+)\}/g, (whole, name: string) => {
          assert.ok(name in values, `${q.dashboard} / ${q.where}: variable ${name} is not defined before it is used`);
          return values[name]!;
        });
        const rows = checkResult(q, await run(queryUrl, sql));
        ran++;
        expanded.push({ name: `${q.dashboard} / ${q.where} / ${q.refId}`, sql });
        rowsOf.set(`${q.dashboard} / ${q.where} / ${q.refId}`, rows);
        // Grafana sets a query variable to its first value when nothing is picked.
        if (q.kind === 'variable') values[q.refId] = String(Object.values(rows[0]!)[0]);
      }
    }
    console.log(`${ran} dashboard queries ran on the demo's data in ${((Date.now() - started) / 1000).toFixed(0)} s from the start`);
    assert.equal(
      ran,
      dashboards().reduce((n, d) => n + d.queries.length, 0),
    );

    // The same statements through clickhouse-go, the plugin's own driver, opened as its backend
    // opens it, over the native protocol (the provisioned default) and HTTP.
    const native = /^ {2}query-native +tcp:\/\/(\S+)/m.exec(out)?.[1];
    assert.ok(native, out);
    const dir = mkdtempSync(path.join(tmpdir(), 'airdig-grafana-'));
    try {
      writeFileSync(path.join(dir, 'queries.json'), JSON.stringify(expanded));
      const probe = await execFileP(path.join(repoRoot, 'tests/clients/run.sh'), ['go'], {
        env: { ...process.env, CH_HTTP: new URL(queryUrl).host, CH_NATIVE: native, CH_GRAFANA_QUERIES: path.join(dir, 'queries.json') },
        maxBuffer: 64 * 1024 * 1024,
      });
      const lines = probe.stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { client: string; case: string; ok: boolean; rows?: unknown[][]; error?: string })
        .filter((l) => l.case.startsWith('grafana:'));
      for (const client of ['clickhouse-go-native', 'clickhouse-go-http']) {
        const mine = lines.filter((l) => l.client === client);
        assert.equal(mine.length, expanded.length, `${client}: every dashboard query ran`);
        for (const l of mine) assert.ok(l.ok && (l.rows?.length ?? 0) > 0, `${client} ${l.case}: ${l.error ?? 'no rows'}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }

    // The story, as the dashboards show it.
    const get = (key: string) => rowsOf.get(key) ?? assert.fail(`no rows for ${key}`);
    const nodes = get('airdig-service-map / Service map / nodes');
    const edges = get('airdig-service-map / Service map / edges');
    const ids = new Set(nodes.map((n) => n.id));
    for (const e of edges) assert.ok(ids.has(e.source) && ids.has(e.target), `edge ${e.id} joins drawn nodes`);
    for (const n of nodes) assert.ok(Math.abs(Number(n.arc__errors) + Number(n.arc__ok) - 1) < 1e-9, `${n.id}: the arcs make a whole circle`);
    assert.equal(nodes.find((n) => n.id === 'service:shop/payments')?.color, 'red', 'payments is drawn red');
    assert.equal(nodes.find((n) => n.id === 'service:shop/catalog')?.color, 'green', 'catalog is drawn green');
    assert.ok(edges.some((e) => e.source === 'service:shop/checkout' && e.target === 'service:shop/payments' && e.color === 'red'));
    assert.ok(get('airdig-changes / annotation Changes / A').some((a) => /bob RevokeSecurityGroupEgress/.test(String(a.text))));
    assert.ok(get('airdig-drift / Drift / A').some((r) => r.drift === 'modified' && /RevokeSecurityGroupEgress/.test(String(r.cause))));
    assert.match(String(get('airdig-incidents / Incidents / A')[0]!.top_cause), /bob RevokeSecurityGroupEgress/);
    assert.ok(get('airdig-health / Health now / A').some((r) => r.resource_id === 'service:shop/payments' && r.status === 'critical'));
    assert.ok(get('airdig-incidents / Correlations / A').some((r) => r.verdict === 'claim'));
    assert.ok(
      get('airdig-traces / Trace ${trace_id} / A').some((s) => s.statusCode === 2),
      'the trace shown first has a failed span',
    );
    const logs = get('airdig-logs / Logs / A');
    assert.ok(logs.some((l) => l.body === 'cannot open a connection to orders-db:5432: timeout' && l.level === 'ERROR'));
    const errorsByService = get('airdig-logs / Errors by service / A');
    assert.deepEqual(
      errorsByService.map((r) => [r.service, String(r.errors), r.trace]),
      [['payments', '2', errorTrace.TraceId]],
    );

    assert.equal(await demo.stop('SIGINT'), 0, demo.stderr());
  } finally {
    await demo.stop('SIGKILL');
  }
});
