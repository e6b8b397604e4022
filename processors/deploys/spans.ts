import { forEachField, ProtoReader, Wire } from '../wire/protobuf.js';
import { attributesToMap, Resource, ResourceSpansField, ScopeSpansField, SpanField, TracesDataField } from '../model/otlp.js';

/** A resource of an ExportTraceServiceRequest: its attributes, and where its scope_spans are (firstStart reads them). */
export interface SpanResource {
  attributes: Record<string, string>;
  scopes: [number, number][];
}

/** The earliest non-zero start_time_unix_nano of the spans in a ResourceSpans' scope_spans, in whole ms (undefined: no span has one). */
export function firstStart(buf: Uint8Array, scopes: readonly [number, number][]): number | undefined {
  let first: number | undefined;
  const r = new ProtoReader(buf);
  for (const [s, e] of scopes) {
    forEachField(buf, s, e, (f, w, ss, se) => {
      if (f !== ScopeSpansField.Spans || w !== Wire.Len) return;
      forEachField(buf, ss, se, (sf, sw, vs, ve) => {
        if (sf !== SpanField.StartTimeUnixNano || sw !== Wire.I64) return;
        r.pos = vs;
        const ms = r.fixed64AsMs(ve);
        if (ms > 0 && (first === undefined || ms < first)) first = ms;
      });
    });
  }
  return first === undefined ? undefined : Math.floor(first);
}

/** The resources of an ExportTraceServiceRequest, read off the wire: attributes decoded, spans left as they are. */
export function spanResources(value: Uint8Array): SpanResource[] {
  const out: SpanResource[] = [];
  forEachField(value, 0, value.length, (field, wire, start, end) => {
    if (field !== TracesDataField.ResourceSpans || wire !== Wire.Len) return;
    let attributes: Record<string, string> = {};
    const scopes: [number, number][] = [];
    forEachField(value, start, end, (f, w, s, e) => {
      if (f === ResourceSpansField.Resource && w === Wire.Len) attributes = attributesToMap(Resource.decode(value.subarray(s, e)).attributes);
      else if (f === ResourceSpansField.ScopeSpans && w === Wire.Len) scopes.push([s, e]);
    });
    out.push({ attributes, scopes });
  });
  return out;
}
