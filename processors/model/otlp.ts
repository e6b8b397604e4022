/*
 * The OTLP topics (otlp_spans, otlp_metrics, otlp_logs: one Export*ServiceRequest per record, as
 * the receiver took it, split by trace id or resource), the generated OTLP classes (protos/gen,
 * built by `npm run build:protos`) under short names, and how OTLP values read as text.
 */
import { opentelemetry } from '../../protos/gen/otlp.js';

export const ExportTraceServiceRequest = opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest;
export const ExportTraceServiceResponse = opentelemetry.proto.collector.trace.v1.ExportTraceServiceResponse;
export const SpanKind = opentelemetry.proto.trace.v1.Span.SpanKind;
export const StatusCode = opentelemetry.proto.trace.v1.Status.StatusCode;
export type IExportTraceServiceRequest = opentelemetry.proto.collector.trace.v1.IExportTraceServiceRequest;
export type ISpan = opentelemetry.proto.trace.v1.ISpan;
export type IKeyValue = opentelemetry.proto.common.v1.IKeyValue;
export type IAnyValue = opentelemetry.proto.common.v1.IAnyValue;
export const Resource = opentelemetry.proto.resource.v1.Resource;
export const ExportMetricsServiceRequest = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceRequest;
export const ExportMetricsServiceResponse = opentelemetry.proto.collector.metrics.v1.ExportMetricsServiceResponse;
export const ExportLogsServiceRequest = opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest;
export const ExportLogsServiceResponse = opentelemetry.proto.collector.logs.v1.ExportLogsServiceResponse;

/*
 * Field numbers of the OTLP messages AirDig walks on the wire (opentelemetry-proto trace/v1,
 * resource/v1, common/v1), for the readers that do not build message objects.
 */
/** TracesData and ExportTraceServiceRequest. */
export const enum TracesDataField {
  ResourceSpans = 1,
}
export const enum ResourceSpansField {
  Resource = 1,
  ScopeSpans = 2,
  SchemaUrl = 3,
}
export const enum ScopeSpansField {
  Scope = 1,
  Spans = 2,
  SchemaUrl = 3,
}
export const enum SpanField {
  TraceId = 1,
  SpanId = 2,
  TraceState = 3,
  ParentSpanId = 4,
  Name = 5,
  Kind = 6,
  StartTimeUnixNano = 7,
  EndTimeUnixNano = 8,
  Attributes = 9,
  DroppedAttributesCount = 10,
  Events = 11,
  DroppedEventsCount = 12,
  Links = 13,
  DroppedLinksCount = 14,
  Status = 15,
  Flags = 16,
}
export const enum SpanStatusField {
  Message = 2,
  Code = 3,
}
export const enum ResourceField {
  Attributes = 1,
  DroppedAttributesCount = 2,
}
export const enum KeyValueField {
  Key = 1,
  Value = 2,
}
export const enum AnyValueField {
  StringValue = 1,
  BoolValue = 2,
  IntValue = 3,
  DoubleValue = 4,
  ArrayValue = 5,
  KvlistValue = 6,
  BytesValue = 7,
}
/** Metrics and logs alike: Export*ServiceRequest.resource_metrics / resource_logs = 1, ResourceX.resource = 1 and scope_x = 2, ScopeX.metrics / log_records = 2. */
export const enum ExportRequestField {
  Resources = 1,
}
export const enum ResourceItemsField {
  Resource = 1,
  Scopes = 2,
}
export const enum ScopeItemsField {
  Items = 2,
}
/** Metric: the data kinds, each holding data_points = 1. */
export const enum MetricField {
  Gauge = 5,
  Sum = 7,
  Histogram = 9,
  ExponentialHistogram = 10,
  Summary = 11,
}
export const METRIC_DATA_POINTS = 1;
/** Status.code STATUS_CODE_ERROR. */
export const STATUS_CODE_ERROR = 2;

export const SPANS_TOPIC = 'otlp_spans';
export const METRICS_TOPIC = 'otlp_metrics';
export const LOGS_TOPIC = 'otlp_logs';

/** A decoded fixed64/int64 (protobufjs Long, number or string) as a bigint, read as unsigned. */
export function toBigInt(v: unknown): bigint {
  if (v === null || v === undefined) return 0n;
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number') return BigInt(Math.trunc(v));
  if (typeof v === 'string') return BigInt(v);
  const l = v as { low: number; high: number };
  return (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0);
}

/** Unix nanoseconds as an ISO 8601 UTC timestamp with all nine fraction digits. */
export function nanosToIso(nanos: bigint): string {
  const seconds = nanos / 1_000_000_000n;
  const fraction = (nanos % 1_000_000_000n).toString().padStart(9, '0');
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** An attribute value as text, as the Collector's clickhouseexporter stores it in Map(String, String). */
export function anyValueToString(v: IAnyValue | null | undefined): string {
  if (!v) return '';
  if (v.stringValue !== undefined && v.stringValue !== null) return v.stringValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue ? 'true' : 'false';
  if (v.intValue !== undefined && v.intValue !== null) return toSignedString(v.intValue);
  if (v.doubleValue !== undefined && v.doubleValue !== null) return String(v.doubleValue);
  if (v.bytesValue) return Buffer.from(v.bytesValue).toString('base64');
  if (v.arrayValue || v.kvlistValue) return JSON.stringify(anyValueToJson(v));
  return '';
}

function toSignedString(v: unknown): string {
  if (typeof v === 'number' || typeof v === 'string') return String(v);
  return BigInt.asIntN(64, toBigInt(v)).toString();
}

function anyValueToJson(v: IAnyValue | null | undefined): unknown {
  if (!v) return null;
  if (v.arrayValue) return (v.arrayValue.values ?? []).map(anyValueToJson);
  if (v.kvlistValue) return Object.fromEntries((v.kvlistValue.values ?? []).map((kv) => [kv.key ?? '', anyValueToJson(kv.value)]));
  if (v.intValue !== undefined && v.intValue !== null) return Number(toSignedString(v.intValue));
  if (v.doubleValue !== undefined && v.doubleValue !== null) return v.doubleValue;
  if (v.boolValue !== undefined && v.boolValue !== null) return v.boolValue;
  return anyValueToString(v);
}

export function attributesToMap(attrs: IKeyValue[] | null | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (attrs) for (const kv of attrs) out[kv.key ?? ''] = anyValueToString(kv.value);
  return out;
}

export function hex(b: Uint8Array | null | undefined): string {
  return b && b.length ? Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex') : '';
}
