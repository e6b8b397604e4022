import { randomBytes } from 'node:crypto';
import { ExportTraceServiceRequest } from '../../processors/model/otlp.js';

/** A realistic export request: one resource with 8 attributes, spans with 10 attributes each, spread over traces of 5 spans. */
export function tracesPayload(spans: number, seed = 0): Uint8Array {
  const traceIds = Array.from({ length: Math.ceil(spans / 5) }, () => randomBytes(16));
  const now = BigInt(Date.now()) * 1_000_000n + BigInt(seed);
  return ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: {
          attributes: [
            ['service.name', 'checkout'],
            ['service.namespace', 'shop'],
            ['service.version', '1.4.2'],
            ['host.name', 'ip-10-0-1-23'],
            ['host.id', 'i-0123456789abcdef0'],
            ['cloud.region', 'eu-west-1'],
            ['k8s.pod.name', 'checkout-7d9f8-x2x'],
            ['k8s.namespace.name', 'prod'],
          ].map(([key, v]) => ({ key, value: { stringValue: v } })),
        },
        scopeSpans: [
          {
            scope: { name: '@opentelemetry/instrumentation-http', version: '0.52.0' },
            spans: Array.from({ length: spans }, (_, i) => ({
              traceId: traceIds[Math.floor(i / 5)],
              spanId: randomBytes(8),
              ...(i % 5 === 0 ? {} : { parentSpanId: randomBytes(8) }),
              name: i % 2 ? 'GET /api/cart' : 'SELECT orders',
              kind: i % 2 ? 2 : 3,
              startTimeUnixNano: Number(now + BigInt(i)),
              endTimeUnixNano: Number(now + BigInt(i) + 1_500_000n),
              attributes: [
                { key: 'http.request.method', value: { stringValue: 'GET' } },
                { key: 'url.path', value: { stringValue: `/api/cart/${i}` } },
                { key: 'http.response.status_code', value: { intValue: 200 } },
                { key: 'server.address', value: { stringValue: 'checkout.prod.svc' } },
                { key: 'server.port', value: { intValue: 8080 } },
                { key: 'network.protocol.version', value: { stringValue: '1.1' } },
                { key: 'user_agent.original', value: { stringValue: 'Mozilla/5.0 (X11; Linux x86_64)' } },
                { key: 'db.system', value: { stringValue: 'postgresql' } },
                { key: 'db.name', value: { stringValue: 'orders' } },
                { key: 'thread.id', value: { intValue: 17 } },
              ],
              status: { code: i % 17 === 0 ? 2 : 0 },
            })),
          },
        ],
      },
    ],
  }).finish();
}
