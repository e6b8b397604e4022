// A query that keeps both cores busy for 30 s on the read-only endpoint does not stop ingestion:
// OTLP spans and remote-write samples sent meanwhile land in their tables while it still runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compressSync } from 'snappy';
import { prometheus } from '../../protos/gen/prometheus.js';
import { startAirdig, FREE_PORTS as FREE } from '../helpers/airdig.js';
import { sqlUrl } from '../helpers/clickhouse.js';
import { waitFor } from '../helpers/wait.js';

const HEAVY_S = 30;

function spans(batch: number): string {
  const now = BigInt(Date.now()) * 1_000_000n;
  const list = Array.from({ length: 10 }, (_, i) => ({
    traceId: `${(batch + 1).toString(16).padStart(16, '0')}${i.toString(16).padStart(16, '0')}`,
    spanId: `${(batch + 1).toString(16).padStart(8, '0')}${i.toString(16).padStart(8, '0')}`,
    name: 'op',
    kind: 2,
    startTimeUnixNano: String(now),
    endTimeUnixNano: String(now + 1_000_000n),
  }));
  return JSON.stringify({
    resourceSpans: [{ resource: { attributes: [{ key: 'service.name', value: { stringValue: 'heavy-query' } }] }, scopeSpans: [{ spans: list }] }],
  });
}

function samples(batch: number): Buffer {
  const t = Date.now();
  const labels = [
    { name: '__name__', value: 'heavy_query_probe' },
    { name: 'batch', value: String(batch) },
    { name: 'job', value: 'heavy' },
  ];
  return compressSync(Buffer.from(prometheus.WriteRequest.encode({ timeseries: [{ labels, samples: [{ value: batch, timestamp: t }] }] }).finish()));
}

test(`a ${HEAVY_S} s query using every core does not stop OTLP and remote-write data from landing`, async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airdig-heavy-query-'));
  const a = await startAirdig(['--data-dir', dataDir, ...FREE], /^airdig: ready$/m, 90_000);
  try {
    const query = a.url('query');
    const count = async (sql: string) => Number((await (await fetch(sqlUrl(query, sql))).text()).trim());
    // The reader may set max_execution_time up to the profile's ceiling; max_threads stays the default
    // (every core). The profile's limit ends it with TIMEOUT_EXCEEDED.
    const heavySql = `SELECT count() FROM numbers_mt(1000000000000) WHERE sipHash64(number) % 1000003 = 7 SETTINGS max_execution_time = ${HEAVY_S}`;
    const heavyStarted = Date.now();
    let heavyDone = 0;
    // Done when its whole answer is in (ClickHouse may send the headers before the result).
    const heavy = fetch(sqlUrl(query, heavySql)).then(async (r) => {
      const text = await r.text();
      heavyDone = Date.now();
      return { status: r.status, text };
    });
    await new Promise((r) => setTimeout(r, 1_000));
    assert.equal(heavyDone, 0, `the heavy query is running: ${heavyDone ? JSON.stringify(await heavy) : ''}`);

    const traces = `${a.url('otlp http')}/v1/traces`;
    const rw = `${a.url('remote write')}/api/v1/write`;
    // Each batch's landing time is measured while the heavy query still runs.
    const landedMs: number[] = [];
    for (let batch = 0; Date.now() - heavyStarted < (HEAVY_S - 8) * 1_000; batch++) {
      const sent = Date.now();
      const t = await fetch(traces, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: spans(batch) });
      assert.equal(t.status, 200, await t.text());
      const s = await fetch(rw, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' },
        body: samples(batch),
      });
      assert.equal(s.status, 204, await s.text());
      await waitFor(
        async () =>
          (await count(`SELECT count() FROM otel_traces WHERE ServiceName = 'heavy-query'`)) >= (batch + 1) * 10 &&
          (await count(`SELECT count() FROM prom_samples WHERE metric_name = 'heavy_query_probe'`)) >= batch + 1,
        15_000,
        `batch ${batch} in otel_traces and prom_samples`,
      );
      landedMs.push(Date.now() - sent);
      assert.equal(heavyDone, 0, `the heavy query still runs after batch ${batch} landed`);
    }
    assert.ok(landedMs.length >= 5, `${landedMs.length} batches landed during the heavy query`);
    const sorted = [...landedMs].sort((x, y) => x - y);
    console.log(`# ${landedMs.length} batches landed during the heavy query; median ${sorted[sorted.length >> 1]} ms, max ${sorted.at(-1)} ms`);
    const h = await heavy;
    assert.match(h.text, /TIMEOUT_EXCEEDED/);
    assert.ok(heavyDone - heavyStarted >= (HEAVY_S - 2) * 1_000, `the heavy query ran ${heavyDone - heavyStarted} ms`);
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});
