import type { OutMessage } from '../runtime/bus/types.js';
import { murmur2 } from '../runtime/bus/partitioner.js';
import {
  ExportLogsServiceRequest,
  ExportLogsServiceResponse,
  ExportMetricsServiceRequest,
  ExportMetricsServiceResponse,
  ExportTraceServiceRequest,
  ExportTraceServiceResponse,
  ExportRequestField,
  METRIC_DATA_POINTS,
  MetricField,
  ResourceItemsField,
  ScopeItemsField,
} from '../model/otlp.js';
import { otlpJsonToProtobuf } from './json.js';
import { splitTracesByTraceId } from './wire.js';
import { encodePieces, forEachField, Wire } from '../wire/protobuf.js';
import type { OtlpConfig } from './config.js';

/** What the gateway makes of one export request: messages for the bus and what it left out. */
export interface Prepared {
  messages: OutMessage[];
  /** Spans, data points or log records in the request. */
  items: number;
  rejected: number;
  rejectReason: string | undefined;
}

interface ResponseType {
  fromObject(o: Record<string, unknown>): unknown;
  toObject(m: never, o?: object): Record<string, unknown>;
  encode(m: never): { finish(): Uint8Array };
}

/** One OTLP signal: its paths, its topic, how a request is split and counted, how it is answered. */
export interface Signal {
  name: 'traces' | 'metrics' | 'logs';
  httpPath: string;
  grpcPath: string;
  topic(config: OtlpConfig): string;
  prepare(protobuf: Uint8Array): Prepared;
  fromJson(text: string): Uint8Array;
  response(prepared: Prepared, kind: 'json' | 'protobuf'): string | Uint8Array;
}

function respond(type: ResponseType, rejectedField: string, what: string) {
  return (prepared: Prepared, kind: 'json' | 'protobuf'): string | Uint8Array => {
    const body = prepared.rejected
      ? { partialSuccess: { [rejectedField]: prepared.rejected, errorMessage: `${prepared.rejected} ${what} rejected: ${prepared.rejectReason}` } }
      : {};
    const message = type.fromObject(body);
    return kind === 'json' ? JSON.stringify(type.toObject(message as never, { longs: String })) : type.encode(message as never).finish();
  };
}

/**
 * Splits a metrics or logs request into one request per resource, keyed by a hash of the resource's
 * bytes (the same resource lands on the same partition), counting the items under it.
 */
function splitByResource(buf: Uint8Array, countItems: (buf: Uint8Array, start: number, end: number) => number): Prepared {
  const messages: OutMessage[] = [];
  let items = 0;
  forEachField(buf, 0, buf.length, (field, wire, start, end) => {
    if (field !== ExportRequestField.Resources || wire !== Wire.Len) return;
    let resourceStart = start;
    let resourceEnd = start;
    forEachField(buf, start, end, (f, w, s, e) => {
      if (f === ResourceItemsField.Resource && w === Wire.Len) {
        resourceStart = s;
        resourceEnd = e;
      }
    });
    items += countItems(buf, start, end);
    const key = (murmur2(buf.subarray(resourceStart, resourceEnd)) >>> 0).toString(16).padStart(8, '0');
    messages.push({ key, value: encodePieces([{ field: ExportRequestField.Resources, bytes: buf.subarray(start, end) }]) });
  });
  return { messages, items, rejected: 0, rejectReason: undefined };
}

const METRIC_KINDS: number[] = [MetricField.Gauge, MetricField.Sum, MetricField.Histogram, MetricField.ExponentialHistogram, MetricField.Summary];

/** Data points under one ResourceMetrics: scope_metrics → metrics → gauge/sum/histogram/exp. histogram/summary → data_points. */
function countDataPoints(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  forEachField(buf, start, end, (f, w, s, e) => {
    if (f !== ResourceItemsField.Scopes || w !== Wire.Len) return;
    forEachField(buf, s, e, (f2, w2, s2, e2) => {
      if (f2 !== ScopeItemsField.Items || w2 !== Wire.Len) return;
      forEachField(buf, s2, e2, (f3, w3, s3, e3) => {
        if (w3 !== Wire.Len || !METRIC_KINDS.includes(f3)) return;
        forEachField(buf, s3, e3, (f4, w4) => {
          if (f4 === METRIC_DATA_POINTS && w4 === Wire.Len) n++;
        });
      });
    });
  });
  return n;
}

/** Log records under one ResourceLogs: scope_logs → log_records. */
function countLogRecords(buf: Uint8Array, start: number, end: number): number {
  let n = 0;
  forEachField(buf, start, end, (f, w, s, e) => {
    if (f !== ResourceItemsField.Scopes || w !== Wire.Len) return;
    forEachField(buf, s, e, (f2, w2) => {
      if (f2 === ScopeItemsField.Items && w2 === Wire.Len) n++;
    });
  });
  return n;
}

export const tracesSignal: Signal = {
  name: 'traces',
  httpPath: '/v1/traces',
  grpcPath: '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
  topic: (c) => c.spans_topic,
  // One message per trace id, keyed by the 32-hex-char trace id, as the Collector's kafkaexporter does with partition_traces_by_id.
  prepare(protobuf) {
    const split = splitTracesByTraceId(protobuf);
    const messages: OutMessage[] = [];
    for (const [traceId, value] of split.byTrace) messages.push({ key: traceId, value });
    return { messages, items: split.spans, rejected: split.rejected, rejectReason: split.rejectReason };
  },
  fromJson: (text) => otlpJsonToProtobuf(text, ExportTraceServiceRequest, 'resourceSpans'),
  response: respond(ExportTraceServiceResponse, 'rejectedSpans', 'span(s)'),
};

export const metricsSignal: Signal = {
  name: 'metrics',
  httpPath: '/v1/metrics',
  grpcPath: '/opentelemetry.proto.collector.metrics.v1.MetricsService/Export',
  topic: (c) => c.metrics_topic,
  prepare: (protobuf) => splitByResource(protobuf, countDataPoints),
  fromJson: (text) => otlpJsonToProtobuf(text, ExportMetricsServiceRequest, 'resourceMetrics'),
  response: respond(ExportMetricsServiceResponse, 'rejectedDataPoints', 'data point(s)'),
};

export const logsSignal: Signal = {
  name: 'logs',
  httpPath: '/v1/logs',
  grpcPath: '/opentelemetry.proto.collector.logs.v1.LogsService/Export',
  topic: (c) => c.logs_topic,
  prepare: (protobuf) => splitByResource(protobuf, countLogRecords),
  fromJson: (text) => otlpJsonToProtobuf(text, ExportLogsServiceRequest, 'resourceLogs'),
  response: respond(ExportLogsServiceResponse, 'rejectedLogRecords', 'log record(s)'),
};

export const SIGNALS: readonly Signal[] = [tracesSignal, metricsSignal, logsSignal];
