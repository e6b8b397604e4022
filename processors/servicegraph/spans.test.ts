import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportTraceServiceRequest, attributesToMap, hex, toBigInt } from '../model/otlp.js';
import { MalformedInputError } from '../runtime/errors.js';
import { forEachSpanView } from './spans.js';
import type { SpanView } from './graph.js';

/** The same fields read through protobufjs' full decode: the reference for the wire reader. */
function viaProtobufjs(value: Uint8Array): SpanView[] {
  const out: SpanView[] = [];
  for (const rs of ExportTraceServiceRequest.decode(value).resourceSpans) {
    const resource = attributesToMap(rs.resource?.attributes);
    const service = resource['service.name'] || 'unknown_service';
    const namespace = resource['service.namespace'] ?? '';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const a = attributesToMap(s.attributes);
        const start = Number(toBigInt(s.startTimeUnixNano)) / 1e6;
        const end = Number(toBigInt(s.endTimeUnixNano)) / 1e6;
        out.push({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          kind: s.kind ?? 0,
          service,
          namespace,
          startMs: Math.floor(start),
          durationMs: end > start ? end - start : 0,
          failed: s.status?.code === 2,
          peerService: a['peer.service'] ?? '',
          dbName: a['db.name'] ?? a['db.namespace'] ?? '',
          dbSystem: a['db.system'] ?? a['db.system.name'] ?? '',
          serverAddress: a['server.address'] ?? a['net.peer.name'] ?? '',
        });
      }
    }
  }
  return out;
}

const request = ExportTraceServiceRequest.encode(
  ExportTraceServiceRequest.fromObject({
    resourceSpans: [
      {
        scopeSpans: [
          {
            scope: { name: 's' },
            spans: [
              {
                traceId: Buffer.alloc(16, 1),
                spanId: Buffer.alloc(8, 2),
                kind: 3,
                name: 'call',
                startTimeUnixNano: '1763892120123456789',
                endTimeUnixNano: '1763892120173456789',
                attributes: [
                  { key: 'peer.service', value: { stringValue: 'fraud' } },
                  { key: 'n', value: { intValue: 3 } },
                  { key: 'db.namespace', value: { stringValue: 'orders' } },
                  { key: 'server.address', value: { stringValue: 'db.internal' } },
                ],
                status: { code: 2, message: 'x' },
              },
              {
                traceId: Buffer.alloc(16, 1),
                spanId: Buffer.alloc(8, 3),
                parentSpanId: Buffer.alloc(8, 2),
                kind: 2,
                name: 'serve',
                startTimeUnixNano: '1763892120130000000',
                endTimeUnixNano: '1763892120140000000',
                events: [{ name: 'e' }],
              },
            ],
          },
        ],
        // The resource after its spans on the wire is still found.
        resource: {
          attributes: [
            { key: 'host.name', value: { stringValue: 'h' } },
            { key: 'service.name', value: { stringValue: 'checkout' } },
            { key: 'service.namespace', value: { stringValue: 'shop' } },
          ],
        },
      },
      { scopeSpans: [{ spans: [{ traceId: Buffer.alloc(16, 9), spanId: Buffer.alloc(8, 9), kind: 1 }] }] },
    ],
  }),
).finish();

test('the wire reader gives the same SpanViews as a full protobufjs decode', () => {
  const got: SpanView[] = [];
  forEachSpanView(request, (v) => got.push(v));
  assert.deepEqual(got, viaProtobufjs(request));
  assert.equal(got[0]!.service, 'checkout');
  assert.equal(got[0]!.namespace, 'shop');
  assert.equal(got[0]!.peerService, 'fraud');
  assert.equal(got[0]!.dbName, 'orders');
  assert.equal(got[0]!.failed, true);
  assert.ok(Math.abs(got[0]!.durationMs - 50) < 1e-3);
  assert.equal(got[2]!.service, 'unknown_service');
  assert.equal(got[2]!.namespace, '');
});

test('truncated input raises MalformedInputError', () => {
  for (const cut of [3, 20, request.length - 2]) {
    assert.throws(() => forEachSpanView(request.subarray(0, cut), () => {}), MalformedInputError, `cut at ${cut}`);
  }
});
