import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse } from 'yaml';
import { DASHBOARD_DIR, REPO_ROOT } from './generate.js';
import { dashboardFileProblems, datasourceFileProblems } from './provisioning.js';
import { DEFAULT_DATASOURCE_UID } from './dashboards.js';

const provisioning = path.join(REPO_ROOT, 'docker/grafana/provisioning');
const load = (file: string) => parse(readFileSync(path.join(provisioning, file), 'utf8'), { strict: true, uniqueKeys: true }) as Record<string, unknown>;

test("the data source file parses, names only the plugin's documented keys and points at AirDig's endpoints", () => {
  const doc = load('datasources/airdig.yaml');
  assert.deepEqual(datasourceFileProblems(doc), []);
  const sources = doc.datasources as { uid: string; type: string; isDefault?: boolean; jsonData: Record<string, any> }[];
  const byUid = new Map(sources.map((s) => [s.uid, s]));
  const native = byUid.get(DEFAULT_DATASOURCE_UID)!;
  assert.ok(native, "the dashboards' default data source is provisioned");
  assert.equal(native.isDefault, true);
  assert.deepEqual([native.jsonData.host, native.jsonData.port, native.jsonData.protocol, native.jsonData.username], ['127.0.0.1', 9000, 'native', 'default']);
  const http = byUid.get('airdig-http')!;
  assert.deepEqual([http.jsonData.port, http.jsonData.protocol], [8123, 'http']);
  for (const s of sources) {
    assert.equal(s.type, 'grafana-clickhouse-datasource');
    assert.deepEqual([s.jsonData.logs.defaultTable, s.jsonData.logs.otelEnabled], ['otel_logs', true]);
    assert.deepEqual([s.jsonData.traces.defaultTable, s.jsonData.traces.otelEnabled], ['otel_traces', true]);
    // AirDig's otel_logs has TimestampTime: the plugin's 1.2.9 logs schema.
    assert.equal(s.jsonData.logs.filterTimeColumn, 'TimestampTime');
    assert.equal(s.jsonData.traces.durationUnit, 'nanoseconds');
  }
});

test('the dashboard provider file parses, names only documented keys and loads the generated dashboards', () => {
  const doc = load('dashboards/airdig.yaml');
  assert.deepEqual(dashboardFileProblems(doc), []);
  const [provider] = doc.providers as { type: string; options: { path: string } }[];
  assert.equal(provider!.type, 'file');
  assert.match(provider!.options.path, /dashboards/);
  assert.ok(readFileSync(path.join(DASHBOARD_DIR, 'service-map.json'), 'utf8').length > 0);
});

test('undocumented keys and wrong values are named with their path', () => {
  const source = (jsonData: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
    apiVersion: 1,
    datasources: [{ name: 'x', type: 'grafana-clickhouse-datasource', jsonData, ...extra }],
  });
  const cases: [unknown, string][] = [
    [source({ hostname: 'h' }), 'datasources[0].jsonData.hostname: not a documented key'],
    [source({ protocol: 'tcp' }), 'datasources[0].jsonData.protocol: "tcp" is not one of native, http'],
    [source({ port: '9000' }), 'datasources[0].jsonData.port: expected a whole number'],
    [source({ logs: { otelEnabled: true, timeColum: 'Timestamp' } }), 'datasources[0].jsonData.logs.timeColum: not a documented key'],
    [source({ logs: { otelVersion: '1.2.9' } }), 'datasources[0].jsonData.logs.otelVersion: "1.2.9" is not one of latest, 1.30.0, 1.29.0'],
    [source({ traces: { traceIdColumns: 'TraceId' } }), 'datasources[0].jsonData.traces.traceIdColumns: not a documented key'],
    [
      source({ traces: { durationUnit: 'ns' } }),
      'datasources[0].jsonData.traces.durationUnit: "ns" is not one of seconds, milliseconds, microseconds, nanoseconds',
    ],
    [source({}, { secureJsonData: { pasword: '' } }), 'datasources[0].secureJsonData.pasword: not a documented key'],
    [source({}, { jsondata: {} }), 'datasources[0].jsondata: not a documented key'],
    [{ apiVersion: 2, datasources: [] }, '(file).apiVersion: must be 1'],
    [{ apiVersion: 1 }, '(file).datasources: expected a list'],
    [{ apiVersion: 1, datasources: [{ type: 'grafana-clickhouse-datasource' }] }, 'datasources[0].name: required'],
    ['just text', '(file): expected a mapping'],
  ];
  for (const [doc, problem] of cases) assert.ok(datasourceFileProblems(doc).includes(problem), `${problem}\n  got: ${datasourceFileProblems(doc).join('; ')}`);
  const provider = (p: Record<string, unknown>) => ({ apiVersion: 1, providers: [{ name: 'a', type: 'file', options: { path: '/d' }, ...p }] });
  const dashboardCases: [unknown, string][] = [
    [provider({ folderUID: 'x' }), 'providers[0].folderUID: not a documented key'],
    [provider({ type: 'git' }), 'providers[0].type: "git" is not one of file'],
    [provider({ options: {} }), 'providers[0].options.path: required'],
    [provider({ options: { path: '/d', recursive: true } }), 'providers[0].options.recursive: not a documented key'],
  ];
  for (const [doc, problem] of dashboardCases)
    assert.ok(dashboardFileProblems(doc).includes(problem), `${problem}\n  got: ${dashboardFileProblems(doc).join('; ')}`);
});
