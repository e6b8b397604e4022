/*
 * One valid input for every component in defaultRegistry(), for the registry lifecycle test
 * (processors/components.test.ts through assertComponentContract in ./component.ts).
 *
 * TOPIC_SAMPLES: for each topic a component consumes, a function making bus messages the way the
 * project itself makes them — the generated protobufjs classes (protos/gen), the intakes' own
 * parsers (parseFalcoBody, parseCloudTrailBody, parseScanBody, parseTerraformState), the Avro
 * codecs the components export, sendToDlq — never hand-copied bytes.
 *
 * COMPONENT_SAMPLES: for each registry kind and type, what it is fed (a request to a receiver,
 * messages on a processor's or sink's input topics), what airdig_component_received_total must
 * then read, and for sinks the rows that must have landed.
 *
 * A registry type without an entry here fails the registry test: add one when adding a component.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { compressSync } from 'snappy';
import { prometheus } from '../../protos/gen/prometheus.js';
import { ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest } from '../../processors/model/otlp.js';
import { logsSignal, metricsSignal, tracesSignal } from '../../processors/otlp/signals.js';
import { splitByTarget } from '../../processors/remotewrite/receiver.js';
import { RW_PROTO_HEADER, PROTO_V1, walkRemoteWrite, type SeriesView } from '../../processors/model/remote-write.js';
import { correlationCodec, incidentCodec, type Correlation, type Incident } from '../../processors/model/correlations.js';
import { parseFalcoBody } from '../../processors/falco/receiver.js';
import { changeEvent, cloudTrailMessage, parseCloudTrailBody } from '../../processors/cloudtrail/records.js';
import { changeCodec } from '../../processors/model/changes.js';
import { parseScanBody, parseTerraformState } from '../../processors/inventory/records.js';
import { scannerCodec, terraformCodec } from '../../processors/model/inventory.js';
import { scanK8sJson } from '../../processors/scanners/k8s.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../../processors/model/topology.js';
import { healthCodec, type HealthFact } from '../../processors/model/health.js';
import { driftCodec, type DriftEvent } from '../../processors/model/drift.js';
import { edgeKey, edgeSides, type EdgeFact } from '../../processors/model/edges.js';
import { avroCodec } from '../../processors/runtime/avro.js';
import { sendToDlq } from '../../processors/runtime/bus/dlq.js';
import { MalformedInputError } from '../../processors/runtime/errors.js';
import type { Bus, BusRecord, OutMessage } from '../../processors/runtime/bus/types.js';
import type { Component, ComponentKind } from '../../processors/runtime/pipeline/component.js';
import type { Store } from '../../processors/runtime/store/store.js';

/** Marks every sample, so its rows are found (and nothing else is). */
export const TAG = 'lifecycle';
const ACCOUNT = '123456789012';
const REGION = 'eu-west-1';

/** A minute ago: recent enough for every table's TTL, old enough to be in the past everywhere. */
const recent = () => Date.now() - 60_000;
const nanos = (ms: number) => (BigInt(ms) * 1_000_000n).toString();
const attrs = (o: Record<string, string>) => Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }));

/** Messages for one topic, and what they hold. */
export interface TopicSample {
  topic: string;
  messages: OutMessage[];
  /** Spans, samples or data points, log records, events… in them (what item-counting components count). */
  items: number;
}

// ---------------------------------------------------------------------------------------------
// Bodies as clients send them (also used for the receivers' requests).

/** An OTLP trace export: a client span of lifecycle-web and the server span of lifecycle-api it called. */
export function otlpTracesBody(): Uint8Array {
  const t = recent();
  const traceId = Buffer.from('1fec0c1e00000000000000000000a001', 'hex');
  const client = Buffer.from('00000000000000c1', 'hex');
  return ExportTraceServiceRequest.encode(
    ExportTraceServiceRequest.fromObject({
      resourceSpans: [
        {
          resource: {
            attributes: attrs({
              'service.name': `${TAG}-web`,
              'service.namespace': TAG,
              'cloud.provider': 'aws',
              'cloud.region': REGION,
              'cloud.account.id': ACCOUNT,
              'host.id': 'i-0lifecycle000001',
            }),
          },
          scopeSpans: [
            {
              scope: { name: TAG },
              spans: [{ traceId, spanId: client, name: 'GET api', kind: 3, startTimeUnixNano: nanos(t), endTimeUnixNano: nanos(t + 20) }],
            },
          ],
        },
        {
          resource: { attributes: attrs({ 'service.name': `${TAG}-api`, 'service.namespace': TAG }) },
          scopeSpans: [
            {
              scope: { name: TAG },
              spans: [
                {
                  traceId,
                  spanId: Buffer.from('00000000000000d2', 'hex'),
                  parentSpanId: client,
                  name: 'GET /items',
                  kind: 2,
                  startTimeUnixNano: nanos(t + 1),
                  endTimeUnixNano: nanos(t + 15),
                },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
}
export const OTLP_TRACES_SPANS = 2;
/** Resources in otlpTracesBody (the placement processor counts resources). */
export const OTLP_TRACES_RESOURCES = 2;

/** An OTLP metrics export: one gauge and one monotonic sum, one data point each. */
export function otlpMetricsBody(): Uint8Array {
  const t = nanos(recent());
  return ExportMetricsServiceRequest.encode(
    ExportMetricsServiceRequest.fromObject({
      resourceMetrics: [
        {
          resource: { attributes: attrs({ 'service.name': `${TAG}-cart`, 'service.instance.id': `${TAG}-pod-1` }) },
          scopeMetrics: [
            {
              metrics: [
                { name: `${TAG}_otlp_queue_depth`, gauge: { dataPoints: [{ timeUnixNano: t, asInt: 7 }] } },
                { name: `${TAG}_otlp_orders_total`, sum: { isMonotonic: true, aggregationTemporality: 2, dataPoints: [{ timeUnixNano: t, asDouble: 42 }] } },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
}
export const OTLP_METRICS_POINTS = 2;
/** Each data point of otlpMetricsBody is its own series (its own prom_series row). */
export const OTLP_METRICS_SERIES = 2;

/** An OTLP logs export: two log records of one resource. */
export function otlpLogsBody(): Uint8Array {
  const t = BigInt(recent()) * 1_000_000n;
  return ExportLogsServiceRequest.encode(
    ExportLogsServiceRequest.fromObject({
      resourceLogs: [
        {
          resource: { attributes: attrs({ 'service.name': `${TAG}-logs` }) },
          scopeLogs: [
            {
              logRecords: [
                { timeUnixNano: t.toString(), severityNumber: 17, severityText: 'ERROR', body: { stringValue: 'card declined' } },
                { timeUnixNano: (t + 1n).toString(), severityNumber: 9, severityText: 'INFO', body: { stringValue: 'retrying' } },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
}
export const OTLP_LOG_RECORDS = 2;

/** A Prometheus remote write 1.0 request, uncompressed: one series (up of one target), two samples. */
export function remoteWriteV1Body(): Buffer {
  const t = recent();
  return Buffer.from(
    prometheus.WriteRequest.encode({
      timeseries: [
        {
          labels: [
            { name: '__name__', value: `${TAG}_rw_up` },
            { name: 'instance', value: `${TAG}-host:9100` },
            { name: 'job', value: `${TAG}-node` },
          ],
          samples: [
            { value: 1, timestamp: t },
            { value: 1, timestamp: t + 15_000 },
          ],
        },
      ],
    }).finish(),
  );
}
export const REMOTE_WRITE_SAMPLES = 2;
export const REMOTE_WRITE_SERIES = 1;

/** A Falco alert as http_output sends it with json_output: true (Critical, in a pod). */
export function falcoAlert(): Record<string, unknown> {
  const time = new Date(recent()).toISOString().replace('Z', '123456Z');
  return {
    hostname: `${TAG}-node-1`,
    output: `${time.slice(11, 29)}: Critical Terminal shell in container (user=root)`,
    priority: 'Critical',
    rule: `${TAG} terminal shell`,
    source: 'syscall',
    tags: ['container', 'shell'],
    time,
    output_fields: { 'container.id': 'abcdef012345', 'k8s.ns.name': TAG, 'k8s.pod.name': `${TAG}-api-1`, 'proc.cmdline': 'bash', 'user.name': 'root' },
  };
}

/** A CloudTrail record as S3, EventBridge and LookupEvents carry it. */
export function cloudTrailRecord(eventId = `${TAG}-event-1`): Record<string, unknown> {
  return {
    eventVersion: '1.09',
    eventID: eventId,
    eventTime: new Date(recent()).toISOString().replace(/\.\d+Z$/, 'Z'),
    eventSource: 'ec2.amazonaws.com',
    eventName: 'AuthorizeSecurityGroupIngress',
    awsRegion: REGION,
    recipientAccountId: ACCOUNT,
    requestParameters: { groupId: 'sg-0lifecycle00001' },
    readOnly: false,
    userIdentity: { type: 'IAMUser', arn: `arn:aws:iam::${ACCOUNT}:user/${TAG}` },
  };
}

const VPC_ARN = `arn:aws:ec2:${REGION}:${ACCOUNT}:vpc/vpc-0lifecycle000001`;

/** A scan as POST /v1/resources takes it: one VPC, one part of a longer scan (no end marker: one record). */
export function scanBody(): Buffer {
  return Buffer.from(
    JSON.stringify({
      scan: {
        id: `${TAG}-scan-1`,
        provider: 'aws',
        account: ACCOUNT,
        region: REGION,
        completeness: 'complete',
        time: new Date(recent()).toISOString(),
        final: false,
      },
      resources: [{ id: VPC_ARN, type: 'ec2:vpc', name: `${TAG}-vpc`, attributes: { cidr_block: '10.9.0.0/16' } }],
    }),
  );
}

/** A Terraform v4 state with one managed VPC. */
export function terraformStateBody(): Buffer {
  return Buffer.from(
    JSON.stringify({
      version: 4,
      terraform_version: '1.9.8',
      serial: 7,
      lineage: `${TAG}-lineage`,
      outputs: {},
      resources: [
        {
          mode: 'managed',
          type: 'aws_vpc',
          name: 'main',
          provider: 'provider["registry.terraform.io/hashicorp/aws"]',
          instances: [{ schema_version: 1, attributes: { arn: VPC_ARN, id: 'vpc-0lifecycle000001', cidr_block: '10.8.0.0/16', owner_id: ACCOUNT } }],
        },
      ],
    }),
  );
}

// ---------------------------------------------------------------------------------------------
// Bus messages, one function per topic a component consumes.

const edgeCodec = avroCodec<EdgeFact>('edge');

function otlpSpans(): TopicSample {
  // What the OTLP receiver publishes for that request: one message per trace id.
  return { topic: 'otlp_spans', messages: tracesSignal.prepare(otlpTracesBody()).messages, items: OTLP_TRACES_SPANS };
}

function otlpMetrics(): TopicSample {
  return { topic: 'otlp_metrics', messages: metricsSignal.prepare(otlpMetricsBody()).messages, items: OTLP_METRICS_POINTS };
}

function otlpLogs(): TopicSample {
  return { topic: 'otlp_logs', messages: logsSignal.prepare(otlpLogsBody()).messages, items: OTLP_LOG_RECORDS };
}

function prometheusRemoteWrite(): TopicSample {
  // What the remote write receiver publishes: the request split by target, with the airdig.rw.proto header.
  const body = remoteWriteV1Body();
  const series: SeriesView[] = [];
  const walk = walkRemoteWrite(body, '1.0', false, (s) => series.push(s));
  const messages = splitByTarget(body, '1.0', series, walk, 1);
  for (const m of messages) if (m.headers?.[RW_PROTO_HEADER] !== PROTO_V1) throw new Error(`splitByTarget no longer sets ${RW_PROTO_HEADER}: ${PROTO_V1}`);
  return { topic: 'prometheus_remote_write', messages, items: walk.samples };
}

function falcoEvents(): TopicSample {
  const { events, errors } = parseFalcoBody(JSON.stringify(falcoAlert()));
  if (errors.length) throw new Error(`the Falco sample is not valid: ${errors.join('; ')}`);
  return { topic: 'falco_events', messages: events.map((e) => ({ key: e.row.resource_id || null, value: Buffer.from(e.json) })), items: events.length };
}

function cloudtrailEvents(): TopicSample {
  const { records, errors } = parseCloudTrailBody(Buffer.from(JSON.stringify({ Records: [cloudTrailRecord()] })));
  if (errors.length) throw new Error(`the CloudTrail sample is not valid: ${errors.join('; ')}`);
  return { topic: 'cloudtrail_events', messages: records.map((r) => cloudTrailMessage(r)), items: records.length };
}

function scannerResources(): TopicSample {
  const { records, errors } = parseScanBody(scanBody(), recent());
  if (errors.length) throw new Error(`the scan sample is not valid: ${errors.join('; ')}`);
  return {
    topic: 'scanner_resources',
    messages: records.map((r) => ({ key: r.scope, value: scannerCodec.encode(r), timestamp: r.seen_ms })),
    items: records.length,
  };
}

/**
 * A scan of one Deployment as `airdig scan k8s` makes it from kubectl's JSON, running `image`, without its end
 * marker (one record): two with different images are a deploy to the deploys processor.
 */
function workloadScan(image: string, at: number): TopicSample {
  const kubectl = {
    kind: 'Deployment',
    metadata: { name: `${TAG}-orders`, namespace: TAG, uid: `${TAG}-uid-orders` },
    spec: { replicas: 2, template: { spec: { containers: [{ name: 'app', image }] } } },
    status: { readyReplicas: 2 },
  };
  const { body } = scanK8sJson(JSON.stringify(kubectl), { cluster: TAG, now: at });
  const { records, errors } = parseScanBody(Buffer.from(JSON.stringify({ ...body, scan: { ...body.scan, final: false } })), at);
  if (errors.length) throw new Error(`the workload scan sample is not valid: ${errors.join('; ')}`);
  return {
    topic: 'scanner_resources',
    messages: records.map((r) => ({ key: r.scope, value: scannerCodec.encode(r), timestamp: r.seen_ms })),
    items: records.length,
  };
}

/** A change as POST /v1/changes takes it (AirDig's own JSON). */
export function changeApiBody(): string {
  return JSON.stringify({
    time: new Date(recent()).toISOString(),
    resources: [`service:${TAG}/${TAG}-web`],
    summary: `${TAG}-web 1.0.0 → 1.1.0`,
    kind: 'deploy',
    source: TAG,
    details: { 'service.version': { from: '1.0.0', to: '1.1.0' } },
  });
}

function terraformState(): TopicSample {
  const { records, errors } = parseTerraformState(terraformStateBody(), recent());
  if (errors.length) throw new Error(`the Terraform state sample is not valid: ${errors.join('; ')}`);
  // The resource record alone (its state_end follows in a real stream): one record.
  const resources = records.filter((r) => r.kind === 'resource');
  return {
    topic: 'terraform_state',
    messages: resources.map((r) => ({ key: r.lineage, value: terraformCodec.encode(r), timestamp: r.seen_ms })),
    items: resources.length,
  };
}

function changes(): TopicSample {
  const e = changeEvent(cloudTrailRecord(`${TAG}-change-1`));
  return { topic: 'airdig.changes', messages: [{ key: e.resource_ids[0] ?? e.event_id, value: changeCodec.encode(e), timestamp: e.ts_ms }], items: 1 };
}

function edges(): TopicSample {
  const e: EdgeFact = {
    id: `${TAG}-edge-1`,
    ts_ms: recent(),
    trace_id: `${TAG}-trace-1`,
    ...edgeSides(`${TAG}-web`, 'shop', `${TAG}-api`, 'shop'),
    connection_type: '',
    failed: false,
    latency_ms: 14,
    client_latency_ms: 20,
  };
  return { topic: 'airdig.edges', messages: [{ key: edgeKey(e), value: edgeCodec.encode(e), timestamp: e.ts_ms }], items: 1 };
}

function health(): TopicSample {
  const f: HealthFact = {
    id: `${TAG}-fact-1`,
    ts_ms: recent(),
    resource_id: `target:${TAG}-node/${TAG}-host:9100`,
    status: 'critical',
    state: 'firing',
    rule: `${TAG} target down`,
    reason: 'up == 0',
    metric: 'up',
    value: 0,
    threshold: 1,
    labels: { job: `${TAG}-node` },
  };
  return { topic: 'airdig.health', messages: [{ key: f.resource_id, value: healthCodec.encode(f), timestamp: f.ts_ms }], items: 1 };
}

function topologyRecord(kind: 'node' | 'edge'): TopologyRecord {
  const base = { provider: 'aws', account: ACCOUNT, region: REGION, attributes: {}, seen_ms: recent(), source: TAG, gone: false };
  return kind === 'node'
    ? { ...base, kind, id: VPC_ARN, dst: '', type: 'ec2:vpc', name: `${TAG}-vpc` }
    : { ...base, kind, id: `service:${TAG}/${TAG}-web`, dst: VPC_ARN, type: 'runs_on', name: '' };
}

function topology(kind: 'node' | 'edge'): TopicSample {
  const r = topologyRecord(kind);
  return { topic: 'airdig.topology', messages: [{ key: topologyKey(r), value: topologyCodec.encode(r), timestamp: r.seen_ms }], items: 1 };
}

function drift(): TopicSample {
  const t = recent();
  const d: DriftEvent = {
    id: `${TAG}-drift-1`,
    ts_ms: t,
    resource_id: VPC_ARN,
    resource_type: 'aws_vpc',
    address: 'aws_vpc.main',
    drift: 'modified',
    attribute: 'cidr_block',
    expected: '10.8.0.0/16',
    actual: '10.9.0.0/16',
    lineage: `${TAG}-lineage`,
    serial: 7,
    scan_id: `${TAG}-scan-1`,
    cause_event_id: '',
    cause_ts_ms: 0,
    cause_actor: '',
    cause_event_name: '',
  };
  return { topic: 'airdig.drift', messages: [{ key: d.resource_id, value: driftCodec.encode(d), timestamp: d.ts_ms }], items: 1 };
}

/** A change on the resource of the health sample, a minute before its onset: the engine's one correlation. */
function changeBeforeHealth(): TopicSample {
  const e = { ...changeEvent(cloudTrailRecord(`${TAG}-change-engine`)), ts_ms: recent() - 60_000, resource_ids: [`target:${TAG}-node/${TAG}-host:9100`] };
  return { topic: 'airdig.changes', messages: [{ key: e.resource_ids[0], value: changeCodec.encode(e), timestamp: e.ts_ms }], items: 1 };
}

function correlation(): TopicSample {
  const c: Correlation = {
    id: `${TAG}-correlation-1`,
    ts_ms: recent(),
    cause_id: `${TAG}-change-1`,
    cause_kind: 'cloudtrail',
    cause_ts_ms: recent() - 60_000,
    cause_resource_id: `target:${TAG}-node/${TAG}-host:9100`,
    impacted_resource_id: `target:${TAG}-node/${TAG}-host:9100`,
    signal: 'target_down',
    signal_id: `${TAG}-fact-1`,
    score: 0.9,
    window_s: 1800,
    incident_id: `${TAG}-incident-1`,
    rank: 1,
    path: [`target:${TAG}-node/${TAG}-host:9100`],
    evidence: '{}',
    revision_ms: Date.now(),
  };
  return { topic: 'airdig.correlations', messages: [{ key: c.impacted_resource_id, value: correlationCodec.encode(c), timestamp: c.ts_ms }], items: 1 };
}

function incident(): TopicSample {
  const i: Incident = {
    id: `${TAG}-incident-1`,
    opened_ms: recent(),
    resolved_ms: 0,
    status: 'open',
    merged_into: '',
    impacted: [`target:${TAG}-node/${TAG}-host:9100`],
    signals: [`${TAG}-fact-1`],
    causes: [{ cause_id: `${TAG}-change-1`, cause_kind: 'cloudtrail', resource_id: 'r', probability: 1, score: 0.9, explanation: 'x' }],
    revision_ms: Date.now(),
  };
  return { topic: 'airdig.incidents', messages: [{ key: i.id, value: incidentCodec.encode(i), timestamp: i.opened_ms }], items: 1 };
}

async function deadLetter(): Promise<TopicSample> {
  // What a component sends when it cannot take a record: sendToDlq, captured.
  const source: BusRecord = {
    topic: 'otlp_spans',
    partition: 0,
    offset: 41,
    key: Buffer.from(`${TAG}-key`),
    value: Buffer.from([0xff, 0x00, 0x12]),
    headers: {},
    timestamp: recent(),
  };
  const messages: OutMessage[] = [];
  await sendToDlq({ send: async (_topic, m) => void messages.push(...m) }, source, new MalformedInputError('truncated protobuf'), TAG);
  return { topic: 'airdig.dlq', messages, items: 1 };
}

/** One sample per topic that a component of the registry consumes (the registry test checks none is missing). */
export const TOPIC_SAMPLES: Record<string, () => TopicSample | Promise<TopicSample>> = {
  otlp_spans: otlpSpans,
  otlp_metrics: otlpMetrics,
  otlp_logs: otlpLogs,
  prometheus_remote_write: prometheusRemoteWrite,
  falco_events: falcoEvents,
  cloudtrail_events: cloudtrailEvents,
  scanner_resources: scannerResources,
  terraform_state: terraformState,
  'airdig.changes': changes,
  'airdig.edges': edges,
  'airdig.health': health,
  'airdig.topology': () => topology('node'),
  'airdig.drift': drift,
  'airdig.correlations': correlation,
  'airdig.incidents': incident,
  'airdig.dlq': deadLetter,
};

// ---------------------------------------------------------------------------------------------
// What each component of the registry is fed and must count.

export interface SampleContext {
  component: Component;
  /** The bus the component runs on (not the one that tracks its consumers). */
  bus: Bus;
  store: Store;
}

/** Rows a sink must have written: `SELECT count() FROM table WHERE where` equals rows. */
export interface Landed {
  table: string;
  where: string;
  rows: number;
}

export interface ComponentSample {
  /** What it is fed, in a few words. */
  fed: string;
  /**
   * Only where the default config cannot be fed (a poller without a source): something the sample
   * runs beside the component, and the config that points the component at it.
   */
  setup?: () => Promise<{ config: unknown; close(): Promise<void> }>;
  feed(ctx: SampleContext): Promise<void>;
  /** airdig_component_received_total once fed: 1 per record or request, or the items (spans, samples, rows) the component counts. */
  received: number;
  /** Sinks: the rows that landed. */
  landed?: Landed[];
  /** Receivers: false for one that listens on nothing (a poller). */
  listens?: false;
  /** Processors: messages on their output topic. */
  emits?: { topic: string; messages: number };
}

/** Fed by messages on its input topics: each source's sample on its own topic. */
function onBus(
  fed: string,
  sources: (keyof typeof TOPIC_SAMPLES | (() => TopicSample | Promise<TopicSample>))[],
  received: number,
  rest: Pick<ComponentSample, 'landed' | 'emits'> = {},
): ComponentSample {
  return {
    fed,
    received,
    async feed({ bus }) {
      for (const source of sources) {
        const s = await (typeof source === 'function' ? source : TOPIC_SAMPLES[source]!)();
        await bus.producer().send(s.topic, s.messages);
      }
    },
    ...rest,
  };
}

/** The URL a receiver lists under name. */
function urlOf(component: Component, name: string): string {
  const url = component.listening?.().find((l) => l.name === name)?.url;
  if (!url) throw new Error(`the receiver lists no "${name}" address (it lists ${JSON.stringify(component.listening?.() ?? [])})`);
  return url;
}

async function post(url: string, init: RequestInit, status: number): Promise<void> {
  const res = await fetch(url, { method: 'POST', ...init });
  const text = await res.text();
  if (res.status !== status) throw new Error(`POST ${url}: ${res.status} ${text}; expected ${status}`);
}

/**
 * LookupEvents as the AWS SDK speaks it (JSON 1.1, X-Amz-Target CloudTrail_20131101.LookupEvents),
 * answering with the given records between StartTime and EndTime. Stands in for moto, which does
 * not implement LookupEvents (see EMULATOR_EXCEPTIONS).
 */
export async function lookupEventsStub(records: Record<string, unknown>[]): Promise<{ url: string; calls: () => number; close(): Promise<void> }> {
  let calls = 0;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      calls++;
      if (!/CloudTrail_20131101\.LookupEvents$/.test(String(req.headers['x-amz-target']))) {
        res
          .writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' })
          .end(JSON.stringify({ __type: 'UnknownOperationException', message: String(req.headers['x-amz-target']) }));
        return;
      }
      const q = JSON.parse(body) as { StartTime: number; EndTime: number };
      const hits = records.filter((r) => {
        const t = Date.parse(r.eventTime as string) / 1000;
        return t >= q.StartTime && t <= q.EndTime;
      });
      res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' }).end(
        JSON.stringify({
          Events: hits.map((r) => ({
            EventId: r.eventID,
            EventName: r.eventName,
            EventTime: Date.parse(r.eventTime as string) / 1000,
            EventSource: r.eventSource,
            CloudTrailEvent: JSON.stringify(r),
          })),
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    calls: () => calls,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** Puts an environment variable back as it was (unset when it was). */
export function restoreEnv(name: string, value: string | undefined): void {
  if (value === undefined) delete process.env[name];
  else process.env[name] = value;
}

/**
 * Components fed by something other than the AWS emulator (moto, tests/helpers/moto.ts), and why.
 * The registry test asserts this list by name and checks the reason still holds.
 */
export const EMULATOR_EXCEPTIONS: Record<string, string> = {
  cloudtrail_lookup:
    'moto (scripts/moto.sh, 5.2.5) does not implement CloudTrail LookupEvents: it answers 500 "The lookup_events action has not been implemented"; the poller is fed by lookupEventsStub, which speaks the same JSON 1.1 protocol to the real AWS SDK client',
};

export const COMPONENT_SAMPLES: Record<ComponentKind, Record<string, ComponentSample>> = {
  receiver: {
    otlp: {
      fed: 'one OTLP/HTTP protobuf trace export (2 spans) to /v1/traces',
      received: OTLP_TRACES_SPANS, // counts spans
      async feed({ component }) {
        await post(urlOf(component, 'otlp http'), { headers: { 'Content-Type': 'application/x-protobuf' }, body: otlpTracesBody() }, 200);
      },
    },
    remote_write: {
      fed: 'one remote write 1.0 request (snappy, 1 series, 2 samples) to /api/v1/write',
      received: REMOTE_WRITE_SAMPLES, // counts samples
      async feed({ component }) {
        await post(
          urlOf(component, 'remote write'),
          {
            headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' },
            body: compressSync(remoteWriteV1Body()),
          },
          204,
        );
      },
    },
    falco: {
      fed: 'one Falco alert (json_output) POSTed to /v1/falco',
      received: 1, // counts alerts
      async feed({ component }) {
        await post(urlOf(component, 'falco'), { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(falcoAlert()) }, 200);
      },
    },
    cloudtrail: {
      fed: 'a CloudTrail log file with one record POSTed to /v1/cloudtrail',
      received: 1, // counts records
      async feed({ component }) {
        await post(
          urlOf(component, 'cloudtrail'),
          { headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ Records: [cloudTrailRecord()] }) },
          200,
        );
      },
    },
    resources: {
      fed: 'a scan of one VPC POSTed to /v1/resources',
      received: 1, // counts resources
      async feed({ component }) {
        await post(urlOf(component, 'resources'), { headers: { 'Content-Type': 'application/json' }, body: scanBody() }, 200);
      },
    },
    terraform_state: {
      fed: 'a Terraform state with one managed VPC POSTed to /v1/terraform-state',
      received: 1, // counts resources
      async feed({ component }) {
        await post(urlOf(component, 'terraform'), { headers: { 'Content-Type': 'application/json' }, body: terraformStateBody() }, 200);
      },
    },
    changes_api: {
      fed: 'one change (AirDig JSON) POSTed to /v1/changes',
      received: 1, // counts changes
      async feed({ component }) {
        await post(urlOf(component, 'changes'), { headers: { 'Content-Type': 'application/json' }, body: changeApiBody() }, 200);
      },
    },
    cloudtrail_lookup: (() => {
      let stub: Awaited<ReturnType<typeof lookupEventsStub>> | undefined;
      return {
        fed: 'one CloudTrail record answered by LookupEvents (lookupEventsStub: moto has no LookupEvents)',
        listens: false,
        received: 1, // counts records
        async setup() {
          stub = await lookupEventsStub([cloudTrailRecord(`${TAG}-lookup-1`)]);
          const env = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
          process.env.AWS_ACCESS_KEY_ID = 'testing'; // the emulator's; never whatever the environment holds
          process.env.AWS_SECRET_ACCESS_KEY = 'testing';
          const s = stub;
          return {
            config: { sources: [{ region: REGION, account: ACCOUNT, endpoint: s.url }], interval_ms: 60_000 },
            async close() {
              await s.close();
              restoreEnv('AWS_ACCESS_KEY_ID', env.id);
              restoreEnv('AWS_SECRET_ACCESS_KEY', env.secret);
            },
          };
        },
        // The poller asks on its own once started; feeding is answering it.
        async feed() {
          if (!stub) throw new Error('cloudtrail_lookup sample: setup() was not run');
        },
      };
    })(),
  },
  processor: {
    // "records": bus messages; the OTLP request of otlp_spans is one message (one trace id).
    servicegraph: onBus('otlp_spans: a client span and the server span it called', ['otlp_spans'], OTLP_TRACES_SPANS), // counts spans
    placement: onBus('otlp_spans: 2 resources, one on an EC2 instance', ['otlp_spans'], OTLP_TRACES_RESOURCES, {
      emits: { topic: 'airdig.topology', messages: 3 },
    }), // counts resources; emits the service, the instance and runs_on
    health: onBus(
      'one message on each input: remote write (2 samples), OTLP metrics (2 points), a Critical Falco alert',
      ['prometheus_remote_write', 'otlp_metrics', 'falco_events'],
      REMOTE_WRITE_SAMPLES + OTLP_METRICS_POINTS + 1,
      { emits: { topic: 'airdig.health', messages: 1 } },
    ), // counts samples and events
    edge_signals: onBus('airdig.edges: one edge (its minute stays open: nothing to judge yet)', ['airdig.edges'], 1), // counts edges
    changes: onBus('cloudtrail_events: one CloudTrail record', ['cloudtrail_events'], 1, { emits: { topic: 'airdig.changes', messages: 1 } }), // counts records
    topology: onBus('scanner_resources: one scanned VPC (no end marker)', ['scanner_resources'], 1, { emits: { topic: 'airdig.topology', messages: 1 } }), // counts records
    // The spans name no service.version (no deploy); the Deployment scanned twice with another image is one.
    deploys: onBus(
      'otlp_spans (one trace) and two scans of a Deployment with different images',
      ['otlp_spans', () => workloadScan('ghcr.io/acme/orders:1.0.0', recent() - 1_000), () => workloadScan('ghcr.io/acme/orders:1.1.0', recent())],
      3,
      { emits: { topic: 'airdig.changes', messages: 1 } },
    ), // counts records
    drift: onBus('one record on each input: a Terraform resource, a scanned resource, a change', ['terraform_state', 'scanner_resources', 'airdig.changes'], 3), // counts records
    engine: onBus('a firing health fact and a change on its resource a minute before', ['airdig.health', changeBeforeHealth], 2, {
      emits: { topic: 'airdig.correlations', messages: 1 },
    }), // counts records
  },
  sink: {
    // A TableSink counts rows, in every table it writes: one per record here, except where said.
    dead_letters: onBus('airdig.dlq: one record as sendToDlq sends it', ['airdig.dlq'], 1, {
      landed: [{ table: 'dead_letters', where: `component = '${TAG}'`, rows: 1 }],
    }),
    otel_traces: onBus('otlp_spans: 2 spans', ['otlp_spans'], OTLP_TRACES_SPANS, {
      landed: [{ table: 'otel_traces', where: `startsWith(ServiceName, '${TAG}-')`, rows: OTLP_TRACES_SPANS }],
    }),
    otel_logs: onBus('otlp_logs: 2 log records', ['otlp_logs'], OTLP_LOG_RECORDS, {
      landed: [{ table: 'otel_logs', where: `ServiceName = '${TAG}-logs'`, rows: OTLP_LOG_RECORDS }],
    }),
    service_edges: onBus('airdig.edges: one edge', ['airdig.edges'], 1, { landed: [{ table: 'edge_facts', where: `trace_id = '${TAG}-trace-1'`, rows: 1 }] }),
    graph_nodes: onBus('airdig.topology: one node', [() => topology('node')], 1, {
      landed: [{ table: 'graph_node_versions', where: `source = '${TAG}'`, rows: 1 }],
    }),
    // airdig.topology carries nodes and edges; graph_edges writes (and counts) the edges.
    graph_edges: onBus('airdig.topology: one edge', [() => topology('edge')], 1, {
      landed: [{ table: 'graph_edge_versions', where: `source = '${TAG}'`, rows: 1 }],
    }),
    resource_aliases: onBus("airdig.topology: one VPC node (its ARN's short id is its one alias)", [() => topology('node')], 1, {
      landed: [{ table: 'resource_alias_log', where: `source = '${TAG}' AND alias = 'vpc-0lifecycle000001'`, rows: 1 }],
    }),
    // The prom_* sinks count the samples (and histograms) they received, not the prom_series rows written beside them.
    prometheus_samples: onBus('prometheus_remote_write: 1 series, 2 samples', ['prometheus_remote_write'], REMOTE_WRITE_SAMPLES, {
      landed: [
        { table: 'prom_samples', where: `metric_name = '${TAG}_rw_up'`, rows: REMOTE_WRITE_SAMPLES },
        { table: 'prom_series', where: `metric_name = '${TAG}_rw_up'`, rows: REMOTE_WRITE_SERIES },
      ],
    }),
    otlp_metrics: onBus('otlp_metrics: a gauge and a sum, one point each', ['otlp_metrics'], OTLP_METRICS_POINTS, {
      landed: [
        { table: 'prom_samples', where: `startsWith(metric_name, '${TAG}_otlp_')`, rows: OTLP_METRICS_POINTS },
        { table: 'prom_series', where: `startsWith(metric_name, '${TAG}_otlp_')`, rows: OTLP_METRICS_SERIES },
      ],
    }),
    health_facts: onBus('airdig.health: one fact', ['airdig.health'], 1, { landed: [{ table: 'health_facts', where: `id = '${TAG}-fact-1'`, rows: 1 }] }),
    runtime_events: onBus('falco_events: one Falco alert', ['falco_events'], 1, {
      landed: [{ table: 'runtime_events', where: `hostname = '${TAG}-node-1'`, rows: 1 }],
    }),
    change_events: onBus('airdig.changes: one change', ['airdig.changes'], 1, {
      landed: [{ table: 'change_event_log', where: `event_id = '${TAG}-change-1'`, rows: 1 }],
    }),
    drift_events: onBus('airdig.drift: one drift', ['airdig.drift'], 1, { landed: [{ table: 'drift_event_log', where: `id = '${TAG}-drift-1'`, rows: 1 }] }),
    correlations: onBus('airdig.correlations: one correlation', ['airdig.correlations'], 1, {
      landed: [{ table: 'correlation_log', where: `id = '${TAG}-correlation-1'`, rows: 1 }],
    }),
    incidents: onBus('airdig.incidents: one incident', ['airdig.incidents'], 1, {
      landed: [{ table: 'incident_log', where: `id = '${TAG}-incident-1'`, rows: 1 }],
    }),
    // With no webhook configured (the default) it reads and counts its records and posts nothing.
    notifications: onBus(
      'one record on each input: an incident, a correlation, a drift, a health fact',
      ['airdig.incidents', 'airdig.correlations', 'airdig.drift', 'airdig.health'],
      4,
    ), // counts records
    api: onBus('airdig.health: one fact (pushed to subscribers)', ['airdig.health'], 1),
  },
};

/** The trace id of span i of request `batch` in numberedSpans(): unique per (batch, i). */
export function numberedTraceId(batch: number, i: number): string {
  return `${batch.toString(16).padStart(16, '0')}${i.toString(16).padStart(16, '0')}`;
}

/**
 * OTLP/JSON with n server spans of `service`, each its own trace (numberedTraceId), for crash
 * tests that count what was acknowledged. From batch 1: an all-zero trace id is invalid.
 */
export function numberedSpans(service: string, batch: number, n: number): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const list = Array.from({ length: n }, (_, i) => ({
    traceId: numberedTraceId(batch, i),
    spanId: `${batch.toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}`,
    name: 'op',
    kind: 2,
    startTimeUnixNano: String(now),
    endTimeUnixNano: String(now + 1_000_000n),
  }));
  return JSON.stringify({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] }, scopeSpans: [{ spans: list }] }],
  });
}
