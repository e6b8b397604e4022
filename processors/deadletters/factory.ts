import { z } from 'zod';
import { DLQ_TOPIC, type BusRecord } from '../runtime/bus/types.js';
import { DlqHeaders, headerString } from '../runtime/bus/dlq.js';
import { topicName } from '../runtime/config/schema.js';
import type { Factory } from '../runtime/pipeline/component.js';
import { TableSink } from '../runtime/pipeline/table-sink.js';

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

export const deadLettersFactory: Factory<DeadLettersConfig> = {
  kind: 'sink',
  type: 'dead_letters',
  configSchema: deadLettersConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  // A dead letter has nowhere further to go: what ClickHouse refuses is counted and logged.
  create: (settings, config) =>
    new TableSink<DeadLetterRow>(settings, { input: config.input, table: config.table, maxBatch: config.max_batch, toRows: (r) => [deadLetterRow(r)], onRefused: 'drop' }),
};
