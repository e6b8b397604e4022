import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { dashboards } from './dashboards.js';
import { DASHBOARD_DIR, renderDashboards } from './generate.js';
import { PANEL_NEEDS } from './needs.js';

test('the committed dashboards are what the generator makes now (npm run grafana:dashboards)', async () => {
  const rendered = await renderDashboards();
  const committed = readdirSync(DASHBOARD_DIR).filter((f) => f.endsWith('.json'));
  assert.deepEqual(committed.sort(), [...rendered.keys()].sort());
  for (const [file, text] of rendered)
    assert.equal(readFileSync(path.join(DASHBOARD_DIR, file), 'utf8'), text, `${file} is stale: run npm run grafana:dashboards`);
});

/** Every rawSql of a dashboard's JSON: panels' targets, annotations' targets, variables' queries. */
function sqlIn(json: any): string[] {
  return [
    ...(json.panels ?? []).flatMap((p: any) => (p.targets ?? []).map((t: any) => t.rawSql)),
    ...(json.annotations?.list ?? []).filter((a: any) => !a.builtIn).map((a: any) => a.target?.rawSql),
    ...(json.templating?.list ?? []).filter((v: any) => v.type === 'query').map((v: any) => v.query.rawSql),
  ];
}

test('every query in the dashboards is declared with what its panel needs, so the end-to-end test runs them all', () => {
  const uids = new Set<string>();
  for (const d of dashboards()) {
    const ids = (d.json.panels ?? []).map((p) => p.id);
    assert.equal(new Set(ids).size, ids.length, `${d.file}: panel ids unique`);
    assert.ok(
      ids.every((id) => Number.isInteger(id)),
      `${d.file}: every panel has an id`,
    );
    assert.equal((d.json.annotations as any).list[0].builtIn, 1, `${d.file}: Grafana's own annotations first`);
    assert.ok(!uids.has(d.json.uid!), `uid ${d.json.uid} twice`);
    uids.add(d.json.uid!);
    assert.deepEqual(sqlIn(d.json).sort(), d.queries.map((q) => q.sql).sort(), d.file);
    for (const p of d.json.panels ?? []) {
      if (p.type === 'row') continue;
      assert.deepEqual((p as any).datasource, { type: 'grafana-clickhouse-datasource', uid: '${datasource}' }, `${d.file} ${p.title}`);
    }
    for (const q of d.queries) {
      const needs = PANEL_NEEDS[q.kind]?.(q.refId) ?? [];
      for (const column of needs) assert.ok(q.shape.columns.includes(column), `${d.file} ${q.where} ${q.refId}: a ${q.kind} needs ${column}`);
      if (q.kind === 'timeseries') assert.equal(q.shape.timeSeries, true, `${d.file} ${q.where}: a time series query`);
    }
  }
  const nodeGraphs = dashboards().flatMap((d) => d.queries.filter((q) => q.kind === 'nodeGraph'));
  assert.deepEqual(nodeGraphs.map((q) => q.refId).sort(), ['edges', 'nodes']);
});

test('every query but the latest state of resources is bound to the dashboard time range by the plugin macros', () => {
  for (const d of dashboards())
    for (const q of d.queries) {
      if (q.kind === 'variable' || /\$__(timeFilter|fromTime|toTime)/.test(q.sql) || q.kind === 'traces') continue;
      // Not time-bound on purpose: the latest state of each resource.
      assert.match(q.sql, /FROM resource_health/, `${d.file} ${q.where}: no time range`);
    }
});
