import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, test } from 'node:test';
import { openStore, type Store } from './store.js';
import { loadMigrations, migrate, MIGRATIONS_TABLE } from './migrate.js';
import { InsertBatcher, rowBinaryEncoderFor } from './batcher.js';
import { compileRowBinaryEncoder, encodeValue } from './rowbinary.js';
import { StoreError } from '../errors.js';
import { DlqHeaders } from '../bus/dlq.js';
import { deadLetterRow } from '../../deadletters/sink.js';
import { traceRows } from '../../oteltraces/sink.js';
import { logRows } from '../../otellogs/sink.js';
import { otlpMetricRows } from '../../otlpmetrics/sink.js';
import { float, iso } from './format.js';
import { edgeRow } from '../../servicegraph/sink.js';
import { edgeSides } from '../../model/edges.js';
import { normalizeFalcoEvent } from '../../model/falco.js';
import { ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest } from '../../model/otlp.js';

// dist/processors/runtime/store → the repository.
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../..');
const URL_VARIABLE = 'AIRDIG_TEST_CLICKHOUSE_URL';

let admin: Store;
let store: Store;
/** The same migrations, written the old way (JSONEachRow, best_effort), to compare with. */
let jsonStore: Store;
const database = `airdig_rb_${randomBytes(4).toString('hex')}`;

before(async () => {
  const url = process.env[URL_VARIABLE];
  if (!url) {
    const example = `${URL_VARIABLE}=http://USER:PASSWORD@127.0.0.1:8123`;
    throw new Error(`${URL_VARIABLE} is not set: these tests need a ClickHouse server, e.g. ${example} (npm test sets it)`);
  }
  admin = openStore({ url });
  for (const db of [database, `${database}_json`]) await admin.client.command({ query: `CREATE DATABASE ${db}` });
  store = openStore({ url, database });
  jsonStore = openStore({ url, database: `${database}_json` });
  const migrations = loadMigrations(path.join(repoRoot, 'schemas/clickhouse'));
  await migrate(store, migrations);
  await migrate(jsonStore, migrations);
});

after(async () => {
  for (const s of [store, jsonStore]) await s?.close();
  if (admin) {
    for (const db of [database, `${database}_json`]) await admin.client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    await admin.close();
  }
});

const SETTINGS = { output_format_json_quote_64bit_integers: 1, output_format_json_quote_denormals: 1 } as const;

async function rows<T = Record<string, unknown>>(s: Store, sql: string): Promise<T[]> {
  return (await s.client.query({ query: sql, format: 'JSONEachRow', clickhouse_settings: SETTINGS })).json<T>();
}

/** A table's rows as JSON lines, sorted (the order of a table without FINAL is not defined). */
async function lines(s: Store, table: string): Promise<string[]> {
  const r = await s.client.query({ query: `SELECT * FROM ${table}`, format: 'JSONEachRow', clickhouse_settings: SETTINGS });
  return (await r.text()).split('\n').filter(Boolean).sort();
}

async function writeAll(s: Store, table: string, batch: object[]): Promise<void> {
  const b = new InsertBatcher<object>({ store: s, table, maxDelayMs: 10 });
  assert.deepEqual(await b.write(batch), [], `${table}: no row refused`);
  await b.close();
}

/** The old path: JSONEachRow with best_effort times, as the batcher wrote before RowBinary. */
async function writeJson(s: Store, table: string, batch: object[]): Promise<void> {
  await s.client.insert({ table, values: batch, format: 'JSONEachRow', clickhouse_settings: { date_time_input_format: 'best_effort' } });
}

// Times within the tables' TTLs: an hour ago, at a whole second.
const baseMs = (Math.floor(Date.now() / 1000) - 3600) * 1000;
const isoAt = (ms: number, fraction = '') => `${new Date(ms).toISOString().slice(0, 19)}${fraction}Z`;
/** As ClickHouse prints a DateTime / DateTime64. */
const shown = (isoTime: string) => isoTime.replace('T', ' ').replace('Z', '');
// protobufjs takes a decimal string for a 64-bit field (its types say number | Long); a number would lose the nanoseconds.
const nanos = (ms: number, extra: number) => (BigInt(ms) * 1_000_000n + BigInt(extra)).toString() as unknown as number;
const kv = (o: Record<string, string>) => Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }));
const hex = (s: string) => Buffer.from(s, 'hex');

/** Rows of the shapes each sink produces, built by the sinks' own row functions where they have one. */
function sinkRows(): Record<string, object[]> {
  const traceId = hex('4bf92f3577b34da6a3ce929d0e0e4736');
  const cart = {
    traceId,
    spanId: hex('0102030405060708'),
    parentSpanId: hex('1112131415161718'),
    name: 'GET /cart',
    kind: 2,
    startTimeUnixNano: nanos(baseMs, 123_456_789),
    endTimeUnixNano: nanos(baseMs + 200, 0),
    attributes: kv({ 'http.route': '/cart', 'http.status_code': '200' }),
    events: [
      { timeUnixNano: nanos(baseMs + 1, 1), name: 'exception', attributes: kv({ 'exception.type': 'E' }) },
      { timeUnixNano: nanos(baseMs + 2, 999_999), name: 'retry' },
    ],
    links: [{ traceId, spanId: hex('2122232425262728'), traceState: 'a=b', attributes: kv({ l: '1' }) }],
    status: { code: 2, message: 'boom' },
    traceState: 'vendor=x',
  };
  const select = {
    traceId,
    spanId: hex('3132333435363738'),
    name: 'SELECT',
    kind: 3,
    startTimeUnixNano: nanos(baseMs + 10, 1),
    endTimeUnixNano: nanos(baseMs + 9, 0),
  };
  const spans = traceRows(
    ExportTraceServiceRequest.encode({
      resourceSpans: [
        {
          resource: { attributes: kv({ 'service.name': 'checkout', 'k8s.pod.name': 'checkout-1', emoji: 'päy ✓' }) },
          scopeSpans: [{ scope: { name: 'io.opentelemetry.http', version: '1.2.3' }, spans: [cart, select] }],
        },
      ],
    }).finish(),
  );

  const logRecords = [
    {
      timeUnixNano: nanos(baseMs, 42),
      severityText: 'ERROR',
      severityNumber: 17,
      body: { stringValue: 'failed:\n\n"quoted"' },
      traceId,
      spanId: hex('0102030405060708'),
      flags: 1,
      attributes: kv({ a: 'b' }),
    },
    { observedTimeUnixNano: nanos(baseMs + 1000, 0), body: { intValue: 7 } },
  ];
  const logs = logRows(
    ExportLogsServiceRequest.encode({
      resourceLogs: [
        {
          resource: { attributes: kv({ 'service.name': 'checkout' }) },
          schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
          scopeLogs: [{ scope: { name: 'logger', version: '2', attributes: kv({ s: '1' }) }, logRecords }],
        },
      ],
    }).finish(),
  );

  const gauge = {
    name: 'queue_depth',
    description: 'depth',
    unit: '1',
    gauge: {
      dataPoints: [
        { asDouble: 2.5, timeUnixNano: nanos(baseMs, 0) },
        { asDouble: 1, timeUnixNano: nanos(baseMs + 1000, 0), flags: 1 },
      ],
    },
  };
  const counter = {
    name: 'requests',
    sum: { isMonotonic: true, dataPoints: [{ asInt: 9007199254740991, timeUnixNano: nanos(baseMs, 0), attributes: kv({ code: '200' }) }] },
  };
  const exponential = {
    name: 'latency',
    exponentialHistogram: {
      dataPoints: [{ count: 3, sum: 0.5, scale: 2, zeroCount: 1, positive: { offset: -2, bucketCounts: [1, 1] }, timeUnixNano: nanos(baseMs, 0) }],
    },
  };
  const metrics = otlpMetricRows(
    ExportMetricsServiceRequest.encode({
      resourceMetrics: [
        {
          resource: { attributes: kv({ 'service.name': 'api', 'service.instance.id': 'i-1', 'k8s.pod.name': 'api-1', 'k8s.namespace.name': 'shop' }) },
          scopeMetrics: [{ metrics: [gauge, counter, exponential] }],
        },
      ],
    }).finish(),
  );

  const dlq = deadLetterRow({
    topic: 'airdig.dlq',
    partition: 0,
    offset: 7,
    key: Buffer.from('k'),
    value: Buffer.from('payload\n\n'),
    timestamp: baseMs + 123,
    headers: {
      [DlqHeaders.sourceTopic]: 'otlp_spans',
      [DlqHeaders.sourcePartition]: '2',
      [DlqHeaders.sourceOffset]: '12345678901',
      [DlqHeaders.component]: 'otel_traces',
      [DlqHeaders.errorCode]: 'AIRDIG_MALFORMED_INPUT',
      [DlqHeaders.error]: 'not protobuf',
      traceparent: Buffer.from('00-abc'),
    },
  });
  const edge = (id: string, failed: boolean, client_latency_ms: number) =>
    edgeRow({
      id,
      ts_ms: baseMs + 250,
      trace_id: 'abc',
      ...edgeSides('web', '', 'checkout', 'shop'),
      connection_type: '' as never,
      failed,
      latency_ms: 12.5,
      client_latency_ms,
    });
  const {
    ts_ms: _ms,
    severity: _s,
    ...falco
  } = normalizeFalcoEvent({
    rule: 'Terminal shell in container',
    priority: 'Warning',
    time: isoAt(baseMs, '.123456789'),
    hostname: 'ip-10-0-1-23',
    source: 'syscall',
    output: 'shell',
    tags: ['container', 'shell'],
    output_fields: { 'container.id': 'aaaabbbbcccc', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1', 'evt.time': 1_700_000_000_123_456_789 },
  });
  const node = { type: 'ec2_instance', provider: 'aws', account: '123', region: 'eu-west-1' };
  const change = { source: 'cloudtrail', account: '123', error_code: '', error_message: '', source_ip: '', user_agent: '' };

  return {
    dead_letters: [dlq],
    otel_traces: spans,
    edge_facts: [edge('e1', false, -1), edge('e2', true, 13)],
    graph_node_versions: [
      { ...node, id: 'aws:ec2:i-1', name: 'web', attributes: { az: 'eu-west-1a' }, seen: isoAt(baseMs, '.5'), source: 'scanner', gone: false },
      // Written before migration 0010: no `gone`, the column's DEFAULT applies.
      { ...node, id: 'aws:ec2:i-2', name: 'db', attributes: {}, seen: isoAt(baseMs), source: 'traces' },
    ],
    graph_edge_versions: [{ src: 'aws:ec2:i-1', dst: 'aws:ec2:i-2', type: 'calls', seen: isoAt(baseMs, '.001'), source: 'traces', gone: true }],
    otel_logs: logs,
    prom_series: metrics.series,
    prom_samples: [...metrics.samples, { metric_name: 'up', fingerprint: 'ffff', ts: iso(baseMs + 7), value: float(Infinity), stale: 0 }],
    prom_histograms: [
      ...metrics.histograms,
      // Remote write's native histogram (signed deltas, several spans, custom bounds).
      {
        metric_name: 'rw_hist',
        fingerprint: '0011',
        ts: iso(baseMs),
        count: float(4),
        sum: float(-Infinity),
        schema: -53,
        zero_threshold: float(1e-128),
        zero_count: float(0),
        positive_spans: [
          [0, 2],
          [-3, 1],
        ],
        positive_deltas: [1, -1, 9007199254740991],
        positive_counts: [],
        negative_spans: [],
        negative_deltas: [],
        negative_counts: [float(NaN)],
        custom_values: [0.5, 1, 2.5],
        reset_hint: 2,
      },
    ],
    prom_exemplars: [{ metric_name: 'requests', fingerprint: 'abcd', ts: iso(baseMs), value: float(1.5), labels: { trace_id: '4bf92f35', span_id: '' } }],
    health_facts: [
      {
        id: 'h1',
        ts: iso(baseMs),
        resource_id: 'k8s:/shop/pod/api-1',
        status: 'critical',
        state: 'firing',
        rule: 'high latency',
        reason: 'p99 > 1s',
        metric: 'latency',
        value: 1.25,
        threshold: 1,
        labels: { le: '+Inf' },
      },
      {
        id: 'h2',
        ts: iso(baseMs + 1),
        resource_id: 'k8s:/shop/pod/api-1',
        status: 'healthy',
        state: 'resolved',
        rule: 'r',
        reason: '',
        metric: 'm',
        value: 'infinity',
        threshold: -0.5,
        labels: {},
      },
    ],
    runtime_events: [falco],
    change_event_log: [
      {
        ...change,
        event_id: 'ev-1',
        ts: new Date(baseMs + 999).toISOString(),
        event_source: 'ec2.amazonaws.com',
        event_name: 'TerminateInstances',
        actor: 'arn:aws:iam::123:user/alice',
        actor_type: 'IAMUser',
        region: 'eu-west-1',
        resource_ids: ['arn:aws:ec2:eu-west-1:123:instance/i-1'],
        read_only: false,
        source_ip: '10.0.0.1',
        user_agent: 'aws-cli',
      },
      {
        ...change,
        event_id: 'ev-2',
        ts: new Date(baseMs).toISOString(),
        event_source: 's3.amazonaws.com',
        event_name: 'GetObject',
        actor: '',
        actor_type: 'AWSService',
        region: 'us-east-1',
        resource_ids: [],
        read_only: true,
        error_code: 'AccessDenied',
        error_message: 'no',
      },
    ],
    drift_event_log: [
      {
        id: 'd1',
        ts: new Date(baseMs).toISOString(),
        resource_id: 'aws:ec2:i-1',
        resource_type: 'aws_instance',
        address: 'aws_instance.web',
        drift: 'changed',
        attribute: 'instance_type',
        expected: 't3.small',
        actual: 't3.large',
        lineage: 'lin-1',
        serial: 42,
        scan_id: 's1',
        cause_event_id: 'ev-1',
        cause_ts: new Date(baseMs - 1000).toISOString(),
        cause_actor: 'alice',
        cause_event_name: 'ModifyInstanceAttribute',
      },
    ],
    ingest_checkpoints: [
      { source: 'cloudtrail:123:eu-west-1', position: JSON.stringify({ watermark: baseMs, seen: ['a', 'b'] }), updated: new Date(baseMs).toISOString() },
    ],
    correlation_log: [
      {
        id: 'c1',
        ts: new Date(baseMs).toISOString(),
        cause_id: 'ev-1',
        cause_kind: 'cloudtrail',
        cause_ts: new Date(baseMs - 120_000).toISOString(),
        cause_resource_id: 'arn:aws:ec2:eu-west-1:123:security-group/sg-1',
        impacted_resource_id: 'service:shop/payments',
        signal: 'edge_error_ratio',
        signal_id: 'h1',
        score: 0.731,
        window_s: 1800,
        incident_id: 'inc-1',
        rank: 1,
        path: ['arn:aws:ec2:eu-west-1:123:security-group/sg-1', 'arn:aws:ec2:eu-west-1:123:instance/i-1', 'service:shop/payments'],
        evidence: JSON.stringify({ change: { id: 'ev-1' } }),
        revision: new Date(baseMs + 5).toISOString(),
      },
    ],
    incident_log: [
      {
        id: 'inc-1',
        opened: new Date(baseMs).toISOString(),
        resolved: null,
        status: 'open',
        merged_into: '',
        impacted: ['service:shop/payments'],
        signals: ['h1'],
        causes: [
          {
            cause_id: 'ev-1',
            cause_kind: 'cloudtrail',
            resource_id: 'arn:aws:ec2:eu-west-1:123:security-group/sg-1',
            probability: 0.9,
            score: 0.731,
            explanation: '10:02 alice RevokeSecurityGroupIngress on web',
          },
        ],
        revision: new Date(baseMs + 5).toISOString(),
      },
      {
        id: 'inc-2',
        opened: new Date(baseMs).toISOString(),
        resolved: new Date(baseMs + 60_000).toISOString(),
        status: 'resolved',
        merged_into: '',
        impacted: [],
        signals: [],
        causes: [],
        revision: new Date(baseMs + 5).toISOString(),
      },
    ],
    resource_alias_log: [{ alias: '10.0.1.5', resource_id: 'arn:aws:ec2:eu-west-1:123:instance/i-1', source: 'scanner', seen: new Date(baseMs).toISOString() }],
  };
}

test('rows of every sink land in every table as JSONEachRow wrote them, with nanoseconds, maps, arrays and defaults', async () => {
  const byTable = sinkRows();
  // Every table a sink writes is covered here: a new table in the migrations makes this test say so. (The
  // materialized views' tables are filled by ClickHouse; migrate() writes its own.)
  const tables = await rows<{ name: string }>(
    store,
    `SELECT name FROM system.tables WHERE database = currentDatabase() AND engine LIKE '%MergeTree' AND NOT startsWith(name, '.inner')
       AND name NOT IN ('${MIGRATIONS_TABLE}', 'otel_traces_trace_id_ts', 'service_edge_minutes') ORDER BY name`,
  );
  assert.deepEqual(
    tables.map((t) => t.name),
    Object.keys(byTable).sort(),
  );
  for (const [table, batch] of Object.entries(byTable)) {
    assert.ok(batch.length > 0, table);
    await writeAll(store, table, batch);
    await writeJson(jsonStore, table, batch);
  }
  for (const table of [...Object.keys(byTable), 'otel_traces_trace_id_ts', 'service_edges']) {
    const got = await lines(store, table);
    // (Fewer rows than written where a ReplacingMergeTree collapses a block's duplicates on insert: prom_series.)
    assert.ok(got.length > 0, table);
    assert.deepEqual(got, await lines(jsonStore, table), `${table}: RowBinary and JSONEachRow give the same rows`);
  }

  // What the rows hold, spelled out for the types that matter most.
  const start = isoAt(baseMs, '.123456789');
  const [span] = await rows(store, `SELECT * FROM otel_traces WHERE SpanName = 'GET /cart'`);
  assert.deepEqual(span, {
    Timestamp: shown(start),
    TraceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    SpanId: '0102030405060708',
    ParentSpanId: '1112131415161718',
    TraceState: 'vendor=x',
    SpanName: 'GET /cart',
    SpanKind: 'SPAN_KIND_SERVER',
    ServiceName: 'checkout',
    ResourceAttributes: { 'service.name': 'checkout', 'k8s.pod.name': 'checkout-1', emoji: 'päy ✓' },
    ScopeName: 'io.opentelemetry.http',
    ScopeVersion: '1.2.3',
    SpanAttributes: { 'http.route': '/cart', 'http.status_code': '200' },
    Duration: '76543211',
    StatusCode: 'STATUS_CODE_ERROR',
    StatusMessage: 'boom',
    'Events.Timestamp': [shown(isoAt(baseMs + 1, '.001000001')), shown(isoAt(baseMs + 2, '.002999999'))],
    'Events.Name': ['exception', 'retry'],
    'Events.Attributes': [{ 'exception.type': 'E' }, {}],
    'Links.TraceId': ['4bf92f3577b34da6a3ce929d0e0e4736'],
    'Links.SpanId': ['2122232425262728'],
    'Links.TraceState': ['a=b'],
    'Links.Attributes': [{ l: '1' }],
  });
  const [ids] = await rows(store, 'SELECT * FROM otel_traces_trace_id_ts');
  assert.deepEqual(ids, { TraceId: '4bf92f3577b34da6a3ce929d0e0e4736', Start: shown(isoAt(baseMs)), End: shown(isoAt(baseMs)) });
  const schemaUrl = 'https://opentelemetry.io/schemas/1.21.0';
  const logs = 'SELECT Timestamp, TimestampTime, SeverityNumber, Body, ResourceSchemaUrl, ScopeAttributes FROM otel_logs ORDER BY Timestamp';
  assert.deepEqual(await rows(store, logs), [
    // TimestampTime is not in the row: its DEFAULT toDateTime(Timestamp) applies.
    {
      Timestamp: shown(isoAt(baseMs, '.000000042')),
      TimestampTime: shown(isoAt(baseMs)),
      SeverityNumber: 17,
      Body: 'failed:\n\n"quoted"',
      ResourceSchemaUrl: schemaUrl,
      ScopeAttributes: { s: '1' },
    },
    {
      Timestamp: shown(isoAt(baseMs + 1000, '.000000000')),
      TimestampTime: shown(isoAt(baseMs + 1000)),
      SeverityNumber: 0,
      Body: '7',
      ResourceSchemaUrl: schemaUrl,
      ScopeAttributes: { s: '1' },
    },
  ]);
  assert.deepEqual(await rows(store, 'SELECT id, gone, seen, attributes FROM graph_node_versions ORDER BY id'), [
    { id: 'aws:ec2:i-1', gone: false, seen: shown(isoAt(baseMs, '.500')), attributes: { az: 'eu-west-1a' } },
    { id: 'aws:ec2:i-2', gone: false, seen: shown(isoAt(baseMs, '.000')), attributes: {} },
  ]);
  assert.deepEqual(await rows(store, 'SELECT ts, source_offset, value_bytes, headers FROM dead_letters'), [
    { ts: shown(new Date(baseMs + 123).toISOString()), source_offset: '12345678901', value_bytes: 9, headers: { traceparent: '00-abc' } },
  ]);
  // A stale marker keeps NaN; non-finite floats came as 'nan' / 'inf' strings.
  assert.deepEqual(await rows(store, 'SELECT metric_name, value, stale FROM prom_samples ORDER BY metric_name, ts'), [
    { metric_name: 'queue_depth', value: 2.5, stale: 0 },
    { metric_name: 'queue_depth', value: 'nan', stale: 1 },
    { metric_name: 'requests', value: 9007199254740991, stale: 0 },
    { metric_name: 'up', value: 'inf', stale: 0 },
  ]);
  const histogram = `SELECT positive_spans, positive_deltas, negative_counts, sum, schema, reset_hint FROM prom_histograms WHERE metric_name = 'rw_hist'`;
  assert.deepEqual(await rows(store, histogram), [
    {
      positive_spans: [
        [0, 2],
        [-3, 1],
      ],
      positive_deltas: ['1', '-1', '9007199254740991'],
      negative_counts: ['nan'],
      sum: '-inf',
      schema: -53,
      reset_hint: 2,
    },
  ]);
  assert.deepEqual(await rows(store, `SELECT ts, tags, output_fields FROM runtime_events`), [
    {
      ts: shown(start),
      tags: ['container', 'shell'],
      output_fields: { 'container.id': 'aaaabbbbcccc', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1', 'evt.time': String(1_700_000_000_123_456_789) },
    },
  ]);
  assert.deepEqual(await rows(store, `SELECT calls, errors, server_namespace, client_id, server_id FROM service_edges`), [
    { calls: '2', errors: '1', server_namespace: 'shop', client_id: 'service:/web', server_id: 'service:shop/checkout' },
  ]);
});

/** [type, a ClickHouse literal, the JS value a sink would give]: the encoder must write the bytes ClickHouse writes. */
const SAME_AS_CLICKHOUSE: [string, string, unknown][] = [
  ['UInt8', '200', 200],
  ['UInt8', '1', true],
  ['Int8', '-5', -5],
  ['Int8', '-5', '-5'],
  ['UInt16', '65535', 65535],
  ['Int16', '-32768', -32768],
  ['UInt32', '4294967295', 4294967295],
  ['UInt32', '12', '12'],
  ['Int32', '-2147483648', -2147483648],
  ['UInt64', "'18446744073709551615'", '18446744073709551615'],
  ['UInt64', "'18446744073709551615'", 18446744073709551615n],
  ['UInt64', '123456789', 123456789],
  ['Int64', "'-9223372036854775808'", '-9223372036854775808'],
  ['Int64', '-1', -1],
  ['Int64', '-4294967297', -4294967297],
  ['Int64', '9007199254740991', 9007199254740991],
  ['Int128', "'-170141183460469231731687303715884105728'", '-170141183460469231731687303715884105728'],
  ['UInt128', "'340282366920938463463374607431768211455'", 2n ** 128n - 1n],
  ['Int256', "'-12345678901234567890123456789'", -12345678901234567890123456789n],
  ['UInt256', '12345', 12345],
  ['Float64', '1.5', 1.5],
  ['Float64', 'nan', 'nan'],
  ['Float64', 'inf', 'inf'],
  ['Float64', '-inf', '-inf'],
  ['Float64', '-0.25', '-0.25'],
  ['Float64', 'inf', 'infinity'],
  ['Float32', '3.14', 3.14],
  ['BFloat16', '1.1', 1.1],
  ['BFloat16', '-3.3', -3.3],
  ['Bool', 'true', true],
  ['Bool', 'false', false],
  ['Bool', 'true', 1],
  ['String', "'héllo'", 'héllo'],
  ['String', "''", ''],
  ['String', "repeat('ab€', 100)", 'ab€'.repeat(100)],
  ['String', "'42'", 42],
  ['String', "'a\\n\\nb'", 'a\n\nb'],
  ['FixedString(4)', "'ab'", 'ab'],
  ['FixedString(3)', "'abc'", 'abc'],
  ['Date', "'2026-11-23'", '2026-11-23'],
  ['Date32', "'1950-01-02'", '1950-01-02'],
  ['Date32', "'2250-01-02'", '2250-01-02'],
  ['DateTime', "'2026-11-23 10:00:00'", '2026-11-23T10:00:00.999Z'],
  ['DateTime', "'2026-11-23 10:00:00'", 1795428000],
  ['DateTime', "'2026-11-23 08:00:00'", '2026-11-23T10:00:00+02:00'],
  ["DateTime('UTC')", "'2026-11-23 10:00:00'", '2026-11-23 10:00:00'],
  ['DateTime64(9)', "'2026-11-23 10:00:00.123456789'", '2026-11-23T10:00:00.123456789Z'],
  ['DateTime64(9)', "'2262-04-11 23:47:16.854775807'", '2262-04-11T23:47:16.854775807Z'],
  ['DateTime64(9)', "'1900-01-01 00:00:00.000000001'", '1900-01-01T00:00:00.000000001Z'],
  ['DateTime64(3)', "'2026-11-23 10:00:00.123'", '2026-11-23 10:00:00.1239'],
  ['DateTime64(3)', "'2024-11-23 10:00:00.123'", 1732356000123],
  ['DateTime64(3)', "'2024-11-23 10:00:00.123'", new Date(1732356000123)],
  ['DateTime64(9)', "'2024-11-23 10:00:00.123'", new Date(1732356000123)],
  ['DateTime64(9)', "'2024-11-23 10:00:00.123456789'", 1732356000123456789n],
  ['DateTime64(6)', "'2026-11-23 04:30:00.5'", '2026-11-23T10:00:00.5+05:30'],
  ['DateTime64(6)', "'2026-11-23 12:00:00'", '2026-11-23T10:00-0200'],
  ['DateTime64(0)', "'2026-11-23 10:00:00'", '2026-11-23T10:00:00.9Z'],
  ['DateTime64(3)', "'1969-12-31 23:59:59.999'", '1969-12-31T23:59:59.999Z'],
  ["DateTime64(3, 'UTC')", "'2026-11-23 10:00:00.5'", '2026-11-23 10:00:00.5'],
  ['DateTime64(3)', "'2026-11-23 00:00:00'", '2026-11-23'],
  ['Time', "'12:34:56'", '12:34:56'],
  ['Time', "'-01:00:00'", '-01:00:00'],
  ['Time64(3)', "'12:34:56.789'", '12:34:56.789'],
  ['Time64(3)', "'-1:00:00.5'", '-1:00:00.5'],
  ['UUID', "'61f0c404-5cb3-11e7-907b-a6006ad3dba0'", '61f0c404-5cb3-11e7-907b-a6006ad3dba0'],
  ['UUID', "'61f0c404-5cb3-11e7-907b-a6006ad3dba0'", '61F0C4045CB311E7907BA6006AD3DBA0'],
  ['IPv4', "'1.2.3.4'", '1.2.3.4'],
  ['IPv4', "'255.0.0.1'", 0xff000001],
  ['IPv6', "'2001:db8::1'", '2001:db8::1'],
  ['IPv6', "'::ffff:1.2.3.4'", '1.2.3.4'],
  ['IPv6', "'fe80::1:2:3:4'", 'fe80::1:2:3:4'],
  ['IPv6', "'::'", '::'],
  ['IPv6', "'1:2:3:4:5:6:7:8'", '1:2:3:4:5:6:7:8'],
  ["Enum8('a' = 1, 'b' = -2)", "'b'", 'b'],
  ["Enum16('x' = 1000, 'y' = -1000)", "'y'", 'y'],
  ["Enum8('a' = 1, 'b' = -2)", "'a'", 1],
  ['Decimal(9, 2)', "'-12.345'", '-12.345'],
  ['Decimal(18, 4)', "'12.5'", 12.5],
  ['Decimal(38, 10)', "'123456789.0123456789'", '123456789.0123456789'],
  ['Decimal(76, 20)', "'-1.5'", '-1.5'],
  ['Decimal32(3)', "'1.001'", '1.001'],
  ['Decimal(10, 2)', "'1000'", '1e3'],
  ['Decimal(10, 2)', "'0.1'", 0.1],
  ['Decimal(10, 2)', "'7'", 7n],
  ['Nullable(String)', 'NULL', null],
  ['Nullable(String)', "'x'", 'x'],
  ['LowCardinality(String)', "'lc'", 'lc'],
  ['LowCardinality(Nullable(String))', 'NULL', null],
  ['Array(String)', "['a','b']", ['a', 'b']],
  ['Array(String)', "['','x']", [null, 'x']],
  ['Array(Nullable(Int32))', '[NULL, 5]', [null, 5]],
  ['Array(Float64)', '[1, 2]', new Float64Array([1, 2])],
  ['Array(DateTime64(9))', "['2026-11-23 10:00:00.000000001']", ['2026-11-23T10:00:00.000000001Z']],
  ['Map(String, String)', "map('k','v','k2','')", { k: 'v', k2: null }],
  ['Map(LowCardinality(String), String)', "map('a','1')", { a: 1 }],
  ['Map(UInt64, Float64)', 'map(1, 2.5)', { 1: 2.5 }],
  [
    'Map(String, UInt8)',
    "map('a', 1, 'b', 2)",
    new Map([
      ['a', 1],
      ['b', 2],
    ]),
  ],
  ['Map(String, UInt8)', "map('a', 1)", [['a', 1]]],
  [
    'Map(String, String)',
    "mapFromArrays(arrayMap(i -> toString(i), range(200)), arrayMap(i -> 'v', range(200)))",
    Object.fromEntries(Array.from({ length: 200 }, (_, i) => [String(i), 'v'])),
  ],
  ['Array(Map(LowCardinality(String), String))', "[map('a','b'), map()]", [{ a: 'b' }, {}]],
  ['Tuple(Int32, UInt32)', '(-1, 2)', [-1, 2]],
  [
    'Array(Tuple(Int32, UInt32))',
    '[(1, 2), (3, 4)]',
    [
      [1, 2],
      [3, 4],
    ],
  ],
  ['Tuple(a String, b UInt8)', "('x', 3)", { a: 'x', b: 3 }],
  ['Nested(a String, b UInt8)', "[('x', 3)]", [{ a: 'x', b: 3 }]],
  ['Point', '(1.5, 2.5)', [1.5, 2.5]],
  [
    'Ring',
    '[(1, 2), (3, 4)]',
    [
      [1, 2],
      [3, 4],
    ],
  ],
  ['SimpleAggregateFunction(sum, UInt64)', '5', 5],
];

test('the encoder writes each type byte for byte as ClickHouse writes it in RowBinary', async () => {
  const diffs: string[] = [];
  for (const [type, literal, value] of SAME_AS_CLICKHOUSE) {
    const r = await store.client.exec({ query: `SELECT CAST(${literal} AS ${type}) FORMAT RowBinary` });
    const chunks: Buffer[] = [];
    for await (const c of r.stream) chunks.push(c as Buffer);
    const want = Buffer.concat(chunks);
    const got = encodeValue(type, value);
    if (!got.equals(want)) diffs.push(`${type} ${literal}: ClickHouse ${want.toString('hex')}, encoder ${got.toString('hex')}`);
  }
  assert.deepEqual(diffs, []);
});

test('a value that does not fit its type is refused with the column named; an unsupported type fails when the encoder is compiled', async () => {
  const refused: [string, unknown][] = [
    ['UInt32', 'abc'],
    ['UInt32', -1],
    ['UInt32', 1.5],
    ['UInt8', 256],
    ['UInt32', 4294967296],
    ['Int8', '12x'],
    ['UInt64', '-1'],
    ['UInt64', 2 ** 64],
    ['Int64', 1e19],
    ['UInt128', -1n],
    ['Float64', 'x'],
    ['Float64', ''],
    ['Float64', {}],
    ['Bool', 'yes'],
    ['Bool', 2],
    ['String', { a: 1 }],
    ['String', ['a']],
    ['FixedString(2)', 'abc'],
    ['Date', '2026-13-01'],
    ['Date', '1969-12-31'],
    ['DateTime', '2026-11-23T25:00:00Z'],
    ['DateTime', 'yesterday'],
    ['DateTime', -1],
    ['DateTime', 1.5],
    ['DateTime64(3)', '2026-02-30T00:00:00Z'],
    ['DateTime64(3)', '2026-11-23T10:00:00.Z'],
    ['DateTime64(3)', '2026-11-23T10:00:00+25:00'],
    ['DateTime64(3)', 1.5],
    ['DateTime64(9)', '2300-01-01T00:00:00Z'],
    ['DateTime64(3)', new Date(NaN)],
    ["DateTime64(3, 'Europe/Berlin')", '2026-11-23 10:00:00'],
    ['UUID', 'not-a-uuid'],
    ['UUID', 5],
    ['IPv4', '1.2.3.256'],
    ['IPv4', '1.2.3'],
    ['IPv6', '1::2::3'],
    ['IPv6', 'g::1'],
    ["Enum8('a' = 1)", 'b'],
    ["Enum8('a' = 1)", 2],
    ['Decimal(5, 2)', '1234.5'],
    ['Decimal(9, 2)', 'abc'],
    ['Decimal(9, 2)', NaN],
    ['Array(String)', 'a'],
    ['Array(UInt8)', [1, 'x']],
    ['Map(String, String)', 'a'],
    ['Map(UInt8, String)', { x: 'y' }],
    ['Tuple(Int32, UInt32)', [1]],
    ['Tuple(Int32, UInt32)', 5],
    ['Nullable(UInt8)', 'x'],
  ];
  for (const [type, value] of refused) assert.throws(() => encodeValue(type, value), /is not /, `${type} ${String(value)}`);
  // Giving an explicit offset makes the same time fine for a column in another zone.
  assert.equal(encodeValue("DateTime64(3, 'Europe/Berlin')", '2026-11-23T10:00:00+01:00').length, 8);

  const columns = [
    { name: 'id', type: 'String' },
    { name: 'n', type: 'UInt32' },
    { name: 'm', type: 'String', default_kind: 'MATERIALIZED' },
  ];
  const encoder = compileRowBinaryEncoder('t', columns);
  assert.equal(encoder.insertQuery, 'INSERT INTO t (`id`, `n`) FORMAT RowBinaryWithDefaults');
  const block = encoder.encode([{ id: 'a', n: 1 }, { id: 'b', n: 'abc' }, { id: 'c' }]);
  assert.equal(block.rows, 2);
  assert.deepEqual([...block.source.subarray(0, 2)], [0, 2]);
  // c has no n, and n no DEFAULT: its zero value is written (flag 0), not ClickHouse's "default" (flag 1).
  assert.deepEqual(block.bytes, Buffer.from([0, 1, 0x61, 0, 1, 0, 0, 0, 0, 1, 0x63, 0, 0, 0, 0, 0]));
  assert.equal(block.refused.length, 1);
  assert.equal(block.refused[0]!.index, 1);
  assert.ok(block.refused[0]!.error instanceof StoreError && !block.refused[0]!.error.retryable);
  assert.match(block.refused[0]!.error.message, /^insert into t: column n \(UInt32\): "abc" is not an integer in \[0, 4294967295\] \(UInt32\)$/);

  const unsupported = ['JSON', 'Dynamic', 'Variant(String, UInt64)', "Object('json')", 'AggregateFunction(sum, UInt64)', 'Nothing', 'IntervalDay'];
  for (const type of [...unsupported, 'Array(JSON)', 'Map(String, Dynamic)', 'Decimal(80, 2)']) {
    const why = `table events: column payload has type ${type}, which the RowBinary encoder cannot write`;
    assert.throws(
      () =>
        compileRowBinaryEncoder('events', [
          { name: 'ok', type: 'String' },
          { name: 'payload', type },
        ]),
      (e: unknown) => e instanceof StoreError && e.message.startsWith(why),
      type,
    );
  }
  // A materialized view's own table holds aggregate states: compiling for it names the column.
  const aggregate = /table service_edge_minutes: column calls_state has type AggregateFunction\(uniqExact, String\)/;
  await assert.rejects(rowBinaryEncoderFor(store, 'service_edge_minutes'), aggregate);
  await assert.rejects(rowBinaryEncoderFor(store, 'no_such_table'), /table no_such_table has no columns to insert/);
});

test('every supported type round trips through a table, with NULLs, DEFAULT expressions, MATERIALIZED and ALIAS columns', async () => {
  const ddl = `CREATE TABLE rb_types (
    id UInt32, i8 Int8, i16 Int16, i32 Int32, i64 Int64, i128 Int128, u256 UInt256, f32 Float32, f64 Float64, b Bool, s String, fs FixedString(3),
    d Date, d32 Date32, dt DateTime, dt_utc DateTime('UTC'), dt64 DateTime64(6), u UUID, ip4 IPv4, ip6 IPv6,
    e8 Enum8('red' = 1, 'green' = 2), e16 Enum16('x' = -300, 'y' = 300), dec Decimal(18, 4), dec128 Decimal128(10),
    ns Nullable(String), nu Nullable(UInt64), lcn LowCardinality(Nullable(String)), a Array(Nullable(Int32)), aa Array(Array(String)),
    m Map(String, Array(UInt8)), t Tuple(name String, n UInt16), nested Nested(k String, v Float64),
    added DateTime DEFAULT now(), label String DEFAULT concat('id-', toString(id)), opt Nullable(String) DEFAULT 'dflt',
    lc LowCardinality(String) DEFAULT 'lc-default', doubled UInt64 MATERIALIZED id * 2, alias_s String ALIAS upper(s)
  ) ENGINE = MergeTree ORDER BY id`;
  await store.client.command({ query: ddl });
  await jsonStore.client.command({ query: ddl });
  const full = {
    id: 1,
    i8: -128,
    i16: '-32768',
    i32: 2147483647,
    i64: '-9223372036854775808',
    i128: '-170141183460469231731687303715884105728',
    u256: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
    f32: 0.5,
    f64: 'nan',
    b: true,
    s: 'ünïcode\n\n',
    fs: 'ab',
    d: '2149-06-06',
    d32: '1900-01-01',
    dt: '2106-02-07T06:28:15Z',
    dt_utc: '2026-11-23 10:00:00',
    dt64: '2026-11-23T10:00:00.1234567Z',
    u: '61f0c404-5cb3-11e7-907b-a6006ad3dba0',
    ip4: '10.0.0.1',
    ip6: '2001:db8::ff00:42:8329',
    e8: 'green',
    e16: -300,
    dec: '-12345678901234.5678',
    dec128: '1.5',
    ns: null,
    nu: '18446744073709551615',
    lcn: null,
    a: [1, null, -1],
    aa: [['x'], []],
    m: { k: [1, 2] },
    t: { name: 'n', n: 65535 },
    'nested.k': ['a', 'b'],
    'nested.v': [1.5, 'inf'],
    added: '2001-02-03T04:05:06Z',
    label: 'given',
    opt: null,
    lc: 'x',
  };
  // Everything omitted: DEFAULT expressions apply (now(), concat(...)), and a type's zero value elsewhere.
  const sparse = { id: 2, nested: undefined, ns: undefined, s: null };
  await writeAll(store, 'rb_types', [full, sparse]);
  await writeJson(jsonStore, 'rb_types', [full, sparse]);
  const sql = `SELECT * EXCEPT (added), added > now() - INTERVAL 1 HOUR AS recent FROM rb_types ORDER BY id`;
  const got = await rows<Record<string, unknown>>(store, sql);
  assert.deepEqual(got, await rows(jsonStore, sql), 'the same rows as JSONEachRow wrote');
  assert.deepEqual(got[0], {
    id: 1,
    i8: -128,
    i16: -32768,
    i32: 2147483647,
    i64: '-9223372036854775808',
    i128: '-170141183460469231731687303715884105728',
    u256: '115792089237316195423570985008687907853269984665640564039457584007913129639935',
    f32: 0.5,
    f64: 'nan',
    b: true,
    s: 'ünïcode\n\n',
    fs: 'ab\u0000',
    d: '2149-06-06',
    d32: '1900-01-01',
    dt: '2106-02-07 06:28:15',
    dt_utc: '2026-11-23 10:00:00',
    dt64: '2026-11-23 10:00:00.123456',
    u: '61f0c404-5cb3-11e7-907b-a6006ad3dba0',
    ip4: '10.0.0.1',
    ip6: '2001:db8::ff00:42:8329',
    e8: 'green',
    e16: 'x',
    dec: -12345678901234.5678,
    dec128: 1.5,
    ns: null,
    nu: '18446744073709551615',
    lcn: null,
    a: [1, null, -1],
    aa: [['x'], []],
    m: { k: [1, 2] },
    t: { name: 'n', n: 65535 },
    'nested.k': ['a', 'b'],
    'nested.v': [1.5, 'inf'],
    label: 'given',
    opt: null,
    lc: 'x',
    recent: 0,
  });
  assert.deepEqual(got[1], {
    id: 2,
    i8: 0,
    i16: 0,
    i32: 0,
    i64: '0',
    i128: '0',
    u256: '0',
    f32: 0,
    f64: 0,
    b: false,
    s: '',
    fs: '\u0000\u0000\u0000',
    d: '1970-01-01',
    d32: '1970-01-01',
    dt: '1970-01-01 00:00:00',
    dt_utc: '1970-01-01 00:00:00',
    dt64: '1970-01-01 00:00:00.000000',
    u: '00000000-0000-0000-0000-000000000000',
    ip4: '0.0.0.0',
    ip6: '::',
    e8: 'red',
    e16: 'x',
    dec: 0,
    dec128: 0,
    ns: null,
    nu: null,
    lcn: null,
    a: [],
    aa: [],
    m: {},
    t: { name: '', n: 0 },
    'nested.k': [],
    'nested.v': [],
    label: 'id-2',
    opt: 'dflt',
    lc: 'lc-default',
    recent: 1,
  });
  assert.deepEqual(await rows(store, 'SELECT doubled, alias_s FROM rb_types ORDER BY id'), [
    { doubled: '2', alias_s: 'üNïCODE\n\n' },
    { doubled: '4', alias_s: '' },
  ]);
});

test('the batcher reports exactly the rows that cannot be written, by their index in each write(), and writes the rest', async () => {
  // Refused by the encoder (a value that is not a UInt32) and by ClickHouse itself (a CHECK constraint), in one block.
  await store.client.command({ query: `CREATE TABLE rb_checked (id String, n UInt32, CONSTRAINT small CHECK n < 100) ENGINE = MergeTree ORDER BY id` });
  let inserts = 0;
  const b = new InsertBatcher<{ id: string; n: unknown }>({ store, table: 'rb_checked', maxRows: 1_000, maxDelayMs: 20, onInsert: () => inserts++ });
  const id = (i: number) => `x${String(i).padStart(2, '0')}`;
  const [first, second, third] = await Promise.all([
    b.write([
      { id: 'a', n: 1 },
      { id: 'bad-value', n: 'abc' },
      { id: 'b', n: 2 },
    ]),
    b.write([
      { id: 'c', n: 3 },
      { id: 'too-big', n: 500 },
    ]),
    b.write(Array.from({ length: 20 }, (_, i) => ({ id: id(i), n: i === 13 ? 100 : i }))),
  ]);
  assert.deepEqual(
    first!.map((r) => r.index),
    [1],
  );
  assert.match(first![0]!.error.message, /column n \(UInt32\): "abc" is not an integer/);
  assert.deepEqual(
    second!.map((r) => r.index),
    [1],
  );
  assert.equal(second![0]!.error.clickhouseCode, 469); // VIOLATED_CONSTRAINT
  assert.deepEqual(
    third!.map((r) => r.index),
    [13],
  );
  for (const r of [...first!, ...second!, ...third!]) assert.ok(r.error instanceof StoreError && !r.error.retryable);
  const stored = (await rows<{ id: string }>(store, 'SELECT id FROM rb_checked ORDER BY id')).map((r) => r.id);
  assert.deepEqual(stored, ['a', 'b', 'c', ...Array.from({ length: 20 }, (_, i) => id(i)).filter((x) => x !== 'x13')]);
  assert.ok(inserts >= 2 && inserts < 12, `bisection took ${inserts} successful inserts`);
  await b.close();
});

test('the same block written twice (a replay, a retry after a timeout) is stored once', async () => {
  // otel_logs has non_replicated_deduplication_window (as dead_letters, otel_traces and edge_facts do).
  const logRecords = [1, 2, 3].map((i) => ({ timeUnixNano: nanos(baseMs, i), body: { stringValue: `l${i}` } }));
  const logs = logRows(
    ExportLogsServiceRequest.encode({ resourceLogs: [{ resource: { attributes: kv({ 'service.name': 'dedup' }) }, scopeLogs: [{ logRecords }] }] }).finish(),
  );
  const count = async () => (await rows<{ n: string }>(store, `SELECT count() AS n FROM otel_logs WHERE ServiceName = 'dedup'`))[0]!.n;
  for (let i = 0; i < 2; i++) await writeAll(store, 'otel_logs', logs);
  assert.equal(await count(), '3');
  await writeAll(store, 'otel_logs', logs.slice(0, 2));
  assert.equal(await count(), '5', 'a different block is a different token');

  // An insert that reached ClickHouse but whose answer was lost (connection reset) is retried, and the retry is deduplicated.
  let cut = 0;
  const client = new Proxy(store.client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'exec' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return async (params: unknown) => {
        const r = await (v as (p: unknown) => Promise<{ stream: NodeJS.ReadableStream }>).call(target, params);
        if (cut++ > 0) return r;
        for await (const _ of r.stream);
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      };
    },
  });
  const retries: StoreError[] = [];
  const b = new InsertBatcher<object>({ store: { ...store, client }, table: 'otel_logs', maxDelayMs: 5, onRetry: (e) => retries.push(e) });
  assert.deepEqual(await b.write(logs.slice(1)), []);
  await b.close();
  assert.equal(retries.length, 1);
  assert.ok(retries[0]!.retryable);
  assert.equal(cut, 2);
  assert.equal(await count(), '7');
});

test('an encoder is compiled once per table, shared by its batchers; a dropped column makes it read the columns again', async () => {
  let lookups = 0;
  const client = new Proxy(store.client, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'query' || typeof v !== 'function') return typeof v === 'function' ? v.bind(target) : v;
      return (params: { query: string }) => {
        if (params.query.includes('system.columns')) lookups++;
        return (v as (p: unknown) => unknown).call(target, params);
      };
    },
  });
  const counting: Store = { ...store, client };
  await store.client.command({ query: `CREATE TABLE rb_evolving (id UInt32, a String, b String) ENGINE = MergeTree ORDER BY id` });
  const one = new InsertBatcher<object>({ store: counting, table: 'rb_evolving', maxDelayMs: 5 });
  const two = new InsertBatcher<object>({ store: counting, table: 'rb_evolving', maxDelayMs: 5 });
  for (let i = 0; i < 5; i++) {
    assert.deepEqual(await Promise.all([one.write([{ id: i, a: 'a', b: 'b' }]), two.write([{ id: 100 + i, a: 'a', b: 'b' }])]), [[], []]);
  }
  assert.equal(lookups, 1, 'ten blocks, two batchers, one look-up of the columns');
  assert.equal(await rowBinaryEncoderFor(counting, 'rb_evolving'), await rowBinaryEncoderFor(counting, 'rb_evolving'));

  await store.client.command({ query: `ALTER TABLE rb_evolving DROP COLUMN b` });
  assert.deepEqual(await one.write([{ id: 50, a: 'after', b: 'gone' }]), []);
  assert.equal(lookups, 2);
  await store.client.command({ query: `ALTER TABLE rb_evolving ADD COLUMN c String DEFAULT 'c-default'` });
  assert.deepEqual(await two.write([{ id: 51, a: 'added' }]), [], 'a column added later takes its DEFAULT');
  assert.deepEqual(await rows(store, 'SELECT id, a, c FROM rb_evolving WHERE id BETWEEN 50 AND 99 ORDER BY id'), [
    { id: 50, a: 'after', c: 'c-default' },
    { id: 51, a: 'added', c: 'c-default' },
  ]);
  await Promise.all([one.close(), two.close()]);
});
