import { z } from 'zod';
import { eachRecordOrDlq, sendToDlq } from '../bus/dlq.js';
import type { BusRecord, Consumer } from '../bus/types.js';
import { InsertBatcher } from '../store/batcher.js';
import { rowCount } from '../store/rowbinary.js';
import { topicName, type ServiceConfig } from '../config/schema.js';
import type { Component, ComponentSettings, Factory } from './component.js';
import { consumeTopics, stopConsuming } from './consume.js';

/** Rows of one record, by table: row objects, or DirectRows (rows the sink encoded itself, from the record's bytes). */
export type RowsByTable = ReadonlyMap<string, readonly object[]>;

export interface TableSinkOptions<Row extends object> {
  input: string;
  /** The table rows go to, unless toRowsByTable routes them. */
  table: string;
  maxBatch: number;
  /** Rows for one record; throwing a MalformedInputError sends the record to the DLQ. */
  toRows?: (record: BusRecord) => Row[];
  /** Or rows for several tables (the record counts as written once all of them are). */
  toRowsByTable?: (record: BusRecord) => RowsByTable;
  /** What to do with a record whose rows ClickHouse refuses for good: DLQ it, or (for the DLQ's own sink) count and drop it. */
  onRefused: 'dlq' | 'drop';
  /** Called when rows made for a batch were not all written (it will be delivered again, or records went to the DLQ). */
  onWriteFailed?: () => void;
  /**
   * The tables whose rows are what the sink received (its received and sent counts); default every
   * table. Rows of the others are made beside them (a series row beside its samples) and not counted.
   */
  countedTables?: ReadonlySet<string>;
}

/**
 * The common sink: consume a topic, turn each record into rows, insert them in batches, commit
 * once they are written. Undecodable records and records whose rows ClickHouse refuses go to
 * the DLQ (each once), so one bad record never blocks a partition.
 */
export class TableSink<Row extends object> implements Component {
  readonly #s: ComponentSettings;
  readonly #o: TableSinkOptions<Row>;
  readonly #batchers = new Map<string, InsertBatcher<object>>();
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, options: TableSinkOptions<Row>) {
    this.#s = settings;
    this.#o = options;
  }

  #batcher(table: string): InsertBatcher<object> {
    let b = this.#batchers.get(table);
    if (!b) {
      const { metrics, logger, store } = this.#s;
      b = new InsertBatcher({
        store,
        table,
        onInsert: (_rows, ms) => metrics.insertSeconds(table, ms / 1000),
        onRetry: (err) => logger.warn({ err: err.message }, `${table} insert failed; retrying`),
        onDirectFallback: (message) => logger.warn(message),
      });
      this.#batchers.set(table, b);
    }
    return b;
  }

  #rowsOf(record: BusRecord): RowsByTable {
    if (this.#o.toRowsByTable) return this.#o.toRowsByTable(record);
    return new Map([[this.#o.table, this.#o.toRows!(record)]]);
  }

  async start(): Promise<void> {
    const { metrics, logger, bus, id } = this.#s;
    const producer = bus.producer();
    this.#consumer = await consumeTopics(this.#s, {
      what: `batch for ${this.#o.input}`,
      failReason: 'write',
      topics: [this.#o.input],
      maxBatch: this.#o.maxBatch,
      handler: async (batch) => {
        const byTable = new Map<string, { rows: object[]; source: BusRecord[] }>();
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          for (const [table, rows] of this.#rowsOf(record)) {
            let t = byTable.get(table);
            if (!t) byTable.set(table, (t = { rows: [], source: [] }));
            for (const row of rows) {
              t.rows.push(row);
              t.source.push(record);
            }
          }
        });
        if (dead) metrics.dlq(dead);
        let written;
        try {
          written = await Promise.all([...byTable].map(async ([table, t]) => ({ table, t, rejected: await this.#batcher(table).write(t.rows) })));
        } catch (err) {
          this.#o.onWriteFailed?.();
          throw err;
        }
        const refused = new Set<BusRecord>();
        let rows = 0;
        let rejectedRows = 0;
        for (const { table, t, rejected } of written) {
          const counted = this.#o.countedTables?.has(table) ?? true;
          if (counted) rows += rowCount(t.rows);
          for (const { index, error, rows: n } of rejected) {
            if (counted) rejectedRows += n ?? 1;
            const record = t.source[index]!;
            if (refused.has(record)) continue;
            refused.add(record);
            if (this.#o.onRefused === 'dlq') await sendToDlq(producer, record, error, id);
            else logger.error({ topic: record.topic, partition: record.partition, offset: record.offset, err: error.message }, `record refused by ${table}`);
          }
        }
        metrics.received(rows);
        // A record sent to the DLQ (undecodable, or refused) may have had rows made for it that were never written.
        if (dead || refused.size) this.#o.onWriteFailed?.();
        if (refused.size) {
          if (this.#o.onRefused === 'dlq') metrics.dlq(refused.size);
          else metrics.dropped('clickhouse_rejected', refused.size);
        }
        metrics.sent(rows - rejectedRows);
      },
    });
  }

  async shutdown(): Promise<void> {
    await stopConsuming(this.#s, this.#consumer);
    await Promise.all([...this.#batchers.values()].map((b) => b.close()));
  }
}

/** A ClickHouse table name, optionally database-qualified. */
export const tableName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/, 'must be a ClickHouse table name ([A-Za-z_][A-Za-z0-9_]*, optionally database.table)');

/** The config of a sink that writes one topic into one table: its topic, its table, its batch size. */
export function tableSinkConfig(input: string, table: string, maxBatch: number) {
  return z
    .object({
      input: topicName.default(input),
      table: tableName.default(table),
      max_batch: z.number().int().positive().default(maxBatch),
    })
    .strict();
}
export type TableSinkConfig = z.infer<ReturnType<typeof tableSinkConfig>>;

/** A sink factory writing each record of `input` as rows of `table`; refused records go to the DLQ unless told otherwise. */
export function tableSinkFactory<C extends TableSinkConfig>(options: {
  type: string;
  configSchema: z.ZodType<C, z.ZodTypeDef, unknown>;
  toRows: (record: BusRecord, config: C, service: Readonly<ServiceConfig>) => object[];
  onRefused?: 'dlq' | 'drop';
}): Factory<C> {
  return {
    kind: 'sink',
    type: options.type,
    configSchema: options.configSchema,
    topics: (c) => ({ consumes: [c.input], produces: [] }),
    create: (settings, c) =>
      new TableSink(settings, {
        input: c.input,
        table: c.table,
        maxBatch: c.max_batch,
        toRows: (r) => options.toRows(r, c, settings.service),
        onRefused: options.onRefused ?? 'dlq',
      }),
  };
}
