// kill -9 of the embedded ClickHouse server during sustained OTLP ingest: AirDig restarts it, the
// sinks' inserts wait and retry, and every acknowledged span is in otel_traces exactly once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAirdig, FREE_PORTS as FREE } from '../helpers/airdig.js';
import { enginePid, sqlUrl } from '../helpers/clickhouse.js';
import { waitFor } from '../helpers/wait.js';
import { numberedSpans } from '../helpers/samples.js';

const spans = (batch: number, n: number) => numberedSpans('engine-crash', batch, n);

test('kill -9 of the ClickHouse child mid-ingest: restarted, and count() equals what was acknowledged, no duplicates', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airdig-engine-crash-'));
  const a = await startAirdig(['--data-dir', dataDir, ...FREE], /^airdig: ready$/m, 90_000);
  try {
    const traces = `${a.url('otlp http')}/v1/traces`;
    const firstPid = enginePid(dataDir);
    assert.ok(firstPid, 'the engine child is running');
    let acked = 0;
    const ackedBatches: number[] = [];
    let refused = 0;
    let killed = false;
    const PER_REQUEST = 20;
    const started = Date.now();
    // From batch 1: an all-zero trace id is invalid in OTLP and is refused as such.
    for (let batch = 1; Date.now() - started < 12_000; batch++) {
      if (!killed && Date.now() - started > 3_000) {
        process.kill(firstPid, 'SIGKILL');
        killed = true;
      }
      const r = await fetch(traces, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: spans(batch, PER_REQUEST) });
      await r.arrayBuffer();
      if (r.status === 200) {
        acked += PER_REQUEST;
        ackedBatches.push(batch);
      } else refused++;
      await new Promise((res) => setTimeout(res, 20));
    }
    assert.ok(killed);
    const secondPid = await waitFor(
      () => {
        const p = enginePid(dataDir);
        return p && p !== firstPid ? p : undefined;
      },
      60_000,
      'a new engine child',
    );
    assert.notEqual(secondPid, firstPid);
    const query = a.url('query');
    let last: unknown;
    const counts = await waitFor(
      async () => {
        const res = await fetch(
          sqlUrl(query, "SELECT count() AS n, uniqExact(TraceId, SpanId) AS u FROM otel_traces WHERE ServiceName = 'engine-crash' FORMAT JSONEachRow"),
        );
        if (res.status !== 200) return undefined;
        const row = JSON.parse(await res.text()) as { n: string | number; u: string | number };
        last = row;
        return Number(row.n) >= acked ? { n: Number(row.n), u: Number(row.u) } : undefined;
      },
      90_000,
      `all ${acked} acknowledged spans in otel_traces`,
    ).catch(async (err: Error) => {
      const dlq = await (await fetch(sqlUrl(query, 'SELECT source_topic, error, count() FROM dead_letters GROUP BY ALL'))).text();
      const have = new Set((await (await fetch(sqlUrl(query, "SELECT TraceId FROM otel_traces WHERE ServiceName = 'engine-crash'"))).text()).split('\n'));
      const missing = ackedBatches
        .flatMap((b) => Array.from({ length: PER_REQUEST }, (_, i) => `${b.toString(16).padStart(16, '0')}${i.toString(16).padStart(16, '0')}`))
        .filter((t) => !have.has(t));
      console.log(`missing: ${missing.join(' ')} (batches ${ackedBatches[0]}…${ackedBatches.at(-1)}, ${ackedBatches.length} acked)`);
      throw new Error(`${err.message}; last count ${JSON.stringify(last)}; dead letters: ${dlq}\nstderr:\n${a.stderr().slice(-4000)}`);
    });
    assert.ok(acked > 0);
    assert.deepEqual(counts, { n: acked, u: acked }, `acknowledged ${acked}, refused ${refused} requests`);
    assert.match(a.stderr(), /the ClickHouse engine went down/);
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});
