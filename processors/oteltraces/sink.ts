import { z } from 'zod';
import { MalformedInputError } from '../runtime/errors.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { ExportTraceServiceRequest, attributesToMap, hex, nanosToIso, toBigInt } from '../model/otlp.js';
import { DirectRowsWriter } from '../runtime/store/rowbinary.js';
import { OTEL_TRACES_LAYOUT, writeTraceRows } from './direct.js';
import { SPANS_TOPIC } from '../model/otlp.js';

export const DEFAULT_OTEL_TRACES_TABLE = 'otel_traces';

export const otelTracesConfigSchema = tableSinkConfig(SPANS_TOPIC, DEFAULT_OTEL_TRACES_TABLE, 2_000);
export type OtelTracesConfig = z.infer<typeof otelTracesConfigSchema>;

const SPAN_KINDS = ['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER'];
const STATUS_CODES = ['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR'];

export interface TraceRow {
  Timestamp: string;
  TraceId: string;
  SpanId: string;
  ParentSpanId: string;
  TraceState: string;
  SpanName: string;
  SpanKind: string;
  ServiceName: string;
  ResourceAttributes: Record<string, string>;
  ScopeName: string;
  ScopeVersion: string;
  SpanAttributes: Record<string, string>;
  Duration: number;
  StatusCode: string;
  StatusMessage: string;
  'Events.Timestamp': string[];
  'Events.Name': string[];
  'Events.Attributes': Record<string, string>[];
  'Links.TraceId': string[];
  'Links.SpanId': string[];
  'Links.TraceState': string[];
  'Links.Attributes': Record<string, string>[];
}

/** Every span of an ExportTraceServiceRequest as an otel_traces row. */
export function traceRows(value: Uint8Array): TraceRow[] {
  let req;
  try {
    req = ExportTraceServiceRequest.decode(value);
  } catch (err) {
    throw new MalformedInputError(`otlp_spans message is not an ExportTraceServiceRequest: ${(err as Error).message}`);
  }
  const rows: TraceRow[] = [];
  for (const rs of req.resourceSpans) {
    const resourceAttributes = attributesToMap(rs.resource?.attributes);
    const serviceName = resourceAttributes['service.name'] ?? '';
    for (const ss of rs.scopeSpans ?? []) {
      const scopeName = ss.scope?.name ?? '';
      const scopeVersion = ss.scope?.version ?? '';
      for (const s of ss.spans ?? []) {
        const start = toBigInt(s.startTimeUnixNano);
        const end = toBigInt(s.endTimeUnixNano);
        const events = s.events ?? [];
        const links = s.links ?? [];
        rows.push({
          Timestamp: nanosToIso(start),
          TraceId: hex(s.traceId),
          SpanId: hex(s.spanId),
          ParentSpanId: hex(s.parentSpanId),
          TraceState: s.traceState ?? '',
          SpanName: s.name ?? '',
          SpanKind: SPAN_KINDS[s.kind ?? 0] ?? '',
          ServiceName: serviceName,
          ResourceAttributes: resourceAttributes,
          ScopeName: scopeName,
          ScopeVersion: scopeVersion,
          SpanAttributes: attributesToMap(s.attributes),
          Duration: end > start ? Number(end - start) : 0,
          StatusCode: STATUS_CODES[s.status?.code ?? 0] ?? '',
          StatusMessage: s.status?.message ?? '',
          'Events.Timestamp': events.map((e) => nanosToIso(toBigInt(e.timeUnixNano))),
          'Events.Name': events.map((e) => e.name ?? ''),
          'Events.Attributes': events.map((e) => attributesToMap(e.attributes)),
          'Links.TraceId': links.map((l) => hex(l.traceId)),
          'Links.SpanId': links.map((l) => hex(l.spanId)),
          'Links.TraceState': links.map((l) => l.traceState ?? ''),
          'Links.Attributes': links.map((l) => attributesToMap(l.attributes)),
        });
      }
    }
  }
  return rows;
}

// One writer for every otel_traces sink: begin() to finish() is synchronous.
const direct = new DirectRowsWriter(OTEL_TRACES_LAYOUT);

/**
 * The rows of a record, written as RowBinary straight from its bytes (one DirectRows) when the
 * direct walk can vouch for them, else traceRows()' objects (which also decide what is malformed).
 */
export function traceRowsDirect(value: Uint8Array): object[] {
  const w = direct.begin();
  try {
    writeTraceRows(direct, w, value);
  } catch {
    direct.abort();
    return traceRows(value);
  }
  const rows = direct.finish(() => traceRows(value));
  return rows.rows === 0 ? [] : [rows];
}

export const otelTracesFactory = tableSinkFactory({ type: 'otel_traces', configSchema: otelTracesConfigSchema, toRows: (r) => traceRowsDirect(r.value) });
