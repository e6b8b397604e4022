import type { z } from 'zod';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { Bus } from '../bus/types.js';
import type { Store } from '../store/store.js';
import type { Clock } from '../clock.js';
import type { ServiceConfig, TopicConfig } from '../config/schema.js';
import type { ComponentMetrics } from '../metrics.js';
import type { HttpPorts } from '../http.js';
import type { ServerTls } from '../tls.js';

export type ComponentKind = 'receiver' | 'processor' | 'sink';

/** What a component needs from the runtime; everything is passed in, nothing is global. */
export interface ComponentSettings {
  /** "type" or "type/name", as configured. */
  id: string;
  kind: ComponentKind;
  logger: Logger;
  metrics: ComponentMetrics;
  registry: Registry;
  bus: Bus;
  store: Store;
  clock: Clock;
  service: Readonly<ServiceConfig>;
  /** The declared topics, for components that place records on partitions themselves. */
  topics: Readonly<Record<string, Readonly<TopicConfig>>>;
  /** The runtime's HTTP listeners: receivers add their routes to the port of their address. */
  ports: HttpPorts;
  /** TLS for a listener a component opens itself (service.tls), as the shared ports have it. */
  tls?: ServerTls | undefined;
}

/** A listener for the start-up summary. */
export interface ListenerInfo {
  name: string;
  url: string;
  /** It takes requests without credentials (no token, password or client certificate): told loudly when it is not on loopback. */
  open?: boolean;
}

export interface Component {
  /** Resolves once the component does its work (listening, consuming). */
  start(): Promise<void>;
  /** Drains what it holds and stops. A second call is safe. */
  shutdown(): Promise<void>;
  /** Addresses it listens on, for the start-up summary. */
  listening?(): ListenerInfo[];
}

/** Topics a component reads and writes, so the loader can check them against `topics`. */
export interface TopicUse {
  consumes: readonly string[];
  produces: readonly string[];
}

export interface Factory<C = unknown> {
  kind: ComponentKind;
  type: string;
  /** Strict schema with defaults: parse({}) gives the default config. */
  configSchema: z.ZodType<C, z.ZodTypeDef, unknown>;
  topics(config: C): TopicUse;
  /**
   * false for a component that never touches settings.store: a process of only such components
   * (a receiver-only process on Kafka) opens no ClickHouse, embedded or not. Default true.
   */
  usesStore?: boolean;
  create(settings: ComponentSettings, config: C): Component;
}

export function createDefaultConfig<C>(factory: Factory<C>): C {
  return factory.configSchema.parse({});
}
