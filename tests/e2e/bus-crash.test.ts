// kill -9 of `airdig run` on its embedded default (the durable in-process bus under --data-dir)
// during sustained OTLP ingest, at random moments, restarted each time on the same data dir: every
// span whose request was answered 200 is in otel_traces afterwards, once. Spans of requests that
// were in flight at a kill may be there too (written, not yet answered), once as well.
// AIRDIG_CRASH_TRIALS sets the number of kills (default 3, bounded by TIME_BUDGET_MS).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startAirdig, FREE_PORTS as FREE, type RunningAirdig } from '../helpers/airdig.js';
import { enginePid, sqlUrl } from '../helpers/clickhouse.js';
import { waitFor } from '../helpers/wait.js';
import { numberedSpans, numberedTraceId } from '../helpers/samples.js';

const TRIALS = Number(process.env.AIRDIG_CRASH_TRIALS ?? 3);
const TIME_BUDGET_MS = 150_000;
const PER_REQUEST = 20;
const SENDERS = 4;
const SERVICE = 'bus-crash';

const traceId = numberedTraceId;

async function start(dataDir: string): Promise<RunningAirdig> {
  return startAirdig(['--data-dir', dataDir, ...FREE], /^airdig: ready$/m, 90_000);
}

test('kill -9 of airdig on the embedded durable bus, at random moments: every acknowledged span is in otel_traces once after restart', async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airdig-bus-crash-'));
  const acked = new Set<number>();
  /** Requests without an answer when the process died: their spans may or may not be stored. */
  const unanswered = new Set<number>();
  let nextBatch = 1; // an all-zero trace id is invalid in OTLP
  const began = Date.now();
  let trials = 0;
  let airdig = await start(dataDir);
  try {
    for (; trials < TRIALS && Date.now() - began < TIME_BUDGET_MS; trials++) {
      const traces = `${airdig.url('otlp http')}/v1/traces`;
      const engine = enginePid(dataDir);
      let killed = false;
      const inflight = new Set<number>();
      const sender = async () => {
        while (!killed) {
          const batch = nextBatch++;
          inflight.add(batch);
          try {
            const res = await fetch(traces, {
              method: 'POST',
              headers: { 'Content-Type': 'application/json' },
              body: numberedSpans(SERVICE, batch, PER_REQUEST),
            });
            await res.arrayBuffer();
            if (res.status === 200) acked.add(batch);
            else if (!killed) assert.fail(`request ${batch} answered ${res.status}`);
          } catch {
            if (!killed) throw new Error(`request ${batch} failed before the kill`);
            unanswered.add(batch);
          } finally {
            inflight.delete(batch);
          }
        }
      };
      const senders = Array.from({ length: SENDERS }, sender);
      await new Promise((r) => setTimeout(r, 500 + Math.random() * 3_000));
      killed = true;
      airdig.child.kill('SIGKILL');
      await airdig.exited;
      await Promise.all(senders);
      for (const b of inflight) unanswered.add(b);
      // The ClickHouse child dies with its parent (PR_SET_PDEATHSIG); make sure before the restart.
      await waitFor(() => !engine || enginePid(dataDir) !== engine, 20_000, 'the ClickHouse child gone').catch(() => engine && process.kill(engine, 'SIGKILL'));
      airdig = await start(dataDir);
    }
    assert.ok(trials >= 1 && acked.size > 0, `${trials} kills, ${acked.size} acknowledged requests`);
    const query = airdig.url('query');
    const select = async (sql: string) => {
      const res = await fetch(sqlUrl(query, `${sql} FORMAT JSONEachRow`));
      const text = await res.text();
      if (res.status !== 200) throw new Error(text);
      return text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, string>);
    };
    const ackedIds = [...acked].flatMap((b) => Array.from({ length: PER_REQUEST }, (_, i) => traceId(b, i)));
    const stored = await waitFor(
      async () => {
        const rows = await select(`SELECT TraceId, count() AS n FROM otel_traces WHERE ServiceName = '${SERVICE}' GROUP BY TraceId`);
        const byId = new Map(rows.map((r) => [r.TraceId!, Number(r.n)]));
        return ackedIds.every((id) => byId.has(id)) ? byId : undefined;
      },
      90_000,
      `all ${ackedIds.length} acknowledged spans in otel_traces`,
    ).catch(async (err: Error) => {
      const rows = await select(`SELECT TraceId FROM otel_traces WHERE ServiceName = '${SERVICE}'`);
      const have = new Set(rows.map((r) => r.TraceId));
      const missing = ackedIds.filter((id) => !have.has(id));
      throw new Error(`${err.message}; ${missing.length} missing, e.g. ${missing.slice(0, 5).join(' ')}\nstderr:\n${airdig.stderr().slice(-3000)}`);
    });
    const allowed = new Set([...ackedIds, ...[...unanswered].flatMap((b) => Array.from({ length: PER_REQUEST }, (_, i) => traceId(b, i)))]);
    const strangers = [...stored.keys()].filter((id) => !allowed.has(id));
    assert.deepEqual(strangers, [], 'only spans that were sent');
    // A replay after a kill may write a block again before ReplacingMergeTree merges it away: query results (FINAL) hold each span once.
    const [final] = await select(`SELECT count() AS n, uniqExact(TraceId, SpanId) AS u FROM otel_traces FINAL WHERE ServiceName = '${SERVICE}'`);
    assert.equal(Number(final!.n), Number(final!.u), 'no duplicates in query results');
    const [raw] = await select(`SELECT count() AS n FROM otel_traces WHERE ServiceName = '${SERVICE}'`);
    console.log(
      `# ${trials} kills: ${acked.size} requests (${ackedIds.length} spans) acknowledged, all stored; ${unanswered.size} unanswered at a kill; stored ${final!.u} distinct spans, ${raw!.n} rows before merges`,
    );
  } finally {
    assert.equal(await airdig.stop('SIGTERM'), 0);
  }
});
