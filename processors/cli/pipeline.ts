/*
 * The pipeline as `airdig run` starts it, for the commands that run one (run, demo): the config
 * with the command line's flags over it, the admin endpoint, the runtime and the query endpoints,
 * the start-up summary, and a clean stop on SIGINT or SIGTERM.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { Registry } from 'prom-client';
import { loadFactories, readConfigFile, resolveConfig, withServiceOverrides, type AirdigConfig } from '../runtime/config/load.js';
import { ConfigError } from '../runtime/errors.js';
import { PipelineMetrics } from '../runtime/metrics.js';
import { Runtime, redact, usesStore } from '../runtime/pipeline/runtime.js';
import { startAdminServer } from '../runtime/admin/server.js';
import { ListenError } from '../runtime/http.js';
import { startQueryEndpoints } from '../runtime/query/endpoints.js';
import { serviceTls } from '../runtime/tls.js';
import type { ListenerInfo } from '../runtime/pipeline/component.js';
import { defaultRegistry } from '../components.js';
import { SERVICE_FLAGS } from './flags.js';

import { PACKAGE_ROOT } from '../runtime/paths.js';

export { PACKAGE_ROOT };
export const MIGRATIONS_DIR = path.join(PACKAGE_ROOT, 'schemas/clickhouse');

/**
 * Reads the config file, applies command-line flags over its service section and validates it,
 * importing the modules of the components it runs (and only those).
 */
export async function loadConfig(values: Record<string, string | boolean | undefined>): Promise<AirdigConfig> {
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
  const raw = withServiceOverrides(readConfigFile(file), overrides);
  try {
    return resolveConfig(raw, await loadFactories(raw, defaultRegistry()));
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
export function withListenHint(err: unknown, service: AirdigConfig['service']): unknown {
  if (!(err instanceof ListenError)) return err;
  const key = (Object.keys(SERVICE_FLAGS) as (keyof typeof SERVICE_FLAGS)[]).find((k) => (service as Record<string, unknown>)[k] === err.address);
  if (!key) return err;
  return new Error(
    `${err.message}: another process holds it; stop that one, or move this listener with --${SERVICE_FLAGS[key]} ADDR (port 0 picks a free one, "" switches it off)`,
  );
}

/** Whether a listener's URL is on the loopback interface (127.0.0.0/8, ::1). */
export function onLoopback(url: string): boolean {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  return host === '::1' || host === 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host === '::ffff:127.0.0.1';
}

/**
 * The warning for a listener that anyone on the network can use: beyond loopback and taking
 * requests without credentials. undefined for one that is safe as it is.
 */
export function exposureWarning(l: ListenerInfo): string | undefined {
  if (!l.open || onLoopback(l.url)) return undefined;
  return `WARNING: ${l.name} on ${l.url} is reachable beyond this machine and asks for no credentials: anyone who can reach it can use it. Configure a token or password for it (see the README's "Security"), mutual TLS (service.tls.client_ca_file), or listen on 127.0.0.1.`;
}

/** A line of the start-up summary: the name in a column of 12, one space, what it is. */
export const row = (name: string, rest: string) => `  ${name.padEnd(12)} ${rest}`;

export interface Pipeline {
  /** Where each listener is, by the summary's names: admin, query, query-native, otlp http, cloudtrail, remote write, … */
  urls: Map<string, string>;
  logger: Logger;
  /** Aborted when the pipeline begins to stop: whatever feeds it should stop sending. */
  stopping: AbortSignal;
  /** Resolves once the pipeline has stopped (after a signal, or stop()). */
  finished: Promise<void>;
  stop(why: string): Promise<void>;
}

/**
 * Starts what `airdig run` starts — the admin endpoint, the runtime (bus, store or the embedded
 * ClickHouse, every component), the query endpoints — and prints the start-up summary through
 * `say` (`components: false` leaves out the rows of components). SIGINT and SIGTERM stop it:
 * receivers first, sinks last, so buffers drain; a second signal exits at once. undefined when a
 * signal came while it was starting (it has stopped then).
 */
export async function startPipeline(config: AirdigConfig, say: (line: string) => void, o: { components?: boolean } = {}): Promise<Pipeline | undefined> {
  const logger = pino({ level: config.service.log_level, base: { service: 'airdig' } }, pino.destination(2));
  const registry = new Registry();
  const metrics = new PipelineMetrics(registry, { defaultMetrics: true });
  const tls = serviceTls(config.service.tls, logger);
  const runtime = new Runtime(config, { logger, metrics, migrationsDir: MIGRATIONS_DIR, tls });
  const exposed: string[] = [];
  const tell = (l: ListenerInfo) => {
    const warning = exposureWarning(l);
    if (warning) exposed.push(warning);
  };
  const servers: { name: string; close(): Promise<void> }[] = [];
  const urls = new Map<string, string>();

  let stopping: Promise<void> | undefined;
  let closing = '';
  const aborted = new AbortController();
  let stopped!: () => void;
  const finished = new Promise<void>((resolve) => (stopped = resolve));
  const stop = (why: string) => {
    if (stopping) {
      logger.warn(`${why} again: exiting now`);
      process.exit(130);
    }
    logger.info(`${why}: stopping (receivers first, sinks last)`);
    aborted.abort();
    const timer = setTimeout(() => {
      logger.error(`shutdown took longer than ${config.service.shutdown_timeout_ms} ms (still stopping ${closing || runtime.stopping}); exiting`);
      process.exit(1);
    }, config.service.shutdown_timeout_ms);
    timer.unref();
    stopping = (async () => {
      for (const s of [...servers].reverse()) {
        closing = s.name;
        await s.close();
      }
      closing = '';
      await runtime.stop();
    })().then(stopped);
    return stopping;
  };
  const onSignal = (signal: NodeJS.Signals) => void stop(signal);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const bus = config.service.kafka.brokers ? `Kafka ${config.service.kafka.brokers}` : 'in-process topics';
  const store = !usesStore(config)
    ? 'no ClickHouse (no component here uses it)'
    : config.service.clickhouse.url
      ? `ClickHouse server`
      : `the embedded ClickHouse server in ${path.resolve(config.service.data_dir)}`;
  say(`airdig: starting with ${bus} and ${store}`);
  try {
    if (config.service.admin) {
      const { admin_bearer_token: bearer_token, admin_basic_auth: basic_auth } = config.service;
      const credentials = bearer_token || basic_auth ? { bearer_token, basic_auth } : undefined;
      const admin = await startAdminServer({ address: config.service.admin, registry, readiness: () => runtime.readiness(), credentials, tls });
      servers.push({ name: 'the admin endpoint', close: () => admin.close() });
      urls.set('admin', admin.url);
      tell({ name: 'admin (/metrics)', url: admin.url, open: !credentials && !tls?.mutual });
      say(row('admin', `${admin.url}/metrics  /healthz  /readyz`));
    }
    await runtime.start();
  } catch (err) {
    await stop('start failed');
    throw withListenHint(err, config.service);
  }
  if (stopping) {
    await stopping;
    return undefined;
  }
  if (runtime.engine) {
    const q = await startQueryEndpoints(config.service, runtime.engine, logger, tls).catch(async (err) => {
      await stop('start failed');
      throw withListenHint(err, config.service);
    });
    servers.push({ name: 'the query endpoints', close: () => q.close() });
    for (const e of q.endpoints) {
      urls.set(e.name, e.url);
      tell({ name: e.name, url: e.url, open: !config.service.query_password && !tls?.mutual });
      say(
        row(e.name, `${e.url}${e.name === 'query' ? '/?query=SELECT+1  (ClickHouse HTTP interface, read-only)' : '  (ClickHouse native protocol, read-only)'}`),
      );
    }
  } else if (usesStore(config)) say(row('query', `your ClickHouse server (${redact(config.service.clickhouse.url)})`));
  for (const l of runtime.listening()) {
    urls.set(l.name, l.url);
    say(row(l.name, l.url));
    tell(l);
  }
  if (o.components !== false)
    for (const c of config.components)
      say(row(c.kind, `${c.id}${c.consumes.length ? `  ← ${c.consumes.join(', ')}` : ''}${c.produces.length ? `  → ${c.produces.join(', ')}` : ''}`));
  for (const warning of exposed) {
    logger.warn(warning);
    say(warning);
  }
  return { urls, logger, stopping: aborted.signal, finished, stop };
}
