// Structure-aware fuzzing of AirDig's intakes: valid bodies of every format, mutated (bit flips,
// cuts, splices, huge varint lengths, deep nesting, long strings, numbers past what records hold,
// bombs), posted to the real receivers in front of the real processors on an in-process bus.
// Invariants: no 5xx, no request over 10 s, no crash (an unhandled error fails the run), and
// after the run every intake still takes a valid body, whose effect reaches the processors' output.
// `npm run fuzz` runs FUZZ_N mutations per decoder (default 2 000; `-- --long`: 1 000 000) and
// writes its figures to bench/RESULTS.md; the test suite runs a bounded slice (fuzz.test.ts).
import { readFileSync } from 'node:fs';
import * as grpc from '@grpc/grpc-js';
import path from 'node:path';
import { compressSync } from 'snappy';
import { gzipSync } from 'node:zlib';
import { MemoryBus } from '../../processors/runtime/bus/memory.js';
import type { Component, Factory } from '../../processors/runtime/pipeline/component.js';
import type { Store } from '../../processors/runtime/store/store.js';
import { topologyFactory } from '../../processors/topology/processor.js';
import { placementFactory } from '../../processors/placement/processor.js';
import { serviceGraphFactory } from '../../processors/servicegraph/processor.js';
import { healthFactory } from '../../processors/health/processor.js';
import { changesFactory } from '../../processors/cloudtrail/processor.js';
import { driftFactory } from '../../processors/drift/processor.js';
import { deploysFactory } from '../../processors/deploys/processor.js';
import { engineFactory } from '../../processors/engine/processor.js';
import { remoteWriteFactory } from '../../processors/remotewrite/receiver.js';
import { apiFactory } from '../../processors/api/sink.js';
import { logsSignal, metricsSignal, tracesSignal } from '../../processors/otlp/signals.js';
import { serviceSchema } from '../../processors/runtime/config/schema.js';
import { ExportLogsServiceRequest, ExportMetricsServiceRequest, ExportTraceServiceRequest } from '../../processors/model/otlp.js';
import { prometheus, io } from '../../protos/gen/prometheus.js';
import { componentSettings, embeddedTopics, startHttpReceivers } from '../helpers/component.js';
import { repoRoot } from '../helpers/kafka.js';
import { seeded as prng } from '../../processors/demo/traffic.js';

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, n: number) => Math.floor(r() * n);

/** Byte-level mutations of a body (protobuf, or JSON text). */
export function mutateBytes(r: Rand, body: Uint8Array): Buffer {
  const b = Buffer.from(body);
  switch (int(r, 7)) {
    case 0: {
      // flip a few bits
      for (let i = 0, n = 1 + int(r, 8); i < n && b.length; i++) b[int(r, b.length)]! ^= 1 << int(r, 8);
      return b;
    }
    case 1:
      return b.subarray(0, int(r, b.length + 1)); // cut
    case 2: {
      // splice a copy of one range into another place
      const from = int(r, b.length + 1);
      const len = int(r, Math.min(64, b.length - from) + 1);
      const at = int(r, b.length + 1);
      return Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
    }
    case 3: {
      // a huge varint where a length or tag may be
      const at = int(r, b.length + 1);
      return Buffer.concat([b.subarray(0, at), Buffer.from([0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), b.subarray(at)]);
    }
    case 4: {
      // a length-delimited field claiming 2 GiB
      const at = int(r, b.length + 1);
      return Buffer.concat([b.subarray(0, at), Buffer.from([0x0a, 0x80, 0x80, 0x80, 0x80, 0x08]), b.subarray(at)]);
    }
    case 5: {
      // random bytes overwritten
      for (let i = 0, n = 1 + int(r, 16); i < n && b.length; i++) b[int(r, b.length)] = int(r, 256);
      return b;
    }
    default:
      return Buffer.concat([b, b.subarray(0, int(r, b.length + 1))]); // trailing garbage
  }
}

const NASTY: (() => unknown)[] = [
  () => 1e20,
  () => -1,
  () => 1.5,
  () => Number.MAX_SAFE_INTEGER + 2,
  () => -1e308,
  () => '',
  () => 'x'.repeat(200_000),
  () => '\u0000\ud800',
  () => null,
  () => true,
  () => [],
  () => ({}),
  () => '2026-13-45T99:99:99Z',
  () => 'arn:aws:',
  () => deep(3_000),
];

function deep(n: number): unknown {
  let v: unknown = 'bottom';
  for (let i = 0; i < n; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

/** Tree-level mutations of a JSON document: a value replaced by a nasty one, a key dropped or duplicated. */
export function mutateJson(r: Rand, doc: unknown): string {
  const copy = JSON.parse(JSON.stringify(doc)) as unknown;
  const slots: [Record<string, unknown> | unknown[], string | number][] = [];
  const walk = (v: unknown, depth: number) => {
    if (depth > 12 || v === null || typeof v !== 'object') return;
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    for (const [k, x] of entries) {
      slots.push([v as Record<string, unknown> | unknown[], k]);
      walk(x, depth + 1);
    }
  };
  walk(copy, 0);
  for (let i = 0, n = 1 + int(r, 3); i < n && slots.length; i++) {
    const [holder, key] = pick(r, slots);
    const what = int(r, 4);
    if (what === 0 && !Array.isArray(holder)) delete (holder as Record<string, unknown>)[key as string];
    else (holder as Record<string | number, unknown>)[key] = pick(r, NASTY)();
  }
  return JSON.stringify(copy);
}

/** What a target answered: an HTTP status (gRPC codes are mapped to their HTTP meaning, grpcStatus), its text, and a finding when the answer itself breaks an invariant. */
interface Answer {
  status: number;
  message: string;
  /** Set when the answer is wrong in a way the status does not show (a GraphQL 200 without data or errors, a limit that did not hold). */
  wrong?: string;
}

interface Target {
  name: string;
  /** The receiver's URL key in the fuzz pipeline. */
  url: string;
  headers: Record<string, string>;
  /** A valid body. */
  seed: () => Buffer;
  /** One mutated body. */
  mutate: (r: Rand) => { body: Buffer; headers?: Record<string, string>; expect?: (a: Answer) => string | undefined };
  /** How a body is sent (default: an HTTP POST to the url). */
  send?: (url: string, body: Buffer, headers: Record<string, string>) => Promise<Answer>;
  /** Whether an answer to the valid body is a success (default: a 2xx). */
  success?: (a: Answer) => boolean;
}

const fixture = (name: string) => readFileSync(path.join(repoRoot, 'processors/drift/testdata', name));
const JSONH = { 'Content-Type': 'application/json' };
const PROTO = { 'Content-Type': 'application/x-protobuf' };
const RW1 = { ...PROTO, 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' };
const RW2 = {
  'Content-Type': 'application/x-protobuf;proto=io.prometheus.write.v2.Request',
  'Content-Encoding': 'snappy',
  'X-Prometheus-Remote-Write-Version': '2.0.0',
};

let bomb: Buffer | undefined;
/** 64 MiB of spaces (valid JSON whitespace) in 64 KiB of gzip: over every intake's limit once unpacked. */
const gzipBomb = () => (bomb ??= gzipSync(Buffer.alloc(64 * 1024 * 1024, 0x20), { level: 9 }));

function jsonTarget(name: string, url: string, seed: () => unknown): Target {
  return {
    name,
    url,
    headers: JSONH,
    seed: () => Buffer.from(JSON.stringify(seed())),
    mutate: (r) => {
      const doc = seed();
      const n = int(r, 10);
      if (n < 6) return { body: Buffer.from(mutateJson(r, doc)) };
      if (n < 9) return { body: mutateBytes(r, Buffer.from(JSON.stringify(doc))) };
      // a gzip file that unpacks far past the limit, or a broken one
      return { body: r() < 0.5 ? gzipBomb() : mutateBytes(r, gzipSync(JSON.stringify(doc))), headers: JSONH };
    },
  };
}

function protoTarget(name: string, url: string, seed: () => Uint8Array, headers = PROTO): Target {
  return { name, url, headers, seed: () => Buffer.from(seed()), mutate: (r) => ({ body: mutateBytes(r, seed()) }) };
}

function remoteWriteTarget(name: string, seed: () => Uint8Array, headers: Record<string, string>): Target {
  return {
    name,
    url: 'rw',
    headers,
    seed: () => compressSync(Buffer.from(seed())),
    // Mostly a valid snappy stream of a mutated message (the decoder is reached), sometimes a broken stream.
    mutate: (r) => ({ body: r() < 0.8 ? compressSync(mutateBytes(r, seed())) : mutateBytes(r, compressSync(Buffer.from(seed()))) }),
  };
}

const now = () => Date.now();
const spanSeed = () =>
  ExportTraceServiceRequest.encode(
    ExportTraceServiceRequest.fromObject({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fuzz' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: Buffer.from('0af7651916cd43dd8448eb211c80319c', 'hex'),
                  spanId: Buffer.from('b7ad6b7169203331', 'hex'),
                  name: 'GET /',
                  kind: 2,
                  startTimeUnixNano: String(BigInt(now()) * 1_000_000n),
                  endTimeUnixNano: String(BigInt(now() + 5) * 1_000_000n),
                  attributes: [{ key: 'server.address', value: { stringValue: 'db.internal' } }],
                  status: { code: 2 },
                },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
/** OTLP/JSON as exporters write it: hex ids, 64-bit times as strings. */
const spanJsonSeed = () => ({
  resourceSpans: [
    {
      resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fuzz' } }] },
      scopeSpans: [
        {
          spans: [
            {
              traceId: '0af7651916cd43dd8448eb211c80319c',
              spanId: 'b7ad6b7169203331',
              parentSpanId: '',
              name: 'GET /',
              kind: 2,
              startTimeUnixNano: String(BigInt(now()) * 1_000_000n),
              endTimeUnixNano: String(BigInt(now() + 5) * 1_000_000n),
              attributes: [{ key: 'http.response.status_code', value: { intValue: '500' } }],
              status: { code: 2 },
            },
          ],
        },
      ],
    },
  ],
});
const metricSeed = () =>
  ExportMetricsServiceRequest.encode(
    ExportMetricsServiceRequest.fromObject({
      resourceMetrics: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'fuzz' } }] },
          scopeMetrics: [
            {
              metrics: [
                { name: 'up', gauge: { dataPoints: [{ timeUnixNano: String(BigInt(now()) * 1_000_000n), asDouble: 0 }] } },
                {
                  name: 'http.server.request.duration',
                  histogram: {
                    aggregationTemporality: 2,
                    dataPoints: [{ timeUnixNano: String(BigInt(now()) * 1_000_000n), count: 3, sum: 1.5, bucketCounts: [1, 1, 1], explicitBounds: [0.1, 1] }],
                  },
                },
              ],
            },
          ],
        },
      ],
    }),
  ).finish();
const logSeed = () =>
  ExportLogsServiceRequest.encode(
    ExportLogsServiceRequest.fromObject({
      resourceLogs: [
        { resource: { attributes: [] }, scopeLogs: [{ logRecords: [{ timeUnixNano: String(BigInt(now()) * 1_000_000n), body: { stringValue: 'hello' } }] }] },
      ],
    }),
  ).finish();
const rw1Seed = () =>
  prometheus.WriteRequest.encode({
    timeseries: [
      {
        labels: [
          { name: '__name__', value: 'http_requests_total' },
          { name: 'code', value: '500' },
          { name: 'instance', value: '10.0.1.5:9100' },
          { name: 'job', value: 'api' },
        ],
        samples: [{ value: 3, timestamp: now() }],
      },
    ],
    metadata: [{ type: 1, metricFamilyName: 'http_requests_total', help: 'requests', unit: '' }],
  }).finish();
const rw2Seed = () =>
  io.prometheus.write.v2.Request.encode({
    symbols: ['', '__name__', 'up', 'job', 'api', 'instance', '10.0.1.5:9100'],
    timeseries: [{ labelsRefs: [1, 2, 5, 6, 3, 4], samples: [{ value: 0, timestamp: now() }], metadata: { type: 2, helpRef: 0, unitRef: 0 } }],
  }).finish();
const falcoSeed = () => ({
  hostname: 'ip-10-0-1-5',
  output: 'shell in container',
  priority: 'Critical',
  rule: 'Terminal shell in container',
  source: 'syscall',
  time: new Date().toISOString(),
  output_fields: { 'container.id': 'abcdef012345', 'k8s.ns.name': 'shop', 'k8s.pod.name': 'api-1' },
});
const changeSeed = () => ({
  id: 'chg-1',
  time: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
  resources: ['service:shop/checkout'],
  summary: 'deploy checkout v2',
  actor: 'ci',
  kind: 'deploy',
  details: { commit: '9f1c2e7' },
});

/**
 * gRPC status codes as the HTTP status that means the same, so one table counts both: a client
 * error is a 4xx; UNAVAILABLE a 503; DEADLINE_EXCEEDED no answer (the client gave up); INTERNAL,
 * UNKNOWN and every other code a 500 (bad input must never give one).
 */
const GRPC_AS_HTTP: Partial<Record<grpc.status, number>> = {
  [grpc.status.OK]: 200,
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.OUT_OF_RANGE]: 400,
  [grpc.status.FAILED_PRECONDITION]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.RESOURCE_EXHAUSTED]: 413,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 0,
};

/** An OTLP service over gRPC: a real grpc-js client sends the (mutated) request bytes as a unary Export call. */
function grpcTarget(name: string, method: string, seed: () => Uint8Array): Target & { close(): void } {
  let client: grpc.Client | undefined;
  const identity = (b: Buffer) => b;
  return {
    name,
    url: 'otlp grpc',
    headers: {},
    seed: () => Buffer.from(seed()),
    mutate: (r) => ({ body: mutateBytes(r, seed()) }),
    send: (url, body) => {
      client ??= new grpc.Client(new URL(url).host, grpc.credentials.createInsecure());
      return new Promise((resolve) => {
        client!.makeUnaryRequest(method, identity, identity, body, new grpc.Metadata(), { deadline: Date.now() + 10_000 }, (err) => {
          const code = err?.code ?? grpc.status.OK;
          resolve({ status: GRPC_AS_HTTP[code] ?? 500, message: err ? `${grpc.status[code]}: ${err.details}` : 'OK' });
        });
      });
    },
    close: () => client?.close(),
  };
}

/** Valid GraphQL requests over the schema's corners: ids, aliases, filters, walks, lists, variables. */
const GRAPHQL_SEEDS: { query: string; variables?: Record<string, unknown> }[] = [
  {
    query:
      'query($id: String!) { incident(id: $id) { id status impacted causes { rank causeId score change { actor eventName } correlations { explanation path { id edge } } } } }',
    variables: { id: 'inc-0' },
  },
  { query: '{ graph(limit: 100) { nodes { id type health openDrift recentChanges criticality vpc } edges { source target type calls } truncated } }' },
  {
    query:
      '{ resource(id: "10.0.1.31") { id name health healthReason aliases openDrift { id } changes { eventName actor } incidents { id } edgesIn { calls minutes { ts } } } }',
  },
  {
    query:
      'query($f: ResourceFilter, $n: Int, $after: String) { resources(filter: $f, first: $n, after: $after) { nodes { id } pageInfo { endCursor hasNextPage } totalCount } }',
    variables: { f: { search: 'pay', health: 'CRITICAL', drifted: true }, n: 5, after: null },
  },
  {
    query:
      '{ blastRadius(id: "sg-0pay", depth: 3) { root services nodes { id distance } } neighbors(id: "payments", depth: 2, direction: IN) { root truncated } }',
  },
  {
    query:
      '{ incidents(status: OPEN, since: "24h") { id } changes(since: "2026-12-01T00:00:00Z", first: 3) { id } drift(kind: MODIFIED) { id } runtimeEvents { id } serviceMap(minutes: 60) { edges { id } } }',
  },
];

/**
 * Requests that must be refused before they run, by the limit that guards against them: a GraphQL
 * error with its code, 400 or (GraphQL over HTTP, for an application/json answer) 200.
 */
function refusedBy(code: string) {
  return (a: Answer) =>
    (a.status === 400 || a.status === 200) && a.message.includes(`"${code}"`) ? undefined : `expected ${code}, got ${a.status} ${a.message.slice(0, 120)}`;
}

function graphqlMutation(r: Rand): { body: Buffer; expect?: (a: Answer) => string | undefined } {
  const seed = pick(r, GRAPHQL_SEEDS);
  const envelope = (query: string, variables: unknown = seed.variables) => Buffer.from(JSON.stringify({ query, variables }));
  switch (int(r, 12)) {
    case 0:
    case 1:
    case 2:
      return { body: envelope(mutateBytes(r, Buffer.from(seed.query)).toString()) }; // a broken document
    case 3:
    case 4:
      return { body: Buffer.from(mutateJson(r, seed)) }; // nasty variables, query or envelope values
    case 5:
      return { body: mutateBytes(r, envelope(seed.query)) }; // broken JSON
    case 6: {
      // nesting far past max_depth (unknown fields: the depth limit answers before validation does)
      const n = 13 + int(r, 3_000);
      return {
        body: envelope(`{ ${'incidents { causes { '.repeat(Math.ceil(n / 2))}id${' }'.repeat(2 * Math.ceil(n / 2))} }`),
        expect: refusedBy('QUERY_TOO_DEEP'),
      };
    }
    case 7: {
      // many aliases of an expensive field: the cost limit
      const n = 25 + int(r, 5_000);
      const fields = Array.from({ length: n }, (_, i) => `a${i}: graph(limit: 10000) { nodes { id } }`).join(' ');
      return { body: envelope(`{ ${fields} }`, {}), expect: refusedBy('QUERY_TOO_COSTLY') };
    }
    case 8: {
      // fragments that fan out exponentially (each spreads the previous twice)
      const levels = 10 + int(r, 30);
      const fragments = Array.from({ length: levels }, (_, i) =>
        i === 0 ? 'fragment F0 on Query { incidents { id causes { correlations { id } } } }' : `fragment F${i} on Query { ...F${i - 1} ...F${i - 1} }`,
      );
      return { body: envelope(`{ ...F${levels - 1} } ${fragments.join(' ')}`, {}) };
    }
    case 9:
      // a fragment cycle, a spread of an unknown fragment, and an operation of the wrong kind
      return { body: envelope(pick(r, ['{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }', '{ ...Missing }', 'mutation { x }'])) };
    case 10:
      // bad argument values through variables: wrong types, out of range, huge
      return {
        body: envelope(
          'query($n: Int, $d: Int, $s: String, $id: String!) { resources(first: $n) { totalCount } neighbors(id: $id, depth: $d) { root } incidents(since: $s) { id } }',
          {
            n: pick(r, [0, -1, 1_001, 2 ** 31, 1e20, 'x', null]),
            d: pick(r, [-1, 7, 1e9, 'deep']),
            s: pick(r, ['yesterday', '2026-13-45T99:99:99Z', '9999999999d', '']),
            id: pick(r, ['x'.repeat(200_000), '', null, '\u0000']),
          },
        ),
      };
    default:
      // a body past max_request_bytes
      return {
        body: envelope(`{ resource(id: "${'x'.repeat(1_100_000)}") { id } }`),
        expect: (a) => (a.status === 413 ? undefined : `expected 413, got ${a.status}`),
      };
  }
}

/** The graph API: mutated documents and variables; every answer a GraphQL answer (data or errors) with 200 or a 4xx. */
function graphqlTarget(): Target {
  return {
    name: 'graphql',
    url: 'api',
    headers: JSONH,
    seed: () => Buffer.from(JSON.stringify(GRAPHQL_SEEDS[0])),
    mutate: graphqlMutation,
    send: async (url, body, headers) => {
      const answer = await post(url, body, headers);
      let parsed: { data?: unknown; errors?: unknown[] } | undefined;
      try {
        parsed = JSON.parse(answer.message) as typeof parsed;
      } catch {
        parsed = undefined;
      }
      const graphqlAnswer = parsed !== undefined && (parsed.data !== undefined || (Array.isArray(parsed.errors) && parsed.errors.length > 0));
      if (answer.status > 0 && answer.status < 500 && !graphqlAnswer) answer.wrong = `not a GraphQL answer: ${answer.message.slice(0, 120)}`;
      if (answer.status >= 400 && answer.status < 500 && !parsed?.errors) answer.wrong = `a ${answer.status} without errors`;
      return answer;
    },
    success: (a) => a.status === 200 && !a.message.includes('"errors"') && a.message.includes('"data"'),
  };
}

/** An HTTP POST; status 0 when no answer came within 10 s. */
async function post(url: string, body: Buffer, headers: Record<string, string>): Promise<Answer> {
  try {
    const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(10_000) });
    return { status: res.status, message: await res.text() };
  } catch (err) {
    return { status: 0, message: (err as Error).message };
  }
}

export function targets(): (Target & { close?(): void })[] {
  return [
    protoTarget('otlp traces (protobuf)', 'otlp http', spanSeed),
    jsonTarget('otlp traces (JSON)', 'otlp http', spanJsonSeed),
    protoTarget('otlp metrics', 'otlp metrics', metricSeed),
    protoTarget('otlp logs', 'otlp logs', logSeed),
    grpcTarget('otlp traces (gRPC)', tracesSignal.grpcPath, spanSeed),
    grpcTarget('otlp metrics (gRPC)', metricsSignal.grpcPath, metricSeed),
    grpcTarget('otlp logs (gRPC)', logsSignal.grpcPath, logSeed),
    remoteWriteTarget('remote write 1.0', rw1Seed, RW1),
    remoteWriteTarget('remote write 2.0', rw2Seed, RW2),
    jsonTarget('cloudtrail', 'cloudtrail', () => JSON.parse(fixture('cloudtrail.json').toString())),
    jsonTarget('scan', 'resources', () => JSON.parse(fixture('scan.json').toString())),
    jsonTarget('terraform state', 'terraform', () => JSON.parse(fixture('terraform.tfstate').toString())),
    jsonTarget('falco', 'falco', falcoSeed),
    jsonTarget('changes', 'changes', changeSeed),
    graphqlTarget(),
  ];
}

export interface Finding {
  target: string;
  seed: number;
  iteration: number;
  status: number;
  ms: number;
  message: string;
}

export interface FuzzReport {
  requests: number;
  seconds: number;
  byTarget: Record<string, { requests: number; statuses: Record<string, number> }>;
  findings: Finding[];
  /** Intakes that did not take a valid body after the run. */
  broken: string[];
}

/**
 * Starts the receivers (OTLP over HTTP and gRPC, the JSON intakes, remote write) and processors on
 * one in-process bus, and the graph API on `store` (a real ClickHouse: its answers are what is
 * fuzzed); the table sinks are not the subject and are not started.
 */
export async function fuzzPipeline(store: Store) {
  const bus = new MemoryBus();
  const topics = embeddedTopics();
  await bus.ensureTopics(Object.entries(topics).map(([name, t]) => ({ name, partitions: t.partitions, compacted: t.compacted })));
  const make = (f: Factory<any>, config: object = {}) => f.create(componentSettings(f, bus, store), f.configSchema.parse(config));
  const processors: Component[] = [
    make(topologyFactory),
    make(placementFactory),
    make(serviceGraphFactory),
    make(healthFactory),
    make(changesFactory),
    make(driftFactory),
    make(deploysFactory),
    make(engineFactory),
  ];
  for (const p of processors) await p.start();
  const receivers = await startHttpReceivers(bus, store, {}, { otlp: { grpc: '127.0.0.1:0' } });
  const remoteWrite = make(remoteWriteFactory, { listen: '127.0.0.1:0' });
  await remoteWrite.start();
  const api = apiFactory.create(
    { ...componentSettings(apiFactory, bus, store), service: serviceSchema.parse({ query: '', admin: '', api: '127.0.0.1:0' }) },
    apiFactory.configSchema.parse({}),
  );
  await api.start();
  const urls: Record<string, string> = {
    ...receivers.urls,
    rw: remoteWrite.listening!()[0]!.url,
    api: api.listening!().find((l) => l.name === 'api')!.url,
  };
  return {
    bus,
    urls,
    async stop() {
      await api.shutdown();
      await receivers.shutdown();
      await remoteWrite.shutdown();
      for (const p of processors.reverse()) await p.shutdown();
      await bus.close();
    },
  };
}

/**
 * Fuzzes every target `perTarget` times from `seed`, the graph API reading `store`; progress through
 * `log` every 2 000 requests. `beforeCheck` runs between the storm and the check that every intake
 * still takes a valid body (the test of that check breaks the pipeline there).
 */
export async function fuzz(
  perTarget: number,
  seed: number,
  store: Store,
  log: (line: string) => void = () => {},
  beforeCheck?: (pipeline: Awaited<ReturnType<typeof fuzzPipeline>>) => Promise<void>,
): Promise<FuzzReport> {
  const pipeline = await fuzzPipeline(store);
  const report: FuzzReport = { requests: 0, seconds: 0, byTarget: {}, findings: [], broken: [] };
  const started = performance.now();
  const all = targets();
  try {
    for (const [ti, t] of all.entries()) {
      const stats = (report.byTarget[t.name] = { requests: 0, statuses: {} as Record<string, number> });
      const targetSeed = seed + ti * 1_000_003;
      const r = prng(targetSeed);
      const send = t.send ?? post;
      const url = pipeline.urls[t.url]!;
      for (let i = 0; i < perTarget; i++) {
        const { body, headers, expect } = t.mutate(r);
        const t0 = performance.now();
        const answer = await send(url, body, headers ?? t.headers);
        const ms = performance.now() - t0;
        stats.requests++;
        report.requests++;
        const cls = answer.status ? `${Math.floor(answer.status / 100)}xx` : 'no answer';
        stats.statuses[cls] = (stats.statuses[cls] ?? 0) + 1;
        const wrong = answer.wrong ?? expect?.(answer);
        if (answer.status === 0 || answer.status >= 500 || ms > 10_000 || wrong)
          report.findings.push({
            target: t.name,
            seed: targetSeed,
            iteration: i,
            status: answer.status,
            ms: Math.round(ms),
            message: wrong ?? answer.message.slice(0, 300),
          });
        if (report.requests % 2_000 === 0) log(`fuzz: ${report.requests} requests, ${report.findings.length} findings`);
      }
    }
    // After the storm: every target still answers a valid request with success.
    await beforeCheck?.(pipeline);
    for (const t of all) {
      const answer = await (t.send ?? post)(pipeline.urls[t.url]!, t.seed(), t.headers);
      if (!(t.success ?? ((a: Answer) => a.status >= 200 && a.status < 300))(answer))
        report.broken.push(`${t.name}: ${answer.status} ${answer.message.slice(0, 200)}`);
    }
  } finally {
    report.seconds = (performance.now() - started) / 1000;
    for (const t of all) t.close?.();
    await pipeline.stop();
  }
  return report;
}
