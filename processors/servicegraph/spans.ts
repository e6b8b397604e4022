import { bytesEqual as keyEquals, ProtoReader as Reader, tagOf, toHex, Wire } from '../wire/protobuf.js';
import {
  AnyValueField,
  KeyValueField,
  ResourceField,
  ResourceSpansField,
  ScopeSpansField,
  SpanField,
  SpanStatusField,
  STATUS_CODE_ERROR,
  TracesDataField,
} from '../model/otlp.js';
import type { SpanView } from './graph.js';

/*
 * Reads only what pairing needs from an ExportTraceServiceRequest, straight off the wire: no
 * message objects, no attribute values except the few peer attributes and the resource's
 * service.name and service.namespace, strings decoded only
 * when their key matches. Field numbers are OTLP's (trace/v1, common/v1).
 */

const RESOURCE_SPANS = tagOf(TracesDataField.ResourceSpans, Wire.Len);
const RESOURCE = tagOf(ResourceSpansField.Resource, Wire.Len);
const SCOPE_SPANS = tagOf(ResourceSpansField.ScopeSpans, Wire.Len);
const SPANS = tagOf(ScopeSpansField.Spans, Wire.Len);
const RESOURCE_ATTRIBUTE = tagOf(ResourceField.Attributes, Wire.Len);
const STRING_VALUE = tagOf(AnyValueField.StringValue, Wire.Len);
const STATUS_CODE = tagOf(SpanStatusField.Code, Wire.Varint);

const decoder = new TextDecoder();
const KEY_SERVICE_NAME = Buffer.from('service.name');
const KEY_SERVICE_NAMESPACE = Buffer.from('service.namespace');
/** Span attribute keys pairing reads, by the SpanView field they fill (first match wins per field). */
const PEER_KEYS: [Buffer, 'peerService' | 'dbName' | 'dbSystem' | 'serverAddress'][] = [
  [Buffer.from('peer.service'), 'peerService'],
  [Buffer.from('db.name'), 'dbName'],
  [Buffer.from('db.namespace'), 'dbName'],
  [Buffer.from('db.system'), 'dbSystem'],
  [Buffer.from('db.system.name'), 'dbSystem'],
  [Buffer.from('server.address'), 'serverAddress'],
  [Buffer.from('net.peer.name'), 'serverAddress'],
];

/** Reads KeyValue at [r.pos, end): returns the key range and the string value range (or -1). */
function readKeyValue(r: Reader, end: number, out: { kStart: number; kEnd: number; vStart: number; vEnd: number }): void {
  out.kStart = out.kEnd = out.vStart = out.vEnd = -1;
  while (r.pos < end) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === KeyValueField.Key && wire === Wire.Len) {
      const e = r.len(end);
      out.kStart = r.pos;
      out.kEnd = e;
      r.pos = e;
    } else if (field === KeyValueField.Value && wire === Wire.Len) {
      const ve = r.len(end);
      while (r.pos < ve) {
        const t = r.varint(ve);
        if (t === STRING_VALUE) {
          const se = r.len(ve);
          out.vStart = r.pos;
          out.vEnd = se;
          r.pos = se;
        } else r.skip(t & 7, ve);
      }
    } else r.skip(wire, end);
  }
}

const kv = { kStart: -1, kEnd: -1, vStart: -1, vEnd: -1 };

/** A resource's service.name and service.namespace ('' when absent). */
function readService(r: Reader, resourceEnd: number, out: { service: string; namespace: string }): void {
  while (r.pos < resourceEnd) {
    const tag = r.varint(resourceEnd);
    if (tag === RESOURCE_ATTRIBUTE) {
      const e = r.len(resourceEnd);
      readKeyValue(r, e, kv);
      r.pos = e;
      if (kv.vStart < 0) continue;
      if (keyEquals(r.buf, kv.kStart, kv.kEnd, KEY_SERVICE_NAME)) out.service = decoder.decode(r.buf.subarray(kv.vStart, kv.vEnd));
      else if (keyEquals(r.buf, kv.kStart, kv.kEnd, KEY_SERVICE_NAMESPACE)) out.namespace = decoder.decode(r.buf.subarray(kv.vStart, kv.vEnd));
    } else r.skip(tag & 7, resourceEnd);
  }
}

function readSpan(r: Reader, end: number, service: string, namespace: string, fn: (v: SpanView) => void): void {
  const buf = r.buf;
  let traceId = '';
  let spanId = '';
  let parentSpanId = '';
  let kind = 0;
  let startMs = 0;
  let endMs = 0;
  let failed = false;
  const peer = { peerService: '', dbName: '', dbSystem: '', serverAddress: '' };
  while (r.pos < end) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (wire === Wire.Len && (field === SpanField.TraceId || field === SpanField.SpanId || field === SpanField.ParentSpanId)) {
      const e = r.len(end);
      const s = toHex(buf, r.pos, e);
      if (field === SpanField.TraceId) traceId = s;
      else if (field === SpanField.SpanId) spanId = s;
      else parentSpanId = s;
      r.pos = e;
    } else if (field === SpanField.Kind && wire === Wire.Varint) {
      kind = r.varint(end);
    } else if ((field === SpanField.StartTimeUnixNano || field === SpanField.EndTimeUnixNano) && wire === Wire.I64) {
      if (field === SpanField.StartTimeUnixNano) startMs = r.fixed64AsMs(end);
      else endMs = r.fixed64AsMs(end);
    } else if (field === SpanField.Attributes && wire === Wire.Len) {
      const e = r.len(end);
      readKeyValue(r, e, kv);
      r.pos = e;
      if (kv.vStart >= 0) {
        for (const [key, slot] of PEER_KEYS) {
          if (!peer[slot] && keyEquals(buf, kv.kStart, kv.kEnd, key)) {
            peer[slot] = decoder.decode(buf.subarray(kv.vStart, kv.vEnd));
            break;
          }
        }
      }
    } else if (field === SpanField.Status && wire === Wire.Len) {
      const e = r.len(end);
      while (r.pos < e) {
        const t = r.varint(e);
        if (t === STATUS_CODE) failed = r.varint(e) === STATUS_CODE_ERROR;
        else r.skip(t & 7, e);
      }
    } else r.skip(wire, end);
  }
  fn({
    traceId,
    spanId,
    parentSpanId,
    kind,
    service,
    namespace,
    startMs: Math.floor(startMs),
    durationMs: endMs > startMs ? endMs - startMs : 0,
    failed,
    ...peer,
  });
}

/** Calls fn with a SpanView for each span of an ExportTraceServiceRequest (or TracesData). */
export function forEachSpanView(value: Uint8Array, fn: (v: SpanView) => void): void {
  const r = new Reader(value);
  const end = value.length;
  while (r.pos < end) {
    const tag = r.varint(end);
    if (tag !== RESOURCE_SPANS) {
      r.skip(tag & 7, end);
      continue;
    }
    const rsEnd = r.len(end);
    // A resource's service name may follow its spans on the wire, so find it first.
    const resource = { service: '', namespace: '' };
    const scopes: [number, number][] = [];
    while (r.pos < rsEnd) {
      const t = r.varint(rsEnd);
      if (t === RESOURCE) {
        const e = r.len(rsEnd);
        readService(r, e, resource);
        r.pos = e;
      } else if (t === SCOPE_SPANS) {
        const e = r.len(rsEnd);
        scopes.push([r.pos, e]);
        r.pos = e;
      } else r.skip(t & 7, rsEnd);
    }
    const service = resource.service || 'unknown_service';
    for (const [sStart, sEnd] of scopes) {
      r.pos = sStart;
      while (r.pos < sEnd) {
        const t = r.varint(sEnd);
        if (t === SPANS) {
          const e = r.len(sEnd);
          readSpan(r, e, service, resource.namespace, fn);
          r.pos = e;
        } else r.skip(t & 7, sEnd);
      }
    }
    r.pos = rsEnd;
  }
}
