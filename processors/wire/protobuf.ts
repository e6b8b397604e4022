/*
 * The protobuf wire format, read and written without generated classes: AirDig's hot paths (OTLP
 * splitting and pairing, remote write, the direct row encoders) walk messages as byte ranges and
 * copy what they keep. Field numbers live with the messages that define them (model/); this file
 * knows only tags, varints, lengths and fixed-width values.
 */
import { MalformedInputError } from '../runtime/errors.js';

/** Wire types. */
export const enum Wire {
  Varint = 0,
  I64 = 1,
  Len = 2,
  I32 = 5,
}

/** A field's tag: field number and wire type. */
export const tagOf = (field: number, wire: Wire): number => field * 8 + wire;

type ErrorClass = new (message: string) => Error;

const F64 = new Float64Array(1);
const F64_BYTES = new Uint8Array(F64.buffer);
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * A cursor over one buffer. Every read is bounded by the `end` of the message it is in, and a
 * field that runs past it is an error (`Err`, a MalformedInputError unless the caller names its
 * own subclass), never a read of the next message's bytes.
 */
export class ProtoReader {
  pos = 0;
  constructor(
    readonly buf: Uint8Array,
    readonly Err: ErrorClass = MalformedInputError,
  ) {}

  /** An unsigned varint (exact up to 2^53). */
  varint(end: number): number {
    // One byte: tags, lengths and most small values.
    const at = this.pos;
    if (at < end) {
      const b = this.buf[at]!;
      if (b < 0x80) {
        this.pos = at + 1;
        return b;
      }
    }
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= end) throw new this.Err('truncated protobuf: varint runs past the end of its message');
      const b = this.buf[this.pos++]!;
      result += (b & 0x7f) * mul;
      if (b < 0x80) return result;
      mul *= 128;
    }
    throw new this.Err('malformed protobuf: varint longer than 10 bytes');
  }

  /** An int64 varint: two's complement, so values of 2^63 and more are negative. */
  int64(end: number): number {
    const v = this.varint(end);
    return v >= 2 ** 63 ? v - 2 ** 64 : v;
  }

  /** A sint32/sint64 varint (zigzag). */
  sint(end: number): number {
    const n = this.varint(end);
    return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
  }

  /** Reads a length prefix and returns where its payload ends; the cursor is at the payload. */
  len(end: number): number {
    const n = this.varint(end);
    const e = this.pos + n;
    if (e > end) throw new this.Err('truncated protobuf: a field runs past the end of its message');
    return e;
  }

  /** A little-endian double (fixed 64 bits). */
  double(end: number): number {
    const at = this.pos;
    if (at + 8 > end) throw new this.Err('truncated protobuf: double runs past the end of its message');
    this.pos = at + 8;
    if (!LITTLE_ENDIAN) return new DataView(this.buf.buffer, this.buf.byteOffset + at, 8).getFloat64(0, true);
    const b = this.buf;
    for (let i = 0; i < 8; i++) F64_BYTES[i] = b[at + i]!;
    return F64[0]!;
  }

  /** A fixed64 of nanoseconds as (fractional) milliseconds. */
  fixed64AsMs(end: number): number {
    if (this.pos + 8 > end) throw new this.Err('truncated protobuf: fixed64 runs past the end of its message');
    const b = this.buf;
    const p = this.pos;
    const low = (b[p]! | (b[p + 1]! << 8) | (b[p + 2]! << 16) | (b[p + 3]! << 24)) >>> 0;
    const high = (b[p + 4]! | (b[p + 5]! << 8) | (b[p + 6]! << 16) | (b[p + 7]! << 24)) >>> 0;
    this.pos += 8;
    return (high * 4_294_967_296 + low) / 1e6;
  }

  /** Moves past a field's value of the given wire type. */
  skip(wire: number, end: number): void {
    if (wire === Wire.Varint) this.varint(end);
    else if (wire === Wire.I64) this.pos += 8;
    else if (wire === Wire.Len) {
      const n = this.varint(end); // read first: `this.pos += this.varint()` would add to the old position
      this.pos += n;
    } else if (wire === Wire.I32) this.pos += 4;
    else throw new this.Err(`malformed protobuf: wire type ${wire} is not supported`);
    if (this.pos > end) throw new this.Err('truncated protobuf: a field runs past the end of its message');
  }
}

/**
 * Calls onField(field, wire, start, end) for each field of the message in buf[from, to). For LEN
 * fields [start, end) is the payload; for others, the encoded value. Field 0 and unknown wire
 * types are errors.
 */
export function forEachField(buf: Uint8Array, from: number, to: number, onField: (field: number, wire: number, start: number, end: number) => void): void {
  const r = new ProtoReader(buf);
  r.pos = from;
  while (r.pos < to) {
    const tag = r.varint(to);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    if (field === 0) throw new MalformedInputError('malformed protobuf: field number 0');
    let start = r.pos;
    let end: number;
    if (wire === Wire.Len) {
      end = r.len(to);
      start = r.pos;
    } else {
      r.skip(wire, to);
      end = r.pos;
    }
    if (end > to) throw new MalformedInputError(`truncated protobuf: field ${field} runs past the end of its message`);
    onField(field, wire, start, end);
    r.pos = end;
  }
}

/** Bytes buf[start, end) equal `what`. */
export function bytesEqual(buf: Uint8Array, start: number, end: number, what: Uint8Array): boolean {
  if (end - start !== what.length) return false;
  for (let i = 0; i < what.length; i++) if (buf[start + i] !== what[i]) return false;
  return true;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** buf[start, end) as lower-case hex (trace and span ids). */
export function toHex(buf: Uint8Array, start: number, end: number): string {
  let s = '';
  for (let i = start; i < end; i++) s += HEX[buf[i]!];
  return s;
}

// ---- writing

/** Bytes a varint of n takes. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Writes n as a varint at pos; returns the position after it. */
export function writeVarint(out: Uint8Array, pos: number, n: number): number {
  while (n >= 128) {
    out[pos++] = (n % 128) | 0x80;
    n = Math.floor(n / 128);
  }
  out[pos++] = n;
  return pos;
}

/** A varint field: tag, value. */
export function varintField(field: number, n: number): Buffer {
  const out = Buffer.allocUnsafe(varintSize(tagOf(field, Wire.Varint)) + varintSize(n));
  writeVarint(out, writeVarint(out, 0, tagOf(field, Wire.Varint)), n);
  return out;
}

/** A length-delimited field: tag, length, bytes. */
export function lenField(field: number, bytes: Uint8Array): Buffer {
  const tag = tagOf(field, Wire.Len);
  const out = Buffer.allocUnsafe(varintSize(tag) + varintSize(bytes.length) + bytes.length);
  const at = writeVarint(out, writeVarint(out, 0, tag), bytes.length);
  out.set(bytes, at);
  return out;
}

/** A message assembled from slices of an original buffer: raw payloads and nested messages, each a LEN field. */
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
    s += varintSize(tagOf(c.field, Wire.Len)) + varintSize(inner) + inner;
  }
  return (p.size = s);
}

function writePiece(out: Uint8Array, pos: number, p: Piece): number {
  for (const c of p.children!) {
    pos = writeVarint(out, pos, tagOf(c.field, Wire.Len));
    pos = writeVarint(out, pos, c.size!);
    if (c.bytes) {
      out.set(c.bytes, pos);
      pos += c.bytes.length;
    } else pos = writePiece(out, pos, c);
  }
  return pos;
}

/** Encodes a top-level message whose fields are all LEN pieces. */
export function encodePieces(children: Piece[]): Buffer {
  const root: Piece = { field: 0, children };
  const size = measure(root);
  const out = Buffer.allocUnsafe(size);
  const end = writePiece(out, 0, root);
  if (end !== size) throw new Error(`protobuf assembly wrote ${end} of ${size} bytes`);
  return out;
}

/** A message of LEN fields, each a byte range of src (start, end pairs in `ranges`) under its field number. */
export function encodeRanges(src: Buffer, parts: { field: number; ranges: readonly number[] }[]): Buffer {
  let size = 0;
  for (const { field, ranges } of parts) {
    const tag = varintSize(tagOf(field, Wire.Len));
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
      pos = writeVarint(out, pos, tagOf(field, Wire.Len));
      pos = writeVarint(out, pos, e - s);
      pos += src.copy(out, pos, s, e);
    }
  }
  return out;
}
