import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ExportTraceServiceRequest, type ISpan } from '../model/otlp.js';
import { splitTracesByTraceId } from './wire.js';
import { toHex } from '../wire/protobuf.js';
import { MalformedInputError } from '../runtime/errors.js';

const T1 = Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex');
const T2 = Buffer.from('4bf92f3577b34da6a3ce929d0e0e4736', 'hex');
const T3 = Buffer.from('00000000000000000000000000000001', 'hex');

function span(traceId: Buffer | undefined, n: number, name: string): ISpan {
  return {
    ...(traceId ? { traceId } : {}),
    spanId: Buffer.from(`000000000000000${n}`, 'hex').subarray(0, 8),
    name,
    kind: 2,
    startTimeUnixNano: 1_700_000_000_000_000_000 + n,
    endTimeUnixNano: 1_700_000_000_000_500_000 + n,
    attributes: [{ key: 'http.route', value: { stringValue: `/r${n}` } }],
  };
}

function request() {
  return ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        schemaUrl: 'https://opentelemetry.io/schemas/1.26.0',
        scopeSpans: [
          { scope: { name: 'http', version: '1' }, spans: [span(T1, 1, 'a'), span(T2, 2, 'b'), span(T1, 3, 'c')] },
          { scope: { name: 'db' }, spans: [span(T2, 4, 'd'), span(undefined, 5, 'no trace id')] },
        ],
      },
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'payments' } }] },
        scopeSpans: [{ scope: { name: 'http' }, spans: [span(T1, 6, 'e'), span(T3, 7, 'f')] }],
      },
    ],
  }).finish();
}

test('a request is split by trace id into requests that keep resources, scopes and span bytes', () => {
  const split = splitTracesByTraceId(request());
  assert.equal(split.spans, 7);
  assert.equal(split.rejected, 1);
  assert.equal(split.rejectReason, 'span without trace_id');
  assert.deepEqual([...split.byTrace.keys()], [T1.toString('hex'), T2.toString('hex'), T3.toString('hex')]);
  const t1 = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(split.byTrace.get(T1.toString('hex'))!), { longs: String });
  assert.equal(t1.resourceSpans.length, 2);
  assert.equal(t1.resourceSpans[0].resource.attributes[0].value.stringValue, 'checkout');
  assert.equal(t1.resourceSpans[0].schemaUrl, 'https://opentelemetry.io/schemas/1.26.0');
  assert.deepEqual(
    t1.resourceSpans[0].scopeSpans.map((s: { scope: { name: string }; spans: { name: string }[] }) => [s.scope.name, s.spans.map((x) => x.name)]),
    [['http', ['a', 'c']]],
  );
  assert.deepEqual(
    t1.resourceSpans[1].scopeSpans[0].spans.map((x: { name: string }) => x.name),
    ['e'],
  );
  assert.equal(t1.resourceSpans[0].scopeSpans[0].spans[0].attributes[0].value.stringValue, '/r1');
  assert.equal(t1.resourceSpans[0].scopeSpans[0].spans[0].startTimeUnixNano, String(1_700_000_000_000_000_000 + 1));
  const t2 = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(split.byTrace.get(T2.toString('hex'))!));
  assert.deepEqual(
    t2.resourceSpans[0].scopeSpans.map((s: { spans: { name: string }[] }) => s.spans.map((x) => x.name)),
    [['b'], ['d']],
  );
});

test('a request with one trace comes out byte for byte the same', () => {
  const one = ExportTraceServiceRequest.encode({ resourceSpans: [{ scopeSpans: [{ spans: [span(T2, 1, 'x'), span(T2, 2, 'y')] }] }] }).finish();
  const split = splitTracesByTraceId(one);
  assert.equal(split.byTrace.size, 1);
  assert.deepEqual([...split.byTrace.values()][0], Buffer.from(one));
});

test('truncated and malformed protobuf raise MalformedInputError; an empty request has no spans', () => {
  const full = request();
  for (const cut of [1, 7, full.length - 1]) {
    assert.throws(
      () => splitTracesByTraceId(full.subarray(0, cut)),
      (e: unknown) => e instanceof MalformedInputError,
      `cut at ${cut}`,
    );
  }
  assert.throws(() => splitTracesByTraceId(Buffer.from([0x0f, 0xff])), MalformedInputError); // wire type 7
  assert.throws(() => splitTracesByTraceId(Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff])), MalformedInputError);
  assert.equal(splitTracesByTraceId(new Uint8Array(0)).spans, 0);
});

test('toHex gives lowercase hex', () => {
  assert.equal(toHex(Buffer.from([0, 15, 171, 255]), 0, 4), '000fabff');
});

test('long integers in OTLP/JSON are quoted before JSON.parse; strings are left alone', async () => {
  const { quoteLongIntegers } = await import('./json.js');
  assert.equal(
    quoteLongIntegers('{"a":1700000000000500000,"b":12,"c":"1700000000000500000","d":-1234567890123456789,"e":1.5e300}'),
    '{"a":"1700000000000500000","b":12,"c":"1700000000000500000","d":"-1234567890123456789","e":1.5e300}',
  );
  assert.equal(quoteLongIntegers('{"s":"x\\"12345678901234567"}'), '{"s":"x\\"12345678901234567"}');
});
