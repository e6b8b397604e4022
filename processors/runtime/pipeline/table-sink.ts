import { eachRecordOrDlq, sendToDlq } from '../bus/dlq.js';
import type { BusRecord, Consumer } from '../bus/types.js';
import { InsertBatcher } from '../store/batcher.js';
import type { Component, ComponentSettings } from './component.js';

export interface TableSinkOptions<Row extends object> {
  input: string;
  table: string;
  maxBatch: number;
  /** Rows for one record; throwing a MalformedInputError sends the record to the DLQ. */
  toRows: (record: BusRecord) => Row[];
  /** What to do with a record whose rows ClickHouse refuses for good: DLQ it, or (for the DLQ's own sink) count and drop it. */
  onRefused: 'dlq' | 'drop';
}

/**
 * The common sink: consume a topic, turn each record into rows, insert them in batches, commit
 * once they are written. Undecodable records and records whose rows ClickHouse refuses go to
 * the DLQ (each once), so one bad record never blocks a partition.
 */
export class TableSink<Row extends object> implements Component {
  readonly #s: ComponentSettings;
  readonly #o: TableSinkOptions<Row>;
  readonly #batcher: InsertBatcher<Row>;
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, options: TableSinkOptions<Row>) {
    this.#s = settings;
    this.#o = options;
    this.#batcher = new InsertBatcher({
      store: settings.store,
      table: options.table,
      onInsert: (_rows, ms) => settings.metrics.insertSeconds(options.table, ms / 1000),
      onRetry: (err) => settings.logger.warn({ err: err.message }, `${options.table} insert failed; retrying`),
    });
  }

  async start(): Promise<void> {
    const { metrics, logger, bus, id } = this.#s;
    const producer = bus.producer();
    this.#consumer = bus.consumer({
      groupId: `airdig.${id}`,
      topics: [this.#o.input],
      maxBatch: this.#o.maxBatch,
      handler: async (batch) => {
        const rows: Row[] = [];
        const source: BusRecord[] = [];
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          for (const row of this.#o.toRows(record)) {
            rows.push(row);
            source.push(record);
          }
        });
        if (dead) metrics.dlq(dead);
        metrics.received(rows.length);
        const rejected = await this.#batcher.write(rows);
        const refused = new Set<BusRecord>();
        for (const { index, error } of rejected) {
          const record = source[index]!;
          if (refused.has(record)) continue;
          refused.add(record);
          if (this.#o.onRefused === 'dlq') await sendToDlq(producer, record, error, id);
          else logger.error({ topic: record.topic, partition: record.partition, offset: record.offset, err: error.message }, `record refused by ${this.#o.table}`);
        }
        if (refused.size) {
          if (this.#o.onRefused === 'dlq') metrics.dlq(refused.size);
          else metrics.dropped('clickhouse_rejected', refused.size);
        }
        metrics.sent(rows.length - rejected.length);
      },
      onHandlerError: (err, attempt) => {
        metrics.failed('write');
        logger.warn({ err: (err as Error).message, attempt }, `batch for ${this.#o.table} failed; it will be delivered again`);
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
