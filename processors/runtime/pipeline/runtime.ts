import { HttpPorts } from '../http.js';
import type { ServerTls } from '../tls.js';
import path from 'node:path';
import type { Logger } from 'pino';
import { KafkaBus } from '../bus/kafka.js';
import { MemoryBus } from '../bus/memory.js';
import type { Bus, TopicSpec } from '../bus/types.js';
import { backoffMs, sleep, systemClock, type Clock } from '../clock.js';
import type { AirdigConfig, ResolvedComponent } from '../config/load.js';
import { errorMessage, isRetryable } from '../errors.js';
import type { PipelineMetrics } from '../metrics.js';
import type { Store } from '../store/store.js';
import { ManagedClickHouse, type EngineOptions } from '../clickhouse/engine.js';
import type { Component, ListenerInfo } from './component.js';

export interface RuntimeDeps {
  logger: Logger;
  metrics: PipelineMetrics;
  migrationsDir: string;
  clock?: Clock;
  /** TLS for the receivers' HTTP listeners (service.tls, read once for every listener). */
  tls?: ServerTls | undefined;
}

interface Running {
  resolved: ResolvedComponent;
  component: Component;
}

/** Kafka with --kafka; otherwise the in-process bus, durable under data_dir/bus unless service.bus_log.enabled is false. */
export async function openBus(config: AirdigConfig, logger?: Logger): Promise<Bus> {
  const { kafka, memory_bus, bus_log, data_dir } = config.service;
  if (kafka.brokers) {
    const onBrokerChange = (down: string | undefined) =>
      down ? logger?.error(`${down}; receivers answer 503 / UNAVAILABLE until it is back`) : logger?.info('the Kafka broker answers again');
    const onClientError = (what: string, message: string, fatal: boolean) =>
      fatal ? logger?.error(`Kafka ${what}: fatal: ${message}`) : logger?.warn(`Kafka ${what}: ${message}`);
    return new KafkaBus({ ...kafka, onBrokerChange, onClientError });
  }
  if (!bus_log.enabled) return new MemoryBus(memory_bus);
  return MemoryBus.open(busLogDir(data_dir), memory_bus, bus_log);
}

/** Where the embedded bus keeps its log. */
export function busLogDir(dataDir: string): string {
  return path.resolve(dataDir, 'bus');
}

/** The embedded ClickHouse engine under --data-dir, for a config without a ClickHouse URL. */
export function configuredEngine(config: AirdigConfig, logger: Logger, onState?: EngineOptions['onState']): ManagedClickHouse {
  return new ManagedClickHouse({
    dataDir: config.service.data_dir,
    limits: config.service.clickhouse.query_limits,
    logger: logger.child({ component: 'clickhouse' }),
    ...(onState ? { onState } : {}),
  });
}

/** The store of a config: its ClickHouse URL, or the writer of a started embedded engine. */
export async function openConfiguredStore(config: AirdigConfig, engine?: ManagedClickHouse): Promise<Store> {
  const { clickhouse } = config.service;
  const url = clickhouse.url || engine?.writerUrl();
  if (!url) throw new Error('no ClickHouse: neither service.clickhouse.url nor an embedded engine');
  // Imported here: a process without a store never loads the ClickHouse client.
  const { openStore } = await import('../store/store.js');
  return openStore({ url, database: clickhouse.database, request_timeout_ms: clickhouse.request_timeout_ms });
}

/**
 * Builds and runs the configured components: store and bus first (retrying with backoff while
 * they are unreachable), then sinks, processors and receivers, so that nothing is produced before
 * its consumers exist. Stops in the reverse order, so buffers drain downstream.
 */
export class Runtime {
  readonly #config: AirdigConfig;
  readonly #deps: RuntimeDeps;
  readonly #abort = new AbortController();
  #store: Store | undefined;
  #engine: ManagedClickHouse | undefined;
  #bus: Bus | undefined;
  #running: Running[] = [];
  readonly #ports: HttpPorts;
  #checks = new Map<string, string>([
    ['clickhouse', 'connecting'],
    ['bus', 'connecting'],
  ]);
  #state: 'new' | 'starting' | 'ready' | 'stopping' | 'stopped' = 'new';
  #stoppingOn = '';

  constructor(config: AirdigConfig, deps: RuntimeDeps) {
    this.#config = config;
    this.#deps = deps;
    this.#ports = new HttpPorts(deps.tls);
    if (!usesStore(config)) this.#checks.delete('clickhouse');
    for (const c of config.components) this.#checks.set(`${c.kind} ${c.id}`, 'not started');
  }

  get store(): Store | undefined {
    return this.#store;
  }

  /** The embedded engine, when AirDig runs one (no service.clickhouse.url). */
  get engine(): ManagedClickHouse | undefined {
    return this.#engine;
  }

  get bus(): Bus | undefined {
    return this.#bus;
  }

  /** Ready once started, and not while the bus cannot take records (its broker does not answer). */
  readiness(): { ready: boolean; state: string; checks: Record<string, string> } {
    const checks = Object.fromEntries(this.#checks);
    const busDown = this.#state === 'ready' ? this.#bus?.unavailable?.() : undefined;
    if (busDown) checks.bus = `unavailable: ${busDown}`;
    return { ready: this.#state === 'ready' && !busDown, state: this.#state, checks };
  }

  listening(): ListenerInfo[] {
    return this.#running.flatMap((r) => r.component.listening?.() ?? []);
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'starting';
    const { logger } = this.#deps;
    const signal = this.#abort.signal;
    const cfg = this.#config;

    // A process whose components never touch ClickHouse (receivers on Kafka) opens none of it:
    // no engine, no connection, no migrations.
    if (usesStore(cfg)) await this.#openStore();
    if (signal.aborted) return;
    const store = this.#store ?? NO_STORE;

    let bus: Bus;
    try {
      bus = await openBus(cfg, logger);
    } catch (err) {
      this.#checks.set('bus', `failed: ${errorMessage(err)}`);
      throw err;
    }
    this.#bus = bus;
    if (signal.aborted) return;
    const topics: TopicSpec[] = Object.entries(cfg.topics).map(([name, t]) => ({
      name,
      partitions: t.partitions,
      compacted: t.compacted,
      ...(t.retention_ms === undefined ? {} : { retentionMs: t.retention_ms }),
    }));
    const busName =
      bus.kind === 'kafka'
        ? `Kafka at ${cfg.service.kafka.brokers}`
        : cfg.service.bus_log.enabled
          ? `in-process bus in ${busLogDir(cfg.service.data_dir)}`
          : 'in-process bus';
    await this.#retry('bus', busName, async () => {
      await bus.ping();
      await bus.ensureTopics(topics);
    });
    if (signal.aborted) return;

    for (const resolved of cfg.components) {
      if (signal.aborted) return;
      const label = `${resolved.kind} ${resolved.id}`;
      const metrics = this.#deps.metrics.forComponent(resolved.id, resolved.kind);
      const component = resolved.factory.create(
        {
          id: resolved.id,
          kind: resolved.kind,
          logger: logger.child({ component: resolved.id }),
          metrics,
          registry: this.#deps.metrics.registry,
          bus,
          store,
          clock: this.#deps.clock ?? systemClock,
          service: cfg.service,
          topics: cfg.topics,
          ports: this.#ports,
          tls: this.#deps.tls,
        },
        resolved.config,
      );
      await this.#retry(label, label, () => component.start());
      if (signal.aborted) {
        await component.shutdown();
        return;
      }
      metrics.up(true);
      this.#running.push({ resolved, component });
    }
    for (const u of cfg.unused) logger.warn(`${u} is configured but no pipeline uses it; not started`);
    this.#state = 'ready';
  }

  /** The embedded engine (without a ClickHouse URL), the store on it, migrated; retried while unreachable. */
  async #openStore(): Promise<void> {
    const { logger } = this.#deps;
    const signal = this.#abort.signal;
    const cfg = this.#config;
    if (!cfg.service.clickhouse.url) {
      const engine = configuredEngine(cfg, logger, (state, detail) => {
        if (this.#state === 'ready' || this.#state === 'starting')
          this.#checks.set('clickhouse', state === 'up' ? 'ok' : `unavailable: engine ${state}: ${detail}`);
        if (state === 'down') logger.error(`the ClickHouse engine went down (${detail}); inserts wait and retry until it is back`);
        else if (state === 'up' && engine.restarts > 0) logger.info(`the ClickHouse engine is back after ${engine.restarts} restart(s)`);
      });
      this.#engine = engine;
      this.#checks.set('clickhouse', 'starting the embedded engine');
      try {
        await engine.start();
      } catch (err) {
        if (signal.aborted) return;
        this.#checks.set('clickhouse', `failed: ${errorMessage(err)}`);
        throw err;
      }
      if (signal.aborted) return;
    }
    const store = await openConfiguredStore(cfg, this.#engine);
    this.#store = store;
    const where = this.#engine
      ? `embedded ClickHouse in ${path.resolve(cfg.service.data_dir, 'clickhouse')}`
      : `ClickHouse at ${redact(cfg.service.clickhouse.url)}`;
    const { loadMigrations, migrate } = await import('../store/migrate.js');
    await this.#retry('clickhouse', where, async () => {
      await store.ping();
      const result = await migrate(store, loadMigrations(this.#deps.migrationsDir));
      if (result.applied.length) logger.info({ applied: result.applied.map((m) => `${m.version}_${m.name}`) }, 'applied migrations');
    });
  }

  /** What stop() is waiting for now ('' when it is not stopping): named when a shutdown takes too long. */
  get stopping(): string {
    return this.#stoppingOn;
  }

  /** Stops receivers first, then processors, then sinks; each gets what is left of the shutdown timeout. */
  async stop(): Promise<void> {
    if (this.#state === 'stopping' || this.#state === 'stopped') return;
    this.#state = 'stopping';
    this.#abort.abort();
    for (const r of [...this.#running].reverse()) {
      const label = `${r.resolved.kind} ${r.resolved.id}`;
      await this.#stopStep(label, async () => {
        await r.component.shutdown();
        this.#deps.metrics.forComponent(r.resolved.id, r.resolved.kind).up(false);
        this.#checks.set(label, 'stopped');
      });
    }
    this.#running = [];
    await this.#stopStep('the bus', async () => this.#bus?.close());
    await this.#stopStep('the ClickHouse client', async () => this.#store?.close());
    await this.#stopStep('the ClickHouse engine', async () => this.#engine?.stop());
    this.#stoppingOn = '';
    this.#state = 'stopped';
  }

  /** One step of stop(): named while it runs, logged when it is slow, its failure logged and passed over. */
  async #stopStep(what: string, fn: () => Promise<unknown>): Promise<void> {
    const { logger } = this.#deps;
    this.#stoppingOn = what;
    const started = performance.now();
    try {
      await fn();
    } catch (err) {
      logger.error({ err: errorMessage(err) }, `${what} did not stop cleanly`);
    }
    const took = performance.now() - started;
    if (took > SLOW_STOP_MS) logger.info(`stopping ${what} took ${(took / 1000).toFixed(1)} s`);
  }

  /** Runs fn until it succeeds or stop() is called; a permanent error ends the start. */
  async #retry(check: string, what: string, fn: () => Promise<void>): Promise<void> {
    const { logger } = this.#deps;
    for (let attempt = 0; !this.#abort.signal.aborted; attempt++) {
      try {
        await fn();
        this.#checks.set(check, 'ok');
        return;
      } catch (err) {
        if (!isRetryable(err)) {
          this.#checks.set(check, `failed: ${errorMessage(err)}`);
          throw err;
        }
        const wait = backoffMs(attempt, 500, 30_000);
        this.#checks.set(check, `unavailable: ${errorMessage(err)}`);
        logger.warn(`${what} unavailable (${errorMessage(err)}); retrying in ${(wait / 1000).toFixed(1)} s`);
        await sleep(wait, this.#abort.signal);
      }
    }
  }
}

/** A step of stop() slower than this is logged with its time. */
const SLOW_STOP_MS = 2_000;

/** Whether any component of the config uses ClickHouse. */
export function usesStore(config: AirdigConfig): boolean {
  return config.components.some((c) => c.factory.usesStore !== false);
}

/** The store handed to components that declared they use none: any use is a bug in that declaration. */
const NO_STORE: Store = new Proxy({} as Store, {
  get(_, key) {
    if (key === 'then') return undefined; // not a thenable: it may be returned from an async function
    throw new Error(`this process opened no ClickHouse (its components declare usesStore: false), yet store.${String(key)} was used`);
  },
});

/** A URL with its password hidden, for logs and the start-up summary. */
export function redact(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return url;
  }
}
