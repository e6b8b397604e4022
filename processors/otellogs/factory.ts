import { z } from 'zod';
import { MalformedInputError } from '../runtime/errors.js';
import { topicName } from '../runtime/config/schema.js';
import type { Factory } from '../runtime/pipeline/component.js';
import { TableSink } from '../runtime/pipeline/table-sink.js';
import { ExportLogsServiceRequest } from '../otlp/proto.js';
import { anyValueToString, attributesToMap, hex, nanosToIso, toBigInt } from '../otlp/values.js';

export const otelLogsConfigSchema = z
  .object({
    input: topicName.default('otlp_logs'),
    table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/).default('otel_logs'),
    max_batch: z.number().int().positive().default(2_000),
  })
  .strict();
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
export const otelLogsFactory: Factory<OtelLogsConfig> = {
  kind: 'sink',
  type: 'otel_logs',
  configSchema: otelLogsConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) => new TableSink<LogRow>(settings, { input: c.input, table: c.table, maxBatch: c.max_batch, toRows: (r) => logRows(r.value), onRefused: 'dlq' }),
};
