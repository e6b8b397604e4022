import assert from 'node:assert/strict';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { BusRecord, Bus } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { otlpFactory } from './receiver.js';
import { ExportTraceServiceRequest, ExportTraceServiceResponse } from '../model/otlp.js';
import { componentSettings } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';
import { partitionForKey } from '../runtime/bus/partitioner.js';
import { traceRowsDirect } from '../oteltraces/sink.js';
import { forEachSpanView } from '../servicegraph/spans.js';

const noStore = {} as Store; // the receiver never touches ClickHouse
const T1 = '0af7651916cd43dd8448eb211c80319c';
const T2 = '4bf92f3577b34da6a3ce929d0e0e4736';

function body(): Uint8Array {
  return ExportTraceServiceRequest.encode({
    resourceSpans: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
        scopeSpans: [
          {
            spans: [
              { traceId: Buffer.from(T1, 'hex'), spanId: Buffer.from('0102030405060708', 'hex'), name: 'GET /cart', kind: 2 },
              { traceId: Buffer.from(T2, 'hex'), spanId: Buffer.from('1102030405060708', 'hex'), name: 'GET /pay', kind: 3 },
              { traceId: Buffer.from(T1, 'hex'), spanId: Buffer.from('2102030405060708', 'hex'), name: 'SELECT', kind: 3 },
            ],
          },
        ],
      },
    ],
  }).finish();
}

async function startReceiver(bus: Bus, config: Record<string, unknown> = {}, topics: Record<string, { partitions: number; compacted: boolean }> = {}) {
  const settings = { ...componentSettings(otlpFactory, bus, noStore), topics };
  const receiver = otlpFactory.create(settings, otlpFactory.configSchema.parse({ http: '127.0.0.1:0', grpc: '127.0.0.1:0', ...config }));
  await receiver.start();
  const urls = Object.fromEntries(receiver.listening!().map((l) => [l.name, l.url]));
  return { receiver, settings, http: urls['otlp http']!, grpc: urls['otlp grpc']!.replace('http://', '') };
}

/** One trace Export call on client; the error, or null. */
function exportOn(client: grpc.Client): Promise<grpc.ServiceError | null> {
  return new Promise((resolve) =>
    client.makeUnaryRequest(
      '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
      (b: Buffer) => b,
      (b: Buffer) => b,
      Buffer.from(body()),
      (e) => resolve(e),
    ),
  );
}

async function collect(bus: Bus): Promise<BusRecord[]> {
  const got: BusRecord[] = [];
  await bus.consumer({ groupId: 'test', topics: ['otlp_spans'], handler: async (b) => void got.push(...b) }).start();
  return got;
}

test('OTLP/HTTP protobuf, JSON and gzip: one message per trace id on otlp_spans, keyed by the hex trace id', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 4 }]);
  const got = await collect(bus);
  const { receiver, http } = await startReceiver(bus);
  try {
    let res = await fetch(http, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: body() });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/x-protobuf');
    assert.deepEqual(ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(Buffer.from(await res.arrayBuffer()))), {});
    await waitFor(() => got.length >= 2, 5_000, 'two messages');
    const byKey = new Map(got.map((r) => [r.key!.toString(), r]));
    assert.deepEqual([...byKey.keys()].sort(), [T1, T2].sort());
    const t1 = ExportTraceServiceRequest.decode(byKey.get(T1)!.value);
    assert.deepEqual(
      t1.resourceSpans[0]!.scopeSpans![0]!.spans!.map((s) => s.name),
      ['GET /cart', 'SELECT'],
    );

    const json = JSON.stringify({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'web' } }] },
          scopeSpans: [
            {
              scope: { name: 'x', unknownField: 1 },
              spans: [
                {
                  traceId: T2.toUpperCase(),
                  spanId: 'aabbccddeeff0011',
                  name: 'json span',
                  kind: 2,
                  startTimeUnixNano: '1700000000000000000',
                  endTimeUnixNano: 1700000000000500000,
                  status: { code: 2 },
                },
              ],
            },
          ],
        },
      ],
    });
    res = await fetch(http, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json; charset=utf-8', 'Content-Encoding': 'gzip' },
      body: gzipSync(json),
    });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/json');
    assert.deepEqual(await res.json(), {});
    await waitFor(() => got.length >= 3, 5_000, 'the JSON message');
    const j = ExportTraceServiceRequest.toObject(ExportTraceServiceRequest.decode(got[2]!.value), { longs: String, bytes: String });
    assert.equal(got[2]!.key!.toString(), T2);
    const sp = j.resourceSpans[0].scopeSpans[0].spans[0];
    assert.equal(sp.name, 'json span');
    assert.equal(Buffer.from(sp.spanId, 'base64').toString('hex'), 'aabbccddeeff0011');
    assert.equal(sp.startTimeUnixNano, '1700000000000000000');
    assert.equal(sp.endTimeUnixNano, '1700000000000500000');
    assert.equal(sp.status.code, 2);
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
});

test('OTLP/HTTP bad input: the right status and message, nothing published, and the receiver keeps serving', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 1 }]);
  const got = await collect(bus);
  const { receiver, http, settings } = await startReceiver(bus, { max_request_bytes: 64 * 1024 });
  const pb = { 'Content-Type': 'application/x-protobuf' };
  const full = body();
  const cases: [string, RequestInit, number, RegExp][] = [
    ['garbage bytes', { headers: pb, body: Buffer.from([0x0f, 0xff, 0xff, 0x01]) }, 400, /wire type/],
    ['truncated protobuf', { headers: pb, body: full.subarray(0, full.length - 3) }, 400, /truncated protobuf/],
    [
      'JSON with base64 ids',
      {
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'CvdlGRbNQ92ESOshHIAxnA==', spanId: 'AQIDBAUGBwg=' }] }] }] }),
      },
      400,
      /traceId: expected a hex-encoded id/,
    ],
    ['not JSON', { headers: { 'Content-Type': 'application/json' }, body: '{"resourceSpans": [' }, 400, /invalid JSON/],
    ['wrong content type', { headers: { 'Content-Type': 'text/plain' }, body: 'hello' }, 415, /unsupported Content-Type "text\/plain"/],
    ['broken gzip', { headers: { ...pb, 'Content-Encoding': 'gzip' }, body: Buffer.from('not gzip at all') }, 400, /broken gzip/],
    ['unknown encoding', { headers: { ...pb, 'Content-Encoding': 'br' }, body: full }, 415, /Content-Encoding "br"/],
    ['oversized body', { headers: pb, body: Buffer.alloc(65 * 1024) }, 413, /over the limit of 65536 bytes/],
    [
      'oversized after gunzip',
      { headers: { ...pb, 'Content-Encoding': 'gzip' }, body: gzipSync(Buffer.alloc(200 * 1024)) },
      413,
      /decompressed body is over the limit/,
    ],
  ];
  try {
    for (const [name, init, status, message] of cases) {
      const res = await fetch(http, { method: 'POST', ...init });
      assert.equal(res.status, status, name);
      const text = Buffer.from(await res.arrayBuffer()).toString('utf8');
      assert.match(text, message, name);
    }
    assert.equal((await fetch(http.replace('/v1/traces', '/v1/nothing'), { method: 'POST', headers: pb, body: full })).status, 404);
    assert.equal((await fetch(http, { method: 'GET' })).status, 405);
    // Still serving, and none of the bad requests published anything.
    const ok = await fetch(http, { method: 'POST', headers: pb, body: full });
    assert.equal(ok.status, 200);
    await waitFor(() => got.length >= 2, 5_000, 'the good request');
    assert.equal(got.length, 2);
    assert.match(await settings.registry.metrics(), /airdig_component_received_total\{component="otlp",kind="receiver"\} 3/);
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
});

test('partial success for spans without a valid trace id; bearer token; CORS preflight', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 1 }]);
  const { receiver, http } = await startReceiver(bus, { bearer_token: 's3cret', cors_allowed_origins: ['https://app.example'] });
  try {
    const req = ExportTraceServiceRequest.encode({
      resourceSpans: [
        { scopeSpans: [{ spans: [{ traceId: Buffer.from(T1, 'hex'), name: 'ok' }, { traceId: Buffer.alloc(16), name: 'zero' }, { name: 'none' }] }] },
      ],
    }).finish();
    const headers = { 'Content-Type': 'application/x-protobuf', Authorization: 'Bearer s3cret' };
    const res = await fetch(http, { method: 'POST', headers, body: req });
    assert.equal(res.status, 200);
    const r = ExportTraceServiceResponse.toObject(ExportTraceServiceResponse.decode(Buffer.from(await res.arrayBuffer())), { longs: Number });
    assert.equal(r.partialSuccess.rejectedSpans, 2);
    assert.match(r.partialSuccess.errorMessage, /2 span\(s\) rejected: span with an invalid trace_id \(16 bytes, all zero\)/);
    assert.equal((await fetch(http, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: req })).status, 401);
    assert.equal((await fetch(http, { method: 'POST', headers: { ...headers, Authorization: 'Bearer wrong' }, body: req })).status, 401);
    const pre = await fetch(http, {
      method: 'OPTIONS',
      headers: { Origin: 'https://app.example', 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type' },
    });
    assert.equal(pre.status, 204);
    assert.equal(pre.headers.get('access-control-allow-origin'), 'https://app.example');
    assert.match(pre.headers.get('access-control-allow-methods')!, /POST/);
    const other = await fetch(http, { method: 'OPTIONS', headers: { Origin: 'https://evil.example' } });
    assert.equal(other.headers.get('access-control-allow-origin'), null);
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
});

test('a full bus: HTTP 503 with Retry-After, gRPC RESOURCE_EXHAUSTED with RetryInfo; nothing half-written', async () => {
  const bus = new MemoryBus({ max_queued_records: 1 });
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 1 }]);
  // A group that never commits holds the partition full.
  let block!: () => void;
  const blocked = new Promise<void>((r) => (block = r));
  const c = bus.consumer({ groupId: 'stuck', topics: ['otlp_spans'], handler: () => blocked });
  await c.start();
  const { receiver, http, grpc: grpcAddr } = await startReceiver(bus, { retry_after_s: 7 });
  try {
    const res = await fetch(http, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: body() });
    assert.equal(res.status, 503);
    assert.equal(res.headers.get('retry-after'), '7');
    const client = new grpc.Client(grpcAddr, grpc.credentials.createInsecure());
    const err = await new Promise<grpc.ServiceError>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body()),
        (e) => resolve(e!),
      ),
    );
    assert.equal(err.code, grpc.status.RESOURCE_EXHAUSTED);
    const details = err.metadata.get('grpc-status-details-bin')[0] as Buffer;
    assert.ok(details.includes(Buffer.from('type.googleapis.com/google.rpc.RetryInfo')));
    client.close();
  } finally {
    block();
    await c.stop();
    await receiver.shutdown();
    await bus.close();
  }
});

test('OTLP/gRPC with gzip-compressed messages is accepted', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 1 }]);
  const got = await collect(bus);
  const { receiver, grpc: grpcAddr } = await startReceiver(bus);
  // Compression algorithm 2 is gzip in grpc-js.
  const client = new grpc.Client(grpcAddr, grpc.credentials.createInsecure(), { 'grpc.default_compression_algorithm': 2 });
  try {
    const err = await new Promise<grpc.ServiceError | null>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body()),
        (e) => resolve(e),
      ),
    );
    assert.equal(err, null);
    await waitFor(() => got.length >= 2, 5_000, 'messages from the gzip request');
  } finally {
    client.close();
    await receiver.shutdown();
    await bus.close();
  }
});

test('OTLP/gRPC: Export publishes by trace id; garbage is INVALID_ARGUMENT and the server keeps serving', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 2 }]);
  const got = await collect(bus);
  const { receiver, grpc: grpcAddr } = await startReceiver(bus);
  const client = new grpc.Client(grpcAddr, grpc.credentials.createInsecure());
  const call = (payload: Uint8Array) =>
    new Promise<{ err: grpc.ServiceError | null; res: Buffer | undefined }>((resolve) =>
      client.makeUnaryRequest(
        '/opentelemetry.proto.collector.trace.v1.TraceService/Export',
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(payload),
        (err, res) => resolve({ err, res }),
      ),
    );
  try {
    const bad = await call(Buffer.from([0x0a, 0x05, 0x01]));
    assert.equal(bad.err?.code, grpc.status.INVALID_ARGUMENT);
    assert.match(bad.err!.details, /truncated protobuf/);
    const ok = await call(body());
    assert.equal(ok.err, null);
    await waitFor(() => got.length >= 2, 5_000, 'gRPC messages');
    assert.deepEqual(got.map((r) => r.key!.toString()).sort(), [T1, T2].sort());
  } finally {
    client.close();
    await receiver.shutdown();
    await bus.close();
  }
});

test('OTLP/JSON nested 50 000 deep is a 400 naming the depth, not a 500; the next request is taken', async () => {
  const bus = new MemoryBus();
  const { receiver, http } = await startReceiver(bus);
  try {
    let value = '{"stringValue":"bottom"}';
    for (let i = 0; i < 50_000; i++) value = `{"kvlistValue":{"values":[{"key":"k","value":${value}}]}}`;
    const deep = `{"resourceSpans":[{"resource":{"attributes":[{"key":"deep","value":${value}}]},"scopeSpans":[]}]}`;
    const res = await fetch(http, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: deep });
    const text = await res.text();
    assert.equal(res.status, 400, text);
    assert.match(text, /nested too deeply/);
    const ok = await fetch(http, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body: body() });
    await ok.arrayBuffer();
    assert.equal(ok.status, 200);
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
});

test('an idle gRPC connection is sent GOAWAY and closed after grpc_max_connection_idle_ms; a client reconnects and exports again', async () => {
  const bus = new MemoryBus();
  const { receiver, grpc: grpcAddr } = await startReceiver(bus, { grpc_max_connection_idle_ms: 1_000 });
  try {
    // A bare HTTP/2 connection that never makes a call, as a leaked or idle client holds one.
    const { connect } = await import('node:http2');
    const idle = connect(`http://${grpcAddr}`);
    const closed = new Promise<{ goaway: boolean; ms: number }>((resolve) => {
      const started = performance.now();
      let goaway = false;
      idle.on('goaway', () => (goaway = true));
      idle.on('close', () => resolve({ goaway, ms: performance.now() - started }));
      idle.on('error', () => {});
    });
    const { goaway, ms } = await Promise.race([
      closed,
      new Promise<{ goaway: boolean; ms: number }>((r) => setTimeout(() => r({ goaway: false, ms: Infinity }), 10_000)),
    ]);
    idle.destroy();
    assert.ok(goaway, 'the server said GOAWAY');
    assert.ok(ms >= 900 && ms < 10_000, `closed after ${Math.round(ms)} ms`);
    const client = new grpc.Client(grpcAddr, grpc.credentials.createInsecure());
    const call = () => exportOn(client);
    assert.equal(await call(), null);
    await new Promise((r) => setTimeout(r, 2_000)); // its connection is closed as idle meanwhile
    assert.equal(await call(), null, 'the channel reconnects by itself');
    client.close();
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
});

test('the gRPC listener takes at most grpc_max_connections: past it a new connection is closed at once, and calls on the others go on', async () => {
  const bus = new MemoryBus();
  const { receiver, grpc: grpcAddr } = await startReceiver(bus, { grpc_max_connections: 3 });
  const { connect } = await import('node:net');
  const [host, port] = [grpcAddr.slice(0, grpcAddr.lastIndexOf(':')), Number(grpcAddr.slice(grpcAddr.lastIndexOf(':') + 1))];
  const held: import('node:net').Socket[] = [];
  try {
    // Two idle connections, as leaked clients hold them; the third slot is the real client's.
    for (let i = 0; i < 2; i++) {
      const s = connect(port, host);
      s.on('error', () => {});
      await new Promise((r) => s.once('connect', r));
      held.push(s);
    }
    const client = new grpc.Client(grpcAddr, grpc.credentials.createInsecure());
    const call = () => exportOn(client);
    assert.equal(await call(), null, 'the third connection is served');
    // A fourth is closed by the server without a byte.
    const extra = connect(port, host);
    extra.on('error', () => {});
    const closedWithin = await new Promise<number>((resolve) => {
      const started = performance.now();
      extra.once('close', () => resolve(performance.now() - started));
      setTimeout(() => resolve(Infinity), 5_000);
    });
    extra.destroy();
    assert.ok(closedWithin < 5_000, 'the connection past the limit is closed');
    assert.equal(await call(), null, 'the client on its own connection goes on');
    client.close();
  } finally {
    for (const s of held) s.destroy();
    await receiver.shutdown();
    await bus.close();
  }
});

test("a request's traces share one record per partition; concurrent requests are each answered with all their spans there", async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'otlp_spans', partitions: 2 }]);
  const got = await collect(bus);
  const { receiver, http } = await startReceiver(bus, {}, { otlp_spans: { partitions: 2, compacted: false } });
  const request = (from: number, count: number) =>
    ExportTraceServiceRequest.encode({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: `svc-${from}` } }] },
          scopeSpans: [
            {
              spans: Array.from({ length: count }, (_, i) => ({
                traceId: Buffer.alloc(16, from + i + 1),
                spanId: Buffer.alloc(8, 1),
                name: `span-${from + i}`,
                kind: 2,
              })),
            },
          ],
        },
      ],
    }).finish();
  const post = (body: Uint8Array) => fetch(http, { method: 'POST', headers: { 'Content-Type': 'application/x-protobuf' }, body }).then((r) => r.status);
  const spansIn = (records: BusRecord[]) =>
    records.flatMap((r) =>
      ExportTraceServiceRequest.decode(r.value).resourceSpans.flatMap((rs) =>
        rs.scopeSpans![0]!.spans!.map((s) => ({ partition: r.partition, name: s.name!, traceId: Buffer.from(s.traceId!).toString('hex') })),
      ),
    );
  try {
    assert.equal(await post(request(0, 20)), 200);
    await waitFor(() => spansIn(got).length >= 20, 5_000, '20 spans');
    // 20 traces on 2 partitions: two records, each on the partition its traces' keys pick.
    assert.equal(got.length, 2);
    for (const s of spansIn(got)) assert.equal(partitionForKey(Buffer.from(s.traceId), 2), s.partition);
    // The consumers read a merged record whole: the otel_traces sink's rows and the service graph's spans.
    const rows = got.flatMap((r) => traceRowsDirect(r.value) as { rows: number }[]).reduce((n, b) => n + b.rows, 0);
    let views = 0;
    for (const r of got) forEachSpanView(r.value, () => views++);
    assert.deepEqual({ rows, views }, { rows: 20, views: 20 });

    const statuses = await Promise.all(Array.from({ length: 40 }, (_, i) => post(request(100 + i, 1))));
    assert.deepEqual(statuses, Array(40).fill(200));
    await waitFor(() => spansIn(got).length >= 60, 5_000, '60 spans');
    assert.deepEqual(
      spansIn(got)
        .map((s) => s.name)
        .sort(),
      [...Array.from({ length: 20 }, (_, i) => `span-${i}`), ...Array.from({ length: 40 }, (_, i) => `span-${100 + i}`)].sort(),
    );
  } finally {
    await receiver.shutdown();
    await bus.close();
  }
});
