// bench/api: the graph API on the demo's data, as the web view and scripts ask it, beside the
// ceiling — the same answers' rows read straight from the query endpoint with one plain SELECT —
// in the same run, on the same `airdig run` process. The demo fills a data directory and stops;
// `airdig run` then serves it with no traffic, so the CPU-seconds of its process (read from
// /proc) are the requests'. Per query: requests/s, median and p99 latency, and AirDig's
// CPU-milliseconds per request; medians over BENCH_RUNS runs, with their spread.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { machine, median, repoRoot, writeResults } from '../common.js';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 200);
const CONCURRENCY = 4;
const CLI = path.join(repoRoot, 'dist/processors/cli/main.js');
const PORTS = ['--admin', '--query', '--query-native', '--otlp-grpc', '--otlp-http', '--remote-write', '--api'].flatMap((f) => [f, '127.0.0.1:0']);
const TICK_S = 0.01; // USER_HZ on Linux

function start(args: string[], until: RegExp, timeoutMs: number): Promise<{ child: ChildProcess; out: () => string }> {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${until} within ${timeoutMs} ms:\n${out}`)), timeoutMs);
    const check = setInterval(() => {
      if (until.test(out)) {
        clearInterval(check);
        clearTimeout(timer);
        resolve({ child, out: () => out });
      } else if (child.exitCode !== null) {
        clearInterval(check);
        clearTimeout(timer);
        reject(new Error(`exited with ${child.exitCode}:\n${out}`));
      }
    }, 100);
  });
}

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => (child.exitCode !== null ? resolve() : (child.once('exit', () => resolve()), child.kill('SIGINT'))));

/** CPU-seconds (user + system) the process has used so far. */
function cpuOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * TICK_S;
}

interface Measure {
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
  cpuMsPerRequest: number;
}

/** REQUESTS requests, CONCURRENCY at a time; each answer checked by `ok`. */
async function measure(pid: number, send: () => Promise<Response>, ok: (body: string) => boolean): Promise<Measure> {
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = cpuOf(pid);
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) {
        const t = performance.now();
        const res = await send();
        const body = await res.text();
        if (!res.ok || !ok(body)) throw new Error(`bad answer (${res.status}): ${body.slice(0, 300)}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const cpu = cpuOf(pid) - cpu0;
  latencies.sort((a, b) => a - b);
  return {
    perSecond: REQUESTS / seconds,
    p50Ms: median(latencies),
    p99Ms: latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * 0.99))]!,
    cpuMsPerRequest: (cpu * 1000) / REQUESTS,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'airdig-bench-api-'));
  try {
    console.log('bench/api: the demo fills a data directory …');
    const demo = await start(['demo', '--data-dir', dir, ...PORTS], /^Look further/m, 300_000);
    const incident = /^The answer \(airdig explain (inc-[0-9a-f]+)\):$/m.exec(demo.out())![1]!;
    await stop(demo.child);
    const run = await start(['run', '--data-dir', dir, '--log-level', 'warn', ...PORTS], /^airdig: ready$/m, 120_000);
    const pid = run.child.pid!;
    const rows: string[] = [];
    try {
      const api = /^ {2}api +(http:\/\/\S+\/graphql)$/m.exec(run.out())![1]!;
      const query = /^ {2}query +(http:\/\/\S+?)\/\?/m.exec(run.out())![1]!;
      const gql =
        (q: string, variables: object = {}) =>
        () =>
          fetch(api, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ query: q, variables }) });
      const sql = (q: string) => () => fetch(`${query}/?default_format=JSON&param_id=${encodeURIComponent(incident)}`, { method: 'POST', body: q });
      const cases: { name: string; api: () => Promise<Response>; plain: () => Promise<Response> }[] = [
        {
          name: 'incident with ranked causes, their changes and explanations (the inspector)',
          api: gql(
            'query($id: String!) { incident(id: $id) { id status impacted causes { rank causeId score explanation change { actor eventName } correlations { score explanation path { id name edge } } } } }',
            { id: incident },
          ),
          plain: sql(
            'SELECT i.id, i.status, i.impacted, i.causes, c.cause_id, c.score, c.path, c.evidence FROM incidents AS i LEFT JOIN correlations AS c ON c.incident_id = i.id WHERE i.id = {id:String}',
          ),
        },
        {
          name: 'the whole graph (the Unified view)',
          api: gql('{ graph(limit: 2000) { nodes { id type name health openDrift recentChanges criticality } edges { source target type calls errors } } }'),
          plain: sql(
            'SELECT n.id, n.type, n.name, r.health, r.open_drift, e.src, e.dst, e.type FROM graph_nodes AS n LEFT JOIN resources AS r ON r.resource_id = n.id LEFT JOIN graph_edges AS e ON e.src = n.id',
          ),
        },
        {
          name: 'a resource by an alias (the search box)',
          api: gql('{ resource(id: "10.0.1.31") { id name health aliases changes { eventName actor } incidents { id } } }'),
          plain: sql("SELECT a.resource_id, n.name FROM resource_aliases AS a LEFT JOIN graph_nodes AS n ON n.id = a.resource_id WHERE a.alias = '10.0.1.31'"),
        },
      ];
      for (const c of cases) {
        const apiRuns: Measure[] = [];
        const plainRuns: Measure[] = [];
        for (let r = 0; r < RUNS; r++) {
          apiRuns.push(await measure(pid, c.api, (b) => (JSON.parse(b) as { errors?: unknown }).errors === undefined));
          plainRuns.push(await measure(pid, c.plain, (b) => b.includes('"data"')));
        }
        const m = (xs: Measure[], k: keyof Measure) => median(xs.map((x) => x[k]));
        const spread = (xs: Measure[], k: keyof Measure) => `${Math.min(...xs.map((x) => x[k])).toFixed(2)}–${Math.max(...xs.map((x) => x[k])).toFixed(2)}`;
        const line = `| ${c.name} | ${m(apiRuns, 'perSecond').toFixed(0)} | ${m(apiRuns, 'p50Ms').toFixed(1)} / ${m(apiRuns, 'p99Ms').toFixed(1)} | ${m(apiRuns, 'cpuMsPerRequest').toFixed(2)} (${spread(apiRuns, 'cpuMsPerRequest')}) | ${m(plainRuns, 'perSecond').toFixed(0)} | ${m(plainRuns, 'p50Ms').toFixed(1)} / ${m(plainRuns, 'p99Ms').toFixed(1)} | ${m(plainRuns, 'cpuMsPerRequest').toFixed(2)} | ${(m(plainRuns, 'perSecond') / m(apiRuns, 'perSecond')).toFixed(1)}× |`;
        console.log(line);
        rows.push(line);
      }
    } finally {
      await stop(run.child);
    }
    writeResults(
      'api',
      `## Graph API (bench/api) — ${new Date().toISOString().slice(0, 10)}

${machine()}. \`npm run bench:api\`: the demo's data served by \`airdig run\` with no traffic; ${REQUESTS} requests per run, ${CONCURRENCY} at a time, ${RUNS} runs, medians (CPU spread min–max). CPU is AirDig's process (from /proc), not the ClickHouse server's. The ceiling reads the same rows with one plain SELECT through the query endpoint (AirDig only passes it through).

| query | API req/s | API p50 / p99 ms | API CPU ms/req | plain SELECT req/s | plain p50 / p99 ms | plain CPU ms/req | plain / API |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
