// The generated OTLP classes (protos/gen, built by `npm run build:protos`), under short names.
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
