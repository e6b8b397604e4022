/**
 * ClickHouse RowBinary(WithDefaults) encoding of the row objects the sinks build, compiled once per
 * table from its column types: each column gets one small encode function, so the hot path does no
 * type parsing and writes straight into one growing Buffer.
 *
 * The values accepted are the ones the sinks produced for JSONEachRow with
 * date_time_input_format=best_effort, read the way ClickHouse read them there: numeric strings for
 * numbers, 'nan' / 'inf' / '-inf' for floats, ISO 8601 strings for times, numbers for DateTime64 as
 * ticks (10^-precision s) and for DateTime as seconds, plain objects for Map, parallel arrays for
 * Nested columns, null inside an Array or Map as the element type's zero value.
 *
 * Besides row objects, a block may hold DirectRows: rows a sink wrote as RowBinary itself, straight
 * from its input bytes, in a column layout it names. Their bytes are sent as they are (not even
 * copied) when the table's columns are that layout, else their row objects are encoded instead (a
 * table altered by hand).
 */
import { ErrorCodes, StoreError } from '../errors.js';

/** A column as system.columns describes it. */
export interface ColumnDescription {
  name: string;
  type: string;
  /** '' | DEFAULT | MATERIALIZED | ALIAS | EPHEMERAL: MATERIALIZED and ALIAS columns cannot be inserted. */
  default_kind?: string;
}

export const ROW_BINARY_FORMAT = 'RowBinaryWithDefaults';

/** Rows encoded for one INSERT: any contiguous run of them can be sent on its own (bisection reuses the bytes). */
export interface EncodedRows {
  /** All the rows' bytes in one buffer (made on first use when DirectRows' bytes are among them). */
  readonly bytes: Buffer;
  /** The bytes of rows [lo, hi), as the pieces they are in: DirectRows' bytes are sent as they are, not copied. */
  slice(lo: number, hi: number): Uint8Array[];
  /** Number of rows encoded. */
  rows: number;
  /** Encoded row i is bytes[offsets[i], offsets[i + 1]). */
  offsets: Uint32Array;
  /** Index in the input of encoded row i (the DirectRows it came from, for those rows). */
  source: Uint32Array;
  /** Input items that cannot be written to this table, by their index in the input; `rows` (default 1) is how many rows the entry stands for. */
  refused: { index: number; error: StoreError; rows?: number }[];
  /** Why DirectRows of a layout met for the first time by this encoder were encoded from their row objects instead (to log). */
  fallbacks: string[];
}

export interface RowBinaryEncoder {
  readonly table: string;
  /** The columns written, in order (MATERIALIZED and ALIAS columns left out). */
  readonly columns: readonly ColumnDescription[];
  /** `INSERT INTO table (`c1`, `c2`, …) FORMAT RowBinaryWithDefaults` */
  readonly insertQuery: string;
  /** Encodes row objects and DirectRows items, in order. */
  encode(rows: readonly object[]): EncodedRows;
}

/** A value that cannot be written as its column's type; it becomes a StoreError naming the column. */
class ValueError extends Error {}

// ---------------------------------------------------------------------------------------------
// Writer

const TWO_32 = 4294967296;

/** A growing Buffer that RowBinary is written into; exported for direct writers (DirectRowsWriter). */
export class Writer {
  buf: Buffer;
  pos = 0;
  constructor(size = 4096) {
    this.buf = Buffer.allocUnsafe(Math.max(64, size));
  }
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.#grow(n);
  }
  #grow(n: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n + 1024));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }
  u8(v: number): void {
    if (this.pos >= this.buf.length) this.#grow(1);
    this.buf[this.pos++] = v;
  }
  /** Unsigned LEB128, for lengths (< 2^32). */
  varint(n: number): void {
    this.ensure(5);
    const b = this.buf;
    while (n >= 0x80) {
      b[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    b[this.pos++] = n;
  }
  /** A 64-bit integer from a safe integer number, two's complement. */
  i64(n: number): void {
    this.ensure(8);
    const hi = Math.floor(n / TWO_32);
    this.buf.writeUInt32LE(n - hi * TWO_32, this.pos);
    this.buf.writeInt32LE(hi | 0, this.pos + 4);
    this.pos += 8;
  }
  /** A 64-bit integer from its two unsigned 32-bit halves. */
  u64(lo: number, hi: number): void {
    this.ensure(8);
    this.buf.writeUInt32LE(lo, this.pos);
    this.buf.writeUInt32LE(hi, this.pos + 4);
    this.pos += 8;
  }
  /** An integer of `bytes` bytes (a multiple of 8) from a bigint already reduced to unsigned. */
  bigUnsigned(v: bigint, bytes: number): void {
    this.ensure(bytes);
    for (let i = 0; i < bytes; i += 8) {
      this.buf.writeBigUInt64LE(v & 0xffffffffffffffffn, this.pos + i);
      v >>= 64n;
    }
    this.pos += bytes;
  }
  f64(v: number): void {
    this.ensure(8);
    this.buf.writeDoubleLE(v, this.pos);
    this.pos += 8;
  }
  f32(v: number): void {
    this.ensure(4);
    this.buf.writeFloatLE(v, this.pos);
    this.pos += 4;
  }
  /** A varint-length-prefixed UTF-8 string. */
  string(s: string): void {
    const n = s.length;
    // Up to 42 UTF-16 units are at most 126 UTF-8 bytes: the length fits one byte, so write first and
    // fill the length in after, without measuring the string twice.
    if (n < 43) {
      this.ensure(1 + n * 3);
      const b = this.buf;
      const start = this.pos + 1;
      // Short ASCII strings (names, ids, hex) are copied here: cheaper than a call into the UTF-8 encoder.
      let k = 0;
      for (; k < n; k++) {
        const c = s.charCodeAt(k);
        if (c >= 0x80) break;
        b[start + k] = c;
      }
      const written = k === n ? n : b.write(s, start, 'utf8');
      b[this.pos] = written;
      this.pos = start + written;
      return;
    }
    const bytes = Buffer.byteLength(s, 'utf8');
    this.varint(bytes);
    this.ensure(bytes);
    this.pos += this.buf.write(s, this.pos, 'utf8');
  }
  bytes(b: Uint8Array): void {
    this.varint(b.length);
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }
  /** Bytes already encoded (a value written once and copied per row), without a length. */
  raw(b: Uint8Array): void {
    const n = b.length;
    this.ensure(n);
    // Short values (names, '' and 'true', a scope's version) by hand: set() costs more than it copies.
    if (n < 32) {
      const out = this.buf;
      const p = this.pos;
      for (let i = 0; i < n; i++) out[p + i] = b[i]!;
    } else this.buf.set(b, this.pos);
    this.pos += n;
  }
}

type Encode = (w: Writer, v: unknown) => void;

// ---------------------------------------------------------------------------------------------
// Type parsing

interface TypeNode {
  name: string;
  args: TypeArg[];
}
type TypeArg =
  | { kind: 'type'; type: TypeNode; elementName?: string }
  | { kind: 'string'; value: string }
  | { kind: 'number'; value: string }
  | { kind: 'enum'; name: string; value: number };

class UnsupportedType extends Error {}

type Token = { t: 'ident' | 'string' | 'number' | 'punct'; v: string };

function tokenize(s: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < s.length) {
    const c = s[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
    } else if (c === '(' || c === ')' || c === ',' || c === '=') {
      out.push({ t: 'punct', v: c });
      i++;
    } else if (c === "'" || c === '`') {
      let v = '';
      i++;
      while (i < s.length && s[i] !== c) {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        v += s[i++];
      }
      if (i >= s.length) throw new UnsupportedType(`unterminated quote in ${s}`);
      i++;
      out.push({ t: c === "'" ? 'string' : 'ident', v });
    } else if (/[-+0-9.]/.test(c)) {
      const m = /^[-+]?[0-9.]+(?:[eE][-+]?\d+)?/.exec(s.slice(i));
      if (!m) throw new UnsupportedType(`unexpected "${c}" in ${s}`);
      out.push({ t: 'number', v: m[0] });
      i += m[0].length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_.]*/.exec(s.slice(i))!;
      out.push({ t: 'ident', v: m[0] });
      i += m[0].length;
    } else {
      throw new UnsupportedType(`unexpected "${c}" in ${s}`);
    }
  }
  return out;
}

function parseType(s: string): TypeNode {
  const tokens = tokenize(s);
  let i = 0;
  const peek = (k = 0) => tokens[i + k];
  const expect = (v: string) => {
    if (tokens[i]?.v !== v || tokens[i]?.t !== 'punct') throw new UnsupportedType(`expected "${v}" in ${s}`);
    i++;
  };
  function type(): TypeNode {
    const t = tokens[i++];
    if (!t || t.t !== 'ident') throw new UnsupportedType(`expected a type name in ${s}`);
    const node: TypeNode = { name: t.v, args: [] };
    if (peek()?.v === '(' && peek()?.t === 'punct') {
      i++;
      if (peek()?.v === ')') {
        i++;
        return node;
      }
      for (;;) {
        node.args.push(arg());
        if (peek()?.v === ',') i++;
        else break;
      }
      expect(')');
    }
    return node;
  }
  function arg(): TypeArg {
    const t = peek();
    if (!t) throw new UnsupportedType(`unexpected end of ${s}`);
    if (t.t === 'string') {
      i++;
      if (peek()?.v === '=' && peek()?.t === 'punct') {
        i++;
        const n = tokens[i++];
        if (!n || n.t !== 'number') throw new UnsupportedType(`expected an enum value in ${s}`);
        return { kind: 'enum', name: t.v, value: Number(n.v) };
      }
      return { kind: 'string', value: t.v };
    }
    if (t.t === 'number') {
      i++;
      return { kind: 'number', value: t.v };
    }
    // `name Type` (a named tuple element, a Nested field) or just `Type`.
    if (t.t === 'ident' && peek(1)?.t === 'ident') {
      i++;
      return { kind: 'type', elementName: t.v, type: type() };
    }
    return { kind: 'type', type: type() };
  }
  const node = type();
  if (i !== tokens.length) throw new UnsupportedType(`unexpected "${tokens[i]!.v}" in ${s}`);
  return node;
}

function typeArg(node: TypeNode, k: number): TypeNode {
  const a = node.args[k];
  if (a?.kind !== 'type') throw new UnsupportedType(`${node.name} needs a type as argument ${k + 1}`);
  return a.type;
}

function intArg(node: TypeNode, k: number, fallback?: number): number {
  const a = node.args[k];
  if (a === undefined && fallback !== undefined) return fallback;
  if (a?.kind !== 'number' || !/^\d+$/.test(a.value)) throw new UnsupportedType(`${node.name} needs an integer as argument ${k + 1}`);
  return Number(a.value);
}

function stringArg(node: TypeNode, k: number): string | undefined {
  const a = node.args[k];
  if (a === undefined) return undefined;
  if (a.kind !== 'string') throw new UnsupportedType(`${node.name} needs a string as argument ${k + 1}`);
  return a.value;
}

/** A type in one canonical spelling (system.columns' own, whatever the spacing), to compare types. */
function typeKey(node: TypeNode): string {
  if (node.args.length === 0) return node.name;
  const args = node.args.map((a) => {
    switch (a.kind) {
      case 'type':
        return a.elementName === undefined ? typeKey(a.type) : `${a.elementName} ${typeKey(a.type)}`;
      case 'string':
        return `'${a.value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
      case 'number':
        return a.value;
      case 'enum':
        return `'${a.name.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}' = ${a.value}`;
    }
  });
  return `${node.name}(${args.join(', ')})`;
}

// ---------------------------------------------------------------------------------------------
// Value conversion

function describe(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`;
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}…` : v);
  if (v instanceof Date) return `Date(${Number.isNaN(v.getTime()) ? 'invalid' : v.toISOString()})`;
  if (typeof v === 'object' && v !== null) {
    let s: string;
    try {
      s = JSON.stringify(v) ?? String(v);
    } catch {
      s = Object.prototype.toString.call(v);
    }
    return s.length > 60 ? `${s.slice(0, 60)}…` : s;
  }
  return String(v);
}

const fail = (v: unknown, what: string): never => {
  throw new ValueError(`${describe(v)} is not ${what}`);
};

const INT_RE = /^[-+]?\d+$/;
const FLOAT_RE = /^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?$/;

/** An integer that fits a number exactly, within [min, max]. */
function smallInt(v: unknown, min: number, max: number, what: string): number {
  let n: number;
  if (typeof v === 'number') n = v;
  else if (v === null || v === undefined || v === false) return 0;
  else if (v === true) return 1;
  else if (typeof v === 'bigint') n = v >= BigInt(min) && v <= BigInt(max) ? Number(v) : NaN;
  else if (typeof v === 'string' && INT_RE.test(v)) n = Number(v);
  else return fail(v, what);
  if (!Number.isInteger(n) || n < min || n > max) fail(v, what);
  return n;
}

function bigIntOf(v: unknown, what: string): bigint {
  if (typeof v === 'bigint') return v;
  if (typeof v === 'number' && Number.isInteger(v)) return BigInt(v);
  if (typeof v === 'string' && INT_RE.test(v)) return BigInt(v);
  if (v === null || v === undefined || v === false) return 0n;
  if (v === true) return 1n;
  return fail(v, what);
}

function float(v: unknown, what: string): number {
  if (typeof v === 'number') return v;
  if (typeof v === 'string') {
    if (FLOAT_RE.test(v)) return Number(v);
    switch (v.toLowerCase()) {
      case 'nan':
      case '+nan':
      case '-nan':
        return NaN;
      case 'inf':
      case '+inf':
      case 'infinity':
      case '+infinity':
        return Infinity;
      case '-inf':
      case '-infinity':
        return -Infinity;
    }
    return fail(v, what);
  }
  if (v === null || v === undefined || v === false) return 0;
  if (v === true) return 1;
  if (typeof v === 'bigint') return Number(v);
  return fail(v, what);
}

// ---------------------------------------------------------------------------------------------
// Dates and times, parsed without Date so that nanoseconds survive.

/** Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];
const isLeap = (y: number) => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;

// The result of parseDateTime (module state rather than an object per value).
let parsedSeconds = 0;
let parsedTicks = 0;
let parsedHasZone = false;

function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const c = s.charCodeAt(at + k) - 48; // NaN past the end
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * 'YYYY-MM-DD', or 'YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]' and an optional zone: 'Z', '±HH', '±HHMM'
 * or '±HH:MM' (none: UTC). Sets parsedSeconds (since the epoch) and parsedTicks (the fraction in
 * 10^-precision s, truncated as ClickHouse does); false if s is not such a time.
 */
function parseDateTime(s: string, precision: number): boolean {
  const len = s.length;
  if (len < 10 || s.charCodeAt(4) !== 45 || s.charCodeAt(7) !== 45) return false;
  const y = digits(s, 0, 4);
  const mo = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  if (y < 0 || mo < 1 || mo > 12 || d < 1) return false;
  if (d > (mo === 2 && isLeap(y) ? 29 : DAYS_IN_MONTH[mo - 1]!)) return false;
  let seconds = daysFromCivil(y, mo, d) * 86400;
  let ticks = 0;
  let i = 10;
  parsedHasZone = false;
  if (i < len) {
    const sep = s.charCodeAt(i);
    if (sep !== 84 && sep !== 116 && sep !== 32) return false; // T t space
    const h = digits(s, i + 1, 2);
    const mi = s.charCodeAt(i + 3) === 58 ? digits(s, i + 4, 2) : -1;
    if (h < 0 || h > 23 || mi < 0 || mi > 59) return false;
    seconds += h * 3600 + mi * 60;
    i += 6;
    if (i < len && s.charCodeAt(i) === 58) {
      const sec = digits(s, i + 1, 2);
      if (sec < 0 || sec > 59) return false;
      seconds += sec;
      i += 3;
      if (i < len && (s.charCodeAt(i) === 46 || s.charCodeAt(i) === 44)) {
        i++;
        const start = i;
        while (i < len) {
          const c = s.charCodeAt(i) - 48;
          if (c < 0 || c > 9) break;
          if (i - start < precision) ticks = ticks * 10 + c;
          i++;
        }
        if (i === start) return false;
        for (let k = i - start; k < precision; k++) ticks *= 10;
      }
    }
    if (i < len && s.charCodeAt(i) === 32) i++;
    if (i < len) {
      const z = s.charCodeAt(i);
      if (z === 90 || z === 122) {
        i++;
      } else if (z === 43 || z === 45) {
        const oh = digits(s, i + 1, 2);
        if (oh < 0 || oh > 23) return false;
        let om = 0;
        i += 3;
        if (i < len) {
          if (s.charCodeAt(i) === 58) i++;
          om = digits(s, i, 2);
          if (om < 0 || om > 59) return false;
          i += 2;
        }
        const offset = oh * 3600 + om * 60;
        seconds += z === 43 ? -offset : offset;
      } else {
        return false;
      }
      parsedHasZone = true;
      if (i !== len) return false;
    }
  }
  parsedSeconds = seconds;
  parsedTicks = ticks;
  return true;
}

const UTC_ZONES = new Set([
  'UTC',
  'Etc/UTC',
  'GMT',
  'Etc/GMT',
  'GMT0',
  'Etc/GMT0',
  'Etc/GMT+0',
  'Etc/GMT-0',
  'UCT',
  'Etc/UCT',
  'Universal',
  'Etc/Universal',
  'Zulu',
  'Etc/Zulu',
]);

/** Whether a time without an offset can be read as UTC for a column of this time zone. */
function zoneIsUtc(zone: string | undefined): boolean {
  return zone === undefined || UTC_ZONES.has(zone);
}

function dateTimeSeconds(v: unknown, zone: string | undefined, what: string): number {
  let s: number;
  if (typeof v === 'string') {
    if (!parseDateTime(v, 0)) return fail(v, what);
    if (!parsedHasZone && !zoneIsUtc(zone)) fail(v, `${what} (a time for a ${zone} column needs an explicit offset)`);
    s = parsedSeconds;
  } else if (typeof v === 'number') {
    s = v;
  } else if (typeof v === 'bigint') {
    s = v >= 0n && v < 4294967296n ? Number(v) : -1;
  } else if (v instanceof Date) {
    s = Math.floor(v.getTime() / 1000);
  } else if (v === null || v === undefined) {
    return 0;
  } else {
    return fail(v, what);
  }
  if (!Number.isInteger(s) || s < 0 || s > 4294967295) fail(v, what);
  return s;
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Writes sec * mul + frac as an Int64 (frac < mul ≤ 10^9); false if it does not fit. For times after
 * 1970 no bigint: 16-bit limbs keep every product exact.
 */
function writeTicks(w: Writer, sec: number, mul: number, frac: number): boolean {
  if (sec < 0 || sec >= 2 ** 34) {
    const t = BigInt(sec) * BigInt(mul) + BigInt(frac);
    if (t < INT64_MIN || t > INT64_MAX) return false;
    w.bigUnsigned(BigInt.asUintN(64, t), 8);
    return true;
  }
  const xh = Math.floor(sec / 65536);
  const xl = sec - xh * 65536;
  const a = xh * mul; // < 2^48
  const ah = Math.floor(a / 65536);
  const c = (a - ah * 65536) * 65536 + xl * mul + frac; // < 2^47
  const carry = Math.floor(c / TWO_32);
  const hi = ah + carry;
  if (hi > 0x7fffffff) return false;
  w.u64(c - carry * TWO_32, hi);
  return true;
}

function dateTime64Encoder(precision: number, zone: string | undefined, what: string): Encode {
  const mul = 10 ** precision;
  // A request's rows mostly share their timestamp (sinks reuse one ISO string): remember the last one.
  let lastString = '';
  let lastLo = 0;
  let lastHi = 0;
  return (w, v) => {
    if (typeof v === 'string') {
      if (v === lastString) return w.u64(lastLo, lastHi);
      if (!parseDateTime(v, precision)) return fail(v, what);
      if (!parsedHasZone && !zoneIsUtc(zone)) fail(v, `${what} (a time for a ${zone} column needs an explicit offset)`);
      const at = w.pos;
      if (!writeTicks(w, parsedSeconds, mul, parsedTicks)) fail(v, what);
      lastString = v;
      lastLo = w.buf.readUInt32LE(at);
      lastHi = w.buf.readUInt32LE(at + 4);
    } else if (typeof v === 'number') {
      // A number is ticks, as ClickHouse reads a JSON number for a DateTime64.
      if (!Number.isSafeInteger(v)) fail(v, what);
      w.i64(v);
    } else if (typeof v === 'bigint') {
      if (v < INT64_MIN || v > INT64_MAX) fail(v, what);
      w.bigUnsigned(BigInt.asUintN(64, v), 8);
    } else if (v instanceof Date) {
      const ms = v.getTime();
      if (Number.isNaN(ms)) fail(v, what);
      const sec = Math.floor(ms / 1000);
      const frac = Math.floor(((ms - sec * 1000) * mul) / 1000);
      if (!writeTicks(w, sec, mul, frac)) fail(v, what);
    } else if (v === null || v === undefined) {
      w.u64(0, 0);
    } else {
      fail(v, what);
    }
  };
}

function dateDays(v: unknown, min: number, max: number, what: string): number {
  let days: number;
  if (typeof v === 'string') {
    if (!parseDateTime(v, 0)) return fail(v, what);
    days = Math.floor(parsedSeconds / 86400);
  } else if (typeof v === 'number') {
    days = v;
  } else if (v instanceof Date) {
    days = Math.floor(v.getTime() / 86_400_000);
  } else if (v === null || v === undefined) {
    return 0;
  } else {
    return fail(v, what);
  }
  if (!Number.isInteger(days) || days < min || days > max) fail(v, what);
  return days;
}

const TIME_RE = /^([-+])?(\d+):([0-5]\d)(?::([0-5]\d)(?:\.(\d+))?)?$/;

/** Time (Int32 seconds) and Time64(p) (Int64 ticks): '[-]H:MM[:SS[.fraction]]' or a number of seconds / ticks. */
function timeEncoder(precision: number | undefined, what: string): Encode {
  const p = precision ?? 0;
  return (w, v) => {
    let sec = 0;
    let ticks = 0;
    let negative = false;
    if (typeof v === 'string') {
      const m = TIME_RE.exec(v);
      if (!m) return fail(v, what);
      negative = m[1] === '-';
      sec = Number(m[2]) * 3600 + Number(m[3]) * 60 + Number(m[4] ?? 0);
      const f = (m[5] ?? '').slice(0, p).padEnd(p, '0');
      ticks = f ? Number(f) : 0;
    } else if (typeof v === 'number' && Number.isSafeInteger(v)) {
      if (precision === undefined) {
        if (v < -(2 ** 31) || v >= 2 ** 31) fail(v, what);
        w.ensure(4);
        w.pos = w.buf.writeInt32LE(v, w.pos);
      } else {
        w.i64(v);
      }
      return;
    } else if (v !== null && v !== undefined) {
      return fail(v, what);
    }
    if (precision === undefined) {
      const n = negative ? -sec : sec;
      if (n < -(2 ** 31) || n >= 2 ** 31) fail(v, what);
      w.ensure(4);
      w.pos = w.buf.writeInt32LE(n, w.pos);
    } else {
      const t = BigInt(sec) * 10n ** BigInt(p) + BigInt(ticks);
      w.bigUnsigned(BigInt.asUintN(64, negative ? -t : t), 8);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// UUID, IP addresses, Decimal

const UUID_RE = /^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$/;

/** A UUID is two UInt64, the first 16 hex digits then the last 16, each little-endian. */
function uuidEncoder(what: string): Encode {
  return (w, v) => {
    if (v === null || v === undefined) {
      w.u64(0, 0);
      w.u64(0, 0);
      return;
    }
    if (typeof v !== 'string' || !UUID_RE.test(v)) return fail(v, what);
    const hex = v.length === 36 ? v.slice(0, 8) + v.slice(9, 13) + v.slice(14, 18) + v.slice(19, 23) + v.slice(24) : v;
    w.u64(parseInt(hex.slice(8, 16), 16), parseInt(hex.slice(0, 8), 16));
    w.u64(parseInt(hex.slice(24, 32), 16), parseInt(hex.slice(16, 24), 16));
  };
}

const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function ipv4Number(s: string): number {
  const m = IPV4_RE.exec(s);
  if (!m) return -1;
  let n = 0;
  for (let k = 1; k <= 4; k++) {
    const octet = Number(m[k]);
    if (octet > 255) return -1;
    n = n * 256 + octet;
  }
  return n;
}

function ipv4Encoder(what: string): Encode {
  return (w, v) => {
    let n: number;
    if (typeof v === 'string') n = ipv4Number(v);
    else if (typeof v === 'number') n = Number.isInteger(v) && v <= 4294967295 ? v : -1;
    else if (v === null || v === undefined) n = 0;
    else return fail(v, what);
    if (n < 0) fail(v, what);
    w.ensure(4);
    w.pos = w.buf.writeUInt32LE(n, w.pos);
  };
}

/** The 16 bytes of an IPv6 address in network order; an IPv4 address becomes ::ffff:a.b.c.d, as ClickHouse reads it. */
function ipv6Bytes(s: string): Uint8Array | undefined {
  const out = new Uint8Array(16);
  const v4 = ipv4Number(s);
  if (v4 >= 0) {
    out[10] = out[11] = 0xff;
    out[12] = v4 >>> 24;
    out[13] = (v4 >>> 16) & 0xff;
    out[14] = (v4 >>> 8) & 0xff;
    out[15] = v4 & 0xff;
    return out;
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (part: string): number[] | undefined => {
    if (part === '') return [];
    const words: number[] = [];
    const items = part.split(':');
    for (let k = 0; k < items.length; k++) {
      const item = items[k]!;
      if (k === items.length - 1 && item.includes('.')) {
        const n = ipv4Number(item);
        if (n < 0) return undefined;
        words.push(n >>> 16, n & 0xffff);
      } else if (/^[0-9a-fA-F]{1,4}$/.test(item)) {
        words.push(parseInt(item, 16));
      } else {
        return undefined;
      }
    }
    return words;
  };
  const head = groups(halves[0]!);
  const tail = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !tail) return undefined;
  const missing = 8 - head.length - tail.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const words = [...head, ...new Array<number>(missing).fill(0), ...tail];
  words.forEach((word, k) => {
    out[2 * k] = word >>> 8;
    out[2 * k + 1] = word & 0xff;
  });
  return out;
}

function ipv6Encoder(what: string): Encode {
  return (w, v) => {
    w.ensure(16);
    if (v === null || v === undefined) {
      w.buf.fill(0, w.pos, w.pos + 16);
    } else if (typeof v === 'string') {
      const b = ipv6Bytes(v);
      if (!b) return fail(v, what);
      w.buf.set(b, w.pos);
    } else if (v instanceof Uint8Array && v.length === 16) {
      w.buf.set(v, w.pos);
    } else {
      return fail(v, what);
    }
    w.pos += 16;
  };
}

const DECIMAL_RE = /^([-+])?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/;

/** Decimal(p, s): the value times 10^s as an integer of 4, 8, 16 or 32 bytes; extra fraction digits are truncated, as ClickHouse does. */
function decimalEncoder(precision: number, scale: number, what: string): Encode {
  const bytes = precision <= 9 ? 4 : precision <= 18 ? 8 : precision <= 38 ? 16 : 32;
  const limit = 10n ** BigInt(precision);
  return (w, v) => {
    let x: bigint;
    if (typeof v === 'bigint') {
      x = v * 10n ** BigInt(scale);
    } else if (typeof v === 'number' || typeof v === 'string') {
      if (typeof v === 'number' && !Number.isFinite(v)) return fail(v, what);
      const m = DECIMAL_RE.exec(typeof v === 'number' ? String(v) : v);
      if (!m || (m[2] === '' && (m[3] ?? '') === '')) return fail(v, what);
      const frac = m[3] ?? '';
      const shift = scale + Number(m[4] ?? 0) - frac.length;
      let n = BigInt((m[2] ?? '') + frac || '0');
      n = shift >= 0 ? n * 10n ** BigInt(shift) : n / 10n ** BigInt(-shift);
      x = m[1] === '-' ? -n : n;
    } else if (v === null || v === undefined) {
      x = 0n;
    } else {
      return fail(v, what);
    }
    if (x >= limit || x <= -limit) fail(v, what);
    w.bigUnsigned(BigInt.asUintN(bytes * 8, x), bytes);
  };
}

// ---------------------------------------------------------------------------------------------
// The type → encoder compiler

const INT_RANGES: Record<string, [number, number, number]> = {
  Int8: [1, -128, 127],
  UInt8: [1, 0, 255],
  Int16: [2, -32768, 32767],
  UInt16: [2, 0, 65535],
  Int32: [4, -(2 ** 31), 2 ** 31 - 1],
  UInt32: [4, 0, 2 ** 32 - 1],
};

const WIDE_INTS: Record<string, [number, boolean]> = {
  Int64: [64, true],
  UInt64: [64, false],
  Int128: [128, true],
  UInt128: [128, false],
  Int256: [256, true],
  UInt256: [256, false],
};

const f32 = new Float32Array(1);
const f32bits = new Uint32Array(f32.buffer);

/** Types given by another type's encoding. */
const ALIASES: Record<string, string> = {
  Point: 'Tuple(Float64, Float64)',
  Ring: 'Array(Point)',
  LineString: 'Array(Point)',
  MultiLineString: 'Array(Ring)',
  Polygon: 'Array(Ring)',
  MultiPolygon: 'Array(Polygon)',
};

interface Compiled {
  encode: Encode;
  nullable: boolean;
}

function compile(node: TypeNode): Compiled {
  const { name } = node;
  const what = `a ${name}`;
  const small = INT_RANGES[name];
  if (small) {
    const [bytes, min, max] = small;
    const label = `an integer in [${min}, ${max}] (${name})`;
    const encode: Encode =
      bytes === 1
        ? (w, v) => w.u8(smallInt(v, min, max, label) & 0xff)
        : bytes === 2
          ? (w, v) => {
              const n = smallInt(v, min, max, label);
              w.ensure(2);
              w.pos = w.buf.writeUInt16LE(n & 0xffff, w.pos);
            }
          : (w, v) => {
              const n = smallInt(v, min, max, label);
              w.ensure(4);
              w.pos = w.buf.writeUInt32LE(n >>> 0, w.pos);
            };
    return { encode, nullable: false };
  }
  const wide = WIDE_INTS[name];
  if (wide) {
    const [bits, signed] = wide;
    const min = signed ? -(2n ** BigInt(bits - 1)) : 0n;
    const max = signed ? 2n ** BigInt(bits - 1) - 1n : 2n ** BigInt(bits) - 1n;
    const label = `an integer in [${min}, ${max}] (${name})`;
    const big = (w: Writer, v: unknown) => {
      const x = bigIntOf(v, label);
      if (x < min || x > max) fail(v, label);
      w.bigUnsigned(BigInt.asUintN(bits, x), bits / 8);
    };
    if (bits !== 64) return { encode: big, nullable: false };
    return {
      encode: (w, v) => {
        // Safe integers (the usual case) go without a bigint.
        if (typeof v === 'number' && Number.isSafeInteger(v) && (signed || v >= 0)) return w.i64(v);
        if (typeof v === 'string' && v.length < 16 && INT_RE.test(v)) {
          const n = Number(v);
          if (signed || n >= 0) return w.i64(n);
        }
        big(w, v);
      },
      nullable: false,
    };
  }
  switch (name) {
    case 'Float64':
      return { encode: (w, v) => w.f64(float(v, 'a number (Float64)')), nullable: false };
    case 'Float32':
      return { encode: (w, v) => w.f32(float(v, 'a number (Float32)')), nullable: false };
    case 'BFloat16':
      // BFloat16 is the upper half of a Float32 (ClickHouse truncates).
      return {
        encode: (w, v) => {
          f32[0] = float(v, 'a number (BFloat16)');
          w.ensure(2);
          w.pos = w.buf.writeUInt16LE(f32bits[0]! >>> 16, w.pos);
        },
        nullable: false,
      };
    case 'Bool':
      return {
        encode: (w, v) => {
          if (v === true || v === 1 || v === 'true' || v === '1') w.u8(1);
          else if (v === false || v === 0 || v === 'false' || v === '0' || v === null || v === undefined) w.u8(0);
          else fail(v, 'a Bool (true, false, 1 or 0)');
        },
        nullable: false,
      };
    case 'String':
      return {
        encode: (w, v) => {
          if (typeof v === 'string') w.string(v);
          else if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') w.string(String(v));
          else if (v === null || v === undefined) w.u8(0);
          else if (v instanceof Uint8Array) w.bytes(v);
          else fail(v, 'a String');
        },
        nullable: false,
      };
    case 'FixedString': {
      const n = intArg(node, 0);
      const label = `a string of at most ${n} bytes (FixedString(${n}))`;
      return {
        encode: (w, v) => {
          w.ensure(n);
          let len = 0;
          if (typeof v === 'string') {
            if (Buffer.byteLength(v, 'utf8') > n) fail(v, label);
            len = w.buf.write(v, w.pos, n, 'utf8');
          } else if (v instanceof Uint8Array) {
            if (v.length > n) fail(v, label);
            w.buf.set(v, w.pos);
            len = v.length;
          } else if (v !== null && v !== undefined) {
            fail(v, label);
          }
          w.buf.fill(0, w.pos + len, w.pos + n);
          w.pos += n;
        },
        nullable: false,
      };
    }
    case 'Date':
      return {
        encode: (w, v) => {
          const d = dateDays(v, 0, 65535, 'a Date (YYYY-MM-DD, 1970-01-01 to 2149-06-06)');
          w.ensure(2);
          w.pos = w.buf.writeUInt16LE(d, w.pos);
        },
        nullable: false,
      };
    case 'Date32':
      return {
        encode: (w, v) => {
          const d = dateDays(v, -25567, 120529, 'a Date32 (YYYY-MM-DD, 1900-01-01 to 2299-12-31)');
          w.ensure(4);
          w.pos = w.buf.writeInt32LE(d, w.pos);
        },
        nullable: false,
      };
    case 'DateTime': {
      const zone = stringArg(node, 0);
      const label = 'a DateTime (an ISO 8601 time, or seconds since the epoch)';
      return {
        encode: (w, v) => {
          const s = dateTimeSeconds(v, zone, label);
          w.ensure(4);
          w.pos = w.buf.writeUInt32LE(s, w.pos);
        },
        nullable: false,
      };
    }
    case 'DateTime64': {
      const p = intArg(node, 0);
      if (p > 9) throw new UnsupportedType(`DateTime64 precision ${p} (at most 9)`);
      return { encode: dateTime64Encoder(p, stringArg(node, 1), `a DateTime64(${p}) (an ISO 8601 time, or ticks of 10^-${p} s)`), nullable: false };
    }
    case 'Time':
      return { encode: timeEncoder(undefined, 'a Time ([-]H:MM:SS, or seconds)'), nullable: false };
    case 'Time64': {
      const p = intArg(node, 0);
      if (p > 9) throw new UnsupportedType(`Time64 precision ${p} (at most 9)`);
      return { encode: timeEncoder(p, `a Time64(${p}) ([-]H:MM:SS.fraction, or ticks)`), nullable: false };
    }
    case 'UUID':
      return { encode: uuidEncoder('a UUID'), nullable: false };
    case 'IPv4':
      return { encode: ipv4Encoder('an IPv4 address'), nullable: false };
    case 'IPv6':
      return { encode: ipv6Encoder('an IPv6 address'), nullable: false };
    case 'Enum8':
    case 'Enum16': {
      const byName = new Map<string, number>();
      for (const a of node.args) {
        if (a.kind !== 'enum') throw new UnsupportedType(`${name} needs 'name' = value pairs`);
        byName.set(a.name, a.value);
      }
      if (byName.size === 0) throw new UnsupportedType(`${name} without values`);
      const values = new Set(byName.values());
      const zero = Math.min(...values); // ClickHouse's default of an Enum is its smallest value
      const label = `one of ${[...byName.keys()].map((k) => JSON.stringify(k)).join(', ')} (${name})`;
      const value = (v: unknown): number => {
        if (typeof v === 'string') {
          const n = byName.get(v);
          if (n !== undefined) return n;
        } else if (typeof v === 'number' && values.has(v)) {
          return v;
        } else if (v === null || v === undefined) {
          return zero;
        }
        return fail(v, label);
      };
      if (name === 'Enum8') return { encode: (w, v) => w.u8(value(v) & 0xff), nullable: false };
      return {
        encode: (w, v) => {
          w.ensure(2);
          w.pos = w.buf.writeInt16LE(value(v), w.pos);
        },
        nullable: false,
      };
    }
    case 'Decimal': {
      const p = intArg(node, 0);
      const s = intArg(node, 1, 0);
      if (p < 1 || p > 76 || s > p) throw new UnsupportedType(`Decimal(${p}, ${s})`);
      return { encode: decimalEncoder(p, s, `a Decimal(${p}, ${s})`), nullable: false };
    }
    case 'Decimal32':
    case 'Decimal64':
    case 'Decimal128':
    case 'Decimal256': {
      const p = { Decimal32: 9, Decimal64: 18, Decimal128: 38, Decimal256: 76 }[name];
      const s = intArg(node, 0);
      return { encode: decimalEncoder(p, s, `a ${name}(${s})`), nullable: false };
    }
    case 'Nullable': {
      const inner = compile(typeArg(node, 0)).encode;
      return {
        encode: (w, v) => {
          if (v === null || v === undefined) return w.u8(1);
          w.u8(0);
          inner(w, v);
        },
        nullable: true,
      };
    }
    case 'LowCardinality':
      // LowCardinality changes the storage, not the RowBinary encoding.
      return compile(typeArg(node, 0));
    case 'SimpleAggregateFunction':
      return compile(typeArg(node, 1));
    case 'Array': {
      const inner = compile(typeArg(node, 0)).encode;
      return { encode: arrayEncoder(inner, `an array (${what})`), nullable: false };
    }
    case 'Map': {
      const key = compile(typeArg(node, 0)).encode;
      const value = compile(typeArg(node, 1)).encode;
      return { encode: mapEncoder(key, value), nullable: false };
    }
    case 'Tuple':
      return { encode: tupleEncoder(node), nullable: false };
    case 'Nested':
      return { encode: arrayEncoder(tupleEncoder(node), 'an array of objects (Nested)'), nullable: false };
  }
  const alias = ALIASES[name];
  if (alias && node.args.length === 0) return compile(parseType(alias));
  throw new UnsupportedType(`${name} is not supported`);
}

function arrayEncoder(inner: Encode, what: string): Encode {
  return (w, v) => {
    if (Array.isArray(v) || (ArrayBuffer.isView(v) && !(v instanceof DataView))) {
      const a = v as ArrayLike<unknown>;
      const n = a.length;
      w.varint(n);
      for (let k = 0; k < n; k++) inner(w, a[k]);
    } else if (v === null || v === undefined) {
      w.u8(0);
    } else {
      fail(v, what);
    }
  };
}

/** A Map from a plain object (JSON's shape), a JS Map, or an array of [key, value] pairs. */
function mapEncoder(key: Encode, value: Encode): Encode {
  return (w, v) => {
    if (v === null || v === undefined) return w.u8(0);
    if (v instanceof Map) {
      w.varint(v.size);
      for (const [k, x] of v) {
        key(w, k);
        value(w, x);
      }
      return;
    }
    if (Array.isArray(v)) {
      w.varint(v.length);
      for (const pair of v) {
        if (!Array.isArray(pair) || pair.length !== 2) fail(v, 'a map (an object, a Map, or [key, value] pairs)');
        key(w, pair[0]);
        value(w, pair[1]);
      }
      return;
    }
    if (typeof v !== 'object' || ArrayBuffer.isView(v)) return fail(v, 'a map (an object, a Map, or [key, value] pairs)');
    // The count goes before the entries: reserve one byte (fewer than 128 entries) and move the
    // entries along in the rare case of more, rather than allocating Object.keys().
    const at = w.pos;
    w.u8(0);
    let n = 0;
    const o = v as Record<string, unknown>;
    for (const k in o) {
      key(w, k);
      value(w, o[k]);
      n++;
    }
    if (n < 0x80) {
      w.buf[at] = n;
      return;
    }
    let extra = 0;
    for (let x = n; x >= 0x80; x >>>= 7) extra++;
    w.ensure(extra);
    w.buf.copyWithin(at + 1 + extra, at + 1, w.pos);
    const end = w.pos + extra;
    w.pos = at;
    w.varint(n);
    w.pos = end;
  };
}

/** A Tuple from an array (by position) or an object (by element name, else by position); a Nested element from an object. */
function tupleEncoder(node: TypeNode): Encode {
  const elements = node.args.map((a, k) => {
    if (a.kind !== 'type') throw new UnsupportedType(`${node.name} needs types as arguments`);
    return { key: a.elementName ?? String(k), encode: compile(a.type).encode };
  });
  if (elements.length === 0) throw new UnsupportedType(`${node.name} without elements`);
  return (w, v) => {
    if (Array.isArray(v)) {
      if (v.length !== elements.length) fail(v, `a tuple of ${elements.length}`);
      for (let k = 0; k < elements.length; k++) elements[k]!.encode(w, v[k]);
    } else if (typeof v === 'object' && v !== null && !ArrayBuffer.isView(v)) {
      const o = v as Record<string, unknown>;
      for (const e of elements) e.encode(w, o[e.key]);
    } else if (v === null || v === undefined) {
      for (const e of elements) e.encode(w, undefined);
    } else {
      fail(v, `a tuple of ${elements.length} (an array or an object)`);
    }
  };
}

// ---------------------------------------------------------------------------------------------
// Public API

function unsupported(table: string, column: string, type: string, err: unknown): StoreError {
  const why = err instanceof Error ? err.message : String(err);
  return new StoreError(ErrorCodes.STORE_REJECTED, `table ${table}: column ${column} has type ${type}, which the RowBinary encoder cannot write (${why})`, {
    cause: err,
  });
}

/** One value as RowBinary, for a type given as ClickHouse writes it. Throws on an unsupported type or a value that does not fit. */
export function encodeValue(type: string, value: unknown): Buffer {
  let c: Compiled;
  try {
    c = compile(parseType(type));
  } catch (err) {
    throw unsupported('-', '-', type, err);
  }
  const w = new Writer(64);
  c.encode(w, value);
  return w.buf.subarray(0, w.pos);
}

/**
 * The encode function of one type, for a direct writer's values that are cheaper to encode once with
 * the generic rules (a resource's attribute map, copied into every span's row). Throws a StoreError on
 * an unsupported type; the function throws on a value that does not fit.
 */
export function compileValueEncoder(type: string): (w: Writer, value: unknown) => void {
  try {
    return compile(parseType(type)).encode;
  } catch (err) {
    throw unsupported('-', '-', type, err);
  }
}

// ---------------------------------------------------------------------------------------------
// Direct rows

/** The columns a direct writer encodes, in order, with their types as system.columns spells them. */
export interface DirectLayout {
  /** Who writes it, for the log line when a table does not match. */
  readonly name: string;
  readonly columns: readonly { readonly name: string; readonly type: string }[];
}

/**
 * Rows of one input (a bus record) that a sink wrote as RowBinaryWithDefaults itself, column by
 * column of `layout` (each value after its 0 "not default" byte), with no row object each. One item
 * of a write() however many rows it holds: a row ClickHouse refuses names this item, so its record.
 */
export class DirectRows {
  #slab: Slab | undefined;
  constructor(
    readonly layout: DirectLayout,
    /** The rows' bytes. */
    readonly bytes: Uint8Array,
    /** End of each row in bytes (row k is [ends[k - 1] or 0, ends[k])). */
    readonly ends: Uint32Array,
    /** The same rows as row objects, for a table whose columns are not the layout. */
    readonly toRows: () => object[],
    slab?: Slab,
  ) {
    this.#slab = slab;
    if (slab) slab.live++;
  }
  get rows(): number {
    return this.ends.length;
  }
  /**
   * The bytes will not be read again (the batcher is done with them, written or refused): their
   * slab may take new rows once all its items are released. Once; later calls do nothing.
   */
  release(): void {
    const slab = this.#slab;
    if (!slab) return;
    this.#slab = undefined;
    slab.release();
  }
}

/** Rows in a write(): DirectRows count their rows, any other item is one row. */
export function rowCount(items: readonly object[]): number {
  let n = 0;
  for (const item of items) n += item instanceof DirectRows ? item.rows : 1;
  return n;
}

const SLAB_BYTES = 1 << 20;
const SLAB_MIN_FREE = 64 << 10;
const POOLED_SLABS = 16;

/** A DirectRowsWriter's buffer and how many items still need its bytes. */
class Slab {
  readonly w: Writer;
  live = 0;
  /** No more rows go into it (the writer moved on): it is pooled when its last item is released. */
  sealed = false;
  constructor(
    size: number,
    readonly pool: Slab[],
  ) {
    this.w = new Writer(size);
  }
  seal(): void {
    this.sealed = true;
    if (this.live === 0) this.#pool();
  }
  release(): void {
    if (--this.live === 0 && this.sealed) this.#pool();
  }
  #pool(): void {
    if (this.pool.length >= POOLED_SLABS) return;
    this.sealed = false;
    this.w.pos = 0;
    this.pool.push(this);
  }
}

/**
 * Where a sink writes DirectRows: begin() gives a Writer, endRow() closes each row, finish() makes
 * the item (abort() drops a half-written one). Rows go into shared slabs of 1 MiB, so a record costs
 * no buffer of its own, and a slab whose items were all released (written) takes new rows: fresh
 * memory costs a page fault per 4 KiB, which was a third of writing spans. An item never released
 * just keeps its slab from the pool (the garbage collector takes it).
 */
export class DirectRowsWriter {
  readonly #pool: Slab[] = [];
  #slab = new Slab(SLAB_BYTES, this.#pool);
  #start = 0;
  #ends: number[] = [];
  #largest = 0;
  constructor(readonly layout: DirectLayout) {}

  begin(): Writer {
    let slab = this.#slab;
    const free = slab.w.buf.length - slab.w.pos;
    if (free < SLAB_MIN_FREE || free < this.#largest) {
      slab.seal();
      const size = Math.max(SLAB_BYTES, 2 * this.#largest);
      let next = this.#pool.pop();
      while (next && next.w.buf.length < size) next = this.#pool.pop();
      this.#slab = slab = next ?? new Slab(size, this.#pool);
    }
    this.#start = slab.w.pos;
    this.#ends.length = 0;
    return slab.w;
  }

  /** Marks the end of a row (every column written). */
  endRow(): void {
    this.#ends.push(this.#slab.w.pos - this.#start);
  }

  finish(toRows: () => object[]): DirectRows {
    const w = this.#slab.w;
    const size = w.pos - this.#start;
    if (size > this.#largest) this.#largest = size;
    // A slab that grew was copied: the item takes its bytes from wherever they are now.
    return new DirectRows(this.layout, w.buf.subarray(this.#start, w.pos), Uint32Array.from(this.#ends), toRows, this.#slab);
  }

  abort(): void {
    this.#slab.w.pos = this.#start;
    this.#ends.length = 0;
  }
}

const quoteIdentifier = (name: string) => `\`${name.replace(/\\/g, '\\\\').replace(/`/g, '\\`')}\``;

/**
 * Compiles the encoder of a table's rows from its columns (system.columns: name, type,
 * default_kind). MATERIALIZED and ALIAS columns are left out. Throws a StoreError naming the table,
 * the column and its type if a type is not supported.
 */
export function compileRowBinaryEncoder(table: string, columns: readonly ColumnDescription[]): RowBinaryEncoder {
  const written = columns.filter((c) => c.default_kind !== 'MATERIALIZED' && c.default_kind !== 'ALIAS');
  if (written.length === 0) throw new StoreError(ErrorCodes.STORE_REJECTED, `table ${table} has no columns to insert (does it exist?)`);
  const names: string[] = [];
  const types: string[] = [];
  const encoders: Encode[] = [];
  const nullable: boolean[] = [];
  const hasDefault: boolean[] = [];
  for (const c of written) {
    let compiled: Compiled;
    try {
      compiled = compile(parseType(c.type));
    } catch (err) {
      throw unsupported(table, c.name, c.type, err);
    }
    names.push(c.name);
    types.push(c.type);
    encoders.push(compiled.encode);
    nullable.push(compiled.nullable);
    hasDefault.push(c.default_kind === 'DEFAULT' || c.default_kind === 'EPHEMERAL');
  }
  const count = names.length;
  const insertQuery = `INSERT INTO ${table} (${names.map(quoteIdentifier).join(', ')}) FORMAT ${ROW_BINARY_FORMAT}`;
  // RowBinaryWithDefaults: per column 1 = its DEFAULT expression, 0 = a value follows. An omitted field, or
  // null for a column that cannot hold NULL (as JSONEachRow's input_format_null_as_default), takes the
  // DEFAULT, else the type's zero value: ClickHouse's own "default" for a column without one would be 0
  // even for an Enum that has no 0. The row loop is generated once, so that each property read is a
  // constant key (V8 caches those) rather than a lookup by a name from an array.
  const statements = names.map((name, c) => {
    const read = `v = row[${JSON.stringify(name)}];`;
    const write = `w.u8(0); e${c}(w, v);`;
    if (!hasDefault[c]) return `${read} ${write}`;
    return `${read} if (v === undefined${nullable[c] ? '' : ' || v === null'}) w.u8(1); else { ${write} }`;
  });
  const makeRowEncoder = new Function(...names.map((_, c) => `e${c}`), `return function encodeRow(w, row) {\n  let v;\n  ${statements.join('\n  ')}\n};`);
  const encodeRow = makeRowEncoder(...encoders) as (w: Writer, row: object) => void;
  /** Which column of a row that failed to encode, and why (the slow path, for the error). */
  const failure = (row: Record<string, unknown>, err: unknown): StoreError => {
    const scratch = new Writer(256);
    for (let c = 0; c < count; c++) {
      try {
        encoders[c]!(scratch, row[names[c]!]);
      } catch (e) {
        const why = e instanceof ValueError ? e.message : `cannot be encoded: ${e instanceof Error ? e.message : String(e)}`;
        return new StoreError(ErrorCodes.STORE_REJECTED, `insert into ${table}: column ${names[c]} (${types[c]}): ${why}`, { cause: e, retryable: false });
      }
    }
    const why = err instanceof Error ? err.message : String(err);
    return new StoreError(ErrorCodes.STORE_REJECTED, `insert into ${table}: row cannot be encoded: ${why}`, { cause: err, retryable: false });
  };
  const columnKeys = written.map((c) => typeKey(parseType(c.type)));
  /** Per layout met: '' when DirectRows in it are copied as they are, else why not. */
  const layouts = new WeakMap<DirectLayout, string>();
  const layoutMismatch = (layout: DirectLayout): string => {
    const cols = layout.columns;
    for (let c = 0; c < Math.max(cols.length, count); c++) {
      const mine = cols[c];
      if (!mine || c >= count)
        return mine
          ? `it writes column ${mine.name} (${mine.type}) that the table does not have`
          : `the table has column ${names[c]} (${types[c]}) that it does not write`;
      if (mine.name !== names[c]) return `column ${c + 1} is ${names[c]} in the table, ${mine.name} in the writer`;
      let key: string;
      try {
        key = typeKey(parseType(mine.type));
      } catch {
        key = mine.type;
      }
      if (key !== columnKeys[c]) return `column ${names[c]} is ${types[c]} in the table, ${mine.type} in the writer`;
    }
    return '';
  };
  let bytesPerRow = 64;
  return {
    table,
    columns: written,
    insertQuery,
    encode(rows) {
      let objects = 0;
      let directRows = 0;
      for (const row of rows) {
        if (row instanceof DirectRows) directRows += row.rows;
        else objects++;
      }
      const total = objects + directRows;
      const w = new Writer(Math.ceil(objects * bytesPerRow * 1.25) + 1024);
      let offsets = new Uint32Array(total + 1);
      let source = new Uint32Array(total);
      const refused: EncodedRows['refused'] = [];
      const fallbacks: string[] = [];
      let n = 0;
      // The block is the row objects' bytes (in w) and DirectRows' bytes (not copied) in turn: offsets
      // count in their concatenation. Parts: [start in the block, bytes, or -1 and the start in w].
      const parts: (number | Uint8Array)[] = [];
      let direct = 0; // DirectRows bytes so far: block position = w.pos + direct
      let segment = 0; // start in w of the row objects not yet in parts
      /** The fallback rows of a DirectRows may be more than it said: room for `more` rows. */
      const room = (more: number) => {
        if (n + more <= source.length) return;
        const size = Math.max(2 * source.length, n + more);
        const o = new Uint32Array(size + 1);
        o.set(offsets);
        offsets = o;
        const s = new Uint32Array(size);
        s.set(source);
        source = s;
      };
      const encodeObject = (row: object, i: number) => {
        const start = w.pos;
        try {
          encodeRow(w, row);
        } catch (err) {
          w.pos = start;
          refused.push({ index: i, error: failure(row as Record<string, unknown>, err) });
          return;
        }
        room(1);
        source[n] = i;
        offsets[++n] = w.pos + direct;
      };
      for (let i = 0; i < rows.length; i++) {
        const row = rows[i]!;
        if (!(row instanceof DirectRows)) {
          encodeObject(row, i);
          continue;
        }
        let why = layouts.get(row.layout);
        if (why === undefined) {
          why = layoutMismatch(row.layout);
          layouts.set(row.layout, why);
          if (why)
            fallbacks.push(
              `table ${table} does not have the columns ${row.layout.name} writes directly (${why}): its rows are encoded from row objects instead`,
            );
        }
        if (why === '') {
          if (w.pos > segment) parts.push(segment + direct, -1, segment, w.pos);
          segment = w.pos;
          const base = w.pos + direct;
          parts.push(base, row.bytes);
          direct += row.bytes.length;
          const ends = row.ends;
          room(ends.length);
          for (let k = 0; k < ends.length; k++) {
            source[n] = i;
            offsets[++n] = base + ends[k]!;
          }
          continue;
        }
        let made: object[];
        try {
          made = row.toRows();
        } catch (err) {
          const why = err instanceof Error ? err.message : String(err);
          refused.push({
            index: i,
            rows: row.rows,
            error: new StoreError(ErrorCodes.STORE_REJECTED, `insert into ${table}: the rows cannot be made: ${why}`, { cause: err, retryable: false }),
          });
          continue;
        }
        for (const o of made) encodeObject(o, i);
      }
      if (w.pos > segment) parts.push(segment + direct, -1, segment, w.pos);
      if (w.pos > 0) bytesPerRow = Math.max(8, Math.ceil(w.pos / Math.max(1, objects)));
      return new Block(w.buf, parts, n, offsets, source, refused, fallbacks);
    },
  };
}

/** EncodedRows over the parts encode() made (the writer's buffer in pieces, DirectRows' bytes). */
class Block implements EncodedRows {
  readonly #starts: number[] = [];
  readonly #parts: Uint8Array[] = [];
  #bytes: Buffer | undefined;
  constructor(
    buf: Buffer,
    parts: readonly (number | Uint8Array)[],
    readonly rows: number,
    readonly offsets: Uint32Array,
    readonly source: Uint32Array,
    readonly refused: EncodedRows['refused'],
    readonly fallbacks: string[],
  ) {
    for (let k = 0; k < parts.length;) {
      this.#starts.push(parts[k] as number);
      const p = parts[k + 1]!;
      if (p === -1) {
        this.#parts.push(buf.subarray(parts[k + 2] as number, parts[k + 3] as number));
        k += 4;
      } else {
        this.#parts.push(p as Uint8Array);
        k += 2;
      }
    }
  }

  get bytes(): Buffer {
    if (this.#bytes) return this.#bytes;
    const all = this.#parts.length === 1 ? this.#parts[0]! : Buffer.concat(this.#parts);
    return (this.#bytes = Buffer.from(all.buffer, all.byteOffset, all.byteLength));
  }

  slice(lo: number, hi: number): Uint8Array[] {
    const from = this.offsets[lo]!;
    const to = this.offsets[hi]!;
    const out: Uint8Array[] = [];
    if (to <= from) return out;
    // The last part starting at or before `from`.
    let a = 0;
    let b = this.#starts.length - 1;
    while (a < b) {
      const m = (a + b + 1) >>> 1;
      if (this.#starts[m]! <= from) a = m;
      else b = m - 1;
    }
    for (let k = a; k < this.#parts.length && this.#starts[k]! < to; k++) {
      const start = this.#starts[k]!;
      const part = this.#parts[k]!;
      const s = Math.max(from, start) - start;
      const e = Math.min(to, start + part.length) - start;
      out.push(s === 0 && e === part.length ? part : part.subarray(s, e));
    }
    return out;
  }
}
