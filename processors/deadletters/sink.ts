import { z } from 'zod';
import { DLQ_TOPIC, type BusRecord } from '../runtime/bus/types.js';
import { DlqHeaders, headerString } from '../runtime/bus/dlq.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';

export const DEFAULT_DEAD_LETTERS_TABLE = 'dead_letters';

export const deadLettersConfigSchema = tableSinkConfig(DLQ_TOPIC, DEFAULT_DEAD_LETTERS_TABLE, 1_000);
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

// A dead letter has nowhere further to go: what ClickHouse refuses is counted and logged.
export const deadLettersFactory = tableSinkFactory({
  type: 'dead_letters',
  configSchema: deadLettersConfigSchema,
  toRows: (r) => [deadLetterRow(r)],
  onRefused: 'drop',
});
