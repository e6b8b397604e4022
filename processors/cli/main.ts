#!/usr/bin/env node
import type { ParseArgsConfig } from 'node:util';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pino from 'pino';
import { ConfigError, errorMessage } from '../runtime/errors.js';
import { configuredEngine, openConfiguredStore } from '../runtime/pipeline/runtime.js';
import { startQueryEndpoints } from '../runtime/query/endpoints.js';
import { serviceTls } from '../runtime/tls.js';
import type { ManagedClickHouse } from '../runtime/clickhouse/engine.js';
import { INGEST_HELP, SCAN_HELP, runIngest, runScan } from './inventory.js';
import { EXPLAIN_HELP, INCIDENTS_HELP, runExplain, runIncidents } from './explain.js';
import { DEMO_HELP, runDemo } from './demo.js';
import { UsageError, parseCommand } from './args.js';
import { endpointOf } from './endpoint.js';
import { RUN_OPTIONS, runFlagsHelp } from './flags.js';
import { MIGRATIONS_DIR, PACKAGE_ROOT, loadConfig, row, startPipeline, withListenHint } from './pipeline.js';

const HELP: Record<string, string> = {
  main: `airdig — what changed, and what it broke

Usage: airdig <command> [options]

Commands:
  demo        run AirDig with a scripted incident: a small estate, traffic, a bad change, the answer
  run         start the pipeline (embedded by default: in-process topics, embedded ClickHouse)
  incidents   list open and recent incidents with their most probable cause
  explain     tell an incident, or what happened to a resource, in words: change → path → signal
  query       run a read-only SQL query against a running airdig or a ClickHouse server
  ingest      send CloudTrail logs, Terraform state or scans to a running airdig
  scan        scan AWS or Kubernetes and send the inventory to a running airdig
  migrate     apply the ClickHouse migrations in schemas/clickhouse and exit
  clickhouse  run only the embedded ClickHouse server and its query endpoints
  help        show help for a command

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
  explain: EXPLAIN_HELP,
  incidents: INCIDENTS_HELP,
  demo: DEMO_HELP,
};

function parse<O extends NonNullable<ParseArgsConfig['options']>>(args: string[], options: O, command: string) {
  return parseCommand(args, options, HELP[command] ?? HELP.main!);
}

async function run(args: string[]): Promise<number> {
  const { values } = parse(args, RUN_OPTIONS, 'run');
  if (values.help) {
    console.log(HELP.run);
    return 0;
  }
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const pipeline = await startPipeline(await loadConfig(values), say);
  if (!pipeline) return 0;
  say('airdig: ready');
  await pipeline.finished;
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
  const config = await loadConfig(values);
  const logger = pino({ level: config.service.log_level, base: { service: 'airdig' } }, pino.destination(2));
  const engine = configuredEngine(config, logger, (state, detail) => logger.info(`ClickHouse engine ${state}: ${detail}`));
  const say = (line: string) => process.stdout.write(`${line}\n`);
  let stop!: (signal: string) => void;
  const stopped = new Promise<string>((resolve) => (stop = resolve));
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
  await engine.start();
  const q = await startQueryEndpoints(config.service, engine, logger, serviceTls(config.service.tls, logger)).catch(async (err) => {
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
  const config = await loadConfig(values);
  let engine: ManagedClickHouse | undefined;
  if (!config.service.clickhouse.url) {
    engine = configuredEngine(config, pino({ level: config.service.log_level }, pino.destination(2)));
    await engine.start();
  }
  const store = await openConfiguredStore(config, engine);
  const { loadMigrations, migrate } = await import('../runtime/store/migrate.js');
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
  const res = await endpointOf(values).send(sql, { format: values.format ?? 'TabSeparated' });
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
      case 'explain':
        return await runExplain(rest);
      case 'incidents':
        return await runIncidents(rest);
      case 'demo':
        return await runDemo(rest);
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
