import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { TopologyRecord } from '../model/topology.js';
import type { ChangeEvent } from '../model/changes.js';
import type { HealthFact } from '../model/health.js';
import type { Correlation, Incident } from '../model/correlations.js';
import { correlatorOptions, engineConfigSchema } from './config.js';
import { Correlator } from './correlator.js';

const ACCOUNT = '123456789012';
const arn = (type: string, id: string) => `arn:aws:ec2:eu-west-1:${ACCOUNT}:${type}/${id}`;
const SG = arn('security-group', 'sg-0abc');
const SG_OTHER = arn('security-group', 'sg-0fff');
const I1 = arn('instance', 'i-0aaaaaaaaaaaaaaa1');
const I2 = arn('instance', 'i-0aaaaaaaaaaaaaaa2');
const I3 = arn('instance', 'i-0aaaaaaaaaaaaaaa3');
const T0 = Date.parse('2026-12-01T10:00:00Z');
const min = 60_000;

function correlator() {
  return new Correlator(correlatorOptions(engineConfigSchema.parse({})));
}

function node(id: string, type: string, extra: Partial<TopologyRecord> = {}): TopologyRecord {
  return {
    kind: 'node',
    id,
    dst: '',
    type,
    provider: 'aws',
    account: ACCOUNT,
    region: 'eu-west-1',
    name: '',
    attributes: {},
    seen_ms: T0 - 3600_000,
    source: 'scanner',
    gone: false,
    ...extra,
  };
}
function edge(src: string, type: string, dst: string, source = 'scanner'): TopologyRecord {
  return { kind: 'edge', id: src, dst, type, provider: '', account: '', region: '', name: '', attributes: {}, seen_ms: T0 - 3600_000, source, gone: false };
}
function change(id: string, ts: number, eventName: string, resources: string[], extra: Partial<ChangeEvent> = {}): ChangeEvent {
  return {
    event_id: id,
    ts_ms: ts,
    source: 'cloudtrail',
    event_source: 'ec2.amazonaws.com',
    event_name: eventName,
    actor: `arn:aws:iam::${ACCOUNT}:user/alice`,
    actor_type: 'IAMUser',
    account: ACCOUNT,
    region: 'eu-west-1',
    resource_ids: resources,
    read_only: false,
    error_code: '',
    error_message: '',
    source_ip: '',
    user_agent: '',
    kind: 'cloudtrail',
    summary: '',
    details: '{}',
    ...extra,
  };
}
function fact(id: string, resource: string, ts: number, state: 'firing' | 'resolved' = 'firing', rule = 'edge_error_ratio'): HealthFact {
  return {
    id,
    ts_ms: ts,
    resource_id: resource,
    status: state === 'firing' ? 'critical' : 'healthy',
    state,
    rule,
    reason: 'errors 31 %',
    metric: 'error_ratio',
    value: 0.31,
    threshold: 0.05,
    labels: { client_id: 'service:shop/checkout', server_id: resource, baseline: '0.004' },
  };
}

/** Two instances in sg-0abc run checkout and payments; a third, in another group, runs search; checkout calls payments. */
function estate(c: Correlator) {
  c.topology(node(SG, 'ec2:security-group', { name: 'web' }));
  c.topology(node(SG_OTHER, 'ec2:security-group', { name: 'batch' }));
  for (const [i, ip] of [
    [I1, '10.0.1.5'],
    [I2, '10.0.1.6'],
    [I3, '10.0.2.7'],
  ] as const)
    c.topology(node(i, 'ec2:instance', { attributes: { aliases: `${i.split('/')[1]},${ip}` } }));
  c.topology(edge(I1, 'member_of', SG));
  c.topology(edge(I2, 'member_of', SG));
  c.topology(edge(I3, 'member_of', SG_OTHER));
  for (const [svc, i] of [
    ['checkout', I1],
    ['payments', I2],
    ['search', I3],
  ] as const) {
    c.topology(node(`service:shop/${svc}`, 'service', { source: 'traces', name: svc }));
    c.topology(edge(`service:shop/${svc}`, 'runs_on', i, 'traces'));
  }
  c.call('service:shop/checkout', 'service:shop/payments', T0 - 30 * min);
}

const byCause = (rows: Correlation[]) => new Map(rows.map((r) => [`${r.cause_id}|${r.signal_id}`, r]));

test('the change on the path is the claim; an unrelated change is no candidate, a tag is a weak lead, one after the onset or outside the window is none', () => {
  const c = correlator();
  estate(c);
  c.change(change('ct-cause', T0 - 2 * min, 'RevokeSecurityGroupIngress', [SG]));
  c.change(change('ct-unrelated', T0 - 3 * min, 'RevokeSecurityGroupIngress', [SG_OTHER]));
  c.change(change('ct-tag', T0 - 4 * min, 'CreateTags', [SG]));
  c.change(change('ct-after', T0 + 1 * min, 'ModifyInstanceAttribute', [I2]));
  c.change(change('ct-old', T0 - 45 * min, 'StopInstances', [I2]));
  c.change(change('ct-failed', T0 - 1 * min, 'TerminateInstances', [I2], { error_code: 'UnauthorizedOperation' }));
  c.change(change('ct-read', T0 - 1 * min, 'DescribeInstances', [I2], { read_only: true }));
  c.health(fact('sig-payments', 'service:shop/payments', T0));
  c.health(fact('sig-checkout', 'service:shop/checkout', T0 + 30_000));
  const { correlations, incidents } = c.evaluate(T0 + 5 * min);
  const rows = byCause(correlations);
  assert.deepEqual(
    [...new Set(correlations.map((r) => r.cause_id))].sort(),
    ['ct-cause', 'ct-tag'],
    'only changes on what the services depend on, in the window',
  );
  const onPayments = rows.get('ct-cause|sig-payments')!;
  assert.ok(onPayments.score >= 0.5, `claim: ${onPayments.score}`);
  assert.deepEqual(onPayments.path, [SG, I2, 'service:shop/payments'], 'from the cause to the impact');
  const checkout = rows.get('ct-cause|sig-checkout')!;
  assert.ok(checkout.score >= 0.5, `the caller is impacted by what its callee depends on too: ${checkout.score}`);
  assert.ok(rows.get('ct-tag|sig-payments')!.score < 0.5, 'a tag is a lead, not a claim');
  const evidence = JSON.parse(onPayments.evidence);
  assert.equal(evidence.change.event, 'RevokeSecurityGroupIngress');
  assert.deepEqual(
    evidence.path.map((h: { edge: string }) => h.edge),
    ['', 'member_of', 'runs_on'],
  );
  assert.deepEqual(
    evidence.signal.labels,
    { client_id: 'service:shop/checkout', server_id: 'service:shop/payments', baseline: '0.004' },
    "the fact's labels, for the explanations",
  );
  assert.equal(incidents.length, 1, 'the two signals are one incident');
  const [incident] = incidents as [Incident];
  assert.equal(incident.causes[0]!.cause_id, 'ct-cause');
  assert.match(incident.causes[0]!.explanation, /alice RevokeSecurityGroupIngress on web/);
  assert.deepEqual(incident.impacted, ['service:shop/checkout', 'service:shop/payments']);
  assert.ok(correlations.every((r) => r.incident_id === incident.id));
  assert.equal(onPayments.rank, 1);
});

test('a change that arrives after its signal is still correlated, the score is revised under the same id, and nothing unchanged is sent again', () => {
  const c = correlator();
  estate(c);
  c.change(change('ct-a', T0 - 5 * min, 'ModifyInstanceAttribute', [I2]));
  c.health(fact('sig', 'service:shop/payments', T0));
  const first = c.evaluate(T0);
  const before = first.correlations.find((r) => r.cause_id === 'ct-a')!;
  assert.equal(c.evaluate(T0 + 1).correlations.length, 0, 'no new evidence, nothing sent');
  // CloudTrail is late: the real cause, earlier, shows up after the signal.
  c.change(change('ct-b', T0 - 2 * min, 'RevokeSecurityGroupIngress', [SG]));
  const second = c.evaluate(T0 + 2 * min);
  const revised = second.correlations.find((r) => r.cause_id === 'ct-a')!;
  assert.equal(revised.id, before.id);
  assert.ok(revised.score < before.score, 'the competitor lowered it');
  assert.ok(second.correlations.some((r) => r.cause_id === 'ct-b'));
});

test('identity through aliases: a Prometheus target IP:port is the instance with that private IP', () => {
  const c = correlator();
  estate(c);
  c.change(change('ct-stop', T0 - 3 * min, 'StopInstances', [I1]));
  c.health(fact('sig-up', 'target:node/10.0.1.5:9100', T0, 'firing', 'target_down'));
  const { correlations } = c.evaluate(T0);
  assert.equal(correlations.length, 1);
  assert.equal(correlations[0]!.impacted_resource_id, I1);
  assert.ok(correlations[0]!.score >= 0.5);
});

test('impact without a change gives no row; replays give the same ids; the state is forgotten after the window', () => {
  const a = correlator();
  estate(a);
  a.health(fact('sig-alone', 'service:shop/search', T0));
  assert.deepEqual(a.evaluate(T0).correlations, []);

  const run = () => {
    const c = correlator();
    estate(c);
    c.change(change('ct-cause', T0 - 2 * min, 'RevokeSecurityGroupIngress', [SG]));
    c.health(fact('sig-payments', 'service:shop/payments', T0));
    return { c, out: c.evaluate(T0) };
  };
  const one = run();
  const two = run();
  assert.deepEqual(
    one.out.correlations.map((r) => [r.id, r.score, r.incident_id]),
    two.out.correlations.map((r) => [r.id, r.score, r.incident_id]),
  );
  const kept = (c: Correlator) =>
    c
      .stateChanges()
      .filter(([, v]) => v !== null)
      .map(([k]) => k.split('\u0000')[0])
      .sort();
  assert.deepEqual(kept(one.c), ['cause', 'signal', 'watermark'], 'the change, the signal and the watermark are state');
  // Event time moves on past the window, the late window and the incident gap: everything is forgotten.
  one.c.call('service:shop/checkout', 'service:shop/payments', T0 + 60 * min);
  one.c.evaluate(T0 + 60 * min);
  assert.deepEqual(
    one.c
      .stateChanges()
      .map(([k, v]) => `${k.split('\u0000')[0]} ${v === null ? 'deleted' : 'put'}`)
      .sort(),
    ['cause deleted', 'signal deleted', 'watermark put'],
  );
  assert.equal(one.c.openSignals, 0);
  assert.equal(one.c.causes, 0);
});

test('drift with its CloudTrail cause is one cause: the change', () => {
  const c = correlator();
  estate(c);
  c.change(change('ct-sg', T0 - 6 * min, 'AuthorizeSecurityGroupIngress', [SG]));
  c.drift({
    id: 'drift-1',
    ts_ms: T0 - 4 * min,
    resource_id: SG,
    resource_type: 'aws_security_group',
    address: 'aws_security_group.web',
    drift: 'modified',
    attribute: 'ingress',
    expected: '[]',
    actual: '[...]',
    lineage: 'l',
    serial: 1,
    scan_id: 's',
    cause_event_id: 'ct-sg',
    cause_ts_ms: T0 - 6 * min,
    cause_actor: 'alice',
    cause_event_name: 'AuthorizeSecurityGroupIngress',
  });
  c.health(fact('sig', 'service:shop/payments', T0));
  const { correlations } = c.evaluate(T0);
  assert.deepEqual(
    correlations.map((r) => r.cause_id),
    ['ct-sg'],
  );
});

test("identity through aliases: a database client span's server.address is the scanned RDS instance with that endpoint", () => {
  const c = correlator();
  estate(c);
  const rds = `arn:aws:rds:eu-west-1:${ACCOUNT}:db:orders-db`;
  c.topology(node(rds, 'rds:db', { name: 'orders-db', attributes: { aliases: 'orders-db,orders-db.abc123.eu-west-1.rds.amazonaws.com' } }));
  // The servicegraph names the database by db.name ("orders"): only its address says which one it is.
  c.call('service:shop/checkout', 'service:/orders', T0 - 10 * min, 'orders-db.abc123.eu-west-1.rds.amazonaws.com');
  c.change(change('ct-db', T0 - 4 * min, 'ModifyDBInstance', [rds], { event_source: 'rds.amazonaws.com' }));
  c.health(fact('sig-checkout', 'service:shop/checkout', T0));
  const { correlations } = c.evaluate(T0);
  assert.equal(correlations.length, 1);
  assert.deepEqual(correlations[0]!.path, [rds, 'service:shop/checkout']);
  assert.ok(correlations[0]!.score >= 0.5, `${correlations[0]!.score}`);
  // Without the address, "orders" names no scanned resource: no candidate.
  const d = correlator();
  estate(d);
  d.topology(node(rds, 'rds:db', { name: 'orders-db', attributes: { aliases: 'orders-db,orders-db.abc123.eu-west-1.rds.amazonaws.com' } }));
  d.call('service:shop/checkout', 'service:/orders', T0 - 10 * min);
  d.change(change('ct-db', T0 - 4 * min, 'ModifyDBInstance', [rds]));
  d.health(fact('sig-checkout', 'service:shop/checkout', T0));
  assert.equal(d.evaluate(T0).correlations.length, 0);
});

test('identity through aliases: a host:<hostname> (Falco, a host.id that is no instance id) is the instance with that private DNS name or id', () => {
  const c = correlator();
  estate(c);
  c.topology(node(I3, 'ec2:instance', { attributes: { aliases: 'i-0aaaaaaaaaaaaaaa3,10.0.2.7,ip-10-0-2-7.eu-west-1.compute.internal' } }));
  c.change(change('ct-userdata', T0 - 8 * min, 'ModifyInstanceAttribute', [I3]));
  c.health(fact('sig-falco', 'host:ip-10-0-2-7.eu-west-1.compute.internal', T0, 'firing', 'falco: Outbound connection'));
  c.health(fact('sig-unknown', 'host:build-box-7', T0, 'firing', 'falco: Outbound connection'));
  const { correlations, incidents } = c.evaluate(T0);
  assert.deepEqual(
    correlations.map((r) => [r.cause_id, r.impacted_resource_id]),
    [['ct-userdata', I3]],
  );
  assert.ok(correlations[0]!.score >= 0.5);
  assert.ok(
    incidents.some((i) => i.impacted.includes('host:build-box-7')),
    'a host no scan knows stays as it is',
  );
});

/** The latest row per id of what evaluate() sent, revision aside. */
function latestRows(batches: { correlations: Correlation[]; incidents: Incident[] }[]): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const b of batches)
    for (const r of [...b.correlations, ...b.incidents]) {
      const { revision_ms: _, ...rest } = r;
      out.set(r.id, rest);
    }
  return out;
}

test('a signal kept in an open incident keeps its causes: the graph moving after the window does not drop one', () => {
  const c = correlator();
  estate(c);
  const sent: { correlations: Correlation[]; incidents: Incident[] }[] = [];
  c.change(change('ct-cause', T0 - 2 * min, 'RevokeSecurityGroupIngress', [SG]));
  c.health(fact('sig-0', 'service:shop/checkout', T0));
  sent.push(c.evaluate(T0));
  // The incident goes on for 50 minutes (new signals on checkout keep it open) …
  for (const [i, m] of [20, 40, 50].entries()) {
    c.health(fact(`sig-${m}`, 'service:shop/checkout', T0 + m * min, 'firing', `rule_${i}`));
    sent.push(c.evaluate(T0 + m * min));
  }
  // … past the window and the late window of ct-cause (T0 - 2 + 45 min); then a rescan changes the graph.
  c.topology(node(arn('instance', 'i-0aaaaaaaaaaaaaaa9'), 'ec2:instance'));
  sent.push(c.evaluate(T0 + 51 * min));
  const incident = [...latestRows(sent).values()].find((r) => (r as Incident).signals?.includes('sig-0')) as Incident;
  assert.equal(incident.causes[0]?.cause_id, 'ct-cause', 'the incident still names its cause');
  assert.ok(
    sent.at(-1)!.correlations.every((r) => r.cause_id !== 'ct-cause' || r.score >= 0.5),
    'no row of ct-cause revised down',
  );
});

test('late evidence is judged by the watermark it is read at, not by where batches end', () => {
  const feed = (c: Correlator, step: (k: number) => void) => {
    estate(c);
    c.health(fact('sig', 'service:shop/payments', T0));
    step(0);
    // In time: read when the watermark is 10 min past the onset (the late window is 15).
    c.call('service:shop/checkout', 'service:shop/payments', T0 + 10 * min);
    c.change(change('ct-in-time', T0 - 3 * min, 'ModifyInstanceAttribute', [I2]));
    step(1);
    // Too late: read once the watermark is 20 min past the onset.
    c.call('service:shop/checkout', 'service:shop/payments', T0 + 20 * min);
    step(2);
    c.change(change('ct-too-late', T0 - 1 * min, 'RevokeSecurityGroupIngress', [SG]));
    step(3);
  };
  const oneBatch = correlator();
  const once: { correlations: Correlation[]; incidents: Incident[] }[] = [];
  feed(oneBatch, (k) => {
    if (k === 3) once.push(oneBatch.evaluate(T0 + 20 * min));
  });
  const batches = correlator();
  const each: { correlations: Correlation[]; incidents: Incident[] }[] = [];
  feed(batches, (k) => each.push(batches.evaluate(T0 + k * min)));
  assert.deepEqual([...latestRows(once).keys()].sort(), [...latestRows(each).keys()].sort());
  assert.deepEqual(latestRows(once), latestRows(each));
  const causes = [...latestRows(once).values()].flatMap((r) => ((r as Correlation).cause_id ? [(r as Correlation).cause_id] : []));
  assert.deepEqual(causes, ['ct-in-time']);
});

test('stateChanges → restoreState: a restored correlator goes on with the rows of the one it was restored from', () => {
  const saved = new Map<string, unknown>();
  const save = (c: Correlator) => {
    for (const [k, v] of c.stateChanges()) {
      if (v === null) saved.delete(k);
      else saved.set(k, JSON.parse(JSON.stringify(v)));
    }
  };
  const a = correlator();
  estate(a);
  // A cause named by an alias (the instance's short id), a signal on payments, one evaluated batch.
  a.change(change('ct-alias', T0 - 4 * min, 'ModifyInstanceAttribute', ['i-0aaaaaaaaaaaaaaa2']));
  a.change(change('ct-sg', T0 - 2 * min, 'RevokeSecurityGroupIngress', [SG]));
  a.health(fact('sig-payments', 'service:shop/payments', T0));
  const first = a.evaluate(T0);
  save(a);

  const b = correlator();
  estate(b);
  for (const [k, v] of saved) {
    assert.ok(Correlator.ownsKey(k), k);
    b.restoreState(k, v);
  }
  assert.equal(b.watermark, a.watermark);
  assert.equal(b.causes, a.causes);
  assert.equal(b.openSignals, a.openSignals);
  // The restored one sends its rows once more, unchanged.
  assert.deepEqual(latestRows([b.evaluate(T0 + 1)]), latestRows([first]));
  // Both go on alike: a late change, an earlier signal on the caller (it joins the incident, which
  // keeps its id: the restored signal carried it), the resolution.
  const more = (c: Correlator, at: number) => {
    const out = [];
    c.change(change('ct-late', T0 - 1 * min, 'AuthorizeSecurityGroupEgress', [SG]));
    out.push(c.evaluate(at));
    c.health(fact('sig-checkout', 'service:shop/checkout', T0 - 30_000));
    out.push(c.evaluate(at + 1));
    c.health(fact('sig-payments-ok', 'service:shop/payments', T0 + 4 * min, 'resolved'));
    out.push(c.evaluate(at + 2));
    return out;
  };
  const fromA = more(a, T0 + 10);
  const fromB = more(b, T0 + 20);
  assert.deepEqual(latestRows(fromB), latestRows(fromA));
  const incident = first.incidents[0]!;
  const joined = fromB.flatMap((x) => x.incidents).filter((i) => i.signals.includes('sig-checkout'));
  assert.ok(joined.length > 0 && joined.every((i) => i.id === incident.id), 'the earlier signal joins the incident under its id');
  assert.ok(!fromB.some((x) => x.incidents.some((i) => i.status === 'merged')), 'nothing is merged');
});

test('past max_signals the signal with the oldest onset is forgotten first, whatever order they came in, and counted', () => {
  const c = new Correlator(correlatorOptions(engineConfigSchema.parse({ max_signals: 3 })));
  estate(c);
  c.stateChanges();
  for (const [id, at] of [
    ['late', 5],
    ['oldest', 1],
    ['middle', 3],
  ] as const)
    c.health(fact(id, `service:shop/${id}`, T0 + at * min));
  assert.equal(c.stats.evictedSignals, 0);
  c.stateChanges();
  c.health(fact('newest', 'service:shop/newest', T0 + 6 * min));
  const gone = c
    .stateChanges()
    .filter(([, value]) => value === null)
    .map(([key]) => key);
  assert.deepEqual(gone, ['signal\u0000oldest']);
  assert.equal(c.stats.evictedSignals, 1);
  assert.equal(c.openSignals, 3);
});
