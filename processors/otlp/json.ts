import { MalformedInputError } from '../runtime/errors.js';

/** OTLP/JSON keys whose values are hex-encoded bytes (the protobuf JSON mapping would use base64). */
const HEX_ID_KEYS = new Set(['traceId', 'spanId', 'parentSpanId']);
const HEX = /^[0-9a-fA-F]*$/;

/** Replaces hex id strings with bytes, wherever OTLP puts ids (spans, links, exemplars, log records). */
function hexIdsToBytes(v: unknown, path: string): void {
  if (Array.isArray(v)) {
    v.forEach((x, i) => hexIdsToBytes(x, `${path}[${i}]`));
    return;
  }
  if (!v || typeof v !== 'object') return;
  const o = v as Record<string, unknown>;
  for (const [k, x] of Object.entries(o)) {
    if (HEX_ID_KEYS.has(k)) {
      if (x === undefined || x === null || x === '') continue;
      if (typeof x !== 'string' || !HEX.test(x) || x.length % 2 !== 0) {
        throw new MalformedInputError(`${path ? `${path}.` : ''}${k}: expected a hex-encoded id, got ${JSON.stringify(x).slice(0, 60)}`);
      }
      o[k] = Buffer.from(x, 'hex');
    } else if (x && typeof x === 'object') {
      hexIdsToBytes(x, path ? `${path}.${k}` : k);
    }
  }
}

/**
 * JSON.parse turns integers past 2^53 into approximate doubles, and OTLP/JSON may carry 64-bit
 * nanosecond timestamps as bare numbers. Integer literals of 16 digits or more are quoted first,
 * so protobufjs reads them exactly as strings. Strings in the text are skipped untouched.
 */
export function quoteLongIntegers(text: string): string {
  let out = '';
  let last = 0;
  const n = text.length;
  for (let i = 0; i < n; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < n && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92 /* backslash */) i++;
      continue;
    }
    const startsNumber = (c >= 48 && c <= 57) || c === 45; /* digit or - */
    if (!startsNumber) continue;
    let j = c === 45 ? i + 1 : i;
    while (j < n && text.charCodeAt(j) >= 48 && text.charCodeAt(j) <= 57) j++;
    const digits = j - (c === 45 ? i + 1 : i);
    const next = j < n ? text[j] : '';
    if (digits >= 16 && next !== '.' && next !== 'e' && next !== 'E') {
      out += text.slice(last, i) + '"' + text.slice(i, j) + '"';
      last = j;
    }
    i = j - 1;
  }
  return last === 0 ? text : out + text.slice(last);
}

interface RequestType {
  fromObject(o: Record<string, unknown>): unknown;
  encode(m: never): { finish(): Uint8Array };
}

/**
 * An OTLP/JSON export request as protobuf bytes: lowerCamelCase keys, hex ids, enums as integers
 * (names accepted too), 64-bit integers as strings or numbers, unknown fields ignored.
 */
export function otlpJsonToProtobuf(text: string, type: RequestType, rootKey: string): Uint8Array {
  let body: unknown;
  try {
    body = JSON.parse(quoteLongIntegers(text));
  } catch (err) {
    throw new MalformedInputError(`invalid JSON: ${(err as Error).message}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new MalformedInputError('invalid OTLP/JSON: the body must be a JSON object');
  const root = (body as Record<string, unknown>)[rootKey];
  if (root !== undefined && !Array.isArray(root)) throw new MalformedInputError(`${rootKey}: expected an array`);
  try {
    hexIdsToBytes(body, '');
    return type.encode(type.fromObject(body as Record<string, unknown>) as never).finish();
  } catch (err) {
    // Both walks recurse: a body nested deeper than the stack allows is bad input, not a failure of ours.
    if (err instanceof RangeError && /call stack/i.test(err.message)) throw new MalformedInputError('invalid OTLP/JSON: nested too deeply');
    throw new MalformedInputError(`invalid OTLP/JSON: ${(err as Error).message}`);
  }
}
