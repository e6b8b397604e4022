import { MalformedInputError } from '../runtime/errors.js';
import type { OutMessage } from '../runtime/bus/types.js';
import { ExportTraceServiceRequest } from './proto.js';
import { splitTracesByTraceId } from './wire.js';

/** What the gateway makes of one export request: messages for the bus and what it left out. */
export interface PreparedTraces {
  messages: OutMessage[];
  spans: number;
  rejected: number;
  rejectReason: string | undefined;
}

/** One bus message per trace id, keyed by the 32-hex-char trace id, as the Collector's kafkaexporter does with partition_traces_by_id. */
export function prepareTraces(protobuf: Uint8Array): PreparedTraces {
  const split = splitTracesByTraceId(protobuf);
  const messages: OutMessage[] = [];
  for (const [traceId, value] of split.byTrace) messages.push({ key: traceId, value });
  return { messages, spans: split.spans, rejected: split.rejected, rejectReason: split.rejectReason };
}

const HEX_ID = /^[0-9a-fA-F]*$/;

/** OTLP/JSON ids are hex strings, not base64: turn them into bytes before protobufjs sees them. */
function hexIds(o: Record<string, unknown>, keys: readonly string[], path: string): void {
  for (const k of keys) {
    const v = o[k];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string' || !HEX_ID.test(v) || v.length % 2 !== 0) {
      throw new MalformedInputError(`${path}.${k}: expected a hex-encoded id, got ${JSON.stringify(v).slice(0, 60)}`);
    }
    o[k] = Buffer.from(v, 'hex');
  }
}

/**
 * Converts an OTLP/JSON ExportTraceServiceRequest to protobuf bytes: lowerCamelCase keys, hex
 * trace and span ids, enums as integers (names accepted too), 64-bit integers as strings or
 * numbers, unknown fields ignored.
 */
export function tracesJsonToProtobuf(text: string): Uint8Array {
  let body: unknown;
  try {
    body = JSON.parse(quoteLongIntegers(text));
  } catch (err) {
    throw new MalformedInputError(`invalid JSON: ${(err as Error).message}`);
  }
  if (!body || typeof body !== 'object' || Array.isArray(body)) throw new MalformedInputError('invalid OTLP/JSON: the body must be a JSON object');
  const req = body as { resourceSpans?: unknown };
  if (req.resourceSpans !== undefined && !Array.isArray(req.resourceSpans)) throw new MalformedInputError('resourceSpans: expected an array');
  (req.resourceSpans as Record<string, unknown>[] | undefined)?.forEach((rs, i) => {
    const scopes = rs?.scopeSpans;
    if (scopes !== undefined && !Array.isArray(scopes)) throw new MalformedInputError(`resourceSpans[${i}].scopeSpans: expected an array`);
    (scopes as Record<string, unknown>[] | undefined)?.forEach((ss, j) => {
      const spans = ss?.spans;
      if (spans !== undefined && !Array.isArray(spans)) throw new MalformedInputError(`resourceSpans[${i}].scopeSpans[${j}].spans: expected an array`);
      (spans as Record<string, unknown>[] | undefined)?.forEach((sp, k) => {
        const path = `resourceSpans[${i}].scopeSpans[${j}].spans[${k}]`;
        if (!sp || typeof sp !== 'object') throw new MalformedInputError(`${path}: expected an object`);
        hexIds(sp, ['traceId', 'spanId', 'parentSpanId'], path);
        (sp.links as Record<string, unknown>[] | undefined)?.forEach((l, m) => l && hexIds(l, ['traceId', 'spanId'], `${path}.links[${m}]`));
      });
    });
  });
  try {
    return ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(req)).finish();
  } catch (err) {
    throw new MalformedInputError(`invalid OTLP/JSON: ${(err as Error).message}`);
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
