import assert from 'node:assert/strict';
import pino from 'pino';
import { Registry } from 'prom-client';
import { PipelineMetrics } from '../../processors/runtime/metrics.js';
import { systemClock } from '../../processors/runtime/clock.js';
import { createDefaultConfig, type ComponentSettings, type Factory } from '../../processors/runtime/pipeline/component.js';
import type { Bus, BusRecord, Consumer, ConsumerOptions, Producer, TopicSpec } from '../../processors/runtime/bus/types.js';
import { MemoryBus } from '../../processors/runtime/bus/memory.js';
import { fileSchema, serviceSchema, type TopicConfig } from '../../processors/runtime/config/schema.js';
import { readConfigFile } from '../../processors/runtime/config/load.js';
import type { ComponentSample, Landed } from './samples.js';
import { waitFor } from './wait.js';
import net from 'node:net';
import { HttpPorts } from '../../processors/runtime/http.js';
import { otlpFactory } from '../../processors/otlp/receiver.js';
import { falcoReceiverFactory } from '../../processors/falco/receiver.js';
import { cloudTrailReceiverFactory } from '../../processors/cloudtrail/receiver.js';
import { resourcesReceiverFactory, terraformReceiverFactory } from '../../processors/inventory/receiver.js';
import { changesApiFactory } from '../../processors/changeapi/receiver.js';
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
    service: serviceSchema.parse({ query: '', admin: '', api: '' }),
    topics: {},
    ports: new HttpPorts(),
  };
}

/** A bus that remembers every consumer asked of it and whether it is running, so a test can tell what a component left behind. */
export class TrackingBus implements Bus {
  readonly kind: Bus['kind'];
  readonly #consumers: { groupId: string; topics: readonly string[]; state: 'created' | 'running' | 'stopped' }[] = [];

  constructor(readonly inner: Bus) {
    this.kind = inner.kind;
  }

  ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    return this.inner.ensureTopics(specs);
  }
  producer(): Producer {
    return this.inner.producer();
  }
  ping(): Promise<void> {
    return this.inner.ping();
  }
  readToEnd(topic: string, onRecord: (r: BusRecord) => void): Promise<void> {
    return this.inner.readToEnd(topic, onRecord);
  }
  close(): Promise<void> {
    return this.inner.close();
  }
  consumer(options: ConsumerOptions): Consumer {
    const c = this.inner.consumer(options);
    const entry = { groupId: options.groupId, topics: [...options.topics], state: 'created' as 'created' | 'running' | 'stopped' };
    this.#consumers.push(entry);
    return {
      start: async () => {
        await c.start();
        if (entry.state === 'created') entry.state = 'running';
      },
      stop: async () => {
        await c.stop();
        entry.state = 'stopped';
      },
      lag: () => c.lag(),
    };
  }

  /** Consumers started and not stopped: their groups and topics. */
  running(): { groupId: string; topics: string[] }[] {
    return this.#consumers.filter((c) => c.state === 'running').map((c) => ({ groupId: c.groupId, topics: [...c.topics].sort() }));
  }
}

/** Listening TCP servers of this process (HTTP and gRPC listeners alike); a closed one leaves this count a little after its close callback. */
export function tcpListeners(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
}

/** Whether something accepts TCP connections at the host and port of url. */
export function accepts(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const socket = net.connect({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port) });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** The value of a counter or gauge series of one component (undefined when the series is absent). */
export async function componentMetric(registry: Registry, name: string, component: string): Promise<number | undefined> {
  const metric = registry.getSingleMetric(name);
  if (!metric) throw new Error(`metric ${name} is not registered`);
  const { values } = await metric.get();
  const mine = values.filter((v) => v.labels.component === component);
  return mine.length ? mine.reduce((n, v) => n + v.value, 0) : undefined;
}

/** The topics of the test pipeline (pipelines/embedded.yaml), as the runtime declares them. */
export function embeddedTopics(): Record<string, TopicConfig> {
  return fileSchema.parse(readConfigFile(path.join(repoRoot, 'pipelines/embedded.yaml'))).topics;
}

/** Settings as the runtime gives them: the embedded pipeline's topics, and the service's listeners on 127.0.0.1:0. */
function runtimeSettings(factory: Factory<any>, bus: Bus, store: Store, topics: Record<string, TopicConfig>) {
  return {
    ...componentSettings(factory, bus, store),
    service: serviceSchema.parse({ query: '', admin: '', otlp_grpc: '127.0.0.1:0', otlp_http: '127.0.0.1:0', remote_write: '127.0.0.1:0', api: '127.0.0.1:0' }),
    topics,
  };
}

async function rowCount(store: Store, l: Landed): Promise<number> {
  const rows = await (await store.client.query({ query: `SELECT count() AS n FROM ${l.table} WHERE ${l.where}`, format: 'JSONEachRow' })).json<{ n: string }>();
  return Number(rows[0]!.n);
}

/**
 * What every component owes the runtime, with one valid input from tests/helpers/samples.ts:
 * create → shutdown without start (no throw, no consumer or listener left) → create again →
 * start (it consumes the topics it declares) → fed its sample → its own
 * airdig_component_received_total reaches exactly sample.received (and a sink's rows land, a
 * processor's output appears) → shutdown (nothing left running, nothing counted twice) → shutdown again.
 * The counter is read from the component's own series: a component that does nothing fails.
 */
export async function assertComponentContract(
  factory: Factory<any>,
  sample: ComponentSample,
  store: Store,
  options: { timeoutMs?: number } = {},
): Promise<void> {
  const id = factory.type;
  const timeoutMs = options.timeoutMs ?? 20_000;
  const what = `${factory.kind} ${id}`;
  const received = (r: Registry) => componentMetric(r, 'airdig_component_received_total', id);
  const topics = embeddedTopics();
  const memory = () => {
    const inner = new MemoryBus();
    return { inner, bus: new TrackingBus(inner) };
  };

  // create → shutdown without start
  {
    const { inner, bus } = memory();
    await inner.ensureTopics(Object.entries(topics).map(([name, t]) => ({ name, partitions: t.partitions, compacted: t.compacted })));
    const listeners = tcpListeners();
    const settings = runtimeSettings(factory, bus, store, topics);
    const component = factory.create(settings, createDefaultConfig(factory));
    await component.shutdown();
    assert.deepEqual(bus.running(), [], `${what}: a shutdown without start leaves no consumer running`);
    assert.deepEqual(component.listening?.() ?? [], [], `${what}: a shutdown without start lists no address`);
    await waitFor(
      () => tcpListeners() <= listeners,
      5_000,
      `${what}: no listener left by a shutdown without start (${tcpListeners()} listening, ${listeners} before)`,
    );
    assert.equal(await received(settings.registry), 0, `${what}: nothing received without start`);
    await inner.close();
  }

  // create → start → feed → shutdown → shutdown
  const env = await sample.setup?.();
  const { inner, bus } = memory();
  try {
    await inner.ensureTopics(Object.entries(topics).map(([name, t]) => ({ name, partitions: t.partitions, compacted: t.compacted })));
    const settings = runtimeSettings(factory, bus, store, topics);
    const config = env ? factory.configSchema.parse(env.config) : createDefaultConfig(factory);
    const declared = factory.topics(config);
    const component = factory.create(settings, config);
    const listeners = tcpListeners();
    await component.start();
    const listed = component.listening?.() ?? [];
    if (factory.kind === 'receiver' && sample.listens !== false) assert.ok(listed.length > 0, `${what}: lists the addresses it listens on`);
    try {
      if (declared.consumes.length) {
        assert.deepEqual(
          bus
            .running()
            .flatMap((c) => c.topics)
            .sort(),
          [...declared.consumes].sort(),
          `${what}: once started it consumes the topics it declares`,
        );
        assert.ok(
          bus.running().every((c) => c.groupId === `airdig.${id}`),
          `${what}: in its own group airdig.${id}`,
        );
        assert.notEqual(
          await componentMetric(settings.registry, 'airdig_component_queue_depth', id),
          undefined,
          `${what}: reports its queue depth while it runs`,
        );
      }
      for (const l of listed) assert.ok(await accepts(l.url), `${what}: accepts connections at ${l.name} ${l.url} once started`);

      await sample.feed({ component, bus: inner, store });
      await waitFor(
        async () => ((await received(settings.registry)) ?? 0) >= sample.received,
        timeoutMs,
        `${what}: airdig_component_received_total{component="${id}"} to reach ${sample.received} (fed ${sample.fed})`,
      );
      assert.equal(await received(settings.registry), sample.received, `${what}: received_total once fed ${sample.fed}`);
      // A valid sample is taken as it is: none of it failed, was dropped or went to the DLQ.
      for (const name of ['airdig_component_dlq_total', 'airdig_component_failed_total', 'airdig_component_dropped_total']) {
        assert.equal((await componentMetric(settings.registry, name, id)) ?? 0, 0, `${what}: ${name} once fed ${sample.fed}`);
      }
      for (const l of sample.landed ?? []) {
        await waitFor(async () => (await rowCount(store, l)) >= l.rows, timeoutMs, `${what}: ${l.rows} row(s) in ${l.table} WHERE ${l.where}`);
        assert.equal(await rowCount(store, l), l.rows, `${what}: rows in ${l.table} WHERE ${l.where}`);
      }
      if (sample.emits) {
        const out: BusRecord[] = [];
        const peek = inner.consumer({ groupId: `peek.${id}`, topics: [sample.emits.topic], handler: async (b) => void out.push(...b) });
        await peek.start();
        try {
          await waitFor(() => out.length >= sample.emits!.messages, timeoutMs, `${what}: ${sample.emits.messages} message(s) on ${sample.emits.topic}`);
        } finally {
          await peek.stop();
        }
        assert.equal(out.length, sample.emits.messages, `${what}: messages on ${sample.emits.topic}`);
      }
    } finally {
      await component.shutdown();
    }
    assert.deepEqual(bus.running(), [], `${what}: shutdown leaves no consumer running`);
    for (const l of listed) assert.equal(await accepts(l.url), false, `${what}: nothing accepts at ${l.name} ${l.url} once shut down`);
    await waitFor(() => tcpListeners() <= listeners, 5_000, `${what}: shutdown closes its listeners (${tcpListeners()} listening, ${listeners} before start)`);
    assert.equal(await componentMetric(settings.registry, 'airdig_component_queue_depth', id), undefined, `${what}: no queue depth reported once shut down`);
    assert.equal(await received(settings.registry), sample.received, `${what}: shutdown counts nothing again`);
    await component.shutdown();
    assert.equal(await received(settings.registry), sample.received, `${what}: a second shutdown counts nothing`);
  } finally {
    await inner.close();
    await env?.close();
  }
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
  const factories: Factory<any>[] = [
    otlpFactory,
    falcoReceiverFactory,
    cloudTrailReceiverFactory,
    resourcesReceiverFactory,
    terraformReceiverFactory,
    changesApiFactory,
  ];
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
