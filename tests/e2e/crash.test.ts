// Crash: the service graph runs as its own process on the real Kafka broker (distributed mode),
// is killed with SIGKILL while half edges wait in its window, and is started again. service_edges
// must end equal to what an uninterrupted run gives.
import { distributedClickhouse, sqlUrl } from '../helpers/clickhouse.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAirdig, type RunningAirdig } from '../helpers/airdig.js';
import { kafkaBrokers } from '../helpers/kafka.js';
import { uniqueName, waitFor } from '../helpers/wait.js';

const FREE = ['--admin', '127.0.0.1:0', '--query', '127.0.0.1:0', '--query-native', '127.0.0.1:0', '--otlp-grpc', '127.0.0.1:0', '--otlp-http', '127.0.0.1:0'];

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'airdig-crash-'));
}

/** OTLP/JSON for request i of a tagged topology: tag-web (root) → tag-api; halves chosen by `which`. */
function halves(tag: string, i: number, which: 'client' | 'server'): string {
  const traceId = Buffer.from(`${tag}:${i}`).toString('hex').padEnd(32, '0').slice(0, 32);
  const now = `${Date.now()}000000`;
  const span = (spanId: string, parentSpanId: string, kind: number, name: string) => ({
    traceId,
    spanId,
    parentSpanId,
    kind,
    name,
    startTimeUnixNano: now,
    endTimeUnixNano: now,
    status: { code: i % 5 === 0 && kind === 2 && name === 'serve' ? 2 : 0 },
  });
  const res = (service: string, spans: object[]) => ({
    resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
    scopeSpans: [{ spans }],
  });
  const body =
    which === 'client'
      ? { resourceSpans: [res(`${tag}-web`, [span('0000000000000001', '', 2, 'root'), span('0000000000000002', '0000000000000001', 3, 'call')])] }
      : { resourceSpans: [res(`${tag}-api`, [span('0000000000000003', '0000000000000002', 2, 'serve')])] };
  return JSON.stringify(body);
}

async function post(url: string, body: string): Promise<void> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body });
  assert.equal(res.status, 200);
}

test('SIGKILL of the service graph process mid-stream: after restart, service_edges equals an uninterrupted run', async () => {
  const brokers = kafkaBrokers();
  const tag = uniqueName('k')
    .replace(/[^a-z0-9]/g, '')
    .slice(-10);
  const n = 20;
  const ch = distributedClickhouse('airdig_crash');
  const common = ['--config', 'pipelines/distributed.yaml', '--kafka', brokers, ...ch.args];
  // Everything but the service graph: receiver and sinks, writing to the test run's ClickHouse server.
  const main = await startAirdig(
    [...common, '--data-dir', tmp(), ...FREE, '--only', 'otlp,otel_traces,service_edges,dead_letters'],
    /^airdig: ready$/m,
    90_000,
  );
  let graph: RunningAirdig | undefined;
  try {
    const traces = main.url('otlp http') + '/v1/traces';
    const query = ch.queryBase;
    const edges = async () => {
      const sql = `SELECT client, server, sum(calls) AS calls, sum(errors) AS errors FROM service_edges WHERE startsWith(server, '${tag}-') GROUP BY client, server ORDER BY client, server FORMAT JSONEachRow`;
      const text = await (await fetch(sqlUrl(query, sql))).text();
      return text.trim()
        ? text
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { client: string; server: string; calls: string; errors: string })
        : [];
    };
    const graphArgs = [...common, '--data-dir', tmp(), '--admin', '127.0.0.1:0', '--query', '', '--otlp-grpc', '', '--otlp-http', '', '--only', 'servicegraph'];
    graph = await startAirdig(graphArgs, /^airdig: ready$/m, 90_000);
    // The client halves: root edges complete at once, the 20 web → api halves wait in the window.
    for (let i = 0; i < n; i++) await post(traces, halves(tag, i, 'client'));
    await waitFor(async () => (await edges()).find((e) => e.client === 'user' && Number(e.calls) === n), 60_000, 'the root edges');
    graph.child.kill('SIGKILL');
    await graph.exited;
    // The server halves arrive while the service graph is down.
    for (let i = 0; i < n; i++) await post(traces, halves(tag, i, 'server'));
    graph = await startAirdig(graphArgs, /^airdig: ready$/m, 90_000);
    const final = await waitFor(
      async () => {
        const e = await edges();
        return e.length === 2 && e.every((x) => Number(x.calls) === n) ? e : undefined;
      },
      90_000,
      'web → api edges after the restart',
    );
    // The random tag may sort before or after "user": compare in one fixed order.
    const byPair = (a: { client: string; server: string }, b: { client: string; server: string }) =>
      `${a.client}|${a.server}`.localeCompare(`${b.client}|${b.server}`);
    assert.deepEqual(
      final.map((e) => ({ client: e.client, server: e.server, calls: Number(e.calls), errors: Number(e.errors) })).sort(byPair),
      [
        { client: `${tag}-web`, server: `${tag}-api`, calls: n, errors: n / 5 },
        { client: 'user', server: `${tag}-web`, calls: n, errors: 0 },
      ].sort(byPair),
    );
  } finally {
    await graph?.stop('SIGTERM');
    await main.stop('SIGTERM');
  }
});
