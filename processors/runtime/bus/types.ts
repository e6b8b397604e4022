/**
 * The bus: Kafka's model (topics, keyed partitions, offsets, consumer groups, at-least-once),
 * implemented once on a real broker (kafka.ts) and once in-process (memory.ts).
 */
import type { PartitionKey } from '../pipeline/holds.js';

export type Headers = Record<string, string | Buffer>;

/** A record as a consumer sees it. Offsets are numbers: 2^53 records per partition is enough. */
export interface BusRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  readonly key: Buffer | null;
  readonly value: Buffer;
  readonly headers: Headers;
  readonly timestamp: number;
}

export interface OutMessage {
  key?: Buffer | string | null;
  /** null is a tombstone: on a compacted topic it deletes the key; consumers see an empty value. */
  value: Buffer | null;
  headers?: Headers;
  /** Explicit partition; otherwise chosen from the key (murmur2, as Kafka's Java clients do) or round robin. */
  partition?: number;
  timestamp?: number;
}

export interface TopicSpec {
  name: string;
  partitions: number;
  /** cleanup.policy=compact: the latest record per key is kept, a tombstone (null value) deletes it; records need a key. */
  compacted?: boolean;
  /** Retention in milliseconds; undefined leaves the broker default. */
  retentionMs?: number;
}

export interface Producer {
  /** Resolves once every message is durably accepted (acks=all on Kafka); rejects with a retryable BusFullError under pressure. */
  send(topic: string, messages: readonly OutMessage[]): Promise<void>;
}

export interface ConsumeContext {
  /**
   * The lowest offset of each partition that open windows still need, by partitionKey (see
   * pipeline/holds.ts): commits stay at or below it (stateless processors rebuild their windows
   * from Kafka after a crash). Replaces the holds given before; a partition not listed is released.
   */
  setHolds(held: ReadonlyMap<PartitionKey, number>): void;
}

export type BatchHandler = (batch: readonly BusRecord[], ctx: ConsumeContext) => Promise<void>;

export interface ConsumerOptions {
  groupId: string;
  topics: readonly string[];
  handler: BatchHandler;
  /** Most records handed to one handler call. */
  maxBatch?: number;
  /** Called when the handler failed and the batch will be delivered again. */
  onHandlerError?: (err: unknown, attempt: number) => void;
  /**
   * Called in the consumer's loop (never beside the handler) when no record has come for `idleMs`:
   * the component's timed work (windows the clock closed: expired and their output sent), then the
   * holds as they are after it. What was handled is committed up to them, so a quiet input does not
   * stay behind until the next batch. Throwing skips that commit.
   */
  idle?: () => Promise<ReadonlyMap<PartitionKey, number>>;
  /** How long without records before idle() (default IDLE_COMMIT_MS). */
  idleMs?: number;
}

/** How long a consumer waits without records before idle() by default. */
export const IDLE_COMMIT_MS = 1_000;

export interface Consumer {
  /** Joins the group; records flow to the handler until stop(). */
  start(): Promise<void>;
  /** Leaves the group after the batch in hand is handled and committed. Safe to call twice. */
  stop(): Promise<void>;
  /** Records available to this consumer and not yet committed, over its assigned partitions. */
  lag(): number;
}

export interface Bus {
  readonly kind: 'memory' | 'kafka';
  /** Creates missing topics; existing ones are left as they are. */
  ensureTopics(specs: readonly TopicSpec[]): Promise<void>;
  producer(): Producer;
  consumer(options: ConsumerOptions): Consumer;
  /**
   * Reads a topic from its beginning to the end offsets it has when called, outside any consumer
   * group, in offset order per partition (a state store's restore). On a compacted topic this gives
   * at least the latest record per key (compaction may not have run yet, and deleted keys may still
   * show their tombstone): apply them in order, the last one per key wins.
   */
  readToEnd(topic: string, onRecord: (r: BusRecord) => void): Promise<void>;
  /** Waits until the bus answers (broker metadata) or throws a retryable error. */
  ping(): Promise<void>;
  /** Why the bus cannot take records now (its broker does not answer), undefined while it can. */
  unavailable?(): string | undefined;
  close(): Promise<void>;
}

export const DEFAULT_MAX_BATCH = 1_000;
export const DLQ_TOPIC = 'airdig.dlq';

export function toKeyBuffer(key: Buffer | string | null | undefined): Buffer | null {
  if (key === undefined || key === null) return null;
  return typeof key === 'string' ? Buffer.from(key) : key;
}
