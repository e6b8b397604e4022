// The official OpenTelemetry JS SDK and exporters (OTLP/HTTP protobuf, OTLP/HTTP JSON, OTLP/gRPC)
// as test peers: every span they send must reach otlp_spans, under its trace id.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SpanExporter } from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as JsonExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { BusRecord } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { otlpFactory } from './receiver.js';
import { ExportTraceServiceRequest } from '../model/otlp.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';
import { sendTopology, TOPOLOGY_SPANS_PER_REQUEST, type SentSpan } from '../../tests/helpers/otel.js';

async function runExporter(makeExporter: (http: string, grpc: string) => SpanExporter): Promise<{ sent: SentSpan[]; received: BusRecord[] }> {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 4 }]);
  const received: BusRecord[] = [];
  await bus.consumer({ groupId: 't', topics: ['otlp_spans'], handler: async (b) => void received.push(...b) }).start();
  const receiver = otlpFactory.create(
    componentSettings(otlpFactory, bus, {} as Store),
    otlpFactory.configSchema.parse({ http: '127.0.0.1:0', grpc: '127.0.0.1:0' }),
  );
  await receiver.start();
  const urls = Object.fromEntries(receiver.listening!().map((l) => [l.name, l.url]));
  const sent = await sendTopology(() => makeExporter(urls['otlp http']!, urls['otlp grpc']!), 8);
  await waitFor(() => countSpans(received) >= sent.length, 15_000, `${sent.length} spans on otlp_spans`);
  await receiver.shutdown();
  await bus.close();
  return { sent, received };
}

function countSpans(records: BusRecord[]): number {
  let n = 0;
  for (const r of records)
    for (const rs of ExportTraceServiceRequest.decode(r.value).resourceSpans) for (const ss of rs.scopeSpans ?? []) n += ss.spans?.length ?? 0;
  return n;
}

function assertAllArrived({ sent, received }: { sent: SentSpan[]; received: BusRecord[] }): void {
  assert.equal(sent.length, 8 * TOPOLOGY_SPANS_PER_REQUEST);
  const got: SentSpan[] = [];
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
  const order = (a: SentSpan, b: SentSpan) => (a.spanId < b.spanId ? -1 : 1);
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
