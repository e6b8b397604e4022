// The official OpenTelemetry JS SDK and exporters (OTLP/HTTP protobuf, OTLP/HTTP JSON, OTLP/gRPC)
// as test peers: every span they send must reach otlp_spans, under its trace id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, trace, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { BasicTracerProvider, SimpleSpanProcessor, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { BusRecord } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { otlpFactory } from './factory.js';
import { ExportTraceServiceRequest } from './proto.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

interface Sent {
  traceId: string;
  spanId: string;
  service: string;
  name: string;
}

/** frontend → checkout → (payments, postgres): one trace per request, with one failing payment. */
function emitTopology(tracers: Record<string, Tracer>, requests: number): void {
  for (let i = 0; i < requests; i++) {
    const root = tracers.frontend!.startSpan('GET /checkout', { kind: SpanKind.SERVER });
    const ctxRoot = trace.setSpan(context.active(), root);
    const call = tracers.frontend!.startSpan('POST checkout', { kind: SpanKind.CLIENT, attributes: { 'peer.service': 'checkout' } }, ctxRoot);
    const ctxCall = trace.setSpan(context.active(), call);
    const server = tracers.checkout!.startSpan('POST /orders', { kind: SpanKind.SERVER }, ctxCall);
    const ctxServer = trace.setSpan(context.active(), server);
    const db = tracers.checkout!.startSpan('INSERT orders', { kind: SpanKind.CLIENT, attributes: { 'db.system': 'postgresql', 'db.name': 'orders' } }, ctxServer);
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

async function runExporter(makeExporter: (http: string, grpc: string) => SpanExporter): Promise<{ sent: Sent[]; received: BusRecord[] }> {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 4 }]);
  const received: BusRecord[] = [];
  await bus.consumer({ groupId: 't', topics: ['otlp_spans'], handler: async (b) => void received.push(...b) }).start();
  const receiver = otlpFactory.create(componentSettings(otlpFactory, bus, {} as Store), otlpFactory.configSchema.parse({ http: '127.0.0.1:0', grpc: '127.0.0.1:0' }));
  await receiver.start();
  const urls = Object.fromEntries(receiver.listening!().map((l) => [l.name, l.url]));
  const sent: Sent[] = [];
  const providers: BasicTracerProvider[] = [];
  const tracers: Record<string, Tracer> = {};
  for (const service of ['frontend', 'checkout', 'payments']) {
    const exporter = makeExporter(urls['otlp http']!, urls['otlp grpc']!);
    const recording: SpanExporter = {
      export(spans, done) {
        for (const s of spans) sent.push({ traceId: s.spanContext().traceId, spanId: s.spanContext().spanId, service, name: s.name });
        exporter.export(spans, done);
      },
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
    const provider = new BasicTracerProvider({ resource: resourceFromAttributes({ 'service.name': service, 'service.namespace': 'shop' }), spanProcessors: [new SimpleSpanProcessor(recording)] });
    providers.push(provider);
    tracers[service] = provider.getTracer('interop-test');
  }
  emitTopology(tracers, 8);
  for (const p of providers) await p.forceFlush();
  for (const p of providers) await p.shutdown();
  const expected = sent.length;
  await waitFor(() => countSpans(received) >= expected, 15_000, `${expected} spans on otlp_spans`);
  await receiver.shutdown();
  await bus.close();
  return { sent, received };
}

function countSpans(records: BusRecord[]): number {
  let n = 0;
  for (const r of records) for (const rs of ExportTraceServiceRequest.decode(r.value).resourceSpans) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  return n;
}

function assertAllArrived({ sent, received }: { sent: Sent[]; received: BusRecord[] }): void {
  assert.equal(sent.length, 8 * 6);
  const got: Sent[] = [];
  for (const r of received) {
    const key = r.key!.toString();
    for (const rs of ExportTraceServiceRequest.decode(r.value).resourceSpans) {
      const service = String(rs.resource?.attributes?.find((a) => a.key === 'service.name')?.value?.stringValue);
      for (const ss of rs.scopeSpans ?? []) {
        for (const s of ss.spans ?? []) {
          const traceId = Buffer.from(s.traceId!).toString('hex');
          assert.equal(traceId, key, 'every span sits under its own trace id key');
          got.push({ traceId, spanId: Buffer.from(s.spanId!).toString('hex'), service, name: s.name! });
        }
      }
    }
  }
  const order = (a: Sent, b: Sent) => (a.spanId < b.spanId ? -1 : 1);
  assert.deepEqual(got.sort(order), [...sent].sort(order));
  assert.equal(new Set(got.map((g) => g.traceId)).size, 8, 'eight traces');
}

test('official OTLP/HTTP protobuf exporter: every span arrives', async () => {
  assertAllArrived(await runExporter((http) => new ProtoExporter({ url: http })));
});

test('official OTLP/HTTP JSON exporter: every span arrives', async () => {
  assertAllArrived(await runExporter((http) => new JsonExporter({ url: http })));
});

test('official OTLP/gRPC exporter: every span arrives', async () => {
  assertAllArrived(await runExporter((_http, grpc) => new GrpcExporter({ url: grpc })));
});
