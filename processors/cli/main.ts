#!/usr/bin/env node
import type { ParseArgsConfig } from 'node:util';
import { existsSync, readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { Registry } from 'prom-client';
import { readConfigFile, resolveConfig, withServiceOverrides, type AirdigConfig } from '../runtime/config/load.js';
import { ConfigError, errorMessage } from '../runtime/errors.js';
import { PipelineMetrics } from '../runtime/metrics.js';
import { Runtime, configuredEngine, openConfiguredStore, redact } from '../runtime/pipeline/runtime.js';
import { startAdminServer } from '../runtime/admin/server.js';
import { ListenError } from '../runtime/http.js';
import { startQueryEndpoints } from '../runtime/query/endpoints.js';
import type { ManagedClickHouse } from '../runtime/clickhouse/engine.js';
import { loadMigrations, migrate } from '../runtime/store/migrate.js';
import { defaultRegistry } from '../components.js';
import { INGEST_HELP, SCAN_HELP, runIngest, runScan } from './inventory.js';
import { UsageError, fetchAirdig, parseCommand } from './args.js';
import { RUN_OPTIONS, SERVICE_FLAGS, runFlagsHelp } from './flags.js';

/** The package root: dist/processors/cli/main.js is three levels below it. */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'schemas/clickhouse');

const HELP: Record<string, string> = {
  main: `airdig — what changed, and what it broke

Usage: airdig <command> [options]

Commands:
  run       start the pipeline (embedded by default: in-process topics, embedded ClickHouse)
  migrate   apply the ClickHouse migrations in schemas/clickhouse and exit
  query     run a read-only SQL query against a running airdig or a ClickHouse server
  clickhouse  run only the embedded ClickHouse server and its query endpoints
  ingest    send CloudTrail logs, Terraform state or scans to a running airdig
  scan      scan AWS or Kubernetes and send the inventory to a running airdig
  help      show help for a command

Run 'airdig <command> --help' for its options.`,
  run: `Usage: airdig run [options]

Starts AirDig. Every option can also be set in the config file's 'service' section.

${runFlagsHelp()}`,
  migrate: `Usage: airdig migrate [--config FILE] [--data-dir DIR] [--clickhouse URL]

Applies the numbered migrations in schemas/clickhouse that are not yet applied, then exits.`,
  query: `Usage: airdig query "SQL" [--url URL] [--format FORMAT]

Runs one read-only statement and prints the answer.

  --url URL        a running airdig query endpoint or a ClickHouse server
                   (default http://127.0.0.1:8123)
  --clickhouse URL same as --url
  --format FORMAT  output format when the SQL names none (default TabSeparated)`,
  clickhouse: `Usage: airdig clickhouse [--data-dir DIR] [--query ADDR] [--query-native ADDR] [--config FILE]

Runs the embedded ClickHouse server that 'airdig run' supervises, alone: the engine under
DIR/clickhouse, its HTTP interface on --query and native protocol on --query-native (read-only as
"default"), restarted if it dies. The writer's password is in DIR/clickhouse-server/credentials.json.

  --print-writer-url    also print WRITER_URL=http://airdig:PASSWORD@127.0.0.1:PORT (for scripts)`,
  ingest: INGEST_HELP,
  scan: SCAN_HELP,
};

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, command: string) {
  return parseCommand(args, options, HELP[command] ?? HELP.main!);
}

/** Reads the config file and applies command-line flags over its service section. */
export function loadConfig(values: Record<string, string | boolean | undefined>): AirdigConfig {
  const explicit = values.config as string | undefined;
  const file = explicit ?? path.join(PACKAGE_ROOT, 'pipelines', values.kafka ? 'distributed.yaml' : 'embedded.yaml');
  if (!existsSync(file)) throw new ConfigError([`--config: file ${file} does not exist`]);
  const overrides: Record<string, unknown> = {};
  for (const [key, flag] of Object.entries(SERVICE_FLAGS)) {
    const v = values[flag];
    if (typeof v !== 'string') continue;
    const [outer, inner] = key.split('.');
    overrides[outer!] =
      key === 'only'
        ? v
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean)
        : inner
          ? { [inner]: v }
          : v;
  }
  try {
    return resolveConfig(withServiceOverrides(readConfigFile(file), overrides), defaultRegistry());
  } catch (err) {
    // A problem with a value the user gave as a flag is named by that flag.
    if (!(err instanceof ConfigError)) throw err;
    const given = Object.entries(SERVICE_FLAGS).filter(([, flag]) => typeof values[flag] === 'string');
    throw new ConfigError(
      err.issues.map((issue) => {
        const hit = given.find(([key]) => issue.startsWith(`service.${key}:`) || issue.startsWith(`service.${key}[`));
        return hit ? `--${hit[1]}${issue.slice(`service.${hit[0]}`.length)}` : issue;
      }),
    );
  }
}

/** A listener that cannot bind, with the flag that moves it when the address is a service one. */
function withListenHint(err: unknown, service: AirdigConfig['service']): unknown {
  if (!(err instanceof ListenError)) return err;
  const key = (Object.keys(SERVICE_FLAGS) as (keyof typeof SERVICE_FLAGS)[]).find((k) => (service as Record<string, unknown>)[k] === err.address);
  if (!key) return err;
  return new Error(
    `${err.message}: another process holds it; stop that one, or move this listener with --${SERVICE_FLAGS[key]} ADDR (port 0 picks a free one, "" switches it off)`,
  );
}

/** A line of the start-up summary: the name in a column of 12, one space, what it is. */
const row = (name: string, rest: string) => `  ${name.padEnd(12)} ${rest}`;

async function run(args: string[]): Promise<number> {
  const { values } = parse(args, RUN_OPTIONS, 'run');
  if (values.help) {
    console.log(HELP.run);
    return 0;
  }
  const config = loadConfig(values);
  const logger = pino({ level: config.service.log_level, base: { service: 'airdig' } }, pino.destination(2));
  const registry = new Registry();
  const metrics = new PipelineMetrics(registry, { defaultMetrics: true });
  const runtime = new Runtime(config, { logger, metrics, migrationsDir: MIGRATIONS_DIR });
  const servers: { close(): Promise<void> }[] = [];
  const say = (line: string) => process.stdout.write(`${line}\n`);

  let stopping: Promise<void> | undefined;
  const stop = (why: string) => {
    if (stopping) {
      logger.warn(`${why} again: exiting now`);
      process.exit(130);
    }
    logger.info(`${why}: stopping (receivers first, sinks last)`);
    const timer = setTimeout(() => {
      logger.error(`shutdown took longer than ${config.service.shutdown_timeout_ms} ms; exiting`);
      process.exit(1);
    }, config.service.shutdown_timeout_ms);
    timer.unref();
    stopping = (async () => {
      for (const s of [...servers].reverse()) await s.close();
      await runtime.stop();
    })();
    return stopping;
  };
  let stopped!: () => void;
  const finished = new Promise<void>((resolve) => (stopped = resolve));
  const onSignal = (signal: NodeJS.Signals) => void stop(signal).then(stopped);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const bus = config.service.kafka.brokers ? `Kafka ${config.service.kafka.brokers}` : 'in-process topics';
  const store = config.service.clickhouse.url ? `ClickHouse server` : `the embedded ClickHouse server in ${path.resolve(config.service.data_dir)}`;
  say(`airdig: starting with ${bus} and ${store}`);
  try {
    if (config.service.admin) {
      const admin = await startAdminServer({ address: config.service.admin, registry, readiness: () => runtime.readiness() });
      servers.push(admin);
      say(row('admin', `${admin.url}/metrics  /healthz  /readyz`));
    }
    await runtime.start();
  } catch (err) {
    await stop('start failed');
    throw withListenHint(err, config.service);
  }
  if (stopping) {
    await stopping;
    return 0;
  }
  if (runtime.engine) {
    const q = await startQueryEndpoints(config.service, runtime.engine, logger).catch(async (err) => {
      await stop('start failed');
      throw withListenHint(err, config.service);
    });
    servers.push(q);
    for (const e of q.endpoints)
      say(
        row(e.name, `${e.url}${e.name === 'query' ? '/?query=SELECT+1  (ClickHouse HTTP interface, read-only)' : '  (ClickHouse native protocol, read-only)'}`),
      );
  } else say(row('query', `your ClickHouse server (${redact(config.service.clickhouse.url)})`));
  for (const l of runtime.listening()) say(row(l.name, l.url));
  for (const c of config.components)
    say(row(c.kind, `${c.id}${c.consumes.length ? `  ← ${c.consumes.join(', ')}` : ''}${c.produces.length ? `  → ${c.produces.join(', ')}` : ''}`));
  say('airdig: ready');
  await finished;
  say('airdig: stopped');
  return 0;
}

/** `airdig clickhouse`: the managed engine and its query endpoints, without the pipeline. */
async function runClickhouse(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      config: RUN_OPTIONS.config,
      'data-dir': RUN_OPTIONS['data-dir'],
      query: RUN_OPTIONS.query,
      'query-native': RUN_OPTIONS['query-native'],
      'log-level': RUN_OPTIONS['log-level'],
      'print-writer-url': { type: 'boolean' },
      help: RUN_OPTIONS.help,
    },
    'clickhouse',
  );
  if (values.help) {
    console.log(HELP.clickhouse);
    return 0;
  }
  const config = loadConfig(values);
  const logger = pino({ level: config.service.log_level, base: { service: 'airdig' } }, pino.destination(2));
  const engine = configuredEngine(config, logger, (state, detail) => logger.info(`ClickHouse engine ${state}: ${detail}`));
  const say = (line: string) => process.stdout.write(`${line}\n`);
  let stop!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await engine.start();
  const q = await startQueryEndpoints(config.service, engine, logger).catch(async (err) => {
    await engine.stop();
    throw withListenHint(err, config.service);
  });
  say(`airdig clickhouse: ClickHouse in ${path.resolve(config.service.data_dir, 'clickhouse')}`);
  for (const e of q.endpoints) say(row(e.name, `${e.url}  (read-only as "default")`));
  say(row('writer', `user ${engine.credentials.writer.user}, password in ${path.resolve(config.service.data_dir, 'clickhouse-server/credentials.json')}`));
  if (values['print-writer-url']) say(`WRITER_URL=${engine.writerUrl()}`);
  say('airdig clickhouse: ready');
  logger.info(`${await stopped}: stopping`);
  await q.close();
  await engine.stop();
  return 0;
}

async function runMigrate(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    { config: RUN_OPTIONS.config, 'data-dir': RUN_OPTIONS['data-dir'], clickhouse: RUN_OPTIONS.clickhouse, help: RUN_OPTIONS.help },
    'migrate',
  );
  if (values.help) {
    console.log(HELP.migrate);
    return 0;
  }
  const config = loadConfig(values);
  let engine: ManagedClickHouse | undefined;
  if (!config.service.clickhouse.url) {
    engine = configuredEngine(config, pino({ level: config.service.log_level }, pino.destination(2)));
    await engine.start();
  }
  const store = openConfiguredStore(config, engine);
  try {
    await store.ping();
    const r = await migrate(store, loadMigrations(MIGRATIONS_DIR));
    for (const m of r.applied) console.log(`applied ${String(m.version).padStart(4, '0')}_${m.name}`);
    console.log(`${r.applied.length} applied, ${r.skipped.length} already applied`);
  } finally {
    await store.close();
    await engine?.stop();
  }
  return 0;
}

async function runQuery(args: string[]): Promise<number> {
  const { values, positionals } = parse(
    args,
    { url: { type: 'string' }, clickhouse: { type: 'string' }, format: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    'query',
  );
  if (values.help) {
    console.log(HELP.query);
    return 0;
  }
  const sql = positionals.join(' ').trim();
  if (!sql) throw new UsageError(`query: no SQL given\n\n${HELP.query}`);
  const target = new URL(values.url ?? values.clickhouse ?? 'http://127.0.0.1:8123');
  const auth = target.username
    ? `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`
    : undefined;
  target.username = '';
  target.password = '';
  target.searchParams.set('default_format', values.format ?? 'TabSeparated');
  target.searchParams.set('readonly', '2');
  const res = await fetchAirdig(target, { method: 'POST', body: sql, headers: auth ? { Authorization: auth } : {} });
  const body = Buffer.from(await res.arrayBuffer());
  if (!res.ok) {
    process.stderr.write(body);
    return 1;
  }
  process.stdout.write(body);
  return 0;
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'run':
        return await run(rest);
      case 'migrate':
        return await runMigrate(rest);
      case 'query':
        return await runQuery(rest);
      case 'clickhouse':
        return await runClickhouse(rest);
      case 'ingest':
        return await runIngest(rest);
      case 'scan':
        return await runScan(rest);
      case 'help':
        console.log(HELP[rest[0] ?? 'main'] ?? HELP.main);
        return 0;
      case '--version':
      case '-v':
        console.log(JSON.parse(readFileSync(path.join(PACKAGE_ROOT, 'package.json'), 'utf8')).version);
        return 0;
      case undefined:
      case '--help':
      case '-h':
        console.log(HELP.main);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command "${command}"\n\n${HELP.main}`);
    }
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`airdig: invalid configuration:\n${err.issues.map((i) => `  ${i}`).join('\n')}\n`);
      return 2;
    }
    if (err instanceof UsageError) {
      process.stderr.write(`airdig: ${err.message}\n`);
      return 2;
    }
    process.stderr.write(`airdig: ${errorMessage(err)}\n`);
    if (process.env.AIRDIG_DEBUG) process.stderr.write(`${(err as Error).stack}\n`);
    return 1;
  }
}

if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
