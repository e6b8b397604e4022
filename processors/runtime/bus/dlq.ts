import { errorMessage, isRetryable } from '../errors.js';
import { DLQ_TOPIC, type BusRecord, type Producer } from './types.js';

/** Header names on airdig.dlq records. */
export const DlqHeaders = {
  sourceTopic: 'airdig.source.topic',
  sourcePartition: 'airdig.source.partition',
  sourceOffset: 'airdig.source.offset',
  error: 'airdig.error',
  errorCode: 'airdig.error.code',
  component: 'airdig.component',
} as const;

/** Sends the record's original key and bytes to airdig.dlq, with headers naming where it came from and why it failed. */
export async function sendToDlq(producer: Producer, record: BusRecord, err: unknown, component: string): Promise<void> {
  const code = (err as { code?: unknown })?.code;
  await producer.send(DLQ_TOPIC, [
    {
      key: record.key,
      value: record.value,
      headers: {
        ...record.headers,
        [DlqHeaders.sourceTopic]: record.topic,
        [DlqHeaders.sourcePartition]: String(record.partition),
        [DlqHeaders.sourceOffset]: String(record.offset),
        [DlqHeaders.error]: errorMessage(err).slice(0, 4_096),
        [DlqHeaders.errorCode]: typeof code === 'string' || typeof code === 'number' ? String(code) : 'unknown',
        [DlqHeaders.component]: component,
      },
    },
  ]);
}

/**
 * Runs fn on each record. A record that fails with a permanent error goes to the DLQ and the batch
 * goes on; a retryable error fails the whole batch so the bus delivers it again.
 * Returns how many records went to the DLQ.
 */
export async function eachRecordOrDlq(
  batch: readonly BusRecord[],
  producer: Producer,
  component: string,
  fn: (record: BusRecord) => void | Promise<void>,
): Promise<number> {
  let dead = 0;
  for (const record of batch) {
    try {
      await fn(record);
    } catch (err) {
      if (isRetryable(err)) throw err;
      await sendToDlq(producer, record, err, component);
      dead++;
    }
  }
  return dead;
}

export function headerString(headers: BusRecord['headers'], name: string): string | undefined {
  const v = headers[name];
  if (v === undefined) return undefined;
  return typeof v === 'string' ? v : v.toString('utf8');
}
