import { z } from 'zod';
import { DLQ_TOPIC, type BusRecord, type Consumer } from '../runtime/bus/types.js';
import { DlqHeaders, headerString } from '../runtime/bus/dlq.js';
import { InsertBatcher } from '../runtime/store/batcher.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';

export const DEFAULT_DEAD_LETTERS_TABLE = 'dead_letters';

export const deadLettersConfigSchema = z
  .object({
    input: topicName.default(DLQ_TOPIC),
    table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/).default(DEFAULT_DEAD_LETTERS_TABLE),
    max_batch: z.number().int().positive().default(1_000),
  })
  .strict();
export type DeadLettersConfig = z.infer<typeof deadLettersConfigSchema>;

export interface DeadLetterRow {
  ts: number;
  source_topic: string;
  source_partition: number;
  source_offset: number;
  component: string;
  error_code: string;
  error: string;
  key_base64: string;
  value_base64: string;
  value_bytes: number;
  headers: Record<string, string>;
}

/** One airdig.dlq record as a dead_letters row; records without AirDig's headers are kept with what they have. */
export function deadLetterRow(r: BusRecord): DeadLetterRow {
  const headers: Record<string, string> = {};
  for (const k of Object.keys(r.headers)) if (!k.startsWith('airdig.')) headers[k] = headerString(r.headers, k)!;
  return {
    ts: r.timestamp,
    source_topic: headerString(r.headers, DlqHeaders.sourceTopic) ?? '',
    source_partition: Number(headerString(r.headers, DlqHeaders.sourcePartition) ?? 0) || 0,
    source_offset: Number(headerString(r.headers, DlqHeaders.sourceOffset) ?? r.offset) || 0,
    component: headerString(r.headers, DlqHeaders.component) ?? '',
    error_code: headerString(r.headers, DlqHeaders.errorCode) ?? '',
    error: headerString(r.headers, DlqHeaders.error) ?? '',
    key_base64: r.key ? r.key.toString('base64') : '',
    value_base64: r.value.toString('base64'),
    value_bytes: r.value.length,
    headers,
  };
}

class DeadLettersSink implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: DeadLettersConfig;
  readonly #batcher: InsertBatcher<DeadLetterRow>;
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, config: DeadLettersConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#batcher = new InsertBatcher({
      store: settings.store,
      table: config.table,
      onInsert: (_rows, ms) => settings.metrics.insertSeconds(config.table, ms / 1000),
      onRetry: (err) => settings.logger.warn({ err: err.message }, 'dead_letters insert failed; retrying'),
    });
  }

  async start(): Promise<void> {
    const { metrics, logger } = this.#s;
    this.#consumer = this.#s.bus.consumer({
      groupId: `airdig.${this.#s.id}`,
      topics: [this.#cfg.input],
      maxBatch: this.#cfg.max_batch,
      handler: async (batch) => {
        metrics.received(batch.length);
        const rows = batch.map(deadLetterRow);
        const rejected = await this.#batcher.write(rows);
        // A dead letter has nowhere further to go: count and log what ClickHouse refused.
        for (const { index, error } of rejected) {
          logger.error({ topic: rows[index]!.source_topic, offset: rows[index]!.source_offset, err: error.message }, 'dead letter not stored');
        }
        if (rejected.length) metrics.dropped('clickhouse_rejected', rejected.length);
        metrics.sent(rows.length - rejected.length);
      },
      onHandlerError: (err, attempt) => {
        metrics.failed('write');
        logger.warn({ err: (err as Error).message, attempt }, 'dead letters batch failed; it will be delivered again');
      },
    });
    await this.#consumer.start();
    metrics.queueDepth(() => this.#consumer?.lag() ?? 0);
  }

  async shutdown(): Promise<void> {
    await this.#consumer?.stop();
    await this.#batcher.close();
    this.#s.metrics.queueDepth(undefined);
  }
}

export const deadLettersFactory: Factory<DeadLettersConfig> = {
  kind: 'sink',
  type: 'dead_letters',
  configSchema: deadLettersConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, config) => new DeadLettersSink(settings, config),
};
