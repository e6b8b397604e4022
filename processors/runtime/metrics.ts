import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** AirDig's own metrics, on a registry that is passed in (tests use their own and read it back). */
export class PipelineMetrics {
  readonly registry: Registry;
  readonly #received: Counter<'component' | 'kind'>;
  readonly #sent: Counter<'component' | 'kind'>;
  readonly #failed: Counter<'component' | 'kind' | 'reason'>;
  readonly #dropped: Counter<'component' | 'kind' | 'reason'>;
  readonly #dlq: Counter<'component' | 'kind'>;
  readonly #noted: Counter<'component' | 'kind' | 'reason'>;
  readonly #insertSeconds: Histogram<'table'>;
  readonly #queues = new Map<string, () => number>();
  readonly #up: Gauge<'component' | 'kind'>;

  constructor(registry: Registry, options: { defaultMetrics?: boolean } = {}) {
    this.registry = registry;
    if (options.defaultMetrics) collectDefaultMetrics({ register: registry, prefix: 'airdig_' });
    const r = [registry];
    this.#received = new Counter({
      name: 'airdig_component_received_total',
      help: 'Records (spans, samples, events, messages) a component received.',
      labelNames: ['component', 'kind'],
      registers: r,
    });
    this.#sent = new Counter({
      name: 'airdig_component_sent_total',
      help: 'Records a component passed on (to the bus or ClickHouse).',
      labelNames: ['component', 'kind'],
      registers: r,
    });
    this.#failed = new Counter({
      name: 'airdig_component_failed_total',
      help: 'Records a component failed to process, by reason; retried or sent to the DLQ.',
      labelNames: ['component', 'kind', 'reason'],
      registers: r,
    });
    this.#dropped = new Counter({
      name: 'airdig_component_dropped_total',
      help: 'Records a component dropped for good, by reason.',
      labelNames: ['component', 'kind', 'reason'],
      registers: r,
    });
    this.#noted = new Counter({
      name: 'airdig_component_noted_total',
      help: 'Records a component kept but flagged, by reason (e.g. a CloudTrail record with no resolvable resource).',
      labelNames: ['component', 'kind', 'reason'],
      registers: r,
    });
    this.#dlq = new Counter({
      name: 'airdig_component_dlq_total',
      help: 'Records a component sent to airdig.dlq.',
      labelNames: ['component', 'kind'],
      registers: r,
    });
    this.#insertSeconds = new Histogram({
      name: 'airdig_clickhouse_insert_seconds',
      help: 'Time of one INSERT into ClickHouse.',
      labelNames: ['table'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    });
    this.#up = new Gauge({ name: 'airdig_component_up', help: '1 while a component runs.', labelNames: ['component', 'kind'], registers: r });
    const queues = this.#queues;
    new Gauge({
      name: 'airdig_component_queue_depth',
      help: 'Records waiting for a component: uncommitted records on the topics it consumes, or its own buffers.',
      labelNames: ['component'],
      registers: r,
      collect() {
        this.reset();
        for (const [component, depth] of queues) {
          try {
            this.set({ component }, depth());
          } catch {
            // A component that is stopping may not answer; leave it out of this scrape.
          }
        }
      },
    });
  }

  forComponent(component: string, kind: string): ComponentMetrics {
    const labels = { component, kind };
    // Touch every series so a component's counters appear at zero from its start.
    this.#received.inc(labels, 0);
    this.#sent.inc(labels, 0);
    this.#dlq.inc(labels, 0);
    return {
      received: (n = 1) => this.#received.inc(labels, n),
      sent: (n = 1) => this.#sent.inc(labels, n),
      failed: (reason, n = 1) => this.#failed.inc({ ...labels, reason }, n),
      dropped: (reason, n = 1) => this.#dropped.inc({ ...labels, reason }, n),
      dlq: (n = 1) => this.#dlq.inc(labels, n),
      noted: (reason, n = 1) => this.#noted.inc({ ...labels, reason }, n),
      insertSeconds: (table, seconds) => this.#insertSeconds.observe({ table }, seconds),
      queueDepth: (depth) => {
        if (depth) this.#queues.set(component, depth);
        else this.#queues.delete(component);
      },
      up: (isUp) => this.#up.set(labels, isUp ? 1 : 0),
    };
  }
}

export interface ComponentMetrics {
  received(n?: number): void;
  sent(n?: number): void;
  failed(reason: string, n?: number): void;
  dropped(reason: string, n?: number): void;
  dlq(n?: number): void;
  /** Records kept as they are but worth counting (no resolvable resource, a duplicate skipped, …). */
  noted(reason: string, n?: number): void;
  insertSeconds(table: string, seconds: number): void;
  /** Registers how to read the component's queue depth at scrape time; undefined unregisters. */
  queueDepth(depth: (() => number) | undefined): void;
  up(isUp: boolean): void;
}
