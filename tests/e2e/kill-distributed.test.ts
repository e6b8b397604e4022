// kill -9 in distributed mode: `airdig run --kafka …` (OTLP and remote-write receivers and their
// sinks) is killed with SIGKILL at a random moment of sustained ingest, again and again, and started
// again each time. Every span and sample a sender was told 200/204 for must then be in ClickHouse,
// exactly once in query results.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { compressSync } from 'snappy';
import { prometheus } from '../../protos/gen/prometheus.js';
import { startAirdig, FREE_PORTS, type RunningAirdig } from '../helpers/airdig.js';
import { distributedClickhouse, queryRows } from '../helpers/clickhouse.js';
import { uniqueName, waitFor } from '../helpers/wait.js';
import { kafkaScript, traceBody } from '../helpers/ingest.js';

const TRIALS = 10;
const SPANS_PER_REQUEST = 20;
const SAMPLES_PER_REQUEST = 10;

/** Remote write 1.0: one series, SAMPLES_PER_REQUEST samples whose value is the request number and whose times are its own. */
function samplesBody(metric: string, base: number, request: number): Buffer {
  const labels = [
    { name: '__name__', value: metric },
    { name: 'job', value: 'kill' },
  ];
  const samples = Array.from({ length: SAMPLES_PER_REQUEST }, (_, k) => ({ value: request, timestamp: base + request * SAMPLES_PER_REQUEST + k }));
  return compressSync(Buffer.from(prometheus.WriteRequest.encode({ timeseries: [{ labels, samples }] }).finish()));
}

/** Senders of both kinds against one running airdig until stopped; what was acknowledged is added to `acked`. */
function ingest(
  airdig: RunningAirdig,
  tag: string,
  base: number,
  counters: { span: number; sample: number },
  acked: { spans: Set<string>; samples: Set<number> },
) {
  let running = true;
  const traces = `${airdig.url('otlp http')}/v1/traces`;
  const write = `${airdig.url('remote write')}/api/v1/write`;
  const otlp = async () => {
    while (running) {
      const i = counters.span++;
      const res = await fetch(traces, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: traceBody(tag, createHash('md5').update(`${tag}:${i}`).digest('hex'), SPANS_PER_REQUEST),
      }).catch(() => undefined);
      await res?.arrayBuffer().catch(() => undefined);
      if (res?.status === 200) acked.spans.add(createHash('md5').update(`${tag}:${i}`).digest('hex'));
      else await new Promise((r) => setTimeout(r, 20));
    }
  };
  const remoteWrite = async () => {
    while (running) {
      const i = counters.sample++;
      const res = await fetch(write, {
        method: 'POST',
        headers: { 'Content-Type': 'application/x-protobuf', 'Content-Encoding': 'snappy', 'X-Prometheus-Remote-Write-Version': '0.1.0' },
        body: samplesBody(tag, base, i),
      }).catch(() => undefined);
      await res?.arrayBuffer().catch(() => undefined);
      if (res?.status === 204 || res?.status === 200) acked.samples.add(i);
      else await new Promise((r) => setTimeout(r, 20));
    }
  };
  const done = Promise.all([otlp(), otlp(), remoteWrite(), remoteWrite()]);
  return async () => {
    running = false;
    await done;
  };
}

test(
  `kill -9 at random moments of OTLP and remote-write ingest on Kafka, ${TRIALS} trials: every acknowledged span and sample stored exactly once`,
  { timeout: 300_000 },
  async () => {
    const kafkaDir = mkdtempSync(path.join(tmpdir(), 'airdig-kill-kafka-'));
    const brokers = /BOOTSTRAP=(\S+)/.exec(kafkaScript('start', kafkaDir))![1]!;
    const ch = distributedClickhouse('airdig_kill_distributed');
    const dataDir = mkdtempSync(path.join(tmpdir(), 'airdig-kill-'));
    const args = [
      '--kafka',
      brokers,
      ...ch.args,
      ...FREE_PORTS,
      '--data-dir',
      dataDir,
      '--only',
      'otlp,otel_traces,remote_write,prometheus_samples,dead_letters',
    ];
    const tag = uniqueName('kill').replace(/[^a-z0-9]/g, '');
    const base = Date.now() - 3_600_000;
    const counters = { span: 0, sample: 0 };
    const acked = { spans: new Set<string>(), samples: new Set<number>() };
    let airdig: RunningAirdig | undefined;
    try {
      for (let trial = 0; trial < TRIALS; trial++) {
        airdig = await startAirdig(args, /^airdig: ready$/m, 120_000);
        const stop = ingest(airdig, tag, base, counters, acked);
        // A random moment: 0.5–3 s into the ingest.
        await new Promise((r) => setTimeout(r, 500 + Math.random() * 2_500));
        airdig.child.kill('SIGKILL');
        await airdig.exited;
        await stop();
        console.log(`# trial ${trial + 1}: killed; ${acked.spans.size} span requests and ${acked.samples.size} sample requests acknowledged so far`);
      }
      // A last start drains what is on Kafka into ClickHouse.
      airdig = await startAirdig(args, /^airdig: ready$/m, 120_000);
      assert.ok(acked.spans.size > 0 && acked.samples.size > 0, 'something was acknowledged');
      const spanCounts = async (final: boolean) =>
        new Map(
          (
            await queryRows<{ TraceId: string; n: string }>(
              ch.database,
              `SELECT TraceId, count() AS n FROM otel_traces ${final ? 'FINAL' : ''} WHERE ServiceName = '${tag}' GROUP BY TraceId`,
            )
          ).map((r) => [r.TraceId, Number(r.n)]),
        );
      const sampleCounts = async (final: boolean) =>
        new Map(
          (
            await queryRows<{ value: number; n: string }>(
              ch.database,
              `SELECT value, count() AS n FROM prom_samples ${final ? 'FINAL' : ''} WHERE metric_name = '${tag}' GROUP BY value`,
            )
          ).map((r) => [Number(r.value), Number(r.n)]),
        );
      await waitFor(
        async () => {
          const [s, m] = [await spanCounts(true), await sampleCounts(true)];
          return [...acked.spans].every((t) => s.has(t)) && [...acked.samples].every((i) => m.has(i));
        },
        120_000,
        'every acknowledged span and sample in ClickHouse',
      );
      const [spans, samples, rawSpans, rawSamples] = [await spanCounts(true), await sampleCounts(true), await spanCounts(false), await sampleCounts(false)];
      const rawDuplicates =
        [...rawSpans.values()].reduce((a, n) => a + Math.max(0, n - SPANS_PER_REQUEST), 0) +
        [...rawSamples.values()].reduce((a, n) => a + Math.max(0, n - SAMPLES_PER_REQUEST), 0);
      console.log(
        `# ${TRIALS} kills: ${acked.spans.size * SPANS_PER_REQUEST} spans and ${acked.samples.size * SAMPLES_PER_REQUEST} samples acknowledged; stored ${spans.size} traces, ${samples.size} sample requests; ${rawDuplicates} rows written twice before merges (collapsed in query results)`,
      );
      for (const t of acked.spans) assert.equal(spans.get(t), SPANS_PER_REQUEST, `acknowledged trace ${t}: ${spans.get(t)} spans`);
      for (const i of acked.samples) assert.equal(samples.get(i), SAMPLES_PER_REQUEST, `acknowledged sample request ${i}: ${samples.get(i)} samples`);
      // One never acknowledged (killed in flight) may be stored, but whole and once.
      for (const [t, n] of spans) assert.equal(n, SPANS_PER_REQUEST, `trace ${t}: ${n} spans`);
      for (const [i, n] of samples) assert.equal(n, SAMPLES_PER_REQUEST, `sample request ${i}: ${n} samples`);
    } finally {
      await airdig?.stop();
      kafkaScript('stop', kafkaDir);
    }
  },
);
