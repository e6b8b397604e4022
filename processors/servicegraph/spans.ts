import { MalformedInputError } from '../runtime/errors.js';
import { ExportTraceServiceRequest, type IKeyValue } from '../otlp/proto.js';
import { hex, toBigInt } from '../otlp/values.js';
import type { SpanView } from './graph.js';

const STATUS_ERROR = 2;

function attr(attrs: IKeyValue[] | null | undefined, key: string): string {
  if (!attrs) return '';
  for (const kv of attrs) if (kv.key === key) return kv.value?.stringValue ?? '';
  return '';
}

/** Calls fn with a SpanView for each span of an ExportTraceServiceRequest. */
export function forEachSpanView(value: Uint8Array, fn: (v: SpanView) => void): void {
  let req;
  try {
    req = ExportTraceServiceRequest.decode(value);
  } catch (err) {
    throw new MalformedInputError(`otlp_spans message is not an ExportTraceServiceRequest: ${(err as Error).message}`);
  }
  for (const rs of req.resourceSpans) {
    const service = attr(rs.resource?.attributes, 'service.name') || 'unknown_service';
    for (const ss of rs.scopeSpans ?? []) {
      for (const s of ss.spans ?? []) {
        const start = toBigInt(s.startTimeUnixNano);
        const end = toBigInt(s.endTimeUnixNano);
        fn({
          traceId: hex(s.traceId),
          spanId: hex(s.spanId),
          parentSpanId: hex(s.parentSpanId),
          kind: s.kind ?? 0,
          service,
          startMs: Number(start / 1_000_000n),
          durationMs: end > start ? Number(end - start) / 1e6 : 0,
          failed: s.status?.code === STATUS_ERROR,
          peerService: attr(s.attributes, 'peer.service'),
          dbName: attr(s.attributes, 'db.name') || attr(s.attributes, 'db.namespace'),
          dbSystem: attr(s.attributes, 'db.system') || attr(s.attributes, 'db.system.name'),
          serverAddress: attr(s.attributes, 'server.address') || attr(s.attributes, 'net.peer.name'),
        });
      }
    }
  }
}
