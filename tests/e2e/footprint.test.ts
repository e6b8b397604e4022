// Footprint: `airdig run --kafka B --only otlp` loads what the OTLP receiver needs and nothing else:
// no ClickHouse (no engine child, no connection), no AWS SDK, no other component's module, and its
// resident memory stays ≤ 150 MiB while it takes spans.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAirdig } from '../helpers/airdig.js';
import { FREE_PORTS } from '../helpers/airdig.js';
import { kafkaBrokers, repoRoot } from '../helpers/kafka.js';
import { uniqueName } from '../helpers/wait.js';

const RSS_LIMIT_MIB = 150;

/** A /proc/PID/status field in MiB (VmRSS, VmHWM). */
function statusMiB(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) / 1024;
}

/** The pids of a process's children, from every thread's children list. */
function children(pid: number): number[] {
  return readdirSync(`/proc/${pid}/task`).flatMap((t) =>
    readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
  );
}

/** OTLP/JSON with `n` spans of one service. */
function spans(tag: string, request: number, n: number): string {
  const now = `${Date.now()}000000`;
  const list = Array.from({ length: n }, (_, i) => ({
    traceId: Buffer.from(`${tag}:${request}`).toString('hex').padEnd(32, '0').slice(0, 32),
    spanId: (i + 1).toString(16).padStart(16, '0'),
    name: `op-${i % 7}`,
    kind: 2,
    startTimeUnixNano: now,
    endTimeUnixNano: now,
    attributes: [{ key: 'http.route', value: { stringValue: `/items/${i % 13}` } }],
  }));
  return JSON.stringify({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: tag } }] }, scopeSpans: [{ spans: list }] }],
  });
}

test('--only otlp on Kafka: no ClickHouse, no AWS SDK, no other component loaded, RSS ≤ 150 MiB under light load', async () => {
  const trace = path.join(mkdtempSync(path.join(tmpdir(), 'airdig-footprint-')), 'modules.txt');
  process.env.AIRDIG_MODULE_TRACE = trace;
  process.env.AIRDIG_NODE_FLAGS = `--import=${path.join(repoRoot, 'dist/tests/helpers/module-trace.js')}`;
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airdig-footprint-data-'));
  // No --clickhouse: before, the embedded engine was started for any process.
  const airdig = await startAirdig(['--kafka', kafkaBrokers(), '--only', 'otlp', '--data-dir', dataDir, ...FREE_PORTS], /^airdig: ready/m);
  try {
    const pid = airdig.child.pid!;
    assert.match(airdig.stdout(), /no ClickHouse/);
    const tracesUrl = `${airdig.url('otlp http')}/v1/traces`;
    const tag = uniqueName('fp').replace(/[^a-z0-9]/g, '');
    // Light load: 300 requests of 100 spans, 10 at a time.
    let acknowledged = 0;
    for (let round = 0; round < 30; round++) {
      const statuses = await Promise.all(
        Array.from({ length: 10 }, async (_, k) => {
          const res = await fetch(tracesUrl, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: spans(tag, round * 10 + k, 100) });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      for (const s of statuses) assert.equal(s, 200);
      acknowledged += statuses.length * 100;
    }
    const rss = statusMiB(pid, 'VmRSS');
    const peak = statusMiB(pid, 'VmHWM');
    console.log(`# --only otlp: VmRSS ${rss.toFixed(1)} MiB after ${acknowledged} spans (peak VmHWM ${peak.toFixed(1)} MiB)`);
    assert.ok(rss <= RSS_LIMIT_MIB, `VmRSS ${rss.toFixed(1)} MiB > ${RSS_LIMIT_MIB} MiB`);

    assert.deepEqual(children(pid), [], 'no child process (the embedded ClickHouse engine is one)');
    assert.equal(existsSync(path.join(dataDir, 'clickhouse')), false, 'no ClickHouse data directory was made');
    const readyz = (await (await fetch(`${airdig.url('admin')}/readyz`)).json()) as { ready: boolean; checks: Record<string, string> };
    assert.equal(readyz.ready, true);
    assert.equal(readyz.checks.clickhouse, undefined, 'no ClickHouse check: the process has none');

    const modules = readFileSync(trace, 'utf8')
      .split('\n')
      .map((line) => line.split(' ')[0]!);
    const importers = (unwanted: string) =>
      readFileSync(trace, 'utf8')
        .split('\n')
        .filter((line) => line.split(' ')[0]!.includes(unwanted));
    assert.ok(
      modules.some((m) => m.endsWith('/processors/otlp/receiver.js')),
      'the trace sees the modules the process loads',
    );
    for (const unwanted of [
      '/@aws-sdk/',
      '/@smithy/',
      '/chdb/',
      '/graphql/',
      '/processors/api/',
      '/processors/cloudtrail/',
      '/processors/scanners/aws.js',
      '/@clickhouse/',
    ])
      assert.deepEqual(importers(unwanted), [], `${unwanted} was loaded (module, importer)`);
  } finally {
    await airdig.stop();
  }
});
