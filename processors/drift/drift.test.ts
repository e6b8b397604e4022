import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MemoryBus } from '../runtime/bus/memory.js';
import { ManualClock } from '../runtime/clock.js';
import type { Store } from '../runtime/store/store.js';
import type { Component, Factory } from '../runtime/pipeline/component.js';
import { changesFactory } from '../cloudtrail/processor.js';
import { changeEventsFactory } from '../cloudtrail/sink.js';
import { graphEdgesFactory, graphNodesFactory } from '../graph/sink.js';
import { topologyFactory } from '../topology/processor.js';
import { parseScanBody, parseTerraformState } from '../inventory/records.js';
import { driftFactory } from './processor.js';
import { driftCodec, type DriftEvent } from '../model/drift.js';
import { driftEventsFactory } from './sink.js';
import { diffAttributes } from './normalize.js';
import { DriftIgnore } from './ignore.js';
import { componentSettings, openMigratedStore, startHttpReceivers } from '../../tests/helpers/component.js';
import { repoRoot } from '../../tests/helpers/kafka.js';
import { waitFor } from '../../tests/helpers/wait.js';

const TESTDATA = path.join(repoRoot, 'processors/drift/testdata');
const file = (name: string) => readFileSync(path.join(TESTDATA, name));
const jsonl = (name: string) =>
  file(name)
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as unknown);

test('normalisation: known false positives are not drift', () => {
  const rule = (proto: unknown, extra: object = {}) => ({
    from_port: 443,
    to_port: 443,
    protocol: proto,
    cidr_blocks: ['10.0.0.0/8', '0.0.0.0/0'],
    self: false,
    description: '',
    ...extra,
  });
  const cases: [string, string, Record<string, unknown>, Record<string, unknown>][] = [
    ['empty string vs null', 'aws_instance', { key_name: '' }, { key_name: null }],
    ['empty list vs missing value', 'aws_instance', { secondary_private_ips: [] }, { secondary_private_ips: null }],
    ['number vs text', 'aws_db_instance', { allocated_storage: 100 }, { allocated_storage: '100' }],
    ['provider default vs unset', 'aws_security_group', { description: 'Managed by Terraform' }, { description: '' }],
    ['provider default (boolean) vs unset', 'aws_instance', { monitoring: false }, { monitoring: null }],
    [
      'order of rules and of cidr blocks',
      'aws_security_group',
      { ingress: [rule('tcp'), rule('udp', { from_port: 53, to_port: 53 })] },
      { ingress: [rule('udp', { from_port: 53, to_port: 53, cidr_blocks: ['0.0.0.0/0', '10.0.0.0/8'] }), rule('tcp')] },
    ],
    ['protocol case and number', 'aws_security_group', { ingress: [rule('tcp')], egress: [rule('-1')] }, { ingress: [rule('TCP')], egress: [rule('all')] }],
    ['protocol by number', 'aws_security_group', { ingress: [rule('tcp')] }, { ingress: [rule(6)] }],
    ['a false flag in a rule vs unset', 'aws_security_group', { ingress: [rule('tcp')] }, { ingress: [{ ...rule('tcp'), self: undefined }] }],
    ['tag order', 'aws_vpc', { tags: { Name: 'main', Team: 'a' } }, { tags: { Team: 'a', Name: 'main' } }],
    [
      'computed and read-only attributes',
      'aws_instance',
      { arn: 'x', id: 'i-1', tags_all: { a: '1' }, owner_id: '1', launch_time: 'yesterday', timeouts: null },
      { arn: 'y', id: 'i-2', tags_all: {}, owner_id: '2', launch_time: 'today', timeouts: {} },
    ],
    [
      'Terraform-only arguments',
      'aws_db_instance',
      { skip_final_snapshot: true, apply_immediately: true },
      { skip_final_snapshot: false, apply_immediately: false },
    ],
    ['attributes the scanner does not read', 'aws_instance', { user_data: 'abc', instance_type: 't3.small' }, { instance_type: 't3.small' }],
  ];
  for (const [name, type, expected, actual] of cases) assert.deepEqual(diffAttributes(type, expected, actual), [], name);
  // And real differences still are.
  assert.deepEqual(
    diffAttributes(
      'aws_instance',
      { instance_type: 't3.small', tags: { Owner: 'a', Name: 'n' } },
      { instance_type: 't3.large', tags: { Owner: 'b', Name: 'n' } },
    ),
    [
      { path: 'instance_type', expected: 't3.small', actual: 't3.large' },
      { path: 'tags.Owner', expected: 'a', actual: 'b' },
    ],
  );
  assert.deepEqual(diffAttributes('aws_security_group', { description: 'Managed by Terraform' }, { description: 'hand made' }), [
    { path: 'description', expected: 'Managed by Terraform', actual: 'hand made' },
  ]);
  assert.equal(diffAttributes('aws_security_group', { ingress: [rule('tcp')] }, { ingress: [rule('udp')] }).length, 1);
});

test('.driftignore: a rule suppresses exactly what it names', () => {
  const ignore = new DriftIgnore(
    ['# comment', '', 'aws_s3_bucket.logs\\.example\\.com', 'aws_iam_user.*', 'aws_instance.i-1.tags.LastPatched', '*.*.tags.Scanned*'].join('\n'),
  );
  assert.equal(ignore.size, 4);
  assert.ok(ignore.ignores('aws_s3_bucket', ['logs.example.com'], ''), 'an id with dots');
  assert.ok(ignore.ignores('aws_s3_bucket', ['logs.example.com'], 'versioning'), 'a whole resource ignores its attributes too');
  assert.ok(!ignore.ignores('aws_s3_bucket', ['logs'], ''));
  assert.ok(ignore.ignores('aws_iam_user', ['anyone', 'arn:aws:iam::1:user/anyone'], ''));
  assert.ok(ignore.ignores('aws_instance', ['i-1'], 'tags.LastPatched'));
  assert.ok(!ignore.ignores('aws_instance', ['i-1'], 'tags.Owner'), 'another attribute of the same resource');
  assert.ok(!ignore.ignores('aws_instance', ['i-1'], ''), 'the resource itself (missing, unmanaged) is not ignored by an attribute rule');
  assert.ok(!ignore.ignores('aws_instance', ['i-2'], 'tags.LastPatched'), 'another resource');
  assert.ok(ignore.ignores('aws_vpc', ['vpc-1'], 'tags.ScannedAt'));
  assert.throws(() => new DriftIgnore('aws_instance'), /line 1: "aws_instance" is not type.id/);
});

test('Terraform state: v4 resources with identities, data sources skipped, other versions refused', () => {
  const { records, errors } = parseTerraformState(file('terraform.tfstate'), 1_000);
  assert.deepEqual(errors, []);
  const resources = records.filter((r) => r.kind === 'resource').map((r) => [r.resource!.address, r.resource!.id]);
  assert.deepEqual(resources, [
    ['aws_vpc.main', 'arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0a1b2c3d4e5f60718'],
    ['module.network.aws_subnet.private["eu-west-1a"]', 'arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0aaa1111bbbb22223'],
    // No arn attribute: built from id, the availability zone's region and the state's account.
    ['module.network.aws_subnet.private["eu-west-1b"]', 'arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0bbb1111cccc22224'],
    ['aws_security_group.web', 'arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0web0000000000001'],
    ['aws_instance.app[0]', 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0aaa0000000000001'],
    ['aws_instance.app[1]', 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0bbb0000000000002'],
    ['aws_db_instance.orders', 'arn:aws:rds:eu-west-1:123456789012:db:orders'],
    ['aws_iam_role.app', 'arn:aws:iam::123456789012:role/app'],
    ['aws_route53_record.www', 'aws_route53_record:Z0123456789ABC_www.example.com_A'],
  ]);
  const end = records.at(-1)!;
  assert.deepEqual([end.kind, end.serial, end.lineage, end.resource_count], ['state_end', 42, '5f3c9c1e-8a3b-4c6e-9d2f-0b7a1e4c2d90', 9]);

  const state = JSON.parse(file('terraform.tfstate').toString()) as Record<string, unknown>;
  assert.throws(
    () => parseTerraformState(Buffer.from(JSON.stringify({ ...state, version: 3 })), 0),
    /Terraform state version 3 is not supported: AirDig reads state format version 4/,
  );
  assert.throws(() => parseTerraformState(Buffer.from('{"resources": []}'), 0), /no top-level "version"/);
  assert.throws(() => parseTerraformState(Buffer.from('terraform {'), 0), /Terraform state is not JSON/);
  assert.throws(() => parseTerraformState(gzipSync(file('terraform.tfstate')).subarray(0, 200), 0), /broken gzip Terraform state/);
  const partly = parseTerraformState(
    Buffer.from(
      JSON.stringify({
        ...state,
        resources: [{ mode: 'managed', type: 'aws_vpc', name: 'x', instances: [{ attributes: null }] }, ...(state.resources as unknown[])],
      }),
    ),
    0,
  );
  assert.deepEqual(partly.errors, ['resources[0].instances[0] (aws_vpc.x): no "attributes" object']);
  assert.equal(partly.records.length, 10, 'the rest of the state is kept');
});

test('scan: unknown types and invalid resources are named, the rest kept, and the scan no longer counts as complete', () => {
  const body = JSON.parse(file('scan.json').toString()) as { scan: Record<string, unknown>; resources: unknown[] };
  const good = parseScanBody(file('scan.json'), 0);
  assert.deepEqual(good.errors, []);
  assert.equal(good.records.at(-1)!.completeness, 'complete');
  assert.equal(good.records.at(-1)!.resource_count, 8);
  assert.equal(good.records[1]!.resource!.id, 'arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0aaa1111bbbb22223', 'a short id becomes an ARN in the scope');
  assert.deepEqual(good.records[1]!.resource!.relationships, [{ type: 'member_of', target: 'arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0a1b2c3d4e5f60718' }]);

  const bad = parseScanBody(
    Buffer.from(JSON.stringify({ ...body, resources: [...body.resources, { id: 'x-1', type: 'aws_mystery_thing' }, { type: 'ec2:vpc' }, 7] })),
    0,
  );
  assert.deepEqual(bad.errors, [
    'resources[8]: unknown resource type "aws_mystery_thing"',
    'resources[9]: "id" is missing',
    'resources[10]: not a JSON object',
  ]);
  const end = bad.records.at(-1)!;
  assert.deepEqual([end.kind, end.completeness, end.resource_count], ['scan_end', 'partial', 8]);
  assert.throws(() => parseScanBody(Buffer.from('{"resources": []}'), 0), /"scan" is missing/);
  assert.throws(() => parseScanBody(Buffer.from(JSON.stringify({ ...body, resources: {} })), 0), /"resources" is object, not an array/);
  assert.throws(
    () => parseScanBody(Buffer.from(JSON.stringify({ ...body, scan: { ...body.scan, completeness: 'mostly' } })), 0),
    /use complete, partial or failed/,
  );
  assert.throws(() => parseScanBody(gzipSync(file('scan.json')).subarray(0, 100), 0), /broken gzip scan/);
  assert.equal(
    parseScanBody(Buffer.from(JSON.stringify({ ...body, scan: { ...body.scan, completeness: undefined } })), 0).records.at(-1)!.completeness,
    'partial',
    'a scan that does not say it is complete is partial',
  );
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('drift');
});
test.after(() => store.close());

async function rows(query: string): Promise<unknown[]> {
  return (await store.client.query({ query, format: 'JSONEachRow' })).json();
}

test('golden: Terraform state, a scan and CloudTrail logs POSTed give exactly the expected drift_events, graph_nodes and graph_edges', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(
    [
      'cloudtrail_events',
      'scanner_resources',
      'terraform_state',
      'airdig.changes',
      'airdig.drift',
      'airdig.topology',
      'airdig.dlq',
      'otlp_spans',
      'otlp_metrics',
      'otlp_logs',
      'falco_events',
    ].map((name) => ({ name, partitions: 3 })),
  );
  const clock = new ManualClock(Date.parse('2026-11-23T10:00:00Z'));
  const make = <C>(f: Factory<C>, config: object = {}) => f.create({ ...componentSettings(f, bus, store), clock }, f.configSchema.parse(config));
  const driftSettings = { ...componentSettings(driftFactory, bus, store), clock };
  const intakes = await startHttpReceivers(bus, store, { clock });
  const components: Component[] = [
    make(driftEventsFactory),
    make(changeEventsFactory),
    make(graphNodesFactory),
    make(graphEdgesFactory),
    make(changesFactory),
    make(topologyFactory),
    driftFactory.create(
      driftSettings,
      driftFactory.configSchema.parse({
        cause_window_ms: 3_600_000,
        ignore: ['# the default VPC security group is not ours', 'aws_security_group.sg-0default000000000', 'aws_instance.*.tags.LastPatched'],
      }),
    ),
  ];
  for (const c of components) await c.start();
  components.push(...intakes.receivers);
  const urls = intakes.urls;
  const post = async (name: string, body: Buffer | string, type = 'application/json') => {
    const res = await fetch(urls[name]!, { method: 'POST', headers: { 'Content-Type': type }, body });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  try {
    assert.deepEqual(await post('terraform', gzipSync(file('terraform.tfstate')), 'application/gzip'), {
      status: 200,
      body: { accepted: 9, rejected: 0, errors: [] },
    });
    assert.deepEqual(await post('resources', file('scan.json')), { status: 200, body: { accepted: 8, rejected: 0, errors: [] } });
    // CloudTrail arrives after the scan (as it does: minutes late); the drifts get their causes then.
    assert.equal((await post('cloudtrail', file('cloudtrail.json'))).status, 200);

    // Malformed input: a clear error, nothing accepted lost.
    const state = JSON.parse(file('terraform.tfstate').toString()) as Record<string, unknown>;
    const v3 = await post('terraform', JSON.stringify({ ...state, version: 3 }));
    assert.equal(v3.status, 400);
    assert.match(v3.body.message as string, /Terraform state version 3 is not supported/);
    assert.equal((await post('resources', 'not json')).status, 400);
    assert.equal((await post('resources', '{}', 'text/plain')).status, 415);
    assert.match((await post('terraform', gzipSync(file('terraform.tfstate')).subarray(0, 100), 'application/gzip')).body.message as string, /broken gzip/);
    // Numbers past what the records hold are bad input (400 with the reason), not a failure of ours (500).
    const huge = await post('terraform', JSON.stringify({ ...state, serial: 1e20 }));
    assert.equal(huge.status, 400, JSON.stringify(huge.body));
    assert.match(huge.body.message as string, /"serial" 100000000000000000000 is out of range/);
    assert.equal((await post('terraform', JSON.stringify({ ...state, serial: -1 }))).status, 400);
    const scanDoc = JSON.parse(file('scan.json').toString()) as { scan: Record<string, unknown> };
    // A scan time no Date can hold falls back to the receipt time, as an unreadable one does (another account, nothing in it).
    for (const time of [1e20, 1.5, -1e300]) {
      const r = await post(
        'resources',
        JSON.stringify({ scan: { ...scanDoc.scan, id: `bad-time-${time}`, time, account: '000000000000', completeness: 'partial' }, resources: [] }),
      );
      assert.equal(r.status, 200, `scan.time ${time}: ${JSON.stringify(r.body)}`);
    }

    const expected = jsonl('expected-drift-events.jsonl');
    const driftQuery =
      'SELECT id, ts, resource_id, resource_type, address, drift, attribute, expected, actual, lineage, serial, scan_id, cause_event_id, cause_actor, cause_event_name FROM drift_events ORDER BY resource_id, attribute';
    const drifts = await waitFor(
      async () => {
        const r = await rows(driftQuery);
        return r.length === expected.length && r.filter((d) => (d as { cause_event_id: string }).cause_event_id).length === 4 ? r : undefined;
      },
      15_000,
      `${expected.length} drift events, 4 with causes`,
    );
    assert.deepEqual(drifts, expected);

    const nodesQuery = "SELECT id, type, account, region, name, attributes['scope'] AS scope, first_seen, last_seen, gone FROM graph_nodes ORDER BY id";
    const edgesQuery = 'SELECT src, dst, type, first_seen, last_seen, gone FROM graph_edges ORDER BY src, dst, type';
    const nodes = jsonl('expected-graph-nodes.jsonl');
    assert.deepEqual(
      await waitFor(async () => ((await rows(nodesQuery)).length === nodes.length ? rows(nodesQuery) : undefined), 10_000, 'graph nodes'),
      nodes,
    );
    assert.deepEqual(await rows(edgesQuery), jsonl('expected-graph-edges.jsonl'));

    // A partial scan that saw only the VPC removes nothing; the next complete scan without the
    // debug instance marks it and its edges gone, in that scope only.
    const scan = JSON.parse(file('scan.json').toString()) as { scan: Record<string, unknown>; resources: { id: string }[] };
    const partial = {
      scan: {
        ...scan.scan,
        id: 'scan-partial',
        completeness: 'partial',
        time: '2026-11-23T11:00:00Z',
        errors: ['ec2 DescribeInstances eu-west-1: ThrottlingException'],
      },
      resources: scan.resources.slice(0, 1),
    };
    assert.equal((await post('resources', JSON.stringify(partial))).status, 200);
    const second = {
      scan: { ...scan.scan, id: 'scan-2', time: '2026-11-23T11:30:00Z' },
      resources: scan.resources.filter((r) => r.id !== 'i-0ccc0000000000003'),
    };
    assert.equal((await post('resources', JSON.stringify(second))).status, 200);
    const gone = await waitFor(
      async () => {
        const r = (await rows('SELECT id FROM graph_nodes WHERE gone ORDER BY id')) as { id: string }[];
        return r.length ? r : undefined;
      },
      10_000,
      'a gone node',
    );
    assert.deepEqual(gone, [{ id: 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0ccc0000000000003' }]);
    assert.deepEqual(await rows('SELECT src, dst FROM graph_edges WHERE gone ORDER BY dst'), [
      { src: 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0ccc0000000000003', dst: 'arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0web0000000000001' },
      { src: 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0ccc0000000000003', dst: 'arn:aws:ec2:eu-west-1:123456789012:subnet/subnet-0aaa1111bbbb22223' },
    ]);
    const vpc = (await rows("SELECT last_seen FROM graph_nodes WHERE id LIKE '%vpc/vpc-0a1b%'")) as { last_seen: string }[];
    assert.deepEqual(vpc, [{ last_seen: '2026-11-23 11:30:00.000' }]);
    const metrics = await driftSettings.registry.metrics();
    assert.match(metrics, /airdig_component_noted_total\{component="drift",kind="processor",reason="modified"\} 3/);
    assert.match(metrics, /airdig_component_noted_total\{component="drift",kind="processor",reason="missing"\} 1/);
    assert.match(metrics, /airdig_component_noted_total\{component="drift",kind="processor",reason="unmanaged"\} 1/);
    assert.match(metrics, /airdig_component_noted_total\{component="drift",kind="processor",reason="cause_found"\} 4/);
  } finally {
    for (const c of components.reverse()) await c.shutdown();
    await bus.close();
  }
});

test('300 updates of a live workspace beside an abandoned lineage are all accepted; a restarted drift processor still knows both', async () => {
  // One partition capped at 1 000 uncommitted records; each update is 9 records, 2 700 in all.
  const bus = new MemoryBus({ max_queued_records: 1_000 });
  await bus.ensureTopics(['terraform_state', 'scanner_resources', 'airdig.changes', 'airdig.drift', 'airdig.dlq'].map((name) => ({ name, partitions: 1 })));
  const clock = new ManualClock(Date.parse('2026-11-23T10:00:00Z'));
  const receiver = await startHttpReceivers(bus, store, { clock });
  const urls = receiver.urls;
  const startDrift = async () => {
    const d = driftFactory.create(
      componentSettings(driftFactory, bus, store),
      driftFactory.configSchema.parse({ ignore_file: '', ignore: ['aws_security_group.sg-0default000000000'] }),
    );
    await d.start();
    return d;
  };
  const drifts: DriftEvent[] = [];
  const reader = bus.consumer({
    groupId: 'drift-reader',
    topics: ['airdig.drift'],
    handler: async (batch) => void drifts.push(...batch.map((r) => driftCodec.decode(r.value))),
  });
  await reader.start();
  const post = async (name: string, body: unknown) => {
    const res = await fetch(urls[name]!, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    return `${res.status} ${await res.text()}`;
  };
  const stored = async () => {
    const m = new Map<string, { serial?: number }>();
    await bus.readToEnd('airdig.drift.changelog', (r) =>
      r.value.length ? m.set(r.key!.toString(), JSON.parse(r.value.toString())) : m.delete(r.key!.toString()),
    );
    return m;
  };
  const state = JSON.parse(file('terraform.tfstate').toString()) as { resources: { type: string }[] };
  const abandoned = { ...state, lineage: 'abandoned-ws', serial: 1, resources: state.resources.filter((r) => r.type === 'aws_vpc') };
  const live = (serial: number) => ({ ...state, lineage: 'live-ws', serial, resources: state.resources.filter((r) => r.type !== 'aws_vpc') });
  const scan = JSON.parse(file('scan.json').toString()) as { scan: Record<string, unknown>; resources: { id: string; attributes: Record<string, unknown> }[] };
  const vpc = 'arn:aws:ec2:eu-west-1:123456789012:vpc/vpc-0a1b2c3d4e5f60718';
  let drift = await startDrift();
  try {
    assert.match(await post('terraform', abandoned), /^200 /);
    for (let serial = 1; serial <= 300; serial++) assert.match(await post('terraform', live(serial)), /^200 /, `update ${serial}`);
    await waitFor(async () => (await stored()).get('state\u0000live-ws')?.serial === 300, 10_000, 'serial 300 of the live workspace stored');
    assert.equal((await stored()).get('state\u0000abandoned-ws')?.serial, 1);

    assert.match(await post('resources', scan), /^200 /);
    await waitFor(() => drifts.length === 6, 10_000, 'the 6 drifts of the first scan');
    const owner = drifts.find((d) => d.attribute === 'tags.Owner')!;
    assert.deepEqual([owner.lineage, owner.serial], ['live-ws', 300]);
    assert.ok(!drifts.some((d) => d.resource_id === vpc), 'the abandoned lineage manages the VPC');

    // Restart: the states come back from the changelog; a scan in which the VPC changed reports that, and nothing twice.
    await drift.shutdown();
    drift = await startDrift();
    const changed = {
      scan: { ...scan.scan, id: 'scan-2', time: '2026-11-23T11:00:00Z' },
      resources: scan.resources.map((r) => (r.id === vpc ? { ...r, attributes: { ...r.attributes, cidr_block: '10.9.0.0/16' } } : r)),
    };
    assert.match(await post('resources', changed), /^200 /);
    await waitFor(() => drifts.length > 6, 10_000, 'a drift after the restart');
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(
      drifts.slice(6).map((d) => [d.resource_id, d.drift, d.attribute, d.lineage, d.serial]),
      [[vpc, 'modified', 'cidr_block', 'abandoned-ws', 1]],
    );
  } finally {
    await drift.shutdown();
    await reader.stop();
    await receiver.shutdown();
    await bus.close();
  }
});
