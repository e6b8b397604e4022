// bench/store/prometheus: a real Prometheus (built from the Go module proxy) scrapes a generated
// target every second and remote-writes to `airdig run` on its embedded default; the rate steps up
// until AirDig no longer keeps up. Kept up means: Prometheus' remote-write lag stays small and does
// not grow, nothing failed or was dropped, and prom_samples holds exactly what Prometheus says it sent.
//
// The target is avalanche-like (avalanche itself is not served by the Go module proxy here):
// METRICS × SERIES_PER_METRIC series of 15 labels, values changing every 10 s.
// CPU-seconds are counted for AirDig's process, its ClickHouse engine and Prometheus apart.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os, { tmpdir } from 'node:os';
import path from 'node:path';
import { FREE_PORTS, startAirdig, type RunningAirdig } from '../../tests/helpers/airdig.js';
import { enginePid, sqlUrl } from '../../tests/helpers/clickhouse.js';
import { machine, median, writeResults } from '../common.js';

const PROMETHEUS_MODULE = 'github.com/prometheus/prometheus/cmd/prometheus@v0.316.0';
const BIN_DIR = path.join(os.homedir(), '.cache/airdig/prom-bin');
const STEP_S = Number(process.env.BENCH_STEP_S ?? 60);
/** Samples per second offered, in steps (one scrape a second of this many series). */
const RATES = (process.env.BENCH_RATES ?? '10000,20000,40000,60000,80000').split(',').map(Number);
const VERSIONS = (process.env.BENCH_VERSIONS ?? '1.0,2.0').split(',') as ('1.0' | '2.0')[];
const LABELS = 15;
const CLOCK_TICK = 100;
/** Lag (seconds between the newest sample appended and the newest sent) that still counts as kept up. */
const MAX_LAG_S = 10;

function prometheusBinary(): string {
  const bin = process.env.PROMETHEUS_BIN ?? path.join(BIN_DIR, 'prometheus');
  if (existsSync(bin)) return bin;
  mkdirSync(BIN_DIR, { recursive: true });
  console.log(`building Prometheus from the Go module proxy (${PROMETHEUS_MODULE}); about 8 minutes the first time …`);
  execFileSync('go', ['install', PROMETHEUS_MODULE], { stdio: 'inherit', env: { ...process.env, GOBIN: BIN_DIR } });
  return bin;
}

function cpuOf(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /, '')
      .split(' ');
    return (Number(f[11]) + Number(f[12])) / CLOCK_TICK;
  } catch {
    return NaN;
  }
}

/** An avalanche-like scrape target: `series` series of LABELS labels; the body is rebuilt when values change. */
function startTarget(series: number, step: number): Promise<{ server: Server; url: string }> {
  const perMetric = 10;
  const metrics = Math.ceil(series / perMetric);
  let body = '';
  let built = -1;
  const build = (cycle: number) => {
    const lines: string[] = [];
    for (let m = 0; m < metrics; m++) {
      const name = `bench_s${step}_metric_${String(m).padStart(5, '0')}`;
      lines.push(`# HELP ${name} A generated gauge.`, `# TYPE ${name} gauge`);
      for (let s = 0; s < perMetric && m * perMetric + s < series; s++) {
        const labels = [`series_id="${s}"`];
        for (let k = 1; k < LABELS; k++) labels.push(`label_key_${k}="label_value_${k}_${(m + k) % 97}"`);
        lines.push(`${name}{${labels.join(',')}} ${(cycle * 31 + m * 7 + s) % 1000}`);
      }
    }
    body = `${lines.join('\n')}\n`;
    built = cycle;
  };
  const server = createServer((req, res) => {
    const cycle = Math.floor(Date.now() / 10_000);
    if (cycle !== built) build(cycle);
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' });
    res.end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `127.0.0.1:${(server.address() as AddressInfo).port}` })));
}

interface PromProcess {
  child: ChildProcess;
  url: string;
  metric(name: string): Promise<number>;
  reload(config: string): Promise<void>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

function prometheusConfig(target: string | null, remoteWrite: string, version: '1.0' | '2.0'): string {
  const scrape = target
    ? `scrape_configs:\n  - job_name: bench\n    scrape_interval: 1s\n    scrape_timeout: 1s\n    static_configs:\n      - targets: ['${target}']\n`
    : 'scrape_configs: []\n';
  const message = version === '2.0' ? '    protobuf_message: io.prometheus.write.v2.Request\n' : '';
  return `global:\n  scrape_interval: 1s\n${scrape}remote_write:\n  - url: ${remoteWrite}\n${message}    send_exemplars: false\n    metadata_config:\n      send: ${version === '1.0'}\n`;
}

async function startPrometheus(bin: string, dir: string, config: string): Promise<PromProcess> {
  const port = await freePort();
  const file = path.join(dir, 'prometheus.yml');
  writeFileSync(file, config);
  const child = spawn(
    bin,
    [
      `--config.file=${file}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
      '--log.level=warn',
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  child.stderr!.on('data', (d) => (err = (err + d).slice(-20_000)));
  const url = `http://127.0.0.1:${port}`;
  const metric = async (name: string) => {
    const text = await (await fetch(`${url}/metrics`)).text();
    let sum = 0;
    let found = false;
    for (const line of text.split('\n')) {
      if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
        sum += Number(line.slice(line.lastIndexOf(' ') + 1));
        found = true;
      }
    }
    return found ? sum : NaN;
  };
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/-/ready`)).status === 200) break;
    } catch {
      // not listening yet
    }
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`Prometheus did not become ready:\n${err}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return {
    child,
    url,
    metric,
    async reload(next) {
      writeFileSync(file, next);
      const r = await fetch(`${url}/-/reload`, { method: 'POST' });
      if (r.status !== 200) throw new Error(`Prometheus reload: ${r.status} ${await r.text()}`);
    },
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

async function promSamples(a: RunningAirdig): Promise<number> {
  const r = await fetch(sqlUrl(a.url('query'), 'SELECT count() FROM prom_samples'));
  return Number((await r.text()).trim());
}

interface StepResult {
  version: string;
  offered: number;
  sentPerS: number;
  lagMedianS: number;
  lagEndS: number;
  lagGrowthS: number;
  failed: number;
  dropped: number;
  sent: number;
  stored: number;
  airdigCpuPerS: number;
  engineCpuPerS: number;
  prometheusCpuPerS: number;
  shards: number;
  keptUp: boolean;
}

async function step(bin: string, version: '1.0' | '2.0', rate: number, index: number): Promise<StepResult> {
  const dataDir = mkdtempSync(path.join(tmpdir(), 'airdig-bench-prom-'));
  const a = await startAirdig(['--data-dir', dataDir, ...FREE_PORTS, '--log-level', 'warn'], /^airdig: ready$/m, 120_000);
  const target = await startTarget(rate, index);
  const promDir = mkdtempSync(path.join(tmpdir(), 'airdig-bench-prometheus-'));
  const rw = `${a.url('remote write')}/api/v1/write`;
  const prom = await startPrometheus(bin, promDir, prometheusConfig(target.url, rw, version));
  try {
    const engine = enginePid(dataDir);
    if (!engine) throw new Error(`no engine child for ${dataDir}`);
    const pids = { airdig: a.child.pid!, engine, prometheus: prom.child.pid! };
    // Warm-up: the first scrapes, Prometheus' shards settling.
    await new Promise((r) => setTimeout(r, 10_000));
    const cpu0 = { airdig: cpuOf(pids.airdig), engine: cpuOf(pids.engine), prometheus: cpuOf(pids.prometheus) };
    const sent0 = await prom.metric('prometheus_remote_storage_samples_total');
    const t0 = Date.now();
    const lags: { t: number; lag: number }[] = [];
    while (Date.now() - t0 < STEP_S * 1_000) {
      await new Promise((r) => setTimeout(r, 5_000));
      const highest = await prom.metric('prometheus_remote_storage_highest_timestamp_in_seconds');
      const sentTs = await prom.metric('prometheus_remote_storage_queue_highest_sent_timestamp_seconds');
      lags.push({ t: (Date.now() - t0) / 1_000, lag: Math.max(0, highest - sentTs) });
      process.stdout.write(`  ${version} ${rate}/s: ${Math.round((Date.now() - t0) / 1000)} s, lag ${lags.at(-1)!.lag.toFixed(1)} s\r`);
    }
    const elapsed = (Date.now() - t0) / 1_000;
    const sent1 = await prom.metric('prometheus_remote_storage_samples_total');
    const cpu1 = { airdig: cpuOf(pids.airdig), engine: cpuOf(pids.engine), prometheus: cpuOf(pids.prometheus) };
    const shards = await prom.metric('prometheus_remote_storage_shards');
    // Stop scraping, let the queue drain, then compare what Prometheus sent with what is stored.
    await prom.reload(prometheusConfig(null, rw, version));
    const drainDeadline = Date.now() + 180_000;
    let sent = 0;
    let pending = 1;
    while (Date.now() < drainDeadline) {
      await new Promise((r) => setTimeout(r, 2_000));
      pending = await prom.metric('prometheus_remote_storage_samples_pending');
      sent = await prom.metric('prometheus_remote_storage_samples_total');
      if (
        pending === 0 &&
        (await prom.metric('prometheus_remote_storage_highest_timestamp_in_seconds')) <=
          (await prom.metric('prometheus_remote_storage_queue_highest_sent_timestamp_seconds'))
      )
        break;
    }
    await new Promise((r) => setTimeout(r, 3_000));
    sent = await prom.metric('prometheus_remote_storage_samples_total');
    const failed = await prom.metric('prometheus_remote_storage_samples_failed_total');
    const dropped = (await prom.metric('prometheus_remote_storage_samples_dropped_total')) || 0;
    let stored = 0;
    const storeDeadline = Date.now() + 120_000;
    while (Date.now() < storeDeadline) {
      stored = await promSamples(a);
      if (stored >= sent) break;
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const half = lags.filter((l) => l.t > STEP_S / 2);
    const firstHalf = lags.filter((l) => l.t <= STEP_S / 2);
    const lagGrowth = (half.length ? median(half.map((l) => l.lag)) : 0) - (firstHalf.length ? median(firstHalf.map((l) => l.lag)) : 0);
    const lagEnd = lags.at(-1)?.lag ?? 0;
    const r: StepResult = {
      version,
      offered: rate,
      sentPerS: (sent1 - sent0) / elapsed,
      lagMedianS: median(lags.map((l) => l.lag)),
      lagEndS: lagEnd,
      lagGrowthS: lagGrowth,
      failed,
      dropped,
      sent,
      stored,
      airdigCpuPerS: (cpu1.airdig - cpu0.airdig) / elapsed,
      engineCpuPerS: (cpu1.engine - cpu0.engine) / elapsed,
      prometheusCpuPerS: (cpu1.prometheus - cpu0.prometheus) / elapsed,
      shards,
      keptUp: false,
    };
    r.keptUp = lagEnd <= MAX_LAG_S && lagGrowth <= MAX_LAG_S / 2 && failed === 0 && dropped === 0 && stored === sent && r.sentPerS >= rate * 0.95;
    console.log(
      `  ${version} ${rate}/s: sent ${Math.round(r.sentPerS)}/s, lag median ${r.lagMedianS.toFixed(1)} s end ${lagEnd.toFixed(1)} s, failed ${failed}, dropped ${dropped}, stored ${stored} of ${sent}, AirDig ${r.airdigCpuPerS.toFixed(2)} CPU-s/s, engine ${r.engineCpuPerS.toFixed(2)}, Prometheus ${r.prometheusCpuPerS.toFixed(2)}: ${r.keptUp ? 'kept up' : 'NOT kept up'}`,
    );
    return r;
  } finally {
    await prom.stop();
    await new Promise((r) => target.server.close(r));
    await a.stop('SIGTERM');
  }
}

async function main(): Promise<void> {
  const bin = prometheusBinary();
  console.log(`bench/store/prometheus: ${machine()}; steps of ${STEP_S} s at ${RATES.join(', ')} samples/s; remote write ${VERSIONS.join(' and ')}`);
  const results: StepResult[] = [];
  let index = 0;
  for (const version of VERSIONS) {
    for (const rate of RATES) {
      const r = await step(bin, version, rate, index++);
      results.push(r);
      if (!r.keptUp) break;
    }
  }
  const best = (v: string) => results.filter((r) => r.version === v && r.keptUp).reduce((m, r) => Math.max(m, r.offered), 0);
  const rows = results.map(
    (r) =>
      `| ${r.version} | ${r.offered.toLocaleString('en')} | ${Math.round(r.sentPerS).toLocaleString('en')} | ${r.lagMedianS.toFixed(1)} / ${r.lagEndS.toFixed(1)} | ${r.failed} / ${r.dropped} | ${r.stored.toLocaleString('en')} of ${r.sent.toLocaleString('en')} | ${r.airdigCpuPerS.toFixed(2)} | ${Math.round(r.sentPerS / r.airdigCpuPerS).toLocaleString('en')} | ${r.engineCpuPerS.toFixed(2)} | ${r.prometheusCpuPerS.toFixed(2)} | ${r.shards} | ${r.keptUp ? 'yes' : '**no**'} |`,
  );
  writeResults(
    'store-prometheus',
    `## store / a real Prometheus remote-writing to \`airdig run\` (${new Date().toISOString().slice(0, 10)})

${machine()}. Prometheus ${PROMETHEUS_MODULE.split('@')[1]} built from the Go module proxy scrapes a generated target (${LABELS} labels a series) every second and remote-writes to \`airdig run\` on its embedded default (all default components: the prometheus_samples sink and the health processor both read every sample). ${STEP_S} s a step after 10 s of warm-up; then scraping stops, the queue drains, and \`count()\` of prom_samples is compared with Prometheus' \`prometheus_remote_storage_samples_total\`. CPU is CPU-seconds per second of wall time. Kept up: lag ≤ ${MAX_LAG_S} s at the end and not growing, nothing failed or dropped, stored = sent, ≥ 95 % of the offered rate sent.

| remote write | offered samples/s | sent/s | lag median / end (s) | failed / dropped | stored of sent | AirDig CPU-s/s | samples per AirDig CPU-s | engine CPU-s/s | Prometheus CPU-s/s | shards | kept up |
|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
${rows.join('\n')}

Highest rate kept up: ${VERSIONS.map((v) => `${v}: ${best(v).toLocaleString('en')} samples/s`).join('; ')}. (\`npm run bench:prometheus\`; BENCH_RATES, BENCH_STEP_S, BENCH_VERSIONS.)`,
  );
  console.log('written to bench/RESULTS.md');
}

await main();
