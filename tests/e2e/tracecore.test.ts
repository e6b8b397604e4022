// TraceCore end to end in one process: the official OpenTelemetry exporters → AirDig's embedded
// pipeline (receiver, in-process topics, service graph, sinks, the embedded ClickHouse server) → service_edges and otel_traces.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { OTLPTraceExporter as ProtoExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { OTLPTraceExporter as GrpcExporter } from '@opentelemetry/exporter-trace-otlp-grpc';
import { readConfigFile, resolveConfig, withServiceOverrides } from '../../processors/runtime/config/load.js';
import { defaultRegistry } from '../../processors/components.js';
import { PipelineMetrics } from '../../processors/runtime/metrics.js';
import { Runtime } from '../../processors/runtime/pipeline/runtime.js';
import { repoRoot } from '../helpers/kafka.js';
import { waitFor } from '../helpers/wait.js';
import { sendTopology, expectedEdges } from '../helpers/otel.js';

async function startEmbedded(): Promise<{ runtime: Runtime; urls: Record<string, string> }> {
  const raw = withServiceOverrides(readConfigFile(path.join(repoRoot, 'pipelines/embedded.yaml')), {
    data_dir: mkdtempSync(path.join(tmpdir(), 'airdig-tracecore-')),
    otlp_http: '127.0.0.1:0',
    otlp_grpc: '127.0.0.1:0',
  });
  const config = resolveConfig(raw, await defaultRegistry().loadAll());
  const runtime = new Runtime(config, {
    logger: pino({ level: 'silent' }),
    metrics: new PipelineMetrics(new Registry()),
    migrationsDir: path.join(repoRoot, 'schemas/clickhouse'),
  });
  await runtime.start();
  return { runtime, urls: Object.fromEntries(runtime.listening().map((l) => [l.name, l.url])) };
}

test('the official exporters (HTTP protobuf and gRPC) fill service_edges exactly and otel_traces completely', async () => {
  const { runtime, urls } = await startEmbedded();
  try {
    const sent = [
      ...(await sendTopology(() => new ProtoExporter({ url: urls['otlp http']! }), 12)),
      ...(await sendTopology(() => new GrpcExporter({ url: urls['otlp grpc']! }), 12)),
    ];
    const store = runtime.store!;
    const query = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
    const edgesSql = `SELECT client, server, connection_type, sum(calls) AS calls, sum(errors) AS errors FROM service_edges GROUP BY client, server, connection_type ORDER BY client, server`;
    const expected = expectedEdges(24).map((e) => ({ ...e, errors: 2 * Math.ceil(12 / 4) }));
    expected[0]!.errors = 0;
    expected[2]!.errors = 0;
    expected[3]!.errors = 0;
    const edges = await waitFor(
      async () => {
        const rows = await query<{ client: string; server: string; connection_type: string; calls: string; errors: string }>(edgesSql);
        const norm = rows.map((r) => ({ ...r, calls: Number(r.calls), errors: Number(r.errors) }));
        return norm.reduce((n, r) => n + r.calls, 0) >= 96 ? norm : undefined;
      },
      20_000,
      'all calls in service_edges',
    );
    assert.deepEqual(edges, expected);
    // The SDKs' service.namespace (shop) is part of each service's id; the database and "user" have none.
    const ids = await query<{ client_id: string; server_id: string }>(`SELECT DISTINCT client_id, server_id FROM service_edges ORDER BY client, server`);
    assert.deepEqual(
      ids.map((r) => `${r.client_id} -> ${r.server_id}`),
      [
        'service:shop/checkout -> service:/orders',
        'service:shop/checkout -> service:shop/payments',
        'service:shop/frontend -> service:shop/checkout',
        'service:/user -> service:shop/frontend',
      ],
    );
    const count = await waitFor(
      async () => {
        const [r] = await query<{ n: string }>(`SELECT count() AS n FROM otel_traces FINAL`);
        return Number(r!.n) >= sent.length ? Number(r!.n) : undefined;
      },
      20_000,
      'every span in otel_traces',
    );
    assert.equal(count, sent.length);
    const [lat] = await query<{ p50: number; p99: number }>(`SELECT max(p50_ms) AS p50, max(p99_ms) AS p99 FROM service_edges WHERE server = 'payments'`);
    assert.ok(lat!.p50 >= 0 && lat!.p99 >= lat!.p50, 'latency quantiles are present and ordered');
  } finally {
    await runtime.stop();
  }
});
