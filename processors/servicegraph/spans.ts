import { MalformedInputError } from '../runtime/errors.js';
import { toHex } from '../otlp/wire.js';
import type { SpanView } from './graph.js';

/*
 * Reads only what pairing needs from an ExportTraceServiceRequest, straight off the wire: no
 * message objects, no attribute values except the few peer attributes and the resource's
 * service.name and service.namespace, strings decoded only
 * when their key matches. Field numbers are OTLP's (trace/v1, common/v1).
 */

const STATUS_ERROR = 2;

class Reader {
  buf: Uint8Array;
  pos = 0;
  constructor(buf: Uint8Array) {
    this.buf = buf;
  }
  varint(end: number): number {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw new MalformedInputError('truncated protobuf: varint runs past the end of its message');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new MalformedInputError('malformed protobuf: varint longer than 10 bytes');
  }
  /** Skips a field of the given wire type; for LEN returns nothing, having moved past the payload. */
  skip(wire: number, end: number): void {
    switch (wire) {
      case 0:
        this.varint(end);
        return;
      case 1:
        this.pos += 8;
        break;
      case 2: {
        const n = this.varint(end); // read first: `this.pos += this.varint()` would add to the old position
        this.pos += n;
        break;
      }
      case 5:
        this.pos += 4;
        break;
      default:
        throw new MalformedInputError(`malformed protobuf: wire type ${wire} is not supported`);
    }
    if (this.pos > end) throw new MalformedInputError('truncated protobuf: a field runs past the end of its message');
  }
  /** Reads a LEN header and returns the payload's end. */
  len(end: number): number {
    const n = this.varint(end);
    const e = this.pos + n;
    if (e > end) throw new MalformedInputError('truncated protobuf: a field runs past the end of its message');
    return e;
  }
  fixed64AsMs(end: number): number {
    if (this.pos + 8 > end) throw new MalformedInputError('truncated protobuf: fixed64 runs past the end of its message');
    const b = this.buf;
    const p = this.pos;
    const low = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const high = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    this.pos += 8;
    return (high * 4_294_967_296 + low) / 1e6;
  }
}

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

function keyEquals(buf: Uint8Array, start: number, end: number, key: Buffer): boolean {
  if (end - start !== key.length) return false;
  for (let i = 0; i < key.length; i++) if (buf[start + i] !== key[i]) return false;
  return true;
}

/** Reads KeyValue at [r.pos, end): returns the key range and the string value range (or -1). */
function readKeyValue(r: Reader, end: number, out: { kStart: number; kEnd: number; vStart: number; vEnd: number }): void {
  out.kStart = out.kEnd = out.vStart = out.vEnd = -1;
  while (r.pos < end) {
    const tag = r.varint(end);
    const field = tag >>> 3;
    const wire = tag & 7;
    if (field === 1 && wire === 2) {
      const e = r.len(end);
      out.kStart = r.pos;
      out.kEnd = e;
      r.pos = e;
    } else if (field === 2 && wire === 2) {
      const ve = r.len(end);
      while (r.pos < ve) {
        const t = r.varint(ve);
        if (t >>> 3 === 1 && (t & 7) === 2) {
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
    if (tag >>> 3 === 1 && (tag & 7) === 2) {
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
    if (wire === 2 && (field === 1 || field === 2 || field === 4)) {
      const e = r.len(end);
      const s = toHex(buf, r.pos, e);
      if (field === 1) traceId = s;
      else if (field === 2) spanId = s;
      else parentSpanId = s;
      r.pos = e;
    } else if (field === 6 && wire === 0) {
      kind = r.varint(end);
    } else if ((field === 7 || field === 8) && wire === 1) {
      if (field === 7) startMs = r.fixed64AsMs(end);
      else endMs = r.fixed64AsMs(end);
    } else if (field === 9 && wire === 2) {
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
    } else if (field === 15 && wire === 2) {
      const e = r.len(end);
      while (r.pos < e) {
        const t = r.varint(e);
        if (t >>> 3 === 3 && (t & 7) === 0) failed = r.varint(e) === STATUS_ERROR;
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
    if (tag >>> 3 !== 1 || (tag & 7) !== 2) {
      r.skip(tag & 7, end);
      continue;
    }
    const rsEnd = r.len(end);
    // A resource's service name may follow its spans on the wire, so find it first.
    const resource = { service: '', namespace: '' };
    const scopes: [number, number][] = [];
    while (r.pos < rsEnd) {
      const t = r.varint(rsEnd);
      const field = t >>> 3;
      if (field === 1 && (t & 7) === 2) {
        const e = r.len(rsEnd);
        readService(r, e, resource);
        r.pos = e;
      } else if (field === 2 && (t & 7) === 2) {
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
        if (t >>> 3 === 2 && (t & 7) === 2) {
          const e = r.len(sEnd);
          readSpan(r, e, service, resource.namespace, fn);
          r.pos = e;
        } else r.skip(t & 7, sEnd);
      }
    }
    r.pos = rsEnd;
  }
}
