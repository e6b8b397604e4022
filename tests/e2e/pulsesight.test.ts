// PulseSight end to end: what Prometheus' remote_write (1.0 and 2.0) and Falco send to a running
// `airdig run` fills prom_samples, health_facts, resource_health and runtime_events; embedded and
// distributed on the real Kafka broker.
import { distributedClickhouse, sqlUrl } from '../helpers/clickhouse.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compressSync } from 'snappy';
import { prometheus, io } from '../../protos/gen/prometheus.js';
import { startAirdig, type RunningAirdig, FREE_PORTS as FREE } from '../helpers/airdig.js';
import { kafkaBrokers } from '../helpers/kafka.js';
import { uniqueName, waitFor } from '../helpers/wait.js';

const STEP = 15_000;

async function sql<T>(base: string, query: string): Promise<T[]> {
  const res = await fetch(sqlUrl(base, `${query} FORMAT JSONEachRow`));
  const text = await res.text();
  assert.equal(res.status, 200, text);
  return text.trim()
    ? text
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as T)
    : [];
}

/** Prometheus' 1.0 body for one scrape of `up` and `node_load1` from a target. */
function v1(job: string, t: number, up: number, load: number): Buffer {
  const labels = (name: string) => [
    { name: '__name__', value: name },
    { name: 'instance', value: 'db:9100' },
    { name: 'job', value: job },
  ];
  return compressSync(
    Buffer.from(
      prometheus.WriteRequest.encode({
        timeseries: [
          { labels: labels('up'), samples: [{ value: up, timestamp: t }] },
          { labels: labels('node_load1'), samples: [{ value: load, timestamp: t }] },
        ],
      }).finish(),
    ),
  );
}

/** The same scrape in 2.0: symbols table, refs, metadata. */
function v2(job: string, t: number, up: number, load: number): Buffer {
  const symbols = ['', '__name__', 'up', 'instance', 'db:9100', 'job', job, 'node_load1', '1m load average.'];
  const ref = (s: string) => symbols.indexOf(s);
  const series = (name: string, value: number, type: number, help = '') => ({
    labelsRefs: [ref('__name__'), ref(name), ref('instance'), ref('db:9100'), ref('job'), ref(job)],
    samples: [{ value, timestamp: t }],
    metadata: { type, helpRef: help ? ref(help) : 0 },
  });
  return compressSync(
    Buffer.from(
      io.prometheus.write.v2.Request.encode({ symbols, timeseries: [series('up', up, 2), series('node_load1', load, 2, '1m load average.')] }).finish(),
    ),
  );
}

async function scenario(a: RunningAirdig, queryBase = a.url('query')): Promise<void> {
  const rw = a.url('remote write') + '/api/v1/write';
  const falco = a.url('falco') + '/v1/falco';
  const t0 = Math.floor((Date.now() - 20 * 60_000) / 1000) * 1000;
  const ups = [1, 1, 0, 0, 1];
  for (const version of ['1.0', '2.0'] as const) {
    const job = uniqueName(`e2e-${version.replace('.', '')}`);
    for (let i = 0; i < ups.length; i++) {
      const body = version === '1.0' ? v1(job, t0 + i * STEP, ups[i]!, 0.25 * i) : v2(job, t0 + i * STEP, ups[i]!, 0.25 * i);
      const contentType = version === '1.0' ? 'application/x-protobuf' : 'application/x-protobuf;proto=io.prometheus.write.v2.Request';
      const res = await fetch(rw, {
        method: 'POST',
        headers: { 'Content-Type': contentType, 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': version === '1.0' ? '0.1.0' : '2.0.0' },
        body,
      });
      assert.equal(res.status, 204, await res.text());
      if (version === '2.0') assert.equal(res.headers.get('x-prometheus-remote-write-samples-written'), '2');
    }
    const resource = `target:${job}/db:9100`;
    const samples = await waitFor(
      async () => {
        const r = await sql<{ metric_name: string; value: number }>(
          queryBase,
          `SELECT metric_name, value FROM prom_samples s INNER JOIN (SELECT fingerprint FROM prom_series FINAL WHERE job = '${job}') AS f USING (fingerprint) ORDER BY metric_name, ts`,
        );
        return r.length === 10 ? r : undefined;
      },
      60_000,
      `the ${version} samples`,
    );
    assert.deepEqual(
      samples.map((s) => [s.metric_name, s.value]),
      [...ups.map((_, i) => ['node_load1', 0.25 * i]), ...ups.map((v) => ['up', v])],
    );
    const facts = await waitFor(
      async () => {
        const r = await sql<{ ts: string; status: string; state: string; rule: string }>(
          queryBase,
          `SELECT ts, status, state, rule FROM health_facts FINAL WHERE resource_id = '${resource}' ORDER BY ts`,
        );
        return r.length === 2 ? r : undefined;
      },
      60_000,
      `the ${version} health facts`,
    );
    const at = (i: number) => new Date(t0 + i * STEP).toISOString().replace('T', ' ').replace('Z', '');
    assert.deepEqual(facts, [
      { ts: at(2), status: 'critical', state: 'firing', rule: 'target_down' },
      { ts: at(4), status: 'healthy', state: 'resolved', rule: 'target_down' },
    ]);
    assert.deepEqual(await sql(queryBase, `SELECT status FROM resource_health WHERE resource_id = '${resource}'`), [{ status: 'healthy' }]);
  }

  // A target that is down now: critical in resource_health.
  const down = uniqueName('e2e-down');
  const res = await fetch(rw, {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy' },
    body: v1(down, t0, 0, 0),
  });
  assert.equal(res.status, 204);
  await waitFor(
    async () =>
      (await sql<{ status: string }>(queryBase, `SELECT status FROM resource_health WHERE resource_id = 'target:${down}/db:9100'`))[0]?.status === 'critical',
    60_000,
    'the down target critical',
  );

  // Falco: an alert on a pod → runtime_events and the pod critical.
  const pod = uniqueName('api');
  const event = {
    hostname: 'node-1',
    output: 'Terminal shell in container (user=root)',
    priority: 'Critical',
    rule: 'Terminal shell in container',
    source: 'syscall',
    tags: ['shell'],
    time: new Date(Date.now() - 60_000).toISOString(),
    output_fields: { 'container.id': 'aaaabbbbcccc', 'k8s.ns.name': 'shop', 'k8s.pod.name': pod },
  };
  const f = await fetch(falco, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(event) });
  assert.equal(f.status, 200);
  const podId = `k8s:/shop/pod/${pod}`;
  await waitFor(
    async () => (await sql(queryBase, `SELECT 1 FROM runtime_events WHERE resource_id = '${podId}'`)).length === 1,
    60_000,
    'the Falco event in runtime_events',
  );
  await waitFor(
    async () => (await sql<{ status: string }>(queryBase, `SELECT status FROM resource_health WHERE resource_id = '${podId}'`))[0]?.status === 'critical',
    60_000,
    'the pod critical',
  );
}

test('embedded: remote write 1.0 and 2.0 and Falco fill prom_samples, health_facts, resource_health and runtime_events', async () => {
  const a = await startAirdig(['--data-dir', mkdtempSync(path.join(tmpdir(), 'airdig-ps-')), ...FREE], /^airdig: ready$/m, 90_000);
  try {
    await scenario(a);
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});

test('distributed: the same on the real Kafka broker', async () => {
  const ch = distributedClickhouse('airdig_ps');
  const a = await startAirdig(
    ['--config', 'pipelines/distributed.yaml', '--kafka', kafkaBrokers(), ...ch.args, '--data-dir', mkdtempSync(path.join(tmpdir(), 'airdig-ps-')), ...FREE],
    /^airdig: ready$/m,
    90_000,
  );
  try {
    await scenario(a, ch.queryBase);
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});
