// npm run fuzz [-- --long]: the intake fuzzer (fuzz.ts), FUZZ_N mutations per decoder (default
// 2 000; --long 1 000 000), seed FUZZ_SEED (default: the time); figures to bench/RESULTS.md.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fuzz } from './fuzz.js';
import { machine, repoRoot, writeResults } from '../../bench/common.js';
import { openStore } from '../../processors/runtime/store/store.js';
import { migrate, loadMigrations } from '../../processors/runtime/store/migrate.js';

const long = process.argv.includes('--long');
const perTarget = Number(process.env.FUZZ_N ?? (long ? 1_000_000 : 2_000));
const seed = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
console.error(`fuzz: ${perTarget} mutations per decoder, seed ${seed}`);
const clickhouse = await clickhouseServer();
const store = openStore({ url: clickhouse.url, database: 'airdig_fuzz' });
await store.ping();
await migrate(store, loadMigrations(path.join(repoRoot, 'schemas/clickhouse')));
const report = await fuzz(perTarget, seed, store, (line) => console.error(line)).finally(async () => {
  await store.close();
  await clickhouse.stop();
});
const rows = Object.entries(report.byTarget).map(
  ([name, t]) =>
    `| ${name} | ${t.requests.toLocaleString('en')} | ${['2xx', '4xx', '5xx', 'no answer'].map((c) => (t.statuses[c] ?? 0).toLocaleString('en')).join(' | ')} | ${report.findings.filter((f) => f.target === name).length} |`,
);
const md = `## fuzz — ${new Date().toISOString().slice(0, 10)}

\`npm run fuzz\` (tests/fuzz): ${perTarget.toLocaleString('en')} structure-aware mutations per decoder (seed ${seed}) sent to the real receivers (HTTP, and OTLP gRPC through a grpc-js client) in front of the real processors (in-process bus), and to the graph API on a ClickHouse server. ${report.requests.toLocaleString('en')} requests in ${report.seconds.toFixed(0)} s (${Math.round(report.requests / report.seconds).toLocaleString('en')} requests/s, one client at a time). Machine: ${machine()}.

| decoder | requests | 2xx | 4xx | 5xx | no answer | findings |
|---|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}

Findings (5xx, no answer, over 10 s): ${report.findings.length}${report.findings.length ? ` — first: ${JSON.stringify(report.findings.slice(0, 5))}` : ''}. Intakes refusing a valid body afterwards: ${report.broken.length ? report.broken.join('; ') : 'none'}.`;
if (!process.env.FUZZ_NO_RESULTS) writeResults('fuzz', md);
console.log(md);
process.exit(report.findings.length || report.broken.length ? 1 : 0);

/** The ClickHouse server the graph API reads: the test run's (npm test), else an \`airdig clickhouse\` of its own in a temporary directory. */
async function clickhouseServer(): Promise<{ url: string; stop(): Promise<void> }> {
  if (process.env.AIRDIG_TEST_CLICKHOUSE_URL) return { url: process.env.AIRDIG_TEST_CLICKHOUSE_URL, stop: async () => {} };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'airdig-fuzz-'));
  const args = ['clickhouse', '--data-dir', dir, '--query', '127.0.0.1:0', '--query-native', '127.0.0.1:0', '--print-writer-url', '--log-level', 'warn'];
  const child = spawn(process.execPath, [path.join(repoRoot, 'dist/processors/cli/main.js'), ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const stop = async () => {
    if (child.exitCode === null) await new Promise((resolve) => (child.once('exit', resolve), child.kill('SIGTERM')));
    rmSync(dir, { recursive: true, force: true });
  };
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`airdig clickhouse was not ready within 60 s:\n${out}`)), 60_000);
    child.stdout!.on('data', (d) => {
      out += d;
      const writer = /^WRITER_URL=(\S+)$/m.exec(out)?.[1];
      if (writer && /^airdig clickhouse: ready$/m.test(out)) {
        clearTimeout(timer);
        resolve(writer);
      }
    });
    child.once('exit', (code) => reject(new Error(`airdig clickhouse exited with ${code}:\n${out}`)));
  }).catch(async (err) => {
    await stop();
    throw err;
  });
  return { url, stop };
}
