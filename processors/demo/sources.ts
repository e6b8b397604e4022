/*
 * Bodies as AirDig's sources send them to its intakes over HTTP: a scan as `airdig scan aws` writes
 * it (POST /v1/resources), a Terraform state (POST /v1/terraform-state), a CloudTrail log file as
 * AWS delivers it (POST /v1/cloudtrail), OTLP spans (POST /v1/traces) and Prometheus remote-write
 * requests. The demo's story and the engine's scenario suite build what they send with these, so
 * both reach the components the way real sources do.
 */
import { compressSync } from 'snappy';
import { prometheus } from '../../protos/gen/prometheus.js';
import { ExportTraceServiceRequest } from '../model/otlp.js';

export const JSON_HEADERS = { 'Content-Type': 'application/json' };
export const PROTOBUF_HEADERS = { 'Content-Type': 'application/x-protobuf' };
export const REMOTE_WRITE_HEADERS = { ...PROTOBUF_HEADERS, 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' };

// ---------------------------------------------------------------------------------------------
// Scans and Terraform state.

/** A resource of a scan body (the scanner's ScanResource; ids may be short, the topology processor makes ARNs). */
export interface ScanItem {
  id: string;
  type: string;
  name?: string;
  aliases?: string[];
  relationships?: { type: string; target: string }[];
  attributes?: Record<string, unknown>;
  tags?: Record<string, string>;
}

/** An EC2 instance in short form: what the estates write. */
export interface InstanceShape {
  instance: string;
  ip: string;
  name: string;
  groups: string[];
  subnet: string;
  instance_type?: string;
}

/** An instance's private DNS name, as EC2 gives it. */
export const privateDns = (ip: string, region: string) => `ip-${ip.replaceAll('.', '-')}.${region}.compute.internal`;

/** An instance as the AWS scanner writes one (processors/scanners/aws.ts): its id, private IP and DNS name as aliases, its subnet and groups. */
export function scannedInstance(i: InstanceShape, region: string, attributes: Record<string, unknown> = {}): ScanItem {
  return {
    id: i.instance,
    type: 'ec2:instance',
    name: i.name,
    aliases: [i.instance, i.ip, privateDns(i.ip, region)],
    relationships: [i.subnet, ...i.groups].map((t) => ({ type: 'member_of', target: t })),
    attributes: { instance_type: i.instance_type ?? 't3.large', private_ip: i.ip, subnet_id: i.subnet, instance_state: 'running', ...attributes },
  };
}

/** A complete scan of one account and region at `timeMs` (the body of POST /v1/resources). */
export function scanBody(scan: { id: string; account: string; region: string; timeMs: number }, resources: ScanItem[]): string {
  return JSON.stringify({
    scan: {
      id: scan.id,
      provider: 'aws',
      account: scan.account,
      region: scan.region,
      completeness: 'complete',
      types: [...new Set(resources.map((r) => r.type))],
      time: new Date(scan.timeMs).toISOString(),
    },
    resources,
  });
}

/** A Terraform resource of a state (format v4): one managed instance of `type`. */
export interface TerraformResource {
  type: string;
  name: string;
  attributes: Record<string, unknown>;
}

/** A Terraform state file (format v4), as `terraform state pull` prints it. */
export function terraformState(lineage: string, serial: number, resources: TerraformResource[]): string {
  return JSON.stringify({
    version: 4,
    terraform_version: '1.9.5',
    serial,
    lineage,
    outputs: {},
    resources: resources.map((r) => ({
      mode: 'managed',
      type: r.type,
      name: r.name,
      provider: 'provider["registry.terraform.io/hashicorp/aws"]',
      instances: [{ schema_version: 1, attributes: r.attributes }],
    })),
  });
}

// ---------------------------------------------------------------------------------------------
// CloudTrail.

/** One API call as CloudTrail records it. */
export interface CloudTrailCall {
  id: string;
  timeMs: number;
  /** The service: ec2, rds, lambda… */
  source: string;
  event: string;
  actor: string;
  request: Record<string, unknown>;
  response?: Record<string, unknown> | null;
  error?: { code: string; message: string };
  readOnly?: boolean;
}

/** A CloudTrail log file ({"Records": [...]}) of IAM users' calls in one account and region. */
export function cloudTrailFile(calls: CloudTrailCall[], account: string, region: string): string {
  return JSON.stringify({
    Records: calls.map((c) => ({
      eventVersion: '1.09',
      eventID: c.id,
      // CloudTrail writes whole seconds.
      eventTime: new Date(c.timeMs).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      eventSource: `${c.source}.amazonaws.com`,
      eventName: c.event,
      awsRegion: region,
      recipientAccountId: account,
      sourceIPAddress: '203.0.113.7',
      userAgent: 'aws-cli/2.15.0',
      userIdentity: { type: 'IAMUser', arn: `arn:aws:iam::${account}:user/${c.actor}`, accountId: account, userName: c.actor },
      requestParameters: c.request,
      responseElements: c.response ?? null,
      ...(c.error ? { errorCode: c.error.code, errorMessage: c.error.message } : {}),
      ...(c.readOnly !== undefined ? { readOnly: c.readOnly } : {}),
    })),
  });
}

// ---------------------------------------------------------------------------------------------
// OTLP traces.

/** OTLP attributes of string values. */
export const otlpAttributes = (o: Record<string, string>) => Object.entries(o).map(([key, v]) => ({ key, value: { stringValue: v } }));

/** Milliseconds as OTLP's unix nanoseconds (a decimal string: the value passes 2^53). */
export const unixNanos = (ms: number) => (BigInt(Math.round(ms)) * 1_000_000n).toString();

/**
 * Trace and span ids from a counter: unique within one sender, the same on every run. A hex
 * `prefix` (a few digits) sets one sender's ids apart from another's: two runs into one store.
 */
export function idSequence(prefix = ''): (bytes: number) => Buffer {
  let n = 0;
  return (bytes) => Buffer.from(prefix + (++n).toString(16).padStart(bytes * 2 - prefix.length, '0'), 'hex');
}

/** Where a service's spans come from: its name and namespace, on an EC2 instance (host.id) of an account and region. */
export interface SpanOrigin {
  service: string;
  namespace: string;
  host: string;
  account: string;
  region: string;
}

/** The OTLP resource of a service on an EC2 instance, as the SDK's AWS detectors describe it. */
export function serviceResource(o: SpanOrigin): { attributes: ReturnType<typeof otlpAttributes> } {
  return {
    attributes: otlpAttributes({
      'service.name': o.service,
      'service.namespace': o.namespace,
      'cloud.provider': 'aws',
      'cloud.region': o.region,
      'cloud.account.id': o.account,
      'host.id': o.host,
    }),
  };
}

/** An ExportTraceServiceRequest of resourceSpans (OTLP's JSON-like object form), encoded. */
export function tracesRequest(resourceSpans: object[]): Uint8Array {
  return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject({ resourceSpans })).finish();
}

// ---------------------------------------------------------------------------------------------
// Prometheus remote write.

/** A series: its labels (with __name__) and [timestamp ms, value] samples. */
export interface Series {
  labels: Record<string, string>;
  samples: [number, number][];
}

/** A remote-write 1.0 request (snappy-compressed WriteRequest), labels sorted as Prometheus sends them. */
export function remoteWriteBody(series: Series[]): Buffer {
  return compressSync(
    Buffer.from(
      prometheus.WriteRequest.encode({
        timeseries: series.map((s) => ({
          labels: Object.entries(s.labels)
            .sort(([a], [b]) => (a < b ? -1 : 1))
            .map(([name, value]) => ({ name, value })),
          samples: s.samples.map(([timestamp, value]) => ({ timestamp, value })),
        })),
      }).finish(),
    ),
  );
}
