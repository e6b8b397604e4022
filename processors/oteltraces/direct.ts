import { isUtf8 } from 'node:buffer';
import { opentelemetry } from '../../protos/gen/otlp.js';
import { compileValueEncoder, Writer, type DirectLayout, type DirectRowsWriter } from '../runtime/store/rowbinary.js';
import { anyValueToString, attributesToMap } from '../model/otlp.js';

/*
 * otel_traces rows written as RowBinary straight from an ExportTraceServiceRequest's bytes: no
 * message objects, no row objects, no ISO strings. Column values are byte for byte what traceRows()
 * makes and the generic encoder writes (times are the uint64 nanoseconds as DateTime64(9) ticks,
 * strings are copied once checked as UTF-8, attribute values become text by anyValueToString's
 * rules), and the walk rejects what protobufjs rejects. Where mirroring protobufjs or the row
 * objects exactly would take more than the common case needs (a message field sent twice, which
 * protobufjs merges; a map key that a JS object would reorder or drop; a group; a time past 2262),
 * the walk gives up on the record (NotDirect) and the sink takes the object path for it, which
 * decides. Field numbers are OTLP's (trace/v1, common/v1, resource/v1).
 */

const MAP_TYPE = 'Map(LowCardinality(String), String)';

/** otel_traces' columns as schemas/clickhouse/0002_otel_traces.sql makes them, in order. */
export const OTEL_TRACES_LAYOUT: DirectLayout = {
  name: 'the otel_traces sink',
  columns: [
    { name: 'Timestamp', type: 'DateTime64(9)' },
    { name: 'TraceId', type: 'String' },
    { name: 'SpanId', type: 'String' },
    { name: 'ParentSpanId', type: 'String' },
    { name: 'TraceState', type: 'String' },
    { name: 'SpanName', type: 'LowCardinality(String)' },
    { name: 'SpanKind', type: 'LowCardinality(String)' },
    { name: 'ServiceName', type: 'LowCardinality(String)' },
    { name: 'ResourceAttributes', type: MAP_TYPE },
    { name: 'ScopeName', type: 'String' },
    { name: 'ScopeVersion', type: 'String' },
    { name: 'SpanAttributes', type: MAP_TYPE },
    { name: 'Duration', type: 'UInt64' },
    { name: 'StatusCode', type: 'LowCardinality(String)' },
    { name: 'StatusMessage', type: 'String' },
    { name: 'Events.Timestamp', type: 'Array(DateTime64(9))' },
    { name: 'Events.Name', type: 'Array(LowCardinality(String))' },
    { name: 'Events.Attributes', type: `Array(${MAP_TYPE})` },
    { name: 'Links.TraceId', type: 'Array(String)' },
    { name: 'Links.SpanId', type: 'Array(String)' },
    { name: 'Links.TraceState', type: 'Array(String)' },
    { name: 'Links.Attributes', type: `Array(${MAP_TYPE})` },
  ],
};

/** The walk cannot vouch for byte-identical rows: the record goes through traceRows() instead. */
export class NotDirect extends Error {}
const notDirect = new NotDirect('not mirrored by the direct walk');

// The generated decoders take the nesting depth as a 4th argument (protobufjs' recursion limit counts
// from the request): used for the few parts decoded as objects, at the depth they have in the request.
type DecodeAt<T> = (buf: Uint8Array, length: undefined, end: undefined, depth: number) => T;
const { common, resource } = opentelemetry.proto;
const decodeResource = resource.v1.Resource.decode as unknown as DecodeAt<opentelemetry.proto.resource.v1.Resource>;
const decodeScope = common.v1.InstrumentationScope.decode as unknown as DecodeAt<opentelemetry.proto.common.v1.InstrumentationScope>;
const decodeAnyValue = common.v1.AnyValue.decode as unknown as DecodeAt<opentelemetry.proto.common.v1.AnyValue>;

// Depths as protobufjs counts them: request 0, ResourceSpans 1, Resource / ScopeSpans 2, scope / Span 3,
// span KeyValue / Event / Link 4, so a span attribute's AnyValue is at 5 and an event's or link's at 6.
const DEPTH_RESOURCE = 2;
const DEPTH_SCOPE = 3;
const DEPTH_SPAN_VALUE = 5;
const DEPTH_EVENT_VALUE = 6;

const encodeMap = compileValueEncoder(MAP_TYPE);
const encodeString = compileValueEncoder('String');

/** A constant's bytes (the enums' names, '' and the booleans' text), copied where it goes. */
function encodedOnce(encode: (w: Writer, v: unknown) => void, v: unknown): Uint8Array {
  const w = new Writer(256);
  encode(w, v);
  return w.buf.subarray(0, w.pos);
}

const strings = (values: readonly string[]) => values.map((v) => encodedOnce(encodeString, v));
// traceRows' names of the enums, '' for other values.
const SPAN_KINDS = strings(['SPAN_KIND_UNSPECIFIED', 'SPAN_KIND_INTERNAL', 'SPAN_KIND_SERVER', 'SPAN_KIND_CLIENT', 'SPAN_KIND_PRODUCER', 'SPAN_KIND_CONSUMER']);
const STATUS_CODES = strings(['STATUS_CODE_UNSET', 'STATUS_CODE_OK', 'STATUS_CODE_ERROR']);
const EMPTY = encodedOnce(encodeString, '');
const TRUE = encodedOnce(encodeString, 'true');
const FALSE = encodedOnce(encodeString, 'false');
const HEX_DIGITS = Buffer.from('0123456789abcdef');
const PROTO_KEY = Buffer.from('__proto__');
const isProtoKey = (at: number) => {
  for (let i = 0; i < 9; i++) if (buf[at + i] !== PROTO_KEY[i]) return false;
  return true;
};

// ---------------------------------------------------------------------------------------------
// Reading, with protobufjs' semantics (lengths and tags as uint32, truncation is an error).

// The request being walked and the read position in it (module state: the walk is synchronous).
const EMPTY_BUFFER = Buffer.alloc(0);
let buf: Buffer = EMPTY_BUFFER;
let pos = 0;

/** protobufjs' uint32: the low 32 bits of a varint of up to 10 bytes. */
function uint32(end: number): number {
  let value = 0;
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw notDirect;
    const b = buf[pos++]!;
    value = i < 4 ? value | ((b & 127) << (7 * i)) : value | ((b & 15) << 28);
    if (b < 128) return value >>> 0;
  }
  for (let i = 0; i < 5; i++) {
    if (pos >= end) throw notDirect;
    if (buf[pos++]! < 128) return value >>> 0;
  }
  throw notDirect;
}

/**
 * A varint of at most 5 bytes whose 5th is at most `fifthMax`: protobufjs' reading of tags (15) and
 * of lengths (7), which refuses longer ones.
 */
function varint5(end: number, fifthMax: number): number {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    if (pos >= end) throw notDirect;
    const b = buf[pos++]!;
    value |= (b & 127) << (7 * i);
    if (b < 128) return value >>> 0;
  }
  if (pos >= end) throw notDirect;
  const b = buf[pos++]!;
  if (b > fifthMax) throw notDirect;
  return (value | (b << 28)) >>> 0;
}

/** A LEN field's payload end, checked against its message's. */
function len(end: number): number {
  const n = pos < end && buf[pos]! < 128 ? buf[pos++]! : varint5(end, 7);
  const e = pos + n;
  if (e > end) throw notDirect;
  return e;
}

/** Skips an unknown field (or a known one of another wire type, which protobufjs skips too). */
function skip(wire: number, end: number): void {
  switch (wire) {
    case 0:
      do if (pos >= end) throw notDirect;
      while (buf[pos++]! & 128);
      return;
    case 1:
      pos += 8;
      break;
    case 2:
      pos = len(end);
      return;
    case 5:
      pos += 4;
      break;
    default:
      throw notDirect; // groups (which protobufjs skips) and wire types it refuses
  }
  if (pos > end) throw notDirect;
}

/** A tag: field number * 8 + wire type; field 0 is refused. */
function tag(end: number): number {
  const t = pos < end && buf[pos]! < 128 ? buf[pos++]! : varint5(end, 15);
  if (t >>> 3 === 0) throw notDirect;
  return t;
}

/** The 8 bytes of a fixed64 field: their position. */
function fixed64(end: number): number {
  const at = pos;
  pos += 8;
  if (pos > end) throw notDirect;
  return at;
}

/** A string field must be UTF-8 (protobufjs' stringVerify): ASCII is checked here, the rest natively. */
function checkUtf8(s: number, e: number): void {
  let high = 0;
  for (let i = s; i < e; i++) high |= buf[i]!;
  if (high & 0x80 && !isUtf8(buf.subarray(s, e))) throw notDirect;
}

// ---------------------------------------------------------------------------------------------
// Writing

/** A checked string's bytes as a RowBinary String. */
function copyString(w: Writer, s: number, e: number): void {
  const n = e - s;
  w.varint(n);
  w.ensure(n);
  const out = w.buf;
  let p = w.pos;
  if (n > 64) {
    buf.copy(out, p, s, e);
    w.pos = p + n;
    return;
  }
  for (let i = s; i < e; i++) out[p++] = buf[i]!;
  w.pos = p;
}

/** A string field read (checked) and written in one pass. */
function checkedString(w: Writer, s: number, e: number): void {
  const n = e - s;
  w.varint(n);
  w.ensure(n);
  const out = w.buf;
  let p = w.pos;
  let high = 0;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    high |= b;
    out[p++] = b;
  }
  if (high & 0x80 && !isUtf8(buf.subarray(s, e))) throw notDirect;
  w.pos = p;
}

/** Bytes as lower-case hex (values.ts hex()), as a String. */
function hexString(w: Writer, s: number, e: number): void {
  const n = e - s;
  w.varint(2 * n);
  w.ensure(2 * n);
  const out = w.buf;
  let p = w.pos;
  for (let i = s; i < e; i++) {
    const b = buf[i]!;
    out[p++] = HEX_DIGITS[b >>> 4]!;
    out[p++] = HEX_DIGITS[b & 15]!;
  }
  w.pos = p;
}

/** DateTime64(9) ticks from a fixed64 at `at` (-1: absent, 0). Past 2^63 ns the row is refused by the object path: left to it. */
function nanos(w: Writer, at: number): void {
  if (at < 0) return w.u64(0, 0);
  if (buf[at + 7]! & 0x80) throw notDirect;
  w.ensure(8);
  const out = w.buf;
  const p = w.pos;
  for (let i = 0; i < 8; i++) out[p + i] = buf[at + i]!;
  w.pos = p + 8;
}

const u32 = (at: number) => buf.readUInt32LE(at);

/**
 * One AnyValue (payload [s, e)) as text by anyValueToString's rules. Scalars are written here; an
 * array or kvlist is decoded by protobufjs and given to anyValueToString itself (JSON, rare).
 */
function anyValue(w: Writer, s: number, e: number, depth: number): void {
  // The usual value, a string_value alone: field 1 with a one-byte length, up to the value's end.
  if (e - s >= 2 && buf[s] === 0x0a && buf[s + 1]! < 128 && s + 2 + buf[s + 1]! === e) return checkedString(w, s + 2, e);
  pos = s;
  let kind = 0;
  let at = 0;
  let end = 0;
  while (pos < e) {
    const t = tag(e);
    const f = t >>> 3;
    const wire = t & 7;
    const expected = f === 1 || f === 5 || f === 6 || f === 7 ? 2 : f === 2 || f === 3 ? 0 : f === 4 ? 1 : -1;
    if (wire !== expected) {
      skip(wire, e);
      continue;
    }
    // A second member of the oneof (or the same twice): protobufjs keeps the last, merging messages.
    if (kind !== 0) throw notDirect;
    kind = f;
    if (wire === 2) {
      end = len(e);
      at = pos;
      pos = end;
    } else if (wire === 1) at = fixed64(e);
    else {
      at = pos;
      skip(0, e);
    }
  }
  switch (kind) {
    case 0:
      return w.raw(EMPTY);
    case 1:
      return checkedString(w, at, end);
    case 2: {
      // protobufjs' bool: any of the varint's bits set.
      let v = false;
      for (let p = at; ; p++) {
        if (p - at === 10) throw notDirect; // protobufjs: invalid varint encoding
        const b = buf[p]!;
        if (b & 127) v = true;
        if (b < 128) break;
      }
      return w.raw(v ? TRUE : FALSE);
    }
    case 3:
      return w.string(int64String(at, e));
    case 4:
      return w.string(String(buf.readDoubleLE(at)));
    case 7:
      return w.string(buf.toString('base64', at, end));
    default:
      return w.string(anyValueToString(decodeAnyValue(buf.subarray(s, e), undefined, undefined, depth)));
  }
}

/** An int64 varint at `at` as signed decimal (protobufjs' Long, then values.ts toSignedString). */
function int64String(at: number, end: number): string {
  let lo = 0;
  let hi = 0;
  let p = at;
  for (let i = 0; i < 10; i++) {
    if (p >= end) throw notDirect;
    const b = buf[p++]!;
    const bits = b & 127;
    if (i < 4) lo |= bits << (7 * i);
    else if (i === 4) {
      lo |= bits << 28;
      hi |= bits >>> 4;
    } else hi |= bits << (7 * (i - 5) + 3);
    if (b < 128) {
      const n = (hi | 0) * 4294967296 + (lo >>> 0);
      if (Number.isSafeInteger(n)) return String(n);
      return BigInt.asIntN(64, (BigInt(hi >>> 0) << 32n) | BigInt(lo >>> 0)).toString();
    }
  }
  throw notDirect;
}

// Key ranges of the map being written, to find a key met twice (keys counts them: no array length
// is reset in the hot path, as that is a runtime call).
const keyStarts: number[] = [];
const keyEnds: number[] = [];
let keys = 0;

/**
 * A Map(LowCardinality(String), String) from KeyValue payloads (start, end pairs in ranges[from, to)),
 * as attributesToMap's object encodes: in order, when no key repeats, none is an array index (a JS
 * object puts those first) and none is __proto__ (which the object drops).
 */
function attributeMap(w: Writer, ranges: readonly number[], from: number, to: number, depth: number): void {
  w.varint((to - from) >>> 1);
  keys = 0;
  for (let r = from; r < to; r += 2) {
    const s = ranges[r]!;
    const e = ranges[r + 1]!;
    let ks = -1;
    let ke = 0;
    let vs = -1;
    let ve = -1;
    pos = s;
    while (pos < e) {
      const t = tag(e);
      if (t === 0x0a) {
        if (ks >= 0) checkUtf8(ks, ke); // the last key is checked as it is copied
        ke = len(e);
        ks = pos;
        pos = ke;
      } else if (t === 0x12) {
        if (vs >= 0) throw notDirect; // protobufjs merges a value sent twice
        ve = len(e);
        vs = pos;
        pos = ve;
      } else skip(t & 7, e);
    }
    if (ks < 0) ks = ke = 0;
    const n = ke - ks;
    if (n > 0) {
      const c = buf[ks]!;
      if (c >= 0x30 && c <= 0x39) throw notDirect;
      if (n === 9 && c === 0x5f && isProtoKey(ks)) throw notDirect;
    }
    for (let k = 0; k < keys; k++) {
      const ps = keyStarts[k]!;
      if (keyEnds[k]! - ps !== n) continue;
      let i = 0;
      while (i < n && buf[ps + i] === buf[ks + i]) i++;
      if (i === n) throw notDirect;
    }
    keyStarts[keys] = ks;
    keyEnds[keys++] = ke;
    checkedString(w, ks, ke);
    if (vs < 0)
      w.u8(0); // no value: the empty string
    else anyValue(w, vs, ve, depth);
  }
}

// ---------------------------------------------------------------------------------------------
// The walk

/** A reusable list of numbers: cleared by its count (an array's length = 0 is a runtime call). */
class Ints {
  readonly v: number[] = [];
  n = 0;
  add(x: number): void {
    this.v[this.n++] = x;
  }
}

// The span being written (a span's fields come in any order; the row's columns in the table's):
// ranges of its attributes, events and links; per event: name start, name end, time position,
// attributes from, to (in eventAttrs); per link: trace id, span id, trace state (start, end each),
// attributes from, to (in linkAttrs).
const spanAttrs = new Ints();
const events = new Ints();
const links = new Ints();
const eventFields = new Ints();
const eventAttrs = new Ints();
const linkFields = new Ints();
const linkAttrs = new Ints();

/**
 * The columns every span of a scope shares, ServiceName, ResourceAttributes, ScopeName and
 * ScopeVersion (adjacent in the table), encoded once with their "not default" bytes.
 */
function sharedColumns(serviceName: string, resourceAttributes: Record<string, string>, scopeName: string, scopeVersion: string): Uint8Array {
  const w = new Writer(512);
  w.u8(0);
  encodeString(w, serviceName);
  w.u8(0);
  encodeMap(w, resourceAttributes);
  w.u8(0);
  encodeString(w, scopeName);
  w.u8(0);
  encodeString(w, scopeVersion);
  return w.buf.subarray(0, w.pos);
}

function span(out: DirectRowsWriter, w: Writer, s: number, e: number, shared: Uint8Array): void {
  let traceS = 0,
    traceE = 0,
    spanS = 0,
    spanE = 0,
    parentS = 0,
    parentE = 0;
  let stateS = 0,
    stateE = 0,
    nameS = 0,
    nameE = 0;
  let kind = 0;
  let start = -1;
  let end = -1;
  let statusS = -1;
  let statusE = -1;
  spanAttrs.n = 0;
  events.n = 0;
  links.n = 0;
  pos = s;
  while (pos < e) {
    const t = tag(e);
    switch (t) {
      case 0x0a: // trace_id
        traceE = len(e);
        traceS = pos;
        pos = traceE;
        break;
      case 0x12: // span_id
        spanE = len(e);
        spanS = pos;
        pos = spanE;
        break;
      case 0x1a: // trace_state
        stateE = len(e);
        stateS = pos;
        checkUtf8(stateS, stateE);
        pos = stateE;
        break;
      case 0x22: // parent_span_id
        parentE = len(e);
        parentS = pos;
        pos = parentE;
        break;
      case 0x2a: // name
        nameE = len(e);
        nameS = pos;
        checkUtf8(nameS, nameE);
        pos = nameE;
        break;
      case 0x30: // kind, an int32 enum
        kind = uint32(e) | 0;
        break;
      case 0x39: // start_time_unix_nano
        start = fixed64(e);
        break;
      case 0x41: // end_time_unix_nano
        end = fixed64(e);
        break;
      case 0x4a: {
        // attributes
        const ae = len(e);
        spanAttrs.add(pos);
        spanAttrs.add(ae);
        pos = ae;
        break;
      }
      case 0x5a: {
        // events
        const ee = len(e);
        events.add(pos);
        events.add(ee);
        pos = ee;
        break;
      }
      case 0x6a: {
        // links
        const le = len(e);
        links.add(pos);
        links.add(le);
        pos = le;
        break;
      }
      case 0x7a: // status = 15: a second one would be merged into the first
        if (statusS >= 0) throw notDirect;
        statusE = len(e);
        statusS = pos;
        pos = statusE;
        break;
      case 0x50: // dropped_attributes_count
      case 0x60: // dropped_events_count
      case 0x70: // dropped_links_count
        uint32(e);
        break;
      default: // flags = 16 (fixed32) among them
        skip(t & 7, e);
    }
  }
  let statusCode = 0;
  let messageS = 0;
  let messageE = 0;
  if (statusS >= 0) {
    pos = statusS;
    while (pos < statusE) {
      const t = tag(statusE);
      if (t === 0x12) {
        messageE = len(statusE);
        messageS = pos;
        checkUtf8(messageS, messageE);
        pos = messageE;
      } else if (t === 0x18) statusCode = uint32(statusE) | 0;
      else skip(t & 7, statusE);
    }
  }
  readEvents();
  readLinks();

  w.u8(0);
  nanos(w, start);
  w.u8(0);
  hexString(w, traceS, traceE);
  w.u8(0);
  hexString(w, spanS, spanE);
  w.u8(0);
  hexString(w, parentS, parentE);
  w.u8(0);
  copyString(w, stateS, stateE);
  w.u8(0);
  copyString(w, nameS, nameE);
  w.u8(0);
  w.raw(SPAN_KINDS[kind] ?? EMPTY);
  w.raw(shared);
  w.u8(0);
  attributeMap(w, spanAttrs.v, 0, spanAttrs.n, DEPTH_SPAN_VALUE);
  w.u8(0);
  duration(w, start, end);
  w.u8(0);
  w.raw(STATUS_CODES[statusCode] ?? EMPTY);
  w.u8(0);
  copyString(w, messageS, messageE);
  const ev = eventFields.v;
  const nEvents = eventFields.n / 5;
  w.u8(0);
  w.varint(nEvents);
  for (let k = 0; k < nEvents; k++) nanos(w, ev[5 * k + 2]!);
  w.u8(0);
  w.varint(nEvents);
  for (let k = 0; k < nEvents; k++) copyString(w, ev[5 * k]!, ev[5 * k + 1]!);
  w.u8(0);
  w.varint(nEvents);
  for (let k = 0; k < nEvents; k++) attributeMap(w, eventAttrs.v, ev[5 * k + 3]!, ev[5 * k + 4]!, DEPTH_EVENT_VALUE);
  const lf = linkFields.v;
  const nLinks = linkFields.n / 8;
  for (let c = 0; c < 3; c++) {
    w.u8(0);
    w.varint(nLinks);
    for (let k = 0; k < nLinks; k++) {
      const s0 = lf[8 * k + 2 * c]!;
      const e0 = lf[8 * k + 2 * c + 1]!;
      if (c < 2) hexString(w, s0, e0);
      else copyString(w, s0, e0);
    }
  }
  w.u8(0);
  w.varint(nLinks);
  for (let k = 0; k < nLinks; k++) attributeMap(w, linkAttrs.v, lf[8 * k + 6]!, lf[8 * k + 7]!, DEPTH_EVENT_VALUE);
  out.endRow();
}

/** end - start as traceRows computes it (0 unless end > start, through a double like Number(bigint)), as UInt64. */
function duration(w: Writer, start: number, end: number): void {
  const slo = start < 0 ? 0 : u32(start);
  const shi = start < 0 ? 0 : u32(start + 4);
  const elo = end < 0 ? 0 : u32(end);
  const ehi = end < 0 ? 0 : u32(end + 4);
  if (ehi < shi || (ehi === shi && elo <= slo)) return w.u64(0, 0);
  // Both terms are exact and the sum rounds once, as Number() of the exact difference does.
  const d = (ehi - shi) * 4294967296 + (elo - slo);
  if (Number.isSafeInteger(d)) w.i64(d);
  else w.bigUnsigned(BigInt(d), 8);
}

function readEvents(): void {
  eventFields.n = 0;
  eventAttrs.n = 0;
  for (let k = 0; k < events.n; k += 2) {
    const e = events.v[k + 1]!;
    let nameS = 0;
    let nameE = 0;
    let time = -1;
    const from = eventAttrs.n;
    pos = events.v[k]!;
    while (pos < e) {
      const t = tag(e);
      if (t === 0x09) time = fixed64(e);
      else if (t === 0x12) {
        nameE = len(e);
        nameS = pos;
        checkUtf8(nameS, nameE);
        pos = nameE;
      } else if (t === 0x1a) {
        const ae = len(e);
        eventAttrs.add(pos);
        eventAttrs.add(ae);
        pos = ae;
      } else if (t === 0x20) uint32(e);
      else skip(t & 7, e);
    }
    eventFields.add(nameS);
    eventFields.add(nameE);
    eventFields.add(time);
    eventFields.add(from);
    eventFields.add(eventAttrs.n);
  }
}

function readLinks(): void {
  linkFields.n = 0;
  linkAttrs.n = 0;
  for (let k = 0; k < links.n; k += 2) {
    const e = links.v[k + 1]!;
    let traceS = 0,
      traceE = 0,
      spanS = 0,
      spanE = 0,
      stateS = 0,
      stateE = 0;
    const from = linkAttrs.n;
    pos = links.v[k]!;
    while (pos < e) {
      const t = tag(e);
      if (t === 0x0a) {
        traceE = len(e);
        traceS = pos;
        pos = traceE;
      } else if (t === 0x12) {
        spanE = len(e);
        spanS = pos;
        pos = spanE;
      } else if (t === 0x1a) {
        stateE = len(e);
        stateS = pos;
        checkUtf8(stateS, stateE);
        pos = stateE;
      } else if (t === 0x22) {
        const ae = len(e);
        linkAttrs.add(pos);
        linkAttrs.add(ae);
        pos = ae;
      } else if (t === 0x28) uint32(e);
      else skip(t & 7, e); // flags = 6 (fixed32) among them
    }
    for (const x of [traceS, traceE, spanS, spanE, stateS, stateE, from]) linkFields.add(x);
    linkFields.add(linkAttrs.n);
  }
}

function scopeSpans(out: DirectRowsWriter, w: Writer, s: number, e: number, serviceName: string, resourceAttributes: Record<string, string>): void {
  let scopeS = -1;
  let scopeE = -1;
  const spans: number[] = [];
  pos = s;
  while (pos < e) {
    const t = tag(e);
    if (t === 0x0a) {
      if (scopeS >= 0) throw notDirect;
      scopeE = len(e);
      scopeS = pos;
      pos = scopeE;
    } else if (t === 0x12) {
      const se = len(e);
      spans.push(pos, se);
      pos = se;
    } else if (t === 0x1a) {
      const ue = len(e); // schema_url, unused but checked as protobufjs does
      checkUtf8(pos, ue);
      pos = ue;
    } else skip(t & 7, e);
  }
  // The scope is decoded as protobufjs would (its attributes are checked, and unused), once per scope.
  const scope = scopeS < 0 ? undefined : decodeScope(buf.subarray(scopeS, scopeE), undefined, undefined, DEPTH_SCOPE);
  const shared = sharedColumns(serviceName, resourceAttributes, scope?.name ?? '', scope?.version ?? '');
  for (let k = 0; k < spans.length; k += 2) span(out, w, spans[k]!, spans[k + 1]!, shared);
}

function resourceSpans(out: DirectRowsWriter, w: Writer, s: number, e: number): void {
  let resS = -1;
  let resE = -1;
  const scopes: number[] = [];
  pos = s;
  while (pos < e) {
    const t = tag(e);
    if (t === 0x0a) {
      if (resS >= 0) throw notDirect;
      resE = len(e);
      resS = pos;
      pos = resE;
    } else if (t === 0x12) {
      const se = len(e);
      scopes.push(pos, se);
      pos = se;
    } else if (t === 0x1a) {
      const ue = len(e);
      checkUtf8(pos, ue);
      pos = ue;
    } else skip(t & 7, e);
  }
  // Once per resource, the object path's own code: its attributes as traceRows maps them.
  const res = resS < 0 ? undefined : decodeResource(buf.subarray(resS, resE), undefined, undefined, DEPTH_RESOURCE);
  const attributes = attributesToMap(res?.attributes);
  const serviceName = attributes['service.name'] ?? '';
  for (let k = 0; k < scopes.length; k += 2) scopeSpans(out, w, scopes[k]!, scopes[k + 1]!, serviceName, attributes);
}

/**
 * Writes every span of an ExportTraceServiceRequest as an otel_traces row into `out` (begun by the
 * caller). Throws NotDirect, or an error of protobufjs on a part it decoded, where the record must
 * take the object path.
 */
export function writeTraceRows(out: DirectRowsWriter, w: Writer, value: Uint8Array): void {
  buf = Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
  try {
    const end = buf.length;
    pos = 0;
    while (pos < end) {
      const t = tag(end);
      if (t === 0x0a) {
        const e = len(end);
        resourceSpans(out, w, pos, e); // moves pos
        pos = e;
      } else skip(t & 7, end);
    }
  } finally {
    buf = EMPTY_BUFFER; // the record is not kept alive by the walk
  }
}
