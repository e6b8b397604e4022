import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Store } from '../runtime/store/store.js';
import { InsertBatcher, rowBinaryEncoderFor, type RejectedRow } from '../runtime/store/batcher.js';
import { DirectRows } from '../runtime/store/rowbinary.js';
import { ExportTraceServiceRequest } from '../model/otlp.js';
import { opentelemetry } from '../../protos/gen/otlp.js';
import { traceRows, traceRowsDirect } from './sink.js';
import { tracesPayload } from '../../bench/otlp/payload.js';
import { openMigratedStore } from '../../tests/helpers/component.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('traces_direct');
  // Two copies of otel_traces' columns without its TTL (some spans here are from 1970) or sorting key:
  // one written through the object path, one through the direct path.
  for (const t of ['traces_object', 'traces_direct']) {
    await store.client.command({ query: `CREATE TABLE ${t} ENGINE = MergeTree ORDER BY tuple() AS SELECT * FROM otel_traces LIMIT 0` });
  }
});
test.after(() => store.close());

const BASE = BigInt(Math.floor(Date.now() / 1000) - 3600) * 1_000_000_000n;
const ns = (offset: number | bigint) => (BASE + BigInt(offset)).toString();
const id = (hex: string) => Buffer.from(hex, 'hex');
const kv = (key: string, value: object | null) => (value === null ? { key } : { key, value });
const s = (stringValue: string) => ({ stringValue });
const encode = (req: object) => Buffer.from(ExportTraceServiceRequest.encode(ExportTraceServiceRequest.fromObject(req)).finish());

/** A LEN field by hand: what protobufjs' encoder would not write (fields twice, unknown fields, groups). */
function field(n: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  const varint = (v: number): number[] => (v < 0x80 ? [v] : [(v & 0x7f) | 0x80, ...varint(v >>> 7)]);
  return Buffer.concat([Buffer.from([...varint(n * 8 + 2), ...varint(body.length)]), body]);
}
const spanBytes = (span: object) => Buffer.from(opentelemetry.proto.trace.v1.Span.encode(opentelemetry.proto.trace.v1.Span.fromObject(span)).finish());
/** A request of one resource (its fields given as bytes) with one scope holding spans given as bytes. */
const request = (spans: Buffer[], resourceFields: Buffer[] = []) => field(1, ...resourceFields, field(2, ...spans.map((sp) => field(2, sp))));
const anyValueBytes = (v: object) => Buffer.from(opentelemetry.proto.common.v1.AnyValue.encode(opentelemetry.proto.common.v1.AnyValue.fromObject(v)).finish());

/** Unknown fields of every wire type, which protobufjs skips (and keeps aside): written directly, the same. */
const UNKNOWN_FIELDS = request(
  [
    Buffer.concat([
      spanBytes({ name: 'with unknown fields', kind: 3, startTimeUnixNano: ns(1), endTimeUnixNano: ns(2) }),
      Buffer.from([0xf8, 0x06, 0x01]),
      field(100, Buffer.from('x')),
      Buffer.from([0x85, 0x07, 1, 2, 3, 4]),
      Buffer.from([0x89, 0x07, 1, 2, 3, 4, 5, 6, 7, 8]),
    ]),
  ],
  [field(1, field(1, field(1, Buffer.from('service.name')), field(2, field(1, Buffer.from('svc')))), field(77, Buffer.from('unknown in a resource')))],
);

/** What protobufjs merges, or skips as groups: the direct walk leaves these to it. */
const ODD_WIRE: [string, Buffer][] = [
  ['a status sent twice', request([Buffer.concat([spanBytes({ name: 'merged', status: { code: 1 } }), field(15, Buffer.from([0x12, 0x01, 0x6d]))])])],
  [
    'a resource sent twice',
    request([spanBytes({ name: 'x' })], [field(1, field(1, field(1, Buffer.from('a')))), field(1, field(1, field(1, Buffer.from('b'))))]),
  ],
  [
    'a value with two members',
    request([
      Buffer.concat([
        spanBytes({ name: 'two members' }),
        field(9, field(1, Buffer.from('k')), field(2, anyValueBytes({ stringValue: 's' }), anyValueBytes({ intValue: 5 }))),
      ]),
    ]),
  ],
  ['a group', request([Buffer.concat([spanBytes({ name: 'group' }), Buffer.from([0xa3, 0x06, 0x08, 0x01, 0xa4, 0x06])])])],
];

/** Every AnyValue kind, nested, with the edge values of each. */
const ALL_KINDS = [
  kv('str', s('plain')),
  kv('str.empty', s('')),
  kv('str.unicode', s('Grüße, 世界 🌍')),
  kv('str.long', s('x'.repeat(200))),
  kv('bool.true', { boolValue: true }),
  kv('bool.false', { boolValue: false }),
  kv('int.zero', { intValue: 0 }),
  kv('int.negative', { intValue: -42 }),
  kv('int.big', { intValue: '1152921504606846979' }),
  kv('int.min', { intValue: '-9223372036854775808' }),
  kv('int.max', { intValue: '9223372036854775807' }),
  kv('double', { doubleValue: 0.25 }),
  kv('double.nan', { doubleValue: NaN }),
  kv('double.inf', { doubleValue: -Infinity }),
  kv('double.negzero', { doubleValue: -0 }),
  kv('double.huge', { doubleValue: 1e21 }),
  kv('double.tiny', { doubleValue: 5e-324 }),
  kv('bytes', { bytesValue: Buffer.from([0, 1, 2, 250, 255]) }),
  kv('bytes.empty', { bytesValue: Buffer.alloc(0) }),
  kv('array', {
    arrayValue: { values: [s('a'), { intValue: 2 }, { doubleValue: NaN }, { boolValue: true }, { arrayValue: { values: [{ arrayValue: {} }, {}] } }] },
  }),
  kv('array.empty', { arrayValue: {} }),
  kv('kvlist', {
    kvlistValue: {
      values: [
        kv('b', s('1')),
        kv('a', { intValue: '9007199254740993' }),
        kv('__proto__', s('p')),
        kv('7', s('seven')),
        kv('nested', { kvlistValue: { values: [kv('deep', { bytesValue: Buffer.from('hi') })] } }),
        kv('none', null),
      ],
    },
  }),
  kv('value.unset', {}),
  kv('value.missing', null),
  kv('ключ', s('значение')),
  kv('', s('empty key')),
];

/** Requests the direct path writes itself: every field kind, empty fields, several resources and scopes. */
const DIRECT_REQUESTS: [string, Buffer][] = [
  [
    'all value kinds, events and links',
    encode({
      resourceSpans: [
        {
          resource: { attributes: [kv('service.name', s('checkout')), kv('host.id', s('i-0abc')), kv('k8s.pod.uid', { intValue: 7 })] },
          schemaUrl: 'https://opentelemetry.io/schemas/1.21.0',
          scopeSpans: [
            {
              scope: { name: 'io.opentelemetry.http', version: '2.1.0', attributes: [kv('scope.attr', s('unused'))] },
              spans: [
                {
                  traceId: id('0af7651916cd43dd8448eb211c80319c'),
                  spanId: id('00f067aa0ba902b7'),
                  parentSpanId: id('1111111111111111'),
                  traceState: 'vendor=x,other=ü',
                  name: 'POST /orders',
                  kind: 2,
                  flags: 1,
                  startTimeUnixNano: ns(123_456_789),
                  endTimeUnixNano: ns(173_456_789),
                  attributes: ALL_KINDS,
                  droppedAttributesCount: 3,
                  events: [
                    {
                      timeUnixNano: ns(150_000_000),
                      name: 'exception',
                      attributes: [kv('exception.type', s('Timeout')), kv('exception.count', { intValue: 2 })],
                    },
                    { name: 'no time, no attributes' },
                    { timeUnixNano: ns(1), name: 'event ✓', attributes: ALL_KINDS.slice(0, 6), droppedAttributesCount: 1 },
                  ],
                  droppedEventsCount: 2,
                  links: [
                    {
                      traceId: id('4bf92f3577b34da6a3ce929d0e0e4736'),
                      spanId: id('0102030405060708'),
                      traceState: 'a=b',
                      attributes: [kv('link.kind', s('follows')), kv('n', { doubleValue: 1.5 })],
                      flags: 257,
                    },
                    { traceId: id('4bf92f3577b34da6a3ce929d0e0e4737') },
                  ],
                  droppedLinksCount: 1,
                  status: { code: 2, message: 'upstream timeout ⚠' },
                },
              ],
            },
          ],
        },
      ],
    }),
  ],
  [
    'empty and odd fields',
    encode({
      resourceSpans: [
        {
          // No service.name: ServiceName is ''.
          resource: { attributes: [kv('host.name', s('h1'))] },
          scopeSpans: [
            { spans: [{}] }, // nothing set at all: 1970, no ids, no name, kind and status 0
            {
              scope: { name: 'only-name' },
              spans: [
                { traceId: id('aa'), spanId: id(''), name: 'short ids', kind: 7, startTimeUnixNano: ns(0), endTimeUnixNano: ns(-5), status: { code: 5 } },
                { name: 'end before start', kind: -1, startTimeUnixNano: ns(10), endTimeUnixNano: ns(1), status: { message: 'no code' } },
                { name: 'no end', startTimeUnixNano: ns(10) },
                { name: 'huge duration', startTimeUnixNano: '1', endTimeUnixNano: '9223372036854775807' },
                { name: 'x'.repeat(300), traceState: 'y'.repeat(130), attributes: Array.from({ length: 200 }, (_, i) => kv(`k${i}`, { intValue: i })) },
              ],
            },
          ],
        },
        { spans: [], scopeSpans: [] }, // a resource without spans
        {
          resource: { attributes: [kv('service.name', { intValue: 42 }), kv('service.name', s('last wins'))] }, // decoded as objects: its duplicate is traceRows' business
          scopeSpans: [{ scope: { version: 'only-version' }, spans: [{ name: 'second resource', kind: 5, startTimeUnixNano: ns(5), endTimeUnixNano: ns(6) }] }],
        },
        { scopeSpans: [{ spans: [{ name: 'no resource at all', kind: 1 }] }] },
      ],
    }),
  ],
  ['the benchmark payload', Buffer.from(tracesPayload(50, 3))],
  ['no spans', encode({ resourceSpans: [{ resource: { attributes: [kv('service.name', s('idle'))] } }] })],
  ['unknown fields', UNKNOWN_FIELDS],
];

/** Requests the direct walk leaves to the object path, each for a reason of its own. */
const FALLBACK_REQUESTS: [string, Buffer][] = [
  ['a key twice', encode({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'dup', attributes: [kv('a', s('1')), kv('b', s('2')), kv('a', s('3'))] }] }] }] })],
  ['an array index key', encode({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'index', attributes: [kv('b', s('1')), kv('10', s('2'))] }] }] }] })],
  ['a __proto__ key', encode({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'proto', attributes: [kv('__proto__', s('gone'))] }] }] }] })],
  ['a start past 2^63 ns', encode({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'far', startTimeUnixNano: '9223372036854775808' }] }] }] })],
];

function directItems(buf: Buffer): DirectRows[] {
  return traceRowsDirect(buf).filter((r): r is DirectRows => r instanceof DirectRows);
}

test('the direct walk writes the bytes the object path encodes, for every field kind; it leaves to the object path what it does not mirror', async () => {
  const encoder = await rowBinaryEncoderFor(store, 'otel_traces');
  for (const [what, buf] of DIRECT_REQUESTS) {
    const objects = traceRows(buf);
    const direct = traceRowsDirect(buf);
    if (objects.length === 0) {
      assert.deepEqual(direct, [], what);
      continue;
    }
    assert.equal(direct.length, 1, what);
    assert.ok(direct[0] instanceof DirectRows, `${what}: written directly`);
    assert.equal((direct[0] as DirectRows).rows, objects.length, what);
    const a = encoder.encode(objects);
    const b = encoder.encode(direct);
    assert.deepEqual(b.fallbacks, [], `${what}: the migrated table's columns are the direct layout`);
    assert.deepEqual(b.refused, [], what);
    assert.equal(b.rows, a.rows, what);
    assert.ok(b.bytes.equals(a.bytes), `${what}: the same bytes`);
    assert.deepEqual([...b.offsets], [...a.offsets], `${what}: the same row boundaries`);
  }
  for (const [what, buf] of [...FALLBACK_REQUESTS, ...ODD_WIRE]) {
    const direct = traceRowsDirect(buf);
    assert.equal(directItems(buf).length, 0, `${what}: left to the object path`);
    assert.deepEqual(direct, traceRows(buf), what);
  }
  // What protobufjs refuses, both paths refuse, with protobufjs' message.
  const badUtf8 = encode({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'ab' }] }] }] });
  badUtf8[badUtf8.indexOf('ab')] = 0xff;
  const unusedBadUtf8 = encode({ resourceSpans: [{ schemaUrl: 'ab', scopeSpans: [{ spans: [{ name: 'fine' }] }] }] });
  unusedBadUtf8[unusedBadUtf8.indexOf('ab')] = 0xc0;
  const message = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      return (err as Error).message;
    }
    return assert.fail('no error');
  };
  for (const bad of [
    badUtf8,
    unusedBadUtf8,
    Buffer.from([0x0a, 0xff, 0x01]),
    encode({ resourceSpans: [{ scopeSpans: [{ spans: [{ name: 'cut' }] }] }] }).subarray(0, 8),
  ]) {
    assert.match(
      message(() => traceRows(bad)),
      /not an ExportTraceServiceRequest/,
    );
    assert.equal(
      message(() => traceRowsDirect(bad)),
      message(() => traceRows(bad)),
    );
  }
});

async function tableRows(table: string): Promise<string[]> {
  const r = await store.client.query({
    query: `SELECT * FROM ${table}`,
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_64bit_integers: 1, output_format_json_quote_denormals: 1 },
  });
  return (await r.json<Record<string, unknown>>()).map((row) => JSON.stringify(row)).sort();
}

test('rows read back from ClickHouse are the same through both paths, over slabs reused between flushes', async () => {
  const object = new InsertBatcher<object>({ store, table: 'traces_object', maxRows: 500, maxDelayMs: 5 });
  const fallbacks: string[] = [];
  const direct = new InsertBatcher<object>({ store, table: 'traces_direct', maxRows: 500, maxDelayMs: 5, onDirectFallback: (m) => fallbacks.push(m) });
  // Enough bench payloads (~33 KB of rows each) to fill and reuse 1 MiB slabs: a slab reused too early would corrupt rows.
  const requests = [
    ...DIRECT_REQUESTS,
    ...FALLBACK_REQUESTS,
    ...ODD_WIRE,
    ...Array.from({ length: 80 }, (_, i): [string, Buffer] => [`payload ${i}`, Buffer.from(tracesPayload(50, i))]),
  ];
  let rows = 0;
  const refused: string[] = [];
  // A span past 2262 is refused by the encoder on both paths, with the same words.
  const words = (r: RejectedRow[]) => r.map((x) => x.error.message.replace(/traces_(object|direct)/, 'T'));
  // The next chunk's rows are written while the last chunk's insert is in flight (as two partitions'
  // batches are): a slab taken back before its insert is done would have its bytes overwritten.
  let inflight: Promise<void> | undefined;
  for (let i = 0; i < requests.length; i += 8) {
    const chunk = requests.slice(i, i + 8).map(([, buf]) => buf);
    const objects = chunk.flatMap((buf) => traceRows(buf));
    const items = chunk.flatMap((buf) => traceRowsDirect(buf));
    const done = Promise.all([object.write(objects), direct.write(items)]).then(([a, b]) => {
      assert.deepEqual(words(b), words(a));
      refused.push(...words(a));
      rows += objects.length - a.length;
    });
    await inflight;
    inflight = done;
  }
  await inflight;
  assert.equal(refused.length, 1);
  assert.match(refused[0]!, /column Timestamp \(DateTime64\(9\)\): "2262-04-11T23:47:16.854775808Z" is not a DateTime64\(9\)/);
  await Promise.all([object.close(), direct.close()]);
  assert.deepEqual(fallbacks, []);
  const [a, b] = await Promise.all([tableRows('traces_object'), tableRows('traces_direct')]);
  assert.equal(a.length, rows);
  assert.equal(b.length, rows);
  assert.deepEqual(b, a);
  // The read-back is not vacuous: it has the edge values.
  const edge = a.find((r) => r.includes('POST /orders'))!;
  for (const piece of [
    '"int.min":"-9223372036854775808"',
    '"double.nan":"NaN"',
    '"bytes":"AAEC+v8="',
    '"str.unicode":"Grüße, 世界 🌍"',
    '"kvlist":"{\\"7\\":\\"seven\\",\\"b\\":\\"1\\",\\"a\\":9007199254740992,',
  ]) {
    assert.ok(edge.includes(piece), `${piece} in ${edge.slice(0, 200)}…`);
  }
});
