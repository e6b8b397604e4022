import { MalformedInputError } from '../runtime/errors.js';

/**
 * Protobuf wire-format walking for OTLP requests: just enough to find each span's trace id and to
 * rebuild smaller requests from byte slices of the original, without decoding attributes, events
 * or anything else a gateway does not need.
 */

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

/** Reads a varint at pos; returns value (up to 2^53) and the position after it. */
function readVarint(buf: Uint8Array, pos: number, end: number): [number, number] {
  let result = 0;
  let mul = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= end) throw new MalformedInputError('truncated protobuf: varint runs past the end of its message');
    const b = buf[pos++]!;
    result += (b & 0x7f) * mul;
    if (b < 0x80) return [result, pos];
    mul *= 128;
  }
  throw new MalformedInputError('malformed protobuf: varint longer than 10 bytes');
}

/**
 * Calls onField(field, wireType, start, end) for each field of the message in buf[from, to).
 * For LEN fields, [start, end) is the payload; for others, the encoded value. Throws a
 * MalformedInputError on truncation or an unknown wire type.
 */
export function forEachField(buf: Uint8Array, from: number, to: number, onField: (field: number, wire: number, start: number, end: number) => void): void {
  let pos = from;
  while (pos < to) {
    const [tag, afterTag] = readVarint(buf, pos, to);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new MalformedInputError('malformed protobuf: field number 0');
    pos = afterTag;
    let start = pos;
    let end: number;
    switch (wire) {
      case WIRE_VARINT:
        end = readVarint(buf, pos, to)[1];
        break;
      case WIRE_I64:
        end = pos + 8;
        break;
      case WIRE_I32:
        end = pos + 4;
        break;
      case WIRE_LEN: {
        const [len, after] = readVarint(buf, pos, to);
        start = after;
        end = after + len;
        break;
      }
      default:
        throw new MalformedInputError(`malformed protobuf: wire type ${wire} of field ${field} is not supported`);
    }
    if (end > to) throw new MalformedInputError(`truncated protobuf: field ${field} runs past the end of its message`);
    onField(field, wire, start, end);
    pos = end;
  }
}

function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** A message assembled from slices of the original buffer: raw bytes and nested messages, each under a field number. */
export interface Piece {
  field: number;
  /** A slice copied as it is (the payload of a LEN field). */
  bytes?: Uint8Array;
  /** Or a nested message built from pieces. */
  children?: Piece[];
  /** Size of the payload, computed once by measure(). */
  size?: number;
}

function measure(p: Piece): number {
  if (p.bytes) return (p.size = p.bytes.length);
  let s = 0;
  for (const c of p.children!) {
    const inner = measure(c);
    s += varintSize(c.field * 8 + WIRE_LEN) + varintSize(inner) + inner;
  }
  return (p.size = s);
}

function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    out[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

function write(out: Uint8Array, pos: number, p: Piece): number {
  for (const c of p.children!) {
    pos = writeVarint(out, pos, c.field * 8 + WIRE_LEN);
    pos = writeVarint(out, pos, c.size!);
    if (c.bytes) {
      out.set(c.bytes, pos);
      pos += c.bytes.length;
    } else pos = write(out, pos, c);
  }
  return pos;
}

/** Encodes a top-level message whose fields are all LEN-typed pieces. */
export function encodePieces(children: Piece[]): Buffer {
  const root: Piece = { field: 0, children };
  const size = measure(root);
  const out = Buffer.allocUnsafe(size);
  const end = write(out, 0, root);
  if (end !== size) throw new Error(`protobuf assembly wrote ${end} of ${size} bytes`);
  return out;
}

/** A message of LEN fields, each a byte range of src (start, end pairs in `ranges`) under its field number. */
export function encodeRanges(src: Buffer, parts: { field: number; ranges: readonly number[] }[]): Buffer {
  let size = 0;
  for (const { field, ranges } of parts) {
    const tag = varintSize(field * 8 + WIRE_LEN);
    for (let i = 0; i < ranges.length; i += 2) {
      const n = ranges[i + 1]! - ranges[i]!;
      size += tag + varintSize(n) + n;
    }
  }
  const out = Buffer.allocUnsafe(size);
  let pos = 0;
  for (const { field, ranges } of parts) {
    for (let i = 0; i < ranges.length; i += 2) {
      const s = ranges[i]!;
      const e = ranges[i + 1]!;
      pos = writeVarint(out, pos, field * 8 + WIRE_LEN);
      pos = writeVarint(out, pos, e - s);
      pos += src.copy(out, pos, s, e);
    }
  }
  return out;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function toHex(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += HEX[buf[i]!];
  return s;
}

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
    if (field !== 1 || wire !== WIRE_LEN) return; // unknown top-level fields are ignored
    const rIdx = resourceIndex++;
    const resourceFields: Piece[] = [];
    const scopeSpans: [number, number][] = [];
    forEachField(buf, rsStart, rsEnd, (f, w, s, e) => {
      if (w !== WIRE_LEN) return;
      if (f === 2) scopeSpans.push([s, e]);
      else resourceFields.push({ field: f, bytes: buf.subarray(s, e) }); // resource (1), schema_url (3), unknown LEN fields
    });
    scopeSpans.forEach(([ssStart, ssEnd], sIdx) => {
      const scopeFields: Piece[] = [];
      const spanRanges: [number, number][] = [];
      forEachField(buf, ssStart, ssEnd, (f, w, s, e) => {
        if (w !== WIRE_LEN) return;
        if (f === 2) spanRanges.push([s, e]);
        else scopeFields.push({ field: f, bytes: buf.subarray(s, e) }); // scope (1), schema_url (3)
      });
      for (const [spStart, spEnd] of spanRanges) {
        spans++;
        let idStart = -1;
        let idEnd = -1;
        forEachField(buf, spStart, spEnd, (f, w, s, e) => {
          if (f === 1 && w === WIRE_LEN) {
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
        scope.spans.push({ field: 2, bytes: buf.subarray(spStart, spEnd) });
      }
    });
  });

  const byTrace = new Map<string, Buffer>();
  for (const [traceId, resources] of perTrace) {
    const rsPieces: Piece[] = [];
    for (const r of resources.values()) {
      const ssPieces: Piece[] = [];
      for (const sc of r.scopes.values()) ssPieces.push({ field: 2, children: [...sc.scopeFields, ...sc.spans] });
      rsPieces.push({ field: 1, children: [...r.resourceFields, ...ssPieces] });
    }
    byTrace.set(traceId, encodePieces(rsPieces));
  }
  return { byTrace, spans, rejected, rejectReason };
}

function isZero(buf: Uint8Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
  return true;
}
