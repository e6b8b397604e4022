import { encodePieces, forEachField, toHex, Wire, type Piece } from '../wire/protobuf.js';
import { ResourceSpansField, ScopeSpansField, SpanField, TracesDataField } from '../model/otlp.js';

/*
 * Splitting OTLP trace requests by trace id on the wire: each span's trace id is found, and
 * smaller requests are rebuilt from byte slices of the original, without decoding attributes,
 * events or anything else a gateway does not need.
 */

export interface TraceSplit {
  /** One ExportTraceServiceRequest per trace id (32 lowercase hex chars), in first-seen order. */
  byTrace: Map<string, Buffer>;
  spans: number;
  /** Spans left out: no trace id, or not 16 bytes, or all zeros. */
  rejected: number;
  rejectReason: string | undefined;
}

/**
 * Splits an ExportTraceServiceRequest (or TracesData: same field 1) into one request per trace id,
 * copying each resource, scope and span as the bytes they were, so attributes and unknown fields
 * pass through untouched.
 */
export function splitTracesByTraceId(buf: Uint8Array): TraceSplit {
  type Scope = { scopeFields: Piece[]; spans: Piece[] };
  type Resource = { resourceFields: Piece[]; scopes: Map<number, Scope> };
  const perTrace = new Map<string, Map<number, Resource>>();
  let spans = 0;
  let rejected = 0;
  let rejectReason: string | undefined;
  let resourceIndex = 0;

  forEachField(buf, 0, buf.length, (field, wire, rsStart, rsEnd) => {
    if (field !== TracesDataField.ResourceSpans || wire !== Wire.Len) return; // unknown top-level fields are ignored
    const rIdx = resourceIndex++;
    const resourceFields: Piece[] = [];
    const scopeSpans: [number, number][] = [];
    forEachField(buf, rsStart, rsEnd, (f, w, s, e) => {
      if (w !== Wire.Len) return;
      if (f === ResourceSpansField.ScopeSpans) scopeSpans.push([s, e]);
      else resourceFields.push({ field: f, bytes: buf.subarray(s, e) }); // resource (1), schema_url (3), unknown LEN fields
    });
    scopeSpans.forEach(([ssStart, ssEnd], sIdx) => {
      const scopeFields: Piece[] = [];
      const spanRanges: [number, number][] = [];
      forEachField(buf, ssStart, ssEnd, (f, w, s, e) => {
        if (w !== Wire.Len) return;
        if (f === ScopeSpansField.Spans) spanRanges.push([s, e]);
        else scopeFields.push({ field: f, bytes: buf.subarray(s, e) }); // scope (1), schema_url (3)
      });
      for (const [spStart, spEnd] of spanRanges) {
        spans++;
        let idStart = -1;
        let idEnd = -1;
        forEachField(buf, spStart, spEnd, (f, w, s, e) => {
          if (f === SpanField.TraceId && w === Wire.Len) {
            idStart = s;
            idEnd = e;
          }
        });
        if (idEnd - idStart !== 16 || isZero(buf, idStart, idEnd)) {
          rejected++;
          rejectReason ??=
            idStart < 0 ? 'span without trace_id' : `span with an invalid trace_id (${idEnd - idStart} bytes${idEnd - idStart === 16 ? ', all zero' : ''})`;
          continue;
        }
        const traceId = toHex(buf, idStart, idEnd);
        let resources = perTrace.get(traceId);
        if (!resources) perTrace.set(traceId, (resources = new Map()));
        let resource = resources.get(rIdx);
        if (!resource) resources.set(rIdx, (resource = { resourceFields, scopes: new Map() }));
        let scope = resource.scopes.get(sIdx);
        if (!scope) resource.scopes.set(sIdx, (scope = { scopeFields, spans: [] }));
        scope.spans.push({ field: ScopeSpansField.Spans, bytes: buf.subarray(spStart, spEnd) });
      }
    });
  });

  const byTrace = new Map<string, Buffer>();
  for (const [traceId, resources] of perTrace) {
    const rsPieces: Piece[] = [];
    for (const r of resources.values()) {
      const ssPieces: Piece[] = [];
      for (const sc of r.scopes.values()) ssPieces.push({ field: ResourceSpansField.ScopeSpans, children: [...sc.scopeFields, ...sc.spans] });
      rsPieces.push({ field: TracesDataField.ResourceSpans, children: [...r.resourceFields, ...ssPieces] });
    }
    byTrace.set(traceId, encodePieces(rsPieces));
  }
  return { byTrace, spans, rejected, rejectReason };
}

function isZero(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}
