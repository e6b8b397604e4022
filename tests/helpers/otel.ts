// A known multi-service topology sent with the official OpenTelemetry JS SDK, for interop tests.
import { context, trace, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, BatchSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';

export interface SentSpan {
  traceId: string;
  spanId: string;
  service: string;
  name: string;
}

/** Per request: frontend (root) → checkout → postgres "orders" and → payments; every 4th payment fails. */
export const TOPOLOGY_SPANS_PER_REQUEST = 6;

function emit(tracers: Record<string, Tracer>, requests: number): void {
  for (let i = 0; i < requests; i++) {
    const root = tracers.frontend!.startSpan('GET /checkout', { kind: SpanKind.SERVER });
    const ctxRoot = trace.setSpan(context.active(), root);
    const call = tracers.frontend!.startSpan('POST checkout', { kind: SpanKind.CLIENT, attributes: { 'peer.service': 'checkout' } }, ctxRoot);
    const ctxCall = trace.setSpan(context.active(), call);
    const server = tracers.checkout!.startSpan('POST /orders', { kind: SpanKind.SERVER }, ctxCall);
    const ctxServer = trace.setSpan(context.active(), server);
    const db = tracers.checkout!.startSpan(
      'INSERT orders',
      { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.name': 'orders' } },
      ctxServer,
    );
    db.end();
    const pay = tracers.checkout!.startSpan('POST payments', { kind: SpanKind.CLIENT }, ctxServer);
    const ctxPay = trace.setSpan(context.active(), pay);
    const payServer = tracers.payments!.startSpan('POST /charge', { kind: SpanKind.SERVER }, ctxPay);
    if (i % 4 === 0) payServer.setStatus({ code: SpanStatusCode.ERROR, message: 'card declined' });
    payServer.end();
    pay.end();
    server.end();
    call.end();
    root.end();
  }
}

/** Sends `requests` requests' worth of spans, one exporter per service; resolves once all are exported. */
export async function sendTopology(makeExporter: () => SpanExporter, requests: number): Promise<SentSpan[]> {
  const sent: SentSpan[] = [];
  const failures: Error[] = [];
  const providers: BasicTracerProvider[] = [];
  const tracers: Record<string, Tracer> = {};
  for (const service of ['frontend', 'checkout', 'payments']) {
    const exporter = makeExporter();
    const recording: SpanExporter = {
      // Only what the exporter reports as delivered counts as sent.
      export(spans, done) {
        exporter.export(spans, (result) => {
          if (result.code === 0) for (const s of spans) sent.push({ traceId: s.spanContext().traceId, spanId: s.spanContext().spanId, service, name: s.name });
          else failures.push(result.error ?? new Error('export failed'));
          done(result);
        });
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    const provider = new BasicTracerProvider({
      resource: resourceFromAttributes({ 'service.name': service, 'service.namespace': 'shop' }),
      spanProcessors: [new BatchSpanProcessor(recording, { scheduledDelayMillis: 50, maxExportBatchSize: 64 })],
    });
    providers.push(provider);
    tracers[service] = provider.getTracer('airdig-test');
  }
  emit(tracers, requests);
  for (const p of providers) await p.forceFlush();
  for (const p of providers) await p.shutdown();
  if (failures.length) throw new Error(`${failures.length} exports failed: ${failures[0]!.message}`);
  if (sent.length !== requests * TOPOLOGY_SPANS_PER_REQUEST) throw new Error(`exported ${sent.length} of ${requests * TOPOLOGY_SPANS_PER_REQUEST} spans`);
  return sent;
}

/** The service_edges the topology must produce for `requests` requests. */
export function expectedEdges(requests: number): { client: string; server: string; connection_type: string; calls: number; errors: number }[] {
  const failedPayments = Math.ceil(requests / 4);
  return [
    { client: 'checkout', server: 'orders', connection_type: 'database', calls: requests, errors: 0 },
    { client: 'checkout', server: 'payments', connection_type: '', calls: requests, errors: failedPayments },
    { client: 'frontend', server: 'checkout', connection_type: '', calls: requests, errors: 0 },
    { client: 'user', server: 'frontend', connection_type: 'virtual_node', calls: requests, errors: 0 },
  ];
}
