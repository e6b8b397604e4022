import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prometheus, io } from '../../protos/gen/prometheus.js';
import type { BusRecord } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { InsertBatcher, rowBinaryEncoderFor, type RejectedRow } from '../runtime/store/batcher.js';
import { DirectRows } from '../runtime/store/rowbinary.js';
import { promRows, SeriesCache } from './sink.js';
import { walkRemoteWrite, type SeriesView } from '../model/remote-write.js';
import { openMigratedStore } from '../../tests/helpers/component.js';

let store: Store;
test.before(async () => {
  store = await openMigratedStore('rw_direct');
  // prom_samples' columns without its TTL (some samples here are from 1969 or 9999), for each path.
  for (const t of ['samples_object', 'samples_direct']) {
    await store.client.command({ query: `CREATE TABLE ${t} ENGINE = MergeTree ORDER BY tuple() AS SELECT * FROM prom_samples LIMIT 0` });
  }
});
test.after(() => store.close());

const NOW = Date.now() - 60_000;
const STALE = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f]);
const STALE_SENTINEL = 987654.321;
const MAX_ISO_MS = 253_402_300_799_999; // 9999-12-31T23:59:59.999Z

const record = (value: Buffer, proto = 'prometheus.WriteRequest'): BusRecord =>
  ({
    topic: 'prometheus_remote_write',
    partition: 0,
    offset: 0,
    key: null,
    value,
    headers: { 'airdig.rw.proto': proto },
    timestamp: NOW,
  }) as unknown as BusRecord;

/** A 1.0 body of every sample value kind (the sentinel becomes Prometheus' stale NaN), odd times, a histogram and an exemplar. */
function v1Body(times: number[] = [NOW, NOW + 15_000, -1, 0, -62_167_219_200_000, MAX_ISO_MS]): Buffer {
  const values = [1, 0, -0, NaN, Infinity, -Infinity, 5e-324, 1.7976931348623157e308, STALE_SENTINEL, 0.1 + 0.2];
  const raw = Buffer.from(
    prometheus.WriteRequest.encode({
      timeseries: [
        ...values.map((v, i) => ({
          labels: [
            { name: '__name__', value: `m_${i % 3}` },
            { name: 'instance', value: `h${i}:9100` },
            { name: 'job', value: 'node' },
            { name: 'zone', value: 'é—ü' },
          ],
          samples: times.map((timestamp, k) => ({ value: k === 0 ? v : v + k, timestamp })),
        })),
        {
          labels: [
            { name: '__name__', value: 'latency_seconds' },
            { name: 'job', value: 'api' },
          ],
          histograms: [
            {
              countInt: 3,
              sum: 1.5,
              schema: 1,
              zeroThreshold: 1e-128,
              zeroCountInt: 1,
              positiveSpans: [{ offset: 0, length: 1 }],
              positiveDeltas: [2],
              timestamp: NOW,
            },
          ],
          exemplars: [{ labels: [{ name: 'trace_id', value: 'abc' }], value: 0.3, timestamp: NOW }],
        },
      ],
      metadata: [{ type: 1, metricFamilyName: 'm_0', help: 'Help ✓', unit: 'seconds' }],
    }).finish(),
  );
  const sentinel = Buffer.alloc(8);
  sentinel.writeDoubleLE(STALE_SENTINEL);
  STALE.copy(raw, raw.indexOf(sentinel));
  return raw;
}

function v2Body(): Buffer {
  const symbols = ['', '__name__', 'requests_total', 'job', 'api', 'Requests.', 'seconds', 'trace_id', 'x1'];
  const ref = (s: string) => symbols.indexOf(s);
  return Buffer.from(
    io.prometheus.write.v2.Request.encode({
      symbols,
      timeseries: [
        {
          labelsRefs: [ref('__name__'), ref('requests_total'), ref('job'), ref('api')],
          samples: [
            { value: 41, timestamp: NOW },
            { value: NaN, timestamp: NOW + 1 },
            { value: -Infinity, timestamp: NOW + 2 },
          ],
          exemplars: [{ labelsRefs: [ref('trace_id'), ref('x1')], value: 1, timestamp: NOW }],
          metadata: { type: 1, helpRef: ref('Requests.'), unitRef: ref('seconds') },
        },
      ],
    }).finish(),
  );
}

const BODIES: [string, BusRecord][] = [
  ['1.0, every value kind and time', record(v1Body())],
  ['2.0', record(v2Body(), 'io.prometheus.write.v2.Request')],
];
// toISOString writes years past 9999 as +YYYYYY, which the encoder refuses: left to the object path.
const PAST_9999: [string, BusRecord] = ['a time past 9999', record(v1Body([NOW, MAX_ISO_MS + 1]))];

test('prom_samples written directly are the bytes of the row objects; the other tables are untouched; a time the ISO path refuses goes the object way', async () => {
  const encoder = await rowBinaryEncoderFor(store, 'prom_samples');
  for (const [what, r] of BODIES) {
    const objects = promRows(r, new SeriesCache(1000, 60_000));
    const direct = promRows(r, new SeriesCache(1000, 60_000), true);
    assert.deepEqual(direct.series, objects.series, what);
    assert.deepEqual(direct.histograms, objects.histograms, what);
    assert.deepEqual(direct.exemplars, objects.exemplars, what);
    assert.equal(direct.samples.length, 1, what);
    assert.ok(direct.samples[0] instanceof DirectRows, `${what}: written directly`);
    const a = encoder.encode(objects.samples);
    const b = encoder.encode(direct.samples);
    assert.deepEqual(b.fallbacks, [], `${what}: the migrated prom_samples is the direct layout`);
    assert.equal(b.rows, objects.samples.length, what);
    assert.ok(b.bytes.equals(a.bytes), `${what}: the same bytes`);
  }
  const [what, r] = PAST_9999;
  const direct = promRows(r, undefined, true);
  assert.ok(!direct.samples.some((x) => x instanceof DirectRows), `${what}: row objects`);
  assert.deepEqual(direct, promRows(r));
  // A series cache shared across records: only due series rows, with the samples written directly all the same.
  const seen = new SeriesCache(1000, 60_000);
  promRows(BODIES[0]![1], seen, true);
  const again = promRows(BODIES[0]![1], seen, true);
  assert.deepEqual(again.series, []);
  assert.ok(again.samples[0] instanceof DirectRows);
});

async function tableRows(table: string): Promise<string[]> {
  const r = await store.client.query({
    query: `SELECT *, hex(value) AS bits FROM ${table}`,
    format: 'JSONEachRow',
    clickhouse_settings: { output_format_json_quote_denormals: 1 },
  });
  return (await r.json<Record<string, unknown>>()).map((row) => JSON.stringify(row)).sort();
}

test('prom_samples rows read back from ClickHouse are the same through both paths, to the bits of NaN', async () => {
  const object = new InsertBatcher<object>({ store, table: 'samples_object', maxDelayMs: 5 });
  const direct = new InsertBatcher<object>({ store, table: 'samples_direct', maxDelayMs: 5 });
  const words = (rs: RejectedRow[]) => rs.map((x) => x.error.message.replace(/samples_(object|direct)/, 'T'));
  let rows = 0;
  for (const [, r] of [...BODIES, PAST_9999]) {
    const objects = promRows(r).samples;
    const [a, b] = await Promise.all([object.write(objects), direct.write(promRows(r, undefined, true).samples)]);
    assert.deepEqual(words(b), words(a));
    rows += objects.length - a.length;
  }
  await Promise.all([object.close(), direct.close()]);
  const [a, b] = await Promise.all([tableRows('samples_object'), tableRows('samples_direct')]);
  assert.equal(a.length, rows);
  assert.deepEqual(b, a);
  const values = new Set(a.map((row) => (JSON.parse(row) as { value: unknown }).value));
  for (const v of ['nan', 'inf', '-inf', 5e-324, 0]) assert.ok(values.has(v), `${v} stored`);
  for (const ts of ['0000-01-01 00:00:00.000', '9999-12-31 23:59:59.999'])
    assert.ok(
      a.some((row) => row.includes(`"ts":"${ts}"`)),
      `${ts} stored`,
    );
  assert.ok(a.some((row) => row.includes('"value":"nan"') && row.includes('"stale":1') && row.includes('"bits":"000000000000F87F"')));
});

/** A LEN field by hand, for label encodings protobufjs does not write. */
function field(n: number, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload);
  return Buffer.concat([Buffer.from([n * 8 + 2, body.length]), body]);
}
const label = (name: string, value: string, valueFirst = false) =>
  valueFirst ? field(1, field(2, Buffer.from(value)), field(1, Buffer.from(name))) : field(1, field(1, Buffer.from(name)), field(2, Buffer.from(value)));
const sample = (value: number, ts: number) => {
  const b = Buffer.alloc(9);
  b[0] = 0x09;
  b.writeDoubleLE(value, 1);
  return field(2, b, Buffer.from([0x10, ts & 0x7f]));
};

test('series are known again by their label bytes, whatever way the labels were encoded; bytes that fail the checks are never remembered', () => {
  const labels: [string, string][] = [
    ['__name__', 'up'],
    ['instance', 'h:9100'],
    ['job', 'node'],
  ];
  const plain = field(1, ...labels.map(([n, v]) => label(n, v)), sample(1, 5));
  const swapped = field(1, ...labels.map(([n, v]) => label(n, v, true)), sample(2, 6));
  const interleaved = field(1, label(...labels[0]!), sample(3, 7), label(...labels[1]!), label(...labels[2]!));
  const walk = (body: Buffer) => {
    const out: SeriesView[] = [];
    walkRemoteWrite(body, '1.0', true, (s) => out.push(s));
    return out;
  };
  const [a] = walk(plain);
  const [again] = walk(Buffer.from(plain));
  assert.equal(again!.identity, a!.identity, 'the same bytes: the same identity');
  for (const body of [swapped, interleaved, Buffer.concat([interleaved])]) {
    const [s] = walk(body);
    assert.deepEqual(s!.labels, labels);
    assert.equal(s!.identity!.fingerprint, a!.identity!.fingerprint);
    assert.equal(s!.target, a!.target);
  }
  const unsorted = field(1, label('job', 'node'), label('__name__', 'up'));
  for (let k = 0; k < 2; k++) assert.throws(() => walk(unsorted), /labels are not sorted by name/);
  const noName = field(1, label('job', 'node'));
  for (let k = 0; k < 2; k++) assert.throws(() => walk(noName), /no __name__ label/);
});
