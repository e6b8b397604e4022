import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync, mkdtempSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ManagedClickHouse } from '../processors/runtime/clickhouse/engine.js';
import { serviceSchema } from '../processors/runtime/config/schema.js';
import { openStore, type Store } from '../processors/runtime/store/store.js';
import { loadMigrations, migrate } from '../processors/runtime/store/migrate.js';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >>> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export function machine(): string {
  return `${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'cpu'}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
}

/** Replaces the section between <!-- bench:NAME --> markers in bench/RESULTS.md (appends it the first time). */
export function writeResults(name: string, markdown: string): void {
  const file = path.join(repoRoot, 'bench/RESULTS.md');
  const start = `<!-- bench:${name} -->`;
  const end = `<!-- /bench:${name} -->`;
  let text = existsSync(file)
    ? readFileSync(file, 'utf8')
    : '# Benchmark results\n\nEach section is rewritten by its runner (`npm run bench:<name>`). Ratios compare AirDig with the reference measured in the same run, on the same machine.\n';
  const block = `${start}\n${markdown.trim()}\n${end}`;
  const i = text.indexOf(start);
  const j = text.indexOf(end);
  text = i >= 0 && j > i ? text.slice(0, i) + block + text.slice(j + end.length) : `${text.trimEnd()}\n\n${block}\n`;
  writeFileSync(file, text);
}

/** A Kafka broker for a benchmark: AIRDIG_BENCH_KAFKA, or one started (and later stopped) by scripts/kafka.sh. */
export function benchBroker(): { brokers: string; stop: () => void } {
  if (process.env.AIRDIG_BENCH_KAFKA) return { brokers: process.env.AIRDIG_BENCH_KAFKA, stop: () => {} };
  const dir = path.join(repoRoot, '.airdig-test/bench-kafka');
  const out = execFileSync('bash', [path.join(repoRoot, 'scripts/kafka.sh'), 'start', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const m = /BOOTSTRAP=(\S+)/.exec(out);
  if (!m) throw new Error('could not start a Kafka broker');
  return { brokers: m[1]!, stop: () => execFileSync('bash', [path.join(repoRoot, 'scripts/kafka.sh'), 'stop', dir], { stdio: 'inherit' }) };
}

/**
 * A fresh embedded ClickHouse server (the managed child `airdig run` starts) in a temporary data
 * directory, and a store on it with the migrations applied: what the store-writing benches measure on.
 */
export async function benchClickHouse(name: string, database?: string): Promise<{ engine: ManagedClickHouse; store: Store }> {
  const engine = new ManagedClickHouse({
    dataDir: mkdtempSync(path.join(os.tmpdir(), `airdig-bench-${name}-`)),
    logger: pino({ level: 'warn' }),
    limits: serviceSchema.parse({}).clickhouse.query_limits,
  });
  await engine.start();
  const store = openStore({ url: engine.writerUrl(), ...(database ? { database } : {}) });
  await store.ping();
  await migrate(store, loadMigrations(path.join(repoRoot, 'schemas/clickhouse')));
  return { engine, store };
}

/**
 * Runs fn under the V8 CPU profiler when BENCH_PROFILE names a directory, writing
 * <dir>/<name>.cpuprofile (open it in Chrome's DevTools): the profile covers the measured part only,
 * not the making of the load.
 */
export async function profiled<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const dir = process.env.BENCH_PROFILE;
  if (!dir) return fn();
  const { Session } = await import('node:inspector/promises');
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await fn();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `${name.replace(/[^A-Za-z0-9_.-]/g, '_')}.cpuprofile`), JSON.stringify(profile));
    session.disconnect();
  }
}
