/*
 * The notifications sink: airdig.incidents, airdig.correlations, airdig.drift and airdig.health
 * → webhooks (Alertmanager, JSON, Slack). A record is read, turned into a notice and queued on
 * each webhook that wants it; its offset is committed once queued, never held for a webhook.
 * Delivery is at most once: a notice is posted until it succeeds or its retry budget is spent;
 * what is still queued at a crash is lost, and at shutdown is given drain_timeout_ms.
 */
import { Counter, Gauge, type Registry } from 'prom-client';
import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import type { BusRecord, Consumer } from '../runtime/bus/types.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { correlationCodec, incidentCodec } from '../model/correlations.js';
import { driftCodec } from '../model/drift.js';
import { healthCodec } from '../model/health.js';
import { notifyConfigSchema, type NotifyConfig } from './config.js';
import { correlationNotice, driftNotice, healthNotice, incidentNotice, type Notice } from './notices.js';
import { ToldMemory, Webhook, type WebhookMetrics } from './webhook.js';
import { StateStore } from '../runtime/pipeline/state-store.js';

type Labels = 'component' | 'webhook';

/** The sink's counters on the registry it is given; shared by every notifications component on it. */
function notifyMetrics(registry: Registry) {
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) =>
    (registry.getSingleMetric(name) as Counter<L> | undefined) ?? new Counter({ name, help, labelNames, registers: [registry] });
  return {
    sent: counter('airdig_notify_sent_total', 'Notifications a webhook accepted (2xx).', ['component', 'webhook'] as Labels[]),
    failed: counter('airdig_notify_failed_total', 'Notifications not delivered, by reason: rejected (4xx, not retried), exhausted (out of attempts).', [
      'component',
      'webhook',
      'reason',
    ]),
    retried: counter('airdig_notify_retried_total', 'Retries after a network error, a timeout, a 5xx or a 429.', ['component', 'webhook'] as Labels[]),
    dropped: counter('airdig_notify_dropped_total', 'Notifications dropped unsent, by reason: queue_full (the oldest made room), shutdown.', [
      'component',
      'webhook',
      'reason',
    ]),
    deduplicated: counter('airdig_notify_deduplicated_total', 'Notices not sent again: their fact was already told in that state.', [
      'component',
      'webhook',
    ] as Labels[]),
    queued:
      (registry.getSingleMetric('airdig_notify_queue_depth') as Gauge<Labels> | undefined) ??
      new Gauge({
        name: 'airdig_notify_queue_depth',
        help: 'Notifications waiting for a webhook.',
        labelNames: ['component', 'webhook'],
        registers: [registry],
      }),
  };
}

function webhookMetrics(m: ReturnType<typeof notifyMetrics>, component: string, webhook: string, counted: () => void): WebhookMetrics {
  const labels = { component, webhook };
  for (const c of [m.sent, m.retried, m.deduplicated]) c.inc(labels, 0);
  m.queued.set(labels, 0);
  return {
    sent: () => {
      m.sent.inc(labels);
      counted();
    },
    failed: (reason) => m.failed.inc({ ...labels, reason }),
    retried: () => m.retried.inc(labels),
    dropped: (reason, n = 1) => m.dropped.inc({ ...labels, reason }, n),
    deduplicated: () => m.deduplicated.inc(labels),
    queued: (depth) => m.queued.set(labels, depth),
  };
}

export class NotificationsSink implements Component {
  readonly #s: ComponentSettings;
  readonly #c: NotifyConfig;
  readonly #decoders: Map<string, (value: Buffer) => Notice>;
  #webhooks: Webhook[] = [];
  #consumer: Consumer | undefined;
  #store: StateStore | undefined;

  constructor(settings: ComponentSettings, config: NotifyConfig) {
    this.#s = settings;
    this.#c = config;
    const { inputs } = config;
    this.#decoders = new Map<string, (value: Buffer) => Notice>([
      [inputs.incidents, (v) => incidentNotice(incidentCodec.decode(v))],
      [inputs.correlations, (v) => correlationNotice(correlationCodec.decode(v))],
      [inputs.drift, (v) => driftNotice(driftCodec.decode(v))],
      [inputs.health, (v) => healthNotice(healthCodec.decode(v))],
    ]);
  }

  #notice(record: BusRecord): Notice {
    return this.#decoders.get(record.topic)!(record.value);
  }

  async start(): Promise<void> {
    const s = this.#s;
    const m = notifyMetrics(s.registry);
    // What each webhook told, kept in the component's changelog: a restart does not tell it again.
    const store = new StateStore(s.bus, s.id);
    const stored = await store.restoreJson<string>();
    this.#webhooks = this.#c.webhooks.map((w) => {
      const prefix = `${w.name}\u0000`;
      const told = new ToldMemory(this.#c.dedup_max_entries, (key, state) =>
        state === undefined ? store.delete(prefix + key) : store.putJson(prefix + key, state),
      );
      for (const [key, state] of stored) if (key.startsWith(prefix)) told.restore(key.slice(prefix.length), state);
      return new Webhook(w, { logger: s.logger, metrics: webhookMetrics(m, s.id, w.name, () => s.metrics.sent()), told });
    });
    this.#store = store;
    const producer = s.bus.producer();
    this.#consumer = await consumeTopics(s, {
      what: 'notifications batch',
      topics: [...this.#decoders.keys()],
      maxBatch: this.#c.max_batch,
      pending: () => this.#webhooks.reduce((n, w) => n + w.pending(), 0),
      handler: async (batch) => {
        let received = 0;
        const dead = await eachRecordOrDlq(batch, producer, s.id, (record) => {
          const notice = this.#notice(record);
          received++;
          // A new consumer group reads a topic from its start: old facts are history, not news.
          if (this.#c.max_age_ms && s.clock.now() - notice.revision > this.#c.max_age_ms) {
            s.metrics.noted('too_old');
            return;
          }
          for (const w of this.#webhooks) w.offer(notice);
        });
        s.metrics.received(received);
        if (dead) s.metrics.dlq(dead);
        // Before the batch is committed: a crash after this tells none of it again (at most once).
        await store.flush();
      },
    });
  }

  async shutdown(): Promise<void> {
    await stopConsuming(this.#s, this.#consumer);
    this.#consumer = undefined;
    const webhooks = this.#webhooks;
    this.#webhooks = [];
    await Promise.all(webhooks.map((w) => w.close(this.#c.drain_timeout_ms)));
    // What the drain undid (notices never delivered are untold) goes to the changelog too.
    await this.#store?.flush().catch((err: unknown) => this.#s.logger.warn({ err }, 'notifications: what was told could not be saved'));
    this.#store = undefined;
  }
}

/** Sink `notifications`: see processors/notify/README.md. */
export const notificationsFactory: Factory<NotifyConfig> = {
  kind: 'sink',
  type: 'notifications',
  configSchema: notifyConfigSchema,
  topics: (c) => ({ consumes: [...new Set([c.inputs.incidents, c.inputs.correlations, c.inputs.drift, c.inputs.health])], produces: [] }),
  create: (settings, config) => new NotificationsSink(settings, config),
};
