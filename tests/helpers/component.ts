import assert from 'node:assert/strict';
import pino from 'pino';
import { Registry } from 'prom-client';
import { PipelineMetrics } from '../../processors/runtime/metrics.js';
import { systemClock } from '../../processors/runtime/clock.js';
import { serviceSchema } from '../../processors/runtime/config/schema.js';
import { createDefaultConfig, type ComponentSettings, type Factory } from '../../processors/runtime/pipeline/component.js';
import type { Bus } from '../../processors/runtime/bus/types.js';
import { HttpPorts } from '../../processors/runtime/http.js';
import { otlpFactory } from '../../processors/otlp/factory.js';
import { falcoReceiverFactory } from '../../processors/falco/receiver.js';
import { cloudTrailReceiverFactory } from '../../processors/cloudtrail/receiver.js';
import { resourcesReceiverFactory, terraformReceiverFactory } from '../../processors/inventory/receiver.js';
import path from 'node:path';
import type { Store } from '../../processors/runtime/store/store.js';
import { openTestStore } from './clickhouse.js';
import { loadMigrations, migrate } from '../../processors/runtime/store/migrate.js';
import { repoRoot } from './kafka.js';

export function componentSettings(factory: Factory<any>, bus: Bus, store: Store, id = factory.type): ComponentSettings & { registry: Registry } {
  const registry = new Registry();
  return {
    id,
    kind: factory.kind,
    logger: pino({ level: 'silent' }),
    metrics: new PipelineMetrics(registry).forComponent(id, factory.kind),
    registry,
    bus,
    store,
    clock: systemClock,
    service: serviceSchema.parse({ query: '', admin: '' }),
    topics: {},
    ports: new HttpPorts(),
  };
}

/** What every component owes the runtime: create → start → shutdown, a second shutdown is safe, its metrics appear. */
export async function assertComponentContract(factory: Factory<any>, bus: Bus, store: Store, rawConfig?: unknown): Promise<void> {
  const settings = componentSettings(factory, bus, store);
  const component = factory.create(settings, rawConfig === undefined ? createDefaultConfig(factory) : factory.configSchema.parse(rawConfig));
  await component.start();
  const text = await settings.registry.metrics();
  assert.match(text, new RegExp(`airdig_component_received_total\\{component="${factory.type}",kind="${factory.kind}"\\} 0`));
  await component.shutdown();
  await component.shutdown();
}

/** A fresh database on the test run's ClickHouse server, with every migration applied. */
export async function openMigratedStore(name: string): Promise<Store> {
  const store = await openTestStore(name);
  await migrate(store, loadMigrations(path.join(repoRoot, 'schemas/clickhouse')));
  return store;
}

/**
 * The JSON intake receivers (falco, cloudtrail, resources, terraform_state), and OTLP's HTTP side,
 * on one port as `airdig run` has them; urls by their start-up summary names.
 */
export async function startHttpReceivers(bus: Bus, store: Store, extra: Partial<ComponentSettings> = {}, configs: Record<string, object> = {}) {
  const ports = new HttpPorts();
  const factories: Factory<any>[] = [otlpFactory, falcoReceiverFactory, cloudTrailReceiverFactory, resourcesReceiverFactory, terraformReceiverFactory];
  const receivers = factories.map((f) => {
    const defaults = f === otlpFactory ? { http: '127.0.0.1:0', grpc: '' } : { listen: '127.0.0.1:0' };
    return f.create({ ...componentSettings(f, bus, store), ports, ...extra }, f.configSchema.parse({ ...defaults, ...configs[f.type] }));
  });
  for (const r of receivers) await r.start();
  const urls: Record<string, string> = Object.fromEntries(receivers.flatMap((r) => r.listening!()).map((l) => [l.name, l.url]));
  return {
    urls,
    receivers,
    async shutdown() {
      for (const r of receivers) await r.shutdown();
    },
  };
}
