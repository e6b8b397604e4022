/*
 * The graph API against the test ClickHouse server, its tables filled by the real sinks from the
 * in-process bus: plain HTTP POSTs and GETs as GraphQL over HTTP says, a graphql-ws client for
 * subscriptions, the limits, auth and origin rules, and the web view's files.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { createClient, type Client } from 'graphql-ws';
import WebSocket from 'ws';
import type { Registry } from 'prom-client';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Component } from '../runtime/pipeline/component.js';
import type { Store } from '../runtime/store/store.js';
import { serviceSchema } from '../runtime/config/schema.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../model/topology.js';
import { healthCodec, type HealthFact } from '../model/health.js';
import { changeMessage, otherChange, type ChangeEvent } from '../model/changes.js';
import { driftCodec, type DriftEvent } from '../model/drift.js';
import { correlationCodec, incidentCodec, type Correlation, type Incident } from '../model/correlations.js';
import { edgeCodec, edgeKey, edgeSides, type EdgeFact } from '../model/edges.js';
import { graphEdgesFactory, graphNodesFactory, resourceAliasesFactory } from '../graph/sink.js';
import { healthFactsFactory } from '../health/sink.js';
import { changeEventsFactory } from '../cloudtrail/sink.js';
import { driftEventsFactory } from '../drift/sink.js';
import { correlationsFactory, incidentsFactory } from '../engine/sink.js';
import { serviceEdgesFactory } from '../servicegraph/sink.js';
import { componentMetric, componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';
import { apiFactory } from './sink.js';
import { LiveHub } from './live.js';

const ACCOUNT = '123456789012';
const arn = (kind: string, id: string) => `arn:aws:ec2:eu-west-1:${ACCOUNT}:${kind}/${id}`;
const VPC = arn('vpc', 'vpc-0t');
const SUBNET = arn('subnet', 'subnet-0t');
const SG = arn('security-group', 'sg-0pay');
const PAY1 = arn('instance', 'i-0pay1');
const PAY2 = arn('instance', 'i-0pay2');
const PAYMENTS = 'service:shop/payments';
const CHECKOUT = 'service:shop/checkout';
const INCIDENT = 'inc-api-test-1';
const NOW = Date.now();
const T0 = NOW - 10 * 60_000;

const TOPICS = ['airdig.topology', 'airdig.health', 'airdig.changes', 'airdig.drift', 'airdig.correlations', 'airdig.incidents', 'airdig.edges', 'airdig.dlq'];

let store: Store;
let bus: MemoryBus;
const components: Component[] = [];
let tmp: string;

/** The API's base URL (http://127.0.0.1:port) of the server started by start(). */
async function start(config: Record<string, unknown> = {}): Promise<{ base: string; id: string; component: Component; registry: Registry }> {
  const id = `api/${components.length}`;
  const settings = { ...componentSettings(apiFactory, bus, store, id), service: serviceSchema.parse({ query: '', admin: '', api: '127.0.0.1:0' }) };
  const component = apiFactory.create(settings, apiFactory.configSchema.parse({ web_dir: path.join(tmp, 'web'), ...config }));
  components.push(component);
  await component.start();
  const web = component.listening!().find((l) => l.name === 'web view')!;
  return { base: web.url.replace(/\/$/, ''), id, component, registry: settings.registry };
}

interface Answer {
  status: number;
  body: { data?: Record<string, any> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] };
  headers: Headers;
}

async function post(base: string, query: string, o: { variables?: object; headers?: Record<string, string> } = {}): Promise<Answer> {
  const res = await fetch(`${base}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json, application/json', ...o.headers },
    body: JSON.stringify({ query, ...(o.variables ? { variables: o.variables } : {}) }),
  });
  const text = await res.text();
  return { status: res.status, body: JSON.parse(text), headers: res.headers };
}

/** The data of a query that must succeed. */
async function data(base: string, query: string, variables?: object): Promise<Record<string, any>> {
  const a = await post(base, query, variables ? { variables } : {});
  assert.equal(a.status, 200, JSON.stringify(a.body));
  assert.equal(a.body.errors, undefined, JSON.stringify(a.body.errors));
  return a.body.data!;
}

const node = (id: string, type: string, name: string, attributes: Record<string, string> = {}, source = 'scanner'): TopologyRecord => ({
  kind: 'node',
  id,
  dst: '',
  type,
  name,
  attributes,
  provider: type === 'service' ? '' : 'aws',
  account: type === 'service' ? '' : ACCOUNT,
  region: type === 'service' ? '' : 'eu-west-1',
  seen_ms: T0,
  source,
  gone: false,
});
const edge = (src: string, type: string, dst: string, source = 'scanner'): TopologyRecord => ({ ...node(src, '', '', {}, source), kind: 'edge', dst, type });

const change = (id: string, ts: number, name: string, actor: string, resources: string[], readOnly = false): ChangeEvent => ({
  ...otherChange({ event_id: id, ts_ms: ts, source: 'cloudtrail', resource_ids: resources, kind: 'cloudtrail', summary: '', details: '{}' }),
  event_source: 'ec2.amazonaws.com',
  event_name: name,
  actor: `arn:aws:iam::${ACCOUNT}:user/${actor}`,
  actor_type: 'IAMUser',
  account: ACCOUNT,
  region: 'eu-west-1',
  read_only: readOnly,
});

const BAD = change('ct-bad-1', NOW - 5 * 60_000, 'RevokeSecurityGroupEgress', 'bob', [SG]);
const TAG = change('ct-tag-1', NOW - 7 * 60_000, 'CreateTags', 'carol', [PAY1]);
const LOOK = change('ct-look-1', NOW - 6 * 60_000, 'DescribeInstances', 'dave', [PAY1], true);

const fact = (id: string, resource: string, status: HealthFact['status'], ts = NOW - 4 * 60_000): HealthFact => ({
  id,
  ts_ms: ts,
  resource_id: resource,
  status,
  state: status === 'healthy' ? 'resolved' : 'firing',
  rule: 'edge_error_ratio',
  reason: `checkout → payments errors 30 %`,
  metric: 'error_ratio',
  value: 0.3,
  threshold: 0.05,
  labels: { client_id: CHECKOUT, server_id: PAYMENTS, baseline: '0.002' },
});

function correlation(id: string, cause: ChangeEvent, score: number, path: { id: string; name: string; type: string; edge: string }[]): Correlation {
  const evidence = {
    change: { id: cause.event_id, kind: 'cloudtrail', time: new Date(cause.ts_ms).toISOString(), actor: cause.actor, event: cause.event_name, summary: '' },
    path,
    signal: {
      rule: 'edge_error_ratio',
      resource: PAYMENTS,
      onset: new Date(NOW - 4 * 60_000).toISOString(),
      status: 'critical',
      reason: 'checkout → payments errors 30 %',
      value: 0.3,
      threshold: 0.05,
      labels: { client_id: CHECKOUT, server_id: PAYMENTS, baseline: '0.002' },
    },
  };
  return {
    id,
    ts_ms: NOW - 4 * 60_000,
    cause_id: cause.event_id,
    cause_kind: 'cloudtrail',
    cause_ts_ms: cause.ts_ms,
    cause_resource_id: cause.resource_ids[0]!,
    impacted_resource_id: PAYMENTS,
    signal: 'edge_error_ratio',
    signal_id: 'sig-1',
    score,
    window_s: 900,
    incident_id: INCIDENT,
    rank: score > 0.5 ? 1 : 2,
    path: path.map((h) => h.id),
    evidence: JSON.stringify(evidence),
    revision_ms: NOW - 4 * 60_000,
  };
}

before(async () => {
  tmp = mkdtempSync(path.join(tmpdir(), 'airdig-api-'));
  store = await openMigratedStore('api');
  bus = new MemoryBus();
  await bus.ensureTopics(TOPICS.map((name) => ({ name, partitions: 2 })));
  const sinks = [
    graphNodesFactory,
    graphEdgesFactory,
    resourceAliasesFactory,
    healthFactsFactory,
    changeEventsFactory,
    driftEventsFactory,
    correlationsFactory,
    incidentsFactory,
    serviceEdgesFactory,
  ];
  for (const f of sinks) {
    const c = f.create(componentSettings(f as never, bus, store), f.configSchema.parse({}) as never);
    components.push(c);
    await c.start();
  }
  const producer = bus.producer();
  const topology = [
    node(VPC, 'ec2:vpc', 'shop', { aliases: 'vpc-0t' }),
    node(SUBNET, 'ec2:subnet', 'app', { aliases: 'subnet-0t', vpc_id: 'vpc-0t' }),
    node(SG, 'ec2:security-group', 'payments', { aliases: 'sg-0pay', vpc_id: 'vpc-0t' }),
    node(PAY1, 'ec2:instance', 'payments-1', { aliases: 'i-0pay1,10.0.1.31', team: 'billing' }),
    node(PAY2, 'ec2:instance', 'payments-2', { aliases: 'i-0pay2,10.0.1.32' }),
    node(PAYMENTS, 'service', 'payments', {}, 'traces'),
    node(CHECKOUT, 'service', 'checkout', {}, 'traces'),
    edge(SUBNET, 'member_of', VPC),
    edge(SG, 'member_of', VPC),
    edge(PAY1, 'member_of', SG),
    edge(PAY2, 'member_of', SG),
    edge(PAY1, 'member_of', SUBNET),
    edge(PAY2, 'member_of', SUBNET),
    edge(PAYMENTS, 'runs_on', PAY1, 'traces'),
    edge(PAYMENTS, 'runs_on', PAY2, 'traces'),
  ];
  await producer.send(
    'airdig.topology',
    topology.map((r) => ({ key: topologyKey(r), value: topologyCodec.encode(r) })),
  );
  await producer.send(
    'airdig.changes',
    [BAD, TAG, LOOK].map((c) => changeMessage(c)),
  );
  await producer.send('airdig.health', [{ key: PAYMENTS, value: healthCodec.encode(fact('hf-1', PAYMENTS, 'critical')) }]);
  const drift: DriftEvent = {
    id: 'drift-1',
    ts_ms: NOW - 3 * 60_000,
    resource_id: SG,
    resource_type: 'aws_security_group',
    address: 'aws_security_group.payments',
    drift: 'modified',
    attribute: 'egress',
    expected: '[{"protocol":"tcp","from_port":5432,"to_port":5432}]',
    actual: '[]',
    lineage: 'l-1',
    serial: 3,
    scan_id: 'scan-1',
    cause_event_id: BAD.event_id,
    cause_ts_ms: BAD.ts_ms,
    cause_actor: BAD.actor,
    cause_event_name: BAD.event_name,
  };
  await producer.send('airdig.drift', [{ key: SG, value: driftCodec.encode(drift) }]);
  const sgPath = [
    { id: SG, name: 'payments', type: 'ec2:security-group', edge: '' },
    { id: PAY1, name: 'payments-1', type: 'ec2:instance', edge: 'member_of' },
    { id: PAYMENTS, name: 'payments', type: 'service', edge: 'runs_on' },
  ];
  const tagPath = [
    { id: PAY1, name: 'payments-1', type: 'ec2:instance', edge: '' },
    { id: PAYMENTS, name: 'payments', type: 'service', edge: 'runs_on' },
  ];
  await producer.send('airdig.correlations', [
    { key: PAYMENTS, value: correlationCodec.encode(correlation('cor-bad', BAD, 0.82, sgPath)) },
    { key: PAYMENTS, value: correlationCodec.encode(correlation('cor-tag', TAG, 0.12, tagPath)) },
  ]);
  const incident: Incident = {
    id: INCIDENT,
    opened_ms: NOW - 4 * 60_000,
    resolved_ms: 0,
    status: 'open',
    merged_into: '',
    impacted: [PAYMENTS],
    signals: ['sig-1'],
    causes: [
      {
        cause_id: BAD.event_id,
        cause_kind: 'cloudtrail',
        resource_id: SG,
        probability: 0.85,
        score: 0.82,
        explanation: 'bob RevokeSecurityGroupEgress on payments',
      },
      { cause_id: TAG.event_id, cause_kind: 'cloudtrail', resource_id: PAY1, probability: 0.15, score: 0.12, explanation: 'carol CreateTags on payments-1' },
    ],
    revision_ms: NOW - 4 * 60_000,
  };
  await producer.send('airdig.incidents', [{ key: INCIDENT, value: incidentCodec.encode(incident) }]);
  const calls: EdgeFact[] = Array.from({ length: 10 }, (_, i) => ({
    id: `edge-${i}`,
    ts_ms: NOW - 2 * 60_000 + i,
    trace_id: `t${i}`,
    ...edgeSides('checkout', 'shop', 'payments', 'shop'),
    connection_type: '',
    failed: i < 3,
    latency_ms: 10 + i,
    client_latency_ms: 12 + i,
  }));
  await producer.send(
    'airdig.edges',
    calls.map((e) => ({ key: edgeKey(e), value: edgeCodec.encode(e) })),
  );
  const count = async (sql: string) => Number((await (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<{ n: string }>())[0]!.n);
  await waitFor(
    async () =>
      (await count('SELECT count() AS n FROM graph_edges')) === 8 &&
      (await count('SELECT count() AS n FROM incidents')) === 1 &&
      (await count('SELECT count() AS n FROM correlations')) === 2 &&
      (await count('SELECT count() AS n FROM drift_events')) === 1 &&
      (await count('SELECT count() AS n FROM change_events')) === 3 &&
      (await count('SELECT count() AS n FROM resource_aliases')) >= 8 &&
      (await count('SELECT sum(calls) AS n FROM service_edges')) === 10 &&
      (await count('SELECT count() AS n FROM health_facts')) === 1,
    30_000,
    'the seeded rows',
  );
});

after(async () => {
  for (const c of components.reverse()) await c.shutdown();
  await bus?.close();
  await store?.close();
  rmSync(tmp, { recursive: true, force: true });
});

let api: string;
let first: { id: string; registry: Registry };
/** A series of the first API server, summed over its labels. */
const metricOf = (name: string) => componentMetric(first.registry, name, first.id);

test('start: the API lists its GraphQL endpoint and the web view', async () => {
  const s = await start();
  api = s.base;
  first = s;
  const listed = s.component.listening!();
  assert.deepEqual(
    listed.map((l) => l.name),
    ['api', 'web view'],
  );
  assert.equal(listed[0]!.url, `${api}/graphql`);
  assert.equal(listed[1]!.url, `${api}/`);
});

test('resource by any alias: the canonical id, its aliases, health, criticality, drift and changes; unknown names are null', async () => {
  const d = await data(
    api,
    `{ ip: resource(id: "10.0.1.31") { id name type account region aliases attributes health criticality changes { id eventName actor } }
       short: resource(id: "sg-0pay") { id health openDrift { kind attribute causeEventName } changes { id } }
       service: resource(id: "service:shop/payments") { id type health healthReason healthHistory { status rule value labels } incidents { id } correlations { id } edgesIn { client server calls errors errorRatio minutes { calls } } }
       byName: resource(id: "payments") { id }
       unknown: resource(id: "no-such-thing") { id } }`,
  );
  assert.equal(d.ip.id, PAY1);
  assert.equal(d.ip.name, 'payments-1');
  assert.equal(d.ip.account, ACCOUNT);
  assert.ok(d.ip.aliases.includes('10.0.1.31') && d.ip.aliases.includes('i-0pay1'), d.ip.aliases);
  assert.equal(d.ip.attributes.team, 'billing');
  assert.equal(d.ip.health, 'UNKNOWN');
  assert.equal(d.ip.criticality, 1, 'payments runs on it');
  // The read-only DescribeInstances is not a change.
  assert.deepEqual(
    d.ip.changes.map((c: { id: string }) => c.id),
    [TAG.event_id],
  );
  assert.equal(d.short.id, SG);
  assert.deepEqual(d.short.openDrift, [{ kind: 'MODIFIED', attribute: 'egress', causeEventName: 'RevokeSecurityGroupEgress' }]);
  assert.equal(d.service.health, 'CRITICAL');
  assert.match(d.service.healthReason, /errors 30 %/);
  assert.equal(d.service.healthHistory[0].labels.server_id, PAYMENTS);
  assert.deepEqual(d.service.incidents, [{ id: INCIDENT }]);
  assert.deepEqual(d.service.correlations.map((c: { id: string }) => c.id).sort(), ['cor-bad', 'cor-tag']);
  assert.equal(d.service.edgesIn.length, 1);
  assert.deepEqual(
    { client: d.service.edgesIn[0].client, calls: d.service.edgesIn[0].calls, errors: d.service.edgesIn[0].errors },
    { client: CHECKOUT, calls: 10, errors: 3 },
  );
  assert.equal(d.service.edgesIn[0].errorRatio, 0.3);
  assert.equal(d.byName.id, PAYMENTS, 'a name the service and its security group share is the service');
  assert.equal(d.unknown, null);
});

test('resources: filters, search by alias or tag, cursor pagination, totalCount', async () => {
  const page1 = await data(api, `{ resources(filter: { type: "ec2:instance" }, first: 1) { totalCount pageInfo { endCursor hasNextPage } nodes { id } } }`);
  assert.equal(page1.resources.totalCount, 2);
  assert.deepEqual(page1.resources.nodes, [{ id: PAY1 }]);
  assert.equal(page1.resources.pageInfo.hasNextPage, true);
  const page2 = await data(
    api,
    `query($after: String) { resources(filter: { type: "ec2:instance" }, first: 1, after: $after) { pageInfo { hasNextPage } nodes { id } } }`,
    {
      after: page1.resources.pageInfo.endCursor,
    },
  );
  assert.deepEqual(page2.resources.nodes, [{ id: PAY2 }]);
  assert.equal(page2.resources.pageInfo.hasNextPage, false);
  const byAlias = await data(api, `{ resources(filter: { search: "10.0.1.32" }) { nodes { id } } }`);
  assert.deepEqual(byAlias.resources.nodes, [{ id: PAY2 }]);
  const byTag = await data(api, `{ resources(filter: { search: "BILLING" }) { nodes { id } } }`);
  assert.deepEqual(byTag.resources.nodes, [{ id: PAY1 }]);
  const critical = await data(api, `{ resources(filter: { health: CRITICAL }) { nodes { id } } }`);
  assert.deepEqual(critical.resources.nodes, [{ id: PAYMENTS }]);
  const drifted = await data(api, `{ resources(filter: { drifted: true, provider: "aws" }) { nodes { id } } }`);
  assert.deepEqual(drifted.resources.nodes, [{ id: SG }]);
  const bad = await post(api, `{ resources(after: "not-a-cursor") { totalCount } }`);
  assert.match(bad.body.errors![0]!.message, /after: not a cursor/);
});

test('neighbors and blastRadius: the walk by direction and edge type; what depends on the security group, with criticality', async () => {
  const d = await data(
    api,
    `{ out: neighbors(id: "i-0pay1", depth: 1, direction: OUT) { root nodes { id distance } edges { type source target } }
       deep: neighbors(id: "sg-0pay", depth: 2, edgeTypes: ["member_of"]) { nodes { id distance } }
       blast: blastRadius(id: "sg-0pay", depth: 3) { root services nodes { id distance criticality vpc } edges { type source target } }
       none: blastRadius(id: "nothing-here") { root } }`,
  );
  assert.equal(d.out.root, PAY1);
  assert.deepEqual(d.out.nodes.map((n: { id: string }) => n.id).sort(), [PAY1, SG, SUBNET].sort());
  assert.ok(d.out.edges.every((e: { source: string }) => e.source === PAY1));
  const deep = new Map(d.deep.nodes.map((n: { id: string; distance: number }) => [n.id, n.distance]));
  assert.equal(deep.get(VPC), 1);
  assert.equal(deep.get(SUBNET), 2, 'subnet → VPC ← SG: two member_of hops');
  assert.equal(deep.has(PAYMENTS), false, 'runs_on is not followed');
  const blast = new Map(d.blast.nodes.map((n: { id: string; distance: number }) => [n.id, n.distance]));
  assert.deepEqual(Object.fromEntries(blast), { [SG]: 0, [PAY1]: 1, [PAY2]: 1, [PAYMENTS]: 2, [CHECKOUT]: 3 });
  assert.deepEqual([...d.blast.services].sort(), [CHECKOUT, PAYMENTS]);
  assert.ok(d.blast.edges.some((e: { type: string; source: string }) => e.type === 'calls' && e.source === CHECKOUT));
  assert.equal(d.blast.nodes.find((n: { id: string }) => n.id === PAY1).criticality, 1);
  assert.equal(d.blast.nodes.find((n: { id: string }) => n.id === SG).vpc, VPC);
  assert.equal(d.none, null);
});

test('incidents with ranked causes: the security-group change first, its change, its correlations explained as airdig explain does', async () => {
  const d = await data(
    api,
    `{ incidents(status: OPEN) { id status opened resolved impacted signals
         causes { rank causeId causeKind resourceId probability score explanation change { actor eventName ts } correlations { id score claim rank path { id edge } evidence explanation } } }
       one: incident(id: "${INCIDENT}") { id }
       resolved: incidents(status: RESOLVED) { id }
       unknown: incident(id: "inc-0000") { id } }`,
  );
  assert.equal(d.incidents.length, 1);
  const [i] = d.incidents;
  assert.equal(i.id, INCIDENT);
  assert.equal(i.status, 'OPEN');
  assert.equal(i.resolved, null);
  assert.deepEqual(i.impacted, [PAYMENTS]);
  assert.deepEqual(
    i.causes.map((c: { rank: number; causeId: string }) => [c.rank, c.causeId]),
    [
      [1, BAD.event_id],
      [2, TAG.event_id],
    ],
  );
  const top = i.causes[0];
  assert.equal(top.resourceId, SG);
  assert.equal(top.change.eventName, 'RevokeSecurityGroupEgress');
  assert.match(top.change.actor, /user\/bob$/);
  assert.equal(top.correlations.length, 1);
  const c = top.correlations[0];
  assert.equal(c.claim, true);
  assert.deepEqual(
    c.path.map((h: { edge: string }) => h.edge),
    ['', 'member_of', 'runs_on'],
  );
  assert.equal(c.evidence.change.id, BAD.event_id);
  // The sentence of `airdig explain`, with the security group's other member found in the graph.
  assert.match(
    c.explanation,
    /bob RevokeSecurityGroupEgress on sg-0pay \(security group of payments-1, payments-2, where payments runs\) → .*checkout → payments errors/,
  );
  assert.equal(i.causes[1].correlations[0].claim, false);
  assert.deepEqual(d.one, { id: INCIDENT });
  assert.deepEqual(d.resolved, []);
  assert.equal(d.unknown, null);
});

test('changes and drift: applied changes newest first, on a resource by alias; drift by kind with its cause', async () => {
  const d = await data(
    api,
    `{ all: changes { id source eventName actorType resourceIds }
       onSg: changes(resource: "sg-0pay") { id }
       old: changes(since: "1m") { id }
       drift(kind: MODIFIED) { id kind address attribute expected actual causeEventId causeActor causeTs resourceId }
       missing: drift(kind: MISSING) { id }
       onInstance: drift(resource: "10.0.1.31") { id } }`,
  );
  assert.deepEqual(
    d.all.map((c: { id: string }) => c.id),
    [BAD.event_id, TAG.event_id],
  );
  assert.equal(d.all[0].source, 'cloudtrail');
  assert.deepEqual(d.onSg, [{ id: BAD.event_id }]);
  assert.deepEqual(d.old, [], 'nothing changed in the last minute');
  assert.equal(d.drift.length, 1);
  assert.equal(d.drift[0].kind, 'MODIFIED');
  assert.equal(d.drift[0].resourceId, SG);
  assert.equal(d.drift[0].causeEventId, BAD.event_id);
  assert.equal(d.drift[0].causeTs, new Date(BAD.ts_ms).toISOString());
  assert.deepEqual(d.missing, []);
  assert.deepEqual(d.onInstance, []);
});

test('graph and serviceMap: nodes coloured by health with drift and change badges, call edges with error ratio', async () => {
  const d = await data(
    api,
    `{ graph { truncated nodes { id health openDrift recentChanges vpc } edges { id type source target calls errorRatio p95Ms } }
       small: graph(limit: 2) { truncated nodes { id } }
       serviceMap(minutes: 15) { nodes { id name type health } edges { source target calls errors errorRatio p95Ms } } }`,
  );
  const nodes = new Map(d.graph.nodes.map((n: { id: string }) => [n.id, n]));
  assert.equal(nodes.size, 7);
  assert.equal(d.graph.truncated, false);
  assert.deepEqual(nodes.get(SG), { id: SG, health: 'UNKNOWN', openDrift: 1, recentChanges: 1, vpc: VPC });
  assert.equal((nodes.get(PAYMENTS) as { health: string }).health, 'CRITICAL');
  assert.equal((nodes.get(PAY1) as { vpc: string }).vpc, VPC, 'an instance is in the VPC of its subnet');
  assert.equal(d.graph.edges.filter((e: { type: string }) => e.type === 'member_of').length, 6);
  const call = d.graph.edges.find((e: { type: string }) => e.type === 'calls');
  assert.deepEqual(
    { source: call.source, target: call.target, calls: call.calls, errorRatio: call.errorRatio },
    { source: CHECKOUT, target: PAYMENTS, calls: 10, errorRatio: 0.3 },
  );
  assert.ok(call.p95Ms > 10);
  assert.equal(d.small.truncated, true);
  assert.equal(d.small.nodes.length, 2);
  assert.deepEqual(d.serviceMap.nodes.map((n: { id: string }) => n.id).sort(), [CHECKOUT, PAYMENTS]);
  assert.deepEqual(
    d.serviceMap.edges.map((e: { errors: number }) => e.errors),
    [3],
  );
});

test('bad input: a malformed query, an unknown field, a bad argument and a bad time are GraphQL errors with 4xx, never a crash', async () => {
  const malformed = await post(api, '{ incidents { id ');
  assert.equal(malformed.status, 400);
  assert.match(malformed.body.errors![0]!.message, /Syntax Error/);
  const unknownField = await post(api, '{ incidents { nope } }');
  assert.equal(unknownField.status, 400);
  assert.match(unknownField.body.errors![0]!.message, /Cannot query field "nope"/);
  const notJson = await fetch(`${api}/graphql`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{"query": ' });
  assert.equal(notJson.status, 400);
  assert.ok(((await notJson.json()) as Answer['body']).errors?.length);
  const since = await post(api, '{ changes(since: "yesterday") { id } }');
  assert.match(since.body.errors![0]!.message, /since: not an RFC 3339 time or a duration: "yesterday"/);
  const depth = await post(api, '{ neighbors(id: "sg-0pay", depth: 50) { root } }');
  assert.match(depth.body.errors![0]!.message, /depth must be between 0 and 6 \(got 50\)/);
  const tooMany = await post(api, '{ incidents(first: 100000) { id } }');
  assert.match(tooMany.body.errors![0]!.message, /first must be between 1 and 1000/);
  const big = await fetch(`${api}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ query: `{ incidents { id } }`, pad: 'x'.repeat(2 * 1024 * 1024) }),
  });
  assert.equal(big.status, 413);
  // The server still answers.
  assert.deepEqual((await data(api, `{ incident(id: "${INCIDENT}") { id } }`)).incident, { id: INCIDENT });
});

test('limits: a query deeper than max_depth and one costlier than max_cost are refused before they run', async () => {
  const deepQuery = `{ ${'a { '.repeat(13)}b${' }'.repeat(13)} }`;
  const deep = await post(api, deepQuery);
  assert.equal(deep.status, 400);
  assert.ok(
    deep.body.errors!.some((e) => /query depth 14 is over the limit of 12/.test(e.message) && e.extensions?.code === 'QUERY_TOO_DEEP'),
    JSON.stringify(deep.body),
  );
  const costly = await post(api, '{ resources(first: 1000) { nodes { healthHistory(first: 1000) { id ts } } } }');
  assert.equal(costly.status, 400);
  assert.equal(costly.body.errors![0]!.extensions?.code, 'QUERY_TOO_COSTLY');
  assert.match(costly.body.errors![0]!.message, /query cost \d+ is over the limit of 200000/);
  // A variable counts at its largest value.
  const variable = await post(api, 'query($n: Int) { resources(first: $n) { nodes { healthHistory(first: $n) { id } } } }', { variables: { n: 1 } });
  assert.equal(variable.body.errors![0]!.extensions?.code, 'QUERY_TOO_COSTLY');
  // Fragments are measured too.
  const fragment = await post(
    api,
    'query { resources(first: 1000) { ...N } } fragment N on ResourceConnection { nodes { healthHistory(first: 1000) { id } } }',
  );
  assert.equal(fragment.body.errors![0]!.extensions?.code, 'QUERY_TOO_COSTLY');
  // A tighter configuration refuses what the default lets through.
  const tight = await start({ max_depth: 3 });
  const three = await post(tight.base, '{ incidents { causes { change { id } } } }');
  assert.match(three.body.errors![0]!.message, /query depth 4 is over the limit of 3/);
  const introspection = await post(tight.base, '{ __schema { types { name fields { name type { name ofType { name ofType { name } } } } } } }');
  assert.equal(introspection.status, 200, 'introspection is not counted');
});

test('GET per GraphQL over HTTP; unknown ids give null, not an error', async () => {
  const u = new URL(`${api}/graphql`);
  u.searchParams.set('query', `query($id: String!) { resource(id: $id) { id } incident(id: $id) { id } }`);
  u.searchParams.set('variables', JSON.stringify({ id: 'nothing-of-that-name' }));
  const res = await fetch(u, { headers: { Accept: 'application/graphql-response+json' } });
  assert.equal(res.status, 200);
  assert.deepEqual(await res.json(), { data: { resource: null, incident: null } });
});

test('auth: a bearer token (or basic credentials) is needed on /graphql and in graphql-ws connection_init; 401 without', async () => {
  const { base } = await start({ bearer_token: 's3cret', basic_auth: { username: 'sre', password: 'pw' } });
  const none = await post(base, '{ incidents { id } }');
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /Bearer/);
  assert.match(none.body.errors![0]!.message, /missing or wrong credentials/);
  assert.equal((await post(base, '{ incidents { id } }', { headers: { Authorization: 'Bearer wrong' } })).status, 401);
  const ok = await post(base, '{ incidents { id } }', { headers: { Authorization: 'Bearer s3cret' } });
  assert.equal(ok.status, 200);
  assert.equal(ok.body.data!.incidents.length, 1);
  const basic = await post(base, '{ incidents { id } }', { headers: { Authorization: `Basic ${Buffer.from('sre:pw').toString('base64')}` } });
  assert.equal(basic.status, 200);
  // The web view's files need no credentials: the page asks for them.
  assert.equal((await fetch(`${base}/`)).status, 200);

  const ws = (authorization?: string) =>
    createClient({
      url: `${base.replace('http', 'ws')}/graphql`,
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
      connectionParams: authorization ? { authorization } : {},
    });
  const refused = ws();
  const closed = await new Promise<{ code: number }>((resolve) => {
    refused.on('closed', (e) => resolve(e as { code: number }));
    refused.subscribe({ query: '{ incidents { id } }' }, { next: () => {}, error: () => {}, complete: () => {} });
  });
  assert.equal(closed.code, 4403);
  await refused.dispose();
  const allowed = ws('Bearer s3cret');
  const answer = await new Promise<unknown>((resolve, reject) => {
    allowed.subscribe({ query: `{ incident(id: "${INCIDENT}") { id } }` }, { next: resolve, error: reject, complete: () => {} });
  });
  assert.deepEqual(answer, { data: { incident: { id: INCIDENT } } });
  await allowed.dispose();
});

test('origins: the API’s own origin is allowed, a foreign one refused 403 unless listed in allowed_origins', async () => {
  const own = await post(api, '{ incidents { id } }', { headers: { Origin: api } });
  assert.equal(own.status, 200);
  const foreign = await post(api, '{ incidents { id } }', { headers: { Origin: 'https://evil.example' } });
  assert.equal(foreign.status, 403);
  assert.match(foreign.body.errors![0]!.message, /requests from https:\/\/evil\.example are refused/);
  const crossSite = await fetch(`${api}/graphql?query=%7Bincidents%7Bid%7D%7D`, { headers: { 'Sec-Fetch-Site': 'cross-site' } });
  assert.equal(crossSite.status, 403);
  // A page of another name re-pointed at 127.0.0.1 sends its own Host.
  const rebound = await rawGet(api, '/graphql?query=%7Bincidents%7Bid%7D%7D', { Host: 'evil.example' });
  assert.equal(rebound.status, 403);
  const listed = await start({ allowed_origins: ['http://localhost:3000'] });
  const cors = await post(listed.base, '{ incidents { id } }', { headers: { Origin: 'http://localhost:3000' } });
  assert.equal(cors.status, 200);
  assert.equal(cors.headers.get('access-control-allow-origin'), 'http://localhost:3000');
  const preflight = await fetch(`${listed.base}/graphql`, {
    method: 'OPTIONS',
    headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
  });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /Content-Type/);
  // A WebSocket from a foreign page is refused at the upgrade.
  const socket = new WebSocket(`${api.replace('http', 'ws')}/graphql`, 'graphql-transport-ws', { headers: { Origin: 'https://evil.example' } });
  const status = await new Promise<number>((resolve) => socket.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0)));
  assert.equal(status, 403);
});

/** Subscribes over graphql-ws; resolves with each payload's data as it comes. */
function subscribe(client: Client, query: string): { next(): Promise<Record<string, any>>; stop(): void } {
  const queue: Record<string, any>[] = [];
  const waiting: ((v: Record<string, any>) => void)[] = [];
  const stop = client.subscribe(
    { query },
    {
      next: (v) => {
        const w = waiting.shift();
        if (w) w(v.data as Record<string, any>);
        else queue.push(v.data as Record<string, any>);
      },
      error: (e) => assert.fail(`subscription error: ${JSON.stringify(e)}`),
      complete: () => {},
    },
  );
  return { next: () => (queue.length ? Promise.resolve(queue.shift()!) : new Promise((r) => waiting.push(r))), stop };
}

test('subscriptions over graphql-ws: a health fact on the bus reaches a subscriber within a second, filtered by resource alias and depth', async () => {
  const client = createClient({ url: `${api.replace('http', 'ws')}/graphql`, webSocketImpl: WebSocket, retryAttempts: 0 });
  try {
    const all = subscribe(client, 'subscription { healthChanged { id ts resourceId status state rule reason value labels } }');
    // PAY2 by its IP; within one edge of the security group: the instances and the VPC, not the service.
    const byAlias = subscribe(client, 'subscription { healthChanged(resource: "10.0.1.32") { id resourceId } }');
    const near = subscribe(client, 'subscription { healthChanged(resource: "sg-0pay", depth: 1) { id resourceId } }');
    const changes = subscribe(client, 'subscription { changeRecorded(resource: "i-0pay2") { id eventName } }');
    const incidents = subscribe(client, `subscription { incidentUpdated(id: "${INCIDENT}") { id status causes { rank causeId change { eventName } } } }`);
    const strong = subscribe(client, 'subscription { correlationAdded(minScore: 0.5) { id score explanation } }');
    const drift = subscribe(client, 'subscription { driftDetected(resource: "sg-0pay") { id kind } }');
    await waitFor(async () => Number(await metricOf('airdig_api_subscriptions')) === 7, 5_000, 'seven subscriptions open');

    const producer = bus.producer();
    const sent = Date.now();
    await producer.send('airdig.health', [{ key: CHECKOUT, value: healthCodec.encode(fact('hf-live-1', CHECKOUT, 'warning', Date.now())) }]);
    const first = await all.next();
    const elapsed = Date.now() - sent;
    assert.ok(elapsed < 1_000, `pushed after ${elapsed} ms`);
    assert.equal(first.healthChanged.id, 'hf-live-1');
    assert.equal(first.healthChanged.status, 'WARNING');
    assert.equal(first.healthChanged.labels.server_id, PAYMENTS);
    await producer.send('airdig.health', [{ key: PAY2, value: healthCodec.encode(fact('hf-live-2', PAY2, 'critical', Date.now())) }]);
    assert.equal((await all.next()).healthChanged.id, 'hf-live-2');
    // The alias and depth subscriptions skipped the checkout fact: their first push is PAY2's.
    assert.deepEqual((await byAlias.next()).healthChanged, { id: 'hf-live-2', resourceId: PAY2 });
    assert.deepEqual((await near.next()).healthChanged, { id: 'hf-live-2', resourceId: PAY2 });

    await producer.send('airdig.changes', [changeMessage(change('ct-live-look', Date.now(), 'DescribeInstances', 'dave', [PAY2], true))]);
    await producer.send('airdig.changes', [changeMessage(change('ct-live-1', Date.now(), 'StopInstances', 'erin', [PAY2]))]);
    assert.deepEqual((await changes.next()).changeRecorded, { id: 'ct-live-1', eventName: 'StopInstances' }, 'the read-only call is not pushed');

    await producer.send('airdig.incidents', [
      {
        key: INCIDENT,
        value: incidentCodec.encode({
          id: INCIDENT,
          opened_ms: NOW - 4 * 60_000,
          resolved_ms: Date.now(),
          status: 'resolved',
          merged_into: '',
          impacted: [PAYMENTS],
          signals: ['sig-1'],
          causes: [{ cause_id: BAD.event_id, cause_kind: 'cloudtrail', resource_id: SG, probability: 1, score: 0.82, explanation: 'bob' }],
          revision_ms: Date.now(),
        }),
      },
    ]);
    const inc = (await incidents.next()).incidentUpdated;
    assert.equal(inc.status, 'RESOLVED');
    assert.deepEqual(
      inc.causes,
      [{ rank: 1, causeId: BAD.event_id, change: { eventName: 'RevokeSecurityGroupEgress' } }],
      'nested fields are read from the store',
    );

    await producer.send('airdig.correlations', [
      {
        key: PAYMENTS,
        value: correlationCodec.encode(correlation('cor-live-weak', TAG, 0.2, [{ id: PAY1, name: 'payments-1', type: 'ec2:instance', edge: '' }])),
      },
      {
        key: PAYMENTS,
        value: correlationCodec.encode(
          correlation('cor-live-strong', BAD, 0.9, [
            { id: SG, name: 'payments', type: 'ec2:security-group', edge: '' },
            { id: PAY2, name: 'payments-2', type: 'ec2:instance', edge: 'member_of' },
          ]),
        ),
      },
    ]);
    const cor = (await strong.next()).correlationAdded;
    assert.equal(cor.id, 'cor-live-strong');
    assert.match(cor.explanation, /bob RevokeSecurityGroupEgress on sg-0pay/);

    await producer.send('airdig.drift', [{ key: PAY1, value: driftCodec.encode({ ...driftBase(), id: 'drift-live-other', resource_id: PAY1 }) }]);
    await producer.send('airdig.drift', [{ key: SG, value: driftCodec.encode({ ...driftBase(), id: 'drift-live-sg', resource_id: SG, drift: 'missing' }) }]);
    assert.deepEqual((await drift.next()).driftDetected, { id: 'drift-live-sg', kind: 'MISSING' });
    for (const s of [all, byAlias, near, changes, incidents, strong, drift]) s.stop();
    await waitFor(async () => Number(await metricOf('airdig_api_subscriptions')) === 0, 5_000, 'subscriptions closed');
  } finally {
    await client.dispose();
  }
});

test('subscriptions over SSE (GraphQL Yoga): the same push as a text/event-stream', async () => {
  const gone = new AbortController();
  const u = new URL(`${api}/graphql`);
  u.searchParams.set('query', 'subscription { healthChanged(resource: "payments-1") { id } }');
  const res = await fetch(u, { headers: { Accept: 'text/event-stream' }, signal: gone.signal });
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/event-stream/);
  const reader = res.body!.getReader();
  await waitFor(async () => Number(await metricOf('airdig_api_subscriptions')) === 1, 5_000, 'the SSE subscription open');
  await bus.producer().send('airdig.health', [{ key: PAY1, value: healthCodec.encode(fact('hf-sse-1', PAY1, 'critical', Date.now())) }]);
  let text = '';
  while (!text.includes('hf-sse-1')) text += new TextDecoder().decode((await reader.read()).value);
  assert.match(text, /event: next\ndata: \{"data":\{"healthChanged":\{"id":"hf-sse-1"\}\}\}/);
  gone.abort();
  await waitFor(async () => Number(await metricOf('airdig_api_subscriptions')) === 0, 5_000, 'the SSE subscription closed');
});

function driftBase(): DriftEvent {
  return {
    id: '',
    ts_ms: Date.now(),
    resource_id: '',
    resource_type: 'aws_instance',
    address: 'aws_instance.x',
    drift: 'modified',
    attribute: 'tags',
    expected: '{}',
    actual: '{"a":"b"}',
    lineage: '',
    serial: 1,
    scan_id: 's',
    cause_event_id: '',
    cause_ts_ms: 0,
    cause_actor: '',
    cause_event_name: '',
  };
}

test('a slow subscriber loses its oldest pushes (counted), and never holds up the others', async () => {
  let dropped = 0;
  const hub = new LiveHub({ queueSize: 3, onDrop: () => dropped++, onCount: () => {} });
  const slow = hub.subscribe<number>('health', () => true);
  const fast = hub.subscribe<number>('health', (n) => n % 2 === 0);
  const got: number[] = [];
  const reading = (async () => {
    for await (const n of fast) {
      got.push(n);
      if (n === 10) break;
    }
  })();
  for (let n = 1; n <= 10; n++) {
    hub.publish('health', n);
    await new Promise((r) => setImmediate(r));
  }
  await reading;
  assert.deepEqual(got, [2, 4, 6, 8, 10]);
  assert.equal(slow.dropped, 7);
  assert.equal(dropped, 7);
  assert.deepEqual([(await slow.next()).value, (await slow.next()).value, (await slow.next()).value], [8, 9, 10], 'the newest are kept');
  await slow.return();
  assert.equal(hub.count, 0, 'both ended (the loop’s break ends the fast one)');
  assert.deepEqual(await slow.next(), { value: undefined, done: true });
});

test('metrics: requests, errors, subscriptions and dropped pushes are series of the component', async () => {
  const s = await start();
  const metric = (name: string) => componentMetric(s.registry, name, s.id);
  assert.equal(await metric('airdig_api_requests_total'), 0);
  assert.equal(await metric('airdig_api_subscriptions'), 0);
  assert.equal(await metric('airdig_api_dropped_pushes_total'), 0);
  await post(s.base, '{ incidents { id } }');
  await post(s.base, '{ broken');
  await post(s.base, '{ incidents { id } }', { headers: { Origin: 'https://evil.example' } });
  assert.equal(await metric('airdig_api_requests_total'), 2, 'the refused one never reached GraphQL');
  const errors = await s.registry.getSingleMetric('airdig_api_errors_total')!.get();
  const mine = Object.fromEntries(errors.values.filter((v) => v.labels.component === s.id).map((v) => [v.labels.reason, v.value]));
  assert.deepEqual(mine, { '400': 1, '403': 1 });
  // Every record consumed is counted, whether or not anyone listens.
  const before = (await metric('airdig_component_received_total')) ?? 0;
  await bus.producer().send('airdig.health', [{ key: PAY1, value: healthCodec.encode(fact('hf-count-1', PAY1, 'healthy', Date.now())) }]);
  await waitFor(async () => (await metric('airdig_component_received_total')) === before + 1, 5_000, 'the fact counted');
});

test('the web view: index.html at /, its assets with their content types, no way out of the directory, a page when it is not built', async () => {
  const web = path.join(tmp, 'web');
  rmSync(web, { recursive: true, force: true });
  const notBuilt = await fetch(`${api}/`);
  assert.equal(notBuilt.status, 200);
  const page = await notBuilt.text();
  assert.match(page, /The web view is not built/);
  assert.match(page, /\/graphql/);
  (await import('node:fs')).mkdirSync(web, { recursive: true });
  writeFileSync(path.join(web, 'index.html'), '<!doctype html><title>AirDig</title><script src="app.js"></script>');
  writeFileSync(path.join(web, 'app.js'), 'console.log("airdig")');
  writeFileSync(path.join(web, 'app.css'), 'body{}');
  writeFileSync(path.join(tmp, 'secret.txt'), 'not for the web');
  const index = await fetch(`${api}/`);
  assert.equal(index.headers.get('content-type'), 'text/html; charset=utf-8');
  assert.match(await index.text(), /<title>AirDig<\/title>/);
  const js = await fetch(`${api}/app.js`);
  assert.equal(js.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.equal(await js.text(), 'console.log("airdig")');
  assert.equal((await fetch(`${api}/app.css`)).headers.get('content-type'), 'text/css; charset=utf-8');
  const head = await fetch(`${api}/app.js`, { method: 'HEAD' });
  assert.equal(head.headers.get('content-length'), String('console.log("airdig")'.length));
  assert.equal((await fetch(`${api}/missing.js`)).status, 404);
  // An app route (no extension) is the app's page.
  assert.match(await (await fetch(`${api}/incidents/inc-1`)).text(), /<title>AirDig/);
  for (const p of ['/../secret.txt', '/%2e%2e/secret.txt', '/..%2fsecret.txt', '/%2e%2e%2fsecret.txt', '/app.js%00.html']) {
    const res = await rawGet(api, p);
    assert.ok(res.status === 404 || res.status === 400, `${p}: ${res.status}`);
    assert.doesNotMatch(res.body, /not for the web/, p);
  }
  const put = await fetch(`${api}/app.js`, { method: 'PUT', body: 'x' });
  assert.equal(put.status, 405);
});

/** A GET with the path sent exactly as given (fetch would normalise ../). */
async function rawGet(base: string, pathAsIs: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  const http = await import('node:http');
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: u.hostname, port: u.port, path: pathAsIs, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}
