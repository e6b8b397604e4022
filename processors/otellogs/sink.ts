import { z } from 'zod';
import { MalformedInputError } from '../runtime/errors.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { ExportLogsServiceRequest, anyValueToString, attributesToMap, hex, nanosToIso, toBigInt } from '../model/otlp.js';
import { LOGS_TOPIC } from '../model/otlp.js';

export const otelLogsConfigSchema = tableSinkConfig(LOGS_TOPIC, 'otel_logs', 2_000);
export type OtelLogsConfig = z.infer<typeof otelLogsConfigSchema>;

export interface LogRow {
  Timestamp: string;
  TraceId: string;
  SpanId: string;
  TraceFlags: number;
  SeverityText: string;
  SeverityNumber: number;
  ServiceName: string;
  Body: string;
  ResourceSchemaUrl: string;
  ResourceAttributes: Record<string, string>;
  ScopeSchemaUrl: string;
  ScopeName: string;
  ScopeVersion: string;
  ScopeAttributes: Record<string, string>;
  LogAttributes: Record<string, string>;
}

/** Every log record of an ExportLogsServiceRequest as an otel_logs row (time: the record's, else when it was observed). */
export function logRows(value: Uint8Array): LogRow[] {
  let req;
  try {
    req = ExportLogsServiceRequest.decode(value);
  } catch (err) {
    throw new MalformedInputError(`otlp_logs message is not an ExportLogsServiceRequest: ${(err as Error).message}`);
  }
  const rows: LogRow[] = [];
  for (const rl of req.resourceLogs) {
    const resource = attributesToMap(rl.resource?.attributes);
    for (const sl of rl.scopeLogs ?? []) {
      const scopeAttributes = attributesToMap(sl.scope?.attributes);
      for (const r of sl.logRecords ?? []) {
        const t = toBigInt(r.timeUnixNano) || toBigInt(r.observedTimeUnixNano);
        rows.push({
          Timestamp: nanosToIso(t),
          TraceId: hex(r.traceId),
          SpanId: hex(r.spanId),
          TraceFlags: (r.flags ?? 0) & 0xff,
          SeverityText: r.severityText ?? '',
          SeverityNumber: r.severityNumber ?? 0,
          ServiceName: resource['service.name'] ?? '',
          Body: anyValueToString(r.body),
          ResourceSchemaUrl: rl.schemaUrl ?? '',
          ResourceAttributes: resource,
          ScopeSchemaUrl: sl.schemaUrl ?? '',
          ScopeName: sl.scope?.name ?? '',
          ScopeVersion: sl.scope?.version ?? '',
          ScopeAttributes: scopeAttributes,
          LogAttributes: attributesToMap(r.attributes),
        });
      }
    }
  }
  return rows;
}

/** otlp_logs → otel_logs. */
export const otelLogsFactory = tableSinkFactory({ type: 'otel_logs', configSchema: otelLogsConfigSchema, toRows: (r) => logRows(r.value) });
