import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import type { Component } from '../runtime/pipeline/component.js';
import { changesFactory } from './processor.js';
import { changeEventsFactory } from './sink.js';
import { baseEventName, resolveResources } from './resources.js';
import { changeEvent, CLOUDTRAIL_DETAILS_BYTES, parseCloudTrailBody } from './records.js';
import avro from 'avsc';
import { changeCodec, type ChangeEvent } from '../model/changes.js';
import { componentSettings, openMigratedStore, startHttpReceivers } from '../../tests/helpers/component.js';
import { repoRoot } from '../../tests/helpers/kafka.js';
import { waitFor } from '../../tests/helpers/wait.js';

const TESTDATA = path.join(repoRoot, 'processors/cloudtrail/testdata');
const file = (name: string) => readFileSync(path.join(TESTDATA, name));

test('identity: Lambda version suffixes, qualified ARNs, EKS and ECS CreateCluster mean different things', () => {
  assert.equal(baseEventName('lambda.amazonaws.com', 'UpdateFunctionCode20150331v2'), 'UpdateFunctionCode');
  assert.equal(baseEventName('ec2.amazonaws.com', 'CreateVolume20150331'), 'CreateVolume20150331', 'only Lambda versions its names');
  const base = { eventID: 'e', eventTime: '2026-11-23T10:00:00Z', awsRegion: 'eu-west-1', recipientAccountId: '111122223333' };
  assert.deepEqual(resolveResources({ ...base, eventSource: 'eks.amazonaws.com', eventName: 'CreateCluster', requestParameters: { name: 'prod' } }), [
    'arn:aws:eks:eu-west-1:111122223333:cluster/prod',
  ]);
  assert.deepEqual(
    resolveResources({
      ...base,
      eventSource: 'ecs.amazonaws.com',
      eventName: 'CreateCluster',
      requestParameters: { clusterName: 'batch' },
      responseElements: { cluster: { clusterArn: 'arn:aws:ecs:eu-west-1:111122223333:cluster/batch' } },
    }),
    ['arn:aws:ecs:eu-west-1:111122223333:cluster/batch'],
  );
  assert.deepEqual(
    resolveResources({
      ...base,
      eventSource: 'lambda.amazonaws.com',
      eventName: 'DeleteFunction20150331',
      requestParameters: { functionName: 'arn:aws:lambda:eu-west-1:111122223333:function:f:PROD' },
    }),
    ['arn:aws:lambda:eu-west-1:111122223333:function:f'],
  );
  assert.deepEqual(
    resolveResources({
      ...base,
      eventSource: 'ec2.amazonaws.com',
      eventName: 'CreateSecurityGroup',
      requestParameters: { groupName: 'web' },
      responseElements: { groupId: 'sg-1' },
    }),
    ['arn:aws:ec2:eu-west-1:111122223333:security-group/sg-1'],
  );
  assert.deepEqual(
    resolveResources({
      ...base,
      eventSource: 'ec2.amazonaws.com',
      eventName: 'CreateTags',
      requestParameters: { resourcesSet: { items: [{ resourceId: 'unknown-1' }] } },
    }),
    [],
    'an id of no known shape is not guessed',
  );
  assert.deepEqual(resolveResources({ ...base, eventSource: 'ec2.amazonaws.com', eventName: 'AuthorizeSecurityGroupIngress', requestParameters: null }), []);
});

test('records: actor, read-only and error kept; a record without eventID is named, the rest kept', () => {
  const e = changeEvent({
    eventID: 'x',
    eventTime: '2026-11-23T10:00:00Z',
    eventSource: 'ec2.amazonaws.com',
    eventName: 'DescribeVpcs',
    userIdentity: { type: 'Root', arn: 'arn:aws:iam::1:root' },
    errorCode: 'AccessDenied',
  });
  assert.deepEqual([e.actor, e.actor_type, e.read_only, e.error_code], ['arn:aws:iam::1:root', 'Root', true, 'AccessDenied']);
  const { records, errors } = parseCloudTrailBody(
    Buffer.from(
      JSON.stringify({ Records: [{ eventTime: 'now' }, { eventID: 'a', eventTime: '2026-11-23T10:00:00Z', eventSource: 's', eventName: 'n' }, 'text'] }),
    ),
  );
  assert.equal(records.length, 1);
  assert.deepEqual(errors, ['Records[0]: not a CloudTrail record: no "eventID"', 'Records[2]: not a JSON object']);
  assert.throws(() => parseCloudTrailBody(Buffer.from('{"Records": {"eventID": "a"}}')), /"Records" is object, not an array/);
  assert.throws(() => parseCloudTrailBody(Buffer.from('<xml/>')), /CloudTrail body is not JSON/);
  assert.throws(() => parseCloudTrailBody(gzipSync(file('cloudtrail-s3.json')).subarray(0, 500)), /broken gzip CloudTrail body/);
  assert.deepEqual(parseCloudTrailBody(Buffer.from(JSON.stringify({ 'detail-type': 'EC2 Instance State-change Notification', detail: {} }))).errors, [
    'body: EventBridge event of detail-type "EC2 Instance State-change Notification"; only "AWS API Call via CloudTrail" carries a CloudTrail record',
  ]);
});

test('records: kind cloudtrail, a summary a person reads, the request parameters as details, bounded', () => {
  const e = changeEvent({
    eventID: 'y',
    eventTime: '2026-11-23T10:00:00Z',
    eventSource: 'ec2.amazonaws.com',
    eventName: 'RevokeSecurityGroupIngress',
    awsRegion: 'eu-west-1',
    recipientAccountId: '111122223333',
    userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::111122223333:user/alice' },
    requestParameters: { groupId: 'sg-0abc', ipPermissions: { items: [{ fromPort: 22 }] }, dryRun: null, tagSpecificationSet: {} },
  });
  assert.equal(e.kind, 'cloudtrail');
  assert.equal(e.summary, 'alice RevokeSecurityGroupIngress sg-0abc');
  assert.deepEqual(JSON.parse(e.details), { groupId: 'sg-0abc', ipPermissions: { items: [{ fromPort: 22 }] } }, 'empty and null parameters left out');
  const failed = changeEvent({
    eventID: 'z',
    eventTime: '2026-11-23T10:00:00Z',
    eventSource: 'ec2.amazonaws.com',
    eventName: 'TerminateInstances',
    userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::1:assumed-role/Deployer/bob' },
    errorCode: 'UnauthorizedOperation',
    requestParameters: { big: 'x'.repeat(5000), instancesSet: { items: [{ instanceId: 'i-1' }] } },
  });
  assert.equal(failed.summary, 'bob TerminateInstances i-1 (failed: UnauthorizedOperation)');
  assert.ok(Buffer.byteLength(failed.details) <= CLOUDTRAIL_DETAILS_BYTES);
  assert.deepEqual(JSON.parse(failed.details), { instancesSet: { items: [{ instanceId: 'i-1' }] }, _truncated: true });
});

test('a change record written before kind, summary and details were added still decodes, with their defaults', () => {
  const schema = JSON.parse(readFileSync(path.join(repoRoot, 'schemas/avro/change.avsc'), 'utf8')) as { fields: { name: string }[] };
  const added = ['kind', 'summary', 'details'];
  assert.deepEqual(
    schema.fields.slice(-3).map((f) => f.name),
    added,
    'the new fields are the last three',
  );
  const before = avro.Type.forSchema({ ...schema, fields: schema.fields.filter((f) => !added.includes(f.name)) } as avro.Schema);
  const old = {
    event_id: 'old-1',
    ts_ms: Date.parse('2026-01-01T00:00:00Z'),
    source: 'cloudtrail',
    event_source: 'ec2.amazonaws.com',
    event_name: 'CreateTags',
    actor: 'arn:aws:iam::1:user/alice',
    actor_type: 'IAMUser',
    account: '1',
    region: 'eu-west-1',
    resource_ids: ['arn:aws:ec2:eu-west-1:1:instance/i-1'],
    read_only: false,
    error_code: '',
    error_message: '',
    source_ip: '10.0.0.1',
    user_agent: 'aws-cli',
  };
  const decoded: ChangeEvent = changeCodec.decode(before.toBuffer(old));
  assert.deepEqual({ ...decoded }, { ...old, kind: 'cloudtrail', summary: '', details: '{}' });
  // And a record of today's schema keeps what it says.
  const now: ChangeEvent = { ...old, kind: 'deploy', summary: 'orders 1.4.2 → 1.5.0', details: '{"a":1}' };
  assert.deepEqual({ ...changeCodec.decode(changeCodec.encode(now)) }, now);
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('ct');
});
test.after(() => store.close());

test('golden: an S3 log file (gzip) and EventBridge events through POST /v1/cloudtrail give exactly the expected change_events, each event once', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(
    ['cloudtrail_events', 'airdig.changes', 'airdig.dlq', 'otlp_spans', 'otlp_metrics', 'otlp_logs', 'falco_events'].map((name) => ({ name, partitions: 3 })),
  );
  const changesSettings = componentSettings(changesFactory, bus, store);
  const components: Component[] = [changeEventsFactory.create(componentSettings(changeEventsFactory, bus, store), changeEventsFactory.configSchema.parse({}))];
  const processor = changesFactory.create(changesSettings, changesFactory.configSchema.parse({}));
  components.push(processor);
  for (const c of components) await c.start();
  const receiver = await startHttpReceivers(bus, store);
  components.push(...receiver.receivers);
  const url = receiver.urls.cloudtrail!;
  const post = (body: Buffer | string, type = 'application/json', extra: Record<string, string> = {}) =>
    fetch(url, { method: 'POST', headers: { 'Content-Type': type, ...extra }, body });
  try {
    // As AWS stores it in S3 (…_CloudTrail_eu-west-1_20261123T1000Z_x.json.gz), posted as it is.
    const s3 = await post(gzipSync(file('cloudtrail-s3.json')), 'application/gzip');
    assert.equal(s3.status, 200);
    assert.deepEqual(await s3.json(), { accepted: 17, rejected: 0, errors: [] });
    const eb = await post(file('eventbridge.json'));
    assert.deepEqual(await eb.json(), { accepted: 2, rejected: 0, errors: [] });
    // The same file again with Content-Encoding: gzip: all duplicates.
    assert.equal((await post(gzipSync(file('cloudtrail-s3.json')), 'application/json', { 'Content-Encoding': 'gzip' })).status, 200);

    // Malformed input: the right status and message; nothing accepted is lost.
    const bad: [Promise<Response>, number, RegExp][] = [
      [post('{"Records": 5}'), 400, /"Records" is number, not an array/],
      [post('not json'), 400, /not JSON/],
      [post(gzipSync(file('cloudtrail-s3.json')).subarray(0, 300), 'application/gzip'), 400, /broken gzip/],
      [post('{}', 'text/plain'), 415, /takes application\/json/],
      [post(JSON.stringify({ Records: [{ eventName: 'x' }] })), 400, /no "eventID"/],
    ];
    for (const [res, status, message] of bad) {
      const r = await res;
      assert.equal(r.status, status);
      assert.match(((await r.json()) as { message: string }).message, message);
    }

    const expected = file('expected-change-events.jsonl')
      .toString()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const rows = await waitFor(
      async () => {
        const r = await (
          await store.client.query({
            query: 'SELECT event_id, ts, event_name, actor, actor_type, region, resource_ids, read_only, error_code FROM change_events ORDER BY event_id',
            format: 'JSONEachRow',
          })
        ).json();
        return r.length === expected.length ? r : undefined;
      },
      10_000,
      `${expected.length} change events`,
    );
    assert.deepEqual(rows, expected);
    const log = await (await store.client.query({ query: 'SELECT count() AS n FROM change_event_log', format: 'JSONEachRow' })).json<{ n: string }>();
    assert.ok(Number(log[0]!.n) >= expected.length);
    // 36 records in: 17 events, one repeated in the file, one again from EventBridge, the whole file again.
    await waitFor(
      async () => /airdig_component_received_total\{component="changes",kind="processor"\} 36/.test(await changesSettings.registry.metrics()),
      10_000,
      'all 36 records processed',
    );
    const metrics = await changesSettings.registry.metrics();
    assert.match(metrics, /airdig_component_noted_total\{component="changes",kind="processor",reason="no_resource"\} 3/);
    assert.match(metrics, /airdig_component_noted_total\{component="changes",kind="processor",reason="duplicate"\} 19/);
    assert.match(metrics, /airdig_component_sent_total\{component="changes",kind="processor"\} 17/);
  } finally {
    for (const c of components.reverse()) await c.shutdown();
    await bus.close();
  }
});
