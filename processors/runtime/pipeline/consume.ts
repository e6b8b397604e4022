import type { BatchHandler, Consumer } from '../bus/types.js';
import { errorMessage } from '../errors.js';
import type { ComponentSettings } from './component.js';

export interface ConsumeOptions {
  topics: readonly string[];
  maxBatch: number;
  handler: BatchHandler;
  /** Names the batch in the log line when it fails and will be delivered again ("health batch"). */
  what: string;
  /** Reason label of airdig_component_failed_total for a failed batch (default "process"). */
  failReason?: string;
  /** Records the component holds itself, added to its queue depth. */
  pending?: () => number;
  /** The component's work when its input is idle, and its holds after it: see ConsumerOptions.idle. */
  idle?: () => Promise<ReadonlyMap<string, number>>;
  idleMs?: number;
}

/**
 * Joins the component's consumer group (`airdig.<id>`) on its topics, logs and counts failed
 * batches (the bus delivers them again), and reports its queue depth until stopConsuming.
 */
export async function consumeTopics(s: ComponentSettings, o: ConsumeOptions): Promise<Consumer> {
  const consumer = s.bus.consumer({
    groupId: `airdig.${s.id}`,
    topics: o.topics,
    maxBatch: o.maxBatch,
    handler: o.handler,
    ...(o.idle ? { idle: o.idle } : {}),
    ...(o.idleMs ? { idleMs: o.idleMs } : {}),
    onHandlerError: (err, attempt) => {
      s.metrics.failed(o.failReason ?? 'process');
      s.logger.warn({ err: errorMessage(err), attempt }, `${o.what} failed; it will be delivered again`);
    },
  });
  await consumer.start();
  s.metrics.queueDepth(() => consumer.lag() + (o.pending?.() ?? 0));
  return consumer;
}

/** Leaves the group after the batch in hand, and stops reporting the queue depth. */
export async function stopConsuming(s: ComponentSettings, consumer: Consumer | undefined): Promise<void> {
  await consumer?.stop();
  s.metrics.queueDepth(undefined);
}
