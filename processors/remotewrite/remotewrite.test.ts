import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { compressSync } from 'snappy';
import { prometheus, io } from '../../protos/gen/prometheus.js';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { BusRecord } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { remoteWriteFactory } from './receiver.js';
import { promSamplesFactory } from './sink.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const V1 = 'application/x-protobuf';
const V2 = 'application/x-protobuf;proto=io.prometheus.write.v2.Request';
const NOW = Date.now() - 60_000;
const STALE_BYTES = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f]);
const SENTINEL = 123456.789;

let store: Store;
test.before(async () => {
  store = await openMigratedStore('rw');
});
test.after(() => store.close());

/** A 1.0 body as Prometheus builds it: labels sorted, __name__ first; the SENTINEL sample becomes a stale marker. */
function v1Body(tag: string): Buffer {
  const series = (name: string, instance: string, values: number[]) => ({
    labels: [
      { name: '__name__', value: name },
      { name: 'instance', value: instance },
      { name: 'job', value: `${tag}-node` },
    ],
    samples: values.map((value, i) => ({ value, timestamp: NOW + i * 15_000 })),
  });
  const raw = Buffer.from(
    prometheus.WriteRequest.encode({
      timeseries: [series('up', 'host-a:9100', [1, 1, 0]), series('node_load1', 'host-a:9100', [0.5, 0.75, SENTINEL]), series('up', 'host-b:9100', [1])],
      metadata: [{ type: 2, metricFamilyName: 'node_load1', help: '1m load average.', unit: '' }],
    }).finish(),
  );
  const sentinel = Buffer.alloc(8);
  sentinel.writeDoubleLE(SENTINEL);
  const at = raw.indexOf(sentinel);
  STALE_BYTES.copy(raw, at);
  return raw;
}

/** A 2.0 body: symbols table (first ""), samples, a native histogram, an exemplar, per-series metadata. */
function v2Body(tag: string): Buffer {
  const symbols = [
    '',
    '__name__',
    `${tag}_requests_total`,
    'instance',
    'api:8080',
    'job',
    `${tag}-api`,
    'Requests served.',
    `${tag}_latency_seconds`,
    'seconds',
    'trace_id',
    'abc123',
  ];
  const ref = (s: string) => symbols.indexOf(s);
  return Buffer.from(
    io.prometheus.write.v2.Request.encode({
      symbols,
      timeseries: [
        {
          labelsRefs: [ref('__name__'), ref(`${tag}_requests_total`), ref('instance'), ref('api:8080'), ref('job'), ref(`${tag}-api`)],
          samples: [
            { value: 41, timestamp: NOW },
            { value: 42, timestamp: NOW + 15_000 },
          ],
          exemplars: [{ labelsRefs: [ref('trace_id'), ref('abc123')], value: 1, timestamp: NOW + 15_000 }],
          metadata: { type: 1, helpRef: ref('Requests served.'), unitRef: 0 },
          createdTimestamp: NOW - 3_600_000,
        },
        {
          labelsRefs: [ref('__name__'), ref(`${tag}_latency_seconds`), ref('instance'), ref('api:8080'), ref('job'), ref(`${tag}-api`)],
          histograms: [
            {
              countInt: 5,
              sum: 1.5,
              schema: 3,
              zeroThreshold: 1e-128,
              zeroCountInt: 1,
              positiveSpans: [{ offset: -2, length: 2 }],
              positiveDeltas: [3, -2],
              timestamp: NOW,
            },
          ],
          metadata: { type: 3, helpRef: 0, unitRef: ref('seconds') },
        },
      ],
    }).finish(),
  );
}

async function setup(config: Record<string, unknown> = {}, partitions = 4) {
  const bus = new MemoryBus();
  await bus.ensureTopics([
    { name: 'prometheus_remote_write', partitions },
    { name: 'airdig.dlq', partitions: 1 },
  ]);
  const settings = { ...componentSettings(remoteWriteFactory, bus, store), topics: { prometheus_remote_write: { partitions, compacted: false } } };
  const receiver = remoteWriteFactory.create(settings, remoteWriteFactory.configSchema.parse({ listen: '127.0.0.1:0', ...config }));
  await receiver.start();
  return { bus, receiver, url: receiver.listening!()[0]!.url, settings };
}

const post = (url: string, body: Buffer, contentType = V1, headers: Record<string, string> = {}) =>
  fetch(url, { method: 'POST', headers: { 'Content-Type': contentType, 'Content-Encoding': 'snappy', ...headers }, body });

test('1.0: samples in ClickHouse equal those sent, labels intact, the stale marker kept; series split by target', async () => {
  const tag = 'v1t';
  const { bus, receiver, url } = await setup();
  const got: BusRecord[] = [];
  await bus.consumer({ groupId: 'peek', topics: ['prometheus_remote_write'], handler: async (b) => void got.push(...b) }).start();
  const sink = promSamplesFactory.create(componentSettings(promSamplesFactory, bus, store), promSamplesFactory.configSchema.parse({}));
  await sink.start();
  try {
    const res = await post(url, compressSync(v1Body(tag)));
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('x-prometheus-remote-write-samples-written'), '7');
    await waitFor(() => got.length >= 1, 5_000, 'records');
    // Series of one target share a partition.
    const hosts = new Map<string, number>();
    for (const r of got) for (const h of ['host-a', 'host-b']) if (r.value.includes(Buffer.from(h))) hosts.set(`${h}@${r.partition}`, r.partition);
    assert.equal([...hosts.keys()].filter((k) => k.startsWith('host-a')).length, 1, 'host-a on one partition');
    const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
    const rows = await waitFor(
      async () => {
        const r = await q<{ metric_name: string; instance: string; ts: string; value: number | null; stale: number; nan: number }>(
          `SELECT s.metric_name AS metric_name, p.instance AS instance, s.ts AS ts, s.value AS value, s.stale AS stale, isNaN(s.value) AS nan FROM prom_samples AS s FINAL JOIN (SELECT * FROM prom_series FINAL) AS p USING fingerprint WHERE p.job = '${tag}-node' ORDER BY metric_name, instance, ts`,
        );
        return r.length >= 7 ? r : undefined;
      },
      10_000,
      'seven samples',
    );
    const iso = (ms: number) => new Date(ms).toISOString().replace('T', ' ').replace('Z', '');
    assert.deepEqual(
      rows.map((r) => [r.metric_name, r.instance, r.ts, r.stale ? 'stale' : r.value, r.nan]),
      [
        ['node_load1', 'host-a:9100', iso(NOW), 0.5, 0],
        ['node_load1', 'host-a:9100', iso(NOW + 15_000), 0.75, 0],
        ['node_load1', 'host-a:9100', iso(NOW + 30_000), 'stale', 1],
        ['up', 'host-a:9100', iso(NOW), 1, 0],
        ['up', 'host-a:9100', iso(NOW + 15_000), 1, 0],
        ['up', 'host-a:9100', iso(NOW + 30_000), 0, 0],
        ['up', 'host-b:9100', iso(NOW), 1, 0],
      ],
    );
    const [series] = await q<{ labels: Record<string, string>; resource_id: string }>(
      `SELECT labels, resource_id FROM prom_series FINAL WHERE job = '${tag}-node' AND metric_name = 'up' AND instance = 'host-b:9100'`,
    );
    assert.deepEqual(series!.labels, { __name__: 'up', instance: 'host-b:9100', job: `${tag}-node` });
    assert.equal(series!.resource_id, `target:${tag}-node/host-b:9100`);
  } finally {
    await receiver.shutdown();
    await sink.shutdown();
    await bus.close();
  }
});

test('2.0: symbols, samples, native histogram, exemplar and metadata; 204 with the written counts', async () => {
  const tag = 'v2t';
  const { bus, receiver, url } = await setup();
  const sink = promSamplesFactory.create(componentSettings(promSamplesFactory, bus, store), promSamplesFactory.configSchema.parse({}));
  await sink.start();
  try {
    const res = await post(url, compressSync(v2Body(tag)), V2);
    assert.equal(res.status, 204);
    assert.equal(res.headers.get('x-prometheus-remote-write-samples-written'), '2');
    assert.equal(res.headers.get('x-prometheus-remote-write-histograms-written'), '1');
    assert.equal(res.headers.get('x-prometheus-remote-write-exemplars-written'), '1');
    const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
    const h = await waitFor(
      async () =>
        (
          await q<Record<string, unknown>>(
            `SELECT count, sum, schema, zero_count, positive_spans, positive_deltas FROM prom_histograms FINAL WHERE metric_name = '${tag}_latency_seconds'`,
          )
        )[0],
      10_000,
      'the histogram',
    );
    assert.deepEqual(h, { count: 5, sum: 1.5, schema: 3, zero_count: 1, positive_spans: [[-2, 2]], positive_deltas: [3, -2] });
    const samples = await q<{ value: number }>(`SELECT value FROM prom_samples FINAL WHERE metric_name = '${tag}_requests_total' ORDER BY ts`);
    assert.deepEqual(
      samples.map((s) => s.value),
      [41, 42],
    );
    const [ex] = await q<{ labels: Record<string, string>; value: number }>(
      `SELECT labels, value FROM prom_exemplars FINAL WHERE metric_name = '${tag}_requests_total'`,
    );
    assert.deepEqual(ex, { labels: { trace_id: 'abc123' }, value: 1 });
    const meta = await q<{ metric_name: string; type: string; help: string; unit: string }>(
      `SELECT metric_name, type, help, unit FROM prom_series FINAL WHERE job = '${tag}-api' ORDER BY metric_name`,
    );
    assert.deepEqual(meta, [
      { metric_name: `${tag}_latency_seconds`, type: 'histogram', help: '', unit: 'seconds' },
      { metric_name: `${tag}_requests_total`, type: 'counter', help: 'Requests served.', unit: '' },
    ]);
  } finally {
    await receiver.shutdown();
    await sink.shutdown();
    await bus.close();
  }
});

test('bad input: the right status and message, nothing published, and the receiver keeps serving', async () => {
  const { bus, receiver, url, settings } = await setup({ max_request_bytes: 4096 });
  const got: BusRecord[] = [];
  await bus.consumer({ groupId: 'peek', topics: ['prometheus_remote_write'], handler: async (b) => void got.push(...b) }).start();
  const enc = (ts: object[]) => compressSync(Buffer.from(prometheus.WriteRequest.encode({ timeseries: ts }).finish()));
  const l = (name: string, value: string) => ({ name, value });
  const sample = [{ value: 1, timestamp: NOW }];
  const framed = Buffer.concat([Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]), Buffer.from([0x01, 0x05, 0, 0, 0, 0, 0x61])]);
  const v2BadRef = compressSync(
    Buffer.from(io.prometheus.write.v2.Request.encode({ symbols: ['', '__name__', 'up'], timeseries: [{ labelsRefs: [1, 7], samples: sample }] }).finish()),
  );
  const v2NoEmpty = compressSync(
    Buffer.from(io.prometheus.write.v2.Request.encode({ symbols: ['__name__', 'up'], timeseries: [{ labelsRefs: [0, 1], samples: sample }] }).finish()),
  );
  const cases: [string, () => Promise<Response>, number, RegExp][] = [
    ['broken snappy', () => post(url, Buffer.from([0x20, 0x01, 0x02, 0x03, 0x04])), 400, /broken snappy body/],
    ['framed snappy', () => post(url, framed), 400, /framed \(stream\) format/],
    ['gzip instead of snappy', () => post(url, gzipSync(v1Body('x')), V1, { 'Content-Encoding': 'gzip' }), 415, /Content-Encoding "gzip"/],
    ['a 1.0 body sent as 2.0', () => post(url, compressSync(v1Body('x')), V2), 400, /looks like a remote write 1.0 body/],
    [
      'unsorted labels',
      () => post(url, enc([{ labels: [l('__name__', 'up'), l('job', 'j'), l('instance', 'i')], samples: sample }])),
      400,
      /not sorted by name \("job" before "instance"\)/,
    ],
    [
      'duplicate labels',
      () => post(url, enc([{ labels: [l('__name__', 'up'), l('job', 'a'), l('job', 'b')], samples: sample }])),
      400,
      /duplicate label name "job"/,
    ],
    ['missing __name__', () => post(url, enc([{ labels: [l('job', 'a')], samples: sample }])), 400, /no __name__ label/],
    ['bad symbol reference', () => post(url, v2BadRef, V2), 400, /symbol reference 7 is out of range \(3 symbols\)/],
    ['symbols not starting with ""', () => post(url, v2NoEmpty, V2), 400, /symbols must start with the empty string/],
    ['oversized', () => post(url, Buffer.alloc(8192)), 413, /over the limit of 4096 bytes/],
    ['empty body', () => post(url, Buffer.alloc(0)), 400, /empty body/],
    ['wrong content type', () => post(url, compressSync(v1Body('x')), 'application/json'), 415, /unsupported Content-Type "application\/json"/],
    ['unknown proto', () => post(url, compressSync(v1Body('x')), 'application/x-protobuf;proto=io.prometheus.write.v3.Request'), 415, /unsupported proto/],
    ['decompresses past the limit', () => post(url, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x00])), 413, /decompresses to \d+ bytes, over the limit/],
  ];
  try {
    for (const [name, send, status, message] of cases) {
      const res = await send();
      assert.equal(res.status, status, name);
      assert.match(await res.text(), message, name);
    }
    const ok = await post(url, compressSync(v1Body('ok')));
    assert.equal(ok.status, 204);
    await waitFor(() => got.length >= 1, 5_000, 'the good request');
    // Its series, and its metadata on the partitions its series do not reach; nothing of the bad ones.
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(got.length, 4, 'one record per partition');
    assert.ok(
      got.some((r) => r.value.includes(Buffer.from('ok-node'))),
      'the good series were published',
    );
    assert.ok(
      got.every((r) => r.value.includes(Buffer.from('ok-node')) || r.value.includes(Buffer.from('1m load average.'))),
      'only the good request was published',
    );
    assert.match(await settings.registry.metrics(), /airdig_component_dropped_total\{component="remote_write",kind="receiver",reason="invalid_request"\} \d+/);
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
});

test('bearer and basic auth, as Prometheus remote_write can send them; a full bus answers 503 with Retry-After', async () => {
  const { bus, receiver, url } = await setup({ basic_auth: { username: 'prom', password: 'pw' }, bearer_token: 'tok' }, 1);
  try {
    const body = compressSync(v1Body('auth'));
    assert.equal((await post(url, body)).status, 401);
    assert.equal((await post(url, body, V1, { Authorization: `Basic ${Buffer.from('prom:pw').toString('base64')}` })).status, 204);
    assert.equal((await post(url, body, V1, { Authorization: 'Bearer tok' })).status, 204);
    assert.equal((await post(url, body, V1, { Authorization: 'Bearer nope' })).status, 401);
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
  const full = new MemoryBus({ max_queued_records: 1 });
  await full.ensureTopics([{ name: 'prometheus_remote_write', partitions: 1 }]);
  const stuck = full.consumer({ groupId: 'stuck', topics: ['prometheus_remote_write'], handler: () => new Promise(() => {}) });
  await stuck.start();
  const r = remoteWriteFactory.create(
    componentSettings(remoteWriteFactory, full, store),
    remoteWriteFactory.configSchema.parse({ listen: '127.0.0.1:0', retry_after_s: 9 }),
  );
  await r.start();
  const u = r.listening!()[0]!.url;
  await post(u, compressSync(v1Body('f1')));
  const res = await post(u, compressSync(v1Body('f2')));
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), '9');
  await r.shutdown();
  await full.close();
});

test('a resent body (a retry of a request that landed) is answered as before and published once; off with replay_window_ms: 0', async () => {
  for (const window of [300_000, 0]) {
    const { bus, receiver, url, settings } = await setup({ replay_window_ms: window }, 1);
    const got: BusRecord[] = [];
    await bus.consumer({ groupId: 'peek', topics: ['prometheus_remote_write'], handler: async (b) => void got.push(...b) }).start();
    try {
      const body = compressSync(v1Body(`replay${window}`));
      for (let i = 0; i < 3; i++) {
        const res = await post(url, body);
        assert.equal(res.status, 204);
        assert.equal(res.headers.get('x-prometheus-remote-write-samples-written'), '7');
      }
      // The same bytes as 2.0 are another request (and here a bad one: 1.0 fields in a 2.0 body).
      assert.equal((await post(url, body, V2)).status, 400);
      const other = await post(url, compressSync(v1Body(`replay${window}b`)));
      assert.equal(other.status, 204);
      const expected = window ? 2 : 4;
      await waitFor(() => got.length >= expected, 5_000, `${expected} records`);
      await new Promise((r) => setTimeout(r, 200));
      assert.equal(got.length, expected);
      const text = await settings.registry.metrics();
      if (window) assert.match(text, /reason="replayed_request"[^\n]* 14\b/);
      else assert.doesNotMatch(text, /replayed_request/);
    } finally {
      await receiver.shutdown();
      await bus.close();
    }
  }
});

test('1.0 metadata, sent apart from the samples as Prometheus does, reaches prom_series type/help/unit on every partition', async () => {
  const tag = 'meta1';
  const { bus, receiver, url } = await setup({}, 4);
  const sink = promSamplesFactory.create(componentSettings(promSamplesFactory, bus, store), promSamplesFactory.configSchema.parse({}));
  await sink.start();
  try {
    const metadataOnly = compressSync(
      Buffer.from(
        prometheus.WriteRequest.encode({
          metadata: [
            { type: 1, metricFamilyName: `${tag}_requests`, help: 'Requests served.', unit: '' },
            { type: 3, metricFamilyName: `${tag}_latency_seconds`, help: 'Latency.', unit: 'seconds' },
          ],
        }).finish(),
      ),
    );
    const meta = await post(url, metadataOnly);
    assert.equal(meta.status, 204);
    const series = (name: string, instance: string) => ({
      labels: [
        { name: '__name__', value: name },
        { name: 'instance', value: instance },
        { name: 'job', value: tag },
      ],
      samples: [{ value: 1, timestamp: NOW }],
    });
    // Targets on different partitions; a counter's _total and a histogram's _bucket find their family.
    const samples = compressSync(
      Buffer.from(
        prometheus.WriteRequest.encode({
          timeseries: ['a', 'b', 'c', 'd', 'e', 'f'].flatMap((h) => [
            series(`${tag}_requests_total`, `${h}:80`),
            series(`${tag}_latency_seconds_bucket`, `${h}:80`),
            series(`${tag}_other`, `${h}:80`),
          ]),
        }).finish(),
      ),
    );
    assert.equal((await post(url, samples)).status, 204);
    const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
    const rows = await waitFor(
      async () => {
        const r = await q<{ metric_name: string; type: string; help: string; unit: string; n: string }>(
          `SELECT metric_name, type, help, unit, count() AS n FROM prom_series FINAL WHERE job = '${tag}' GROUP BY ALL ORDER BY metric_name`,
        );
        return r.length === 3 && r.every((x) => Number(x.n) === 6) ? r : undefined;
      },
      10_000,
      'eighteen series rows',
    );
    assert.deepEqual(
      rows.map((r) => [r.metric_name, r.type, r.help, r.unit]),
      [
        [`${tag}_latency_seconds_bucket`, 'histogram', 'Latency.', 'seconds'],
        [`${tag}_other`, '', '', ''],
        [`${tag}_requests_total`, 'counter', 'Requests served.', ''],
      ],
    );
  } finally {
    await receiver.shutdown();
    await sink.shutdown();
    await bus.close();
  }
});
