/**
 * Commit holds: a processor that keeps records of a window (or a scan, or half an edge) in memory
 * until it is complete tells the bus the lowest offset of each partition it still needs
 * (ConsumeContext.setHolds), and commits stay at or below it, so that after a crash the records are
 * read again. This module is the one place that spells a partition and an origin.
 */

/** A partition as holds name it: "topic\0partition" (partitionKey). */
export type PartitionKey = string;

/** The lowest offset still needed, by partition: what ConsumeContext.setHolds takes. */
export type HeldOffsets = Map<PartitionKey, number>;

export function partitionKey(topic: string, partition: number): PartitionKey {
  return `${topic}\u0000${partition}`;
}

/** A partition and an offset in it, as commits name them. */
export interface PartitionOffset {
  topic: string;
  partition: number;
  offset: number;
}

/**
 * The offset after the last record of each partition in a batch: what committing the batch commits.
 * A batch holds its partitions one run after another, so there is one entry per run, not per record.
 */
export function nextOffsets(batch: readonly Origin[]): Map<PartitionKey, PartitionOffset> {
  const next = new Map<PartitionKey, PartitionOffset>();
  for (let i = 0; i < batch.length; i++) {
    const r = batch[i]!;
    const after = batch[i + 1];
    if (after && after.partition === r.partition && after.topic === r.topic) continue;
    next.set(partitionKey(r.topic, r.partition), { topic: r.topic, partition: r.partition, offset: r.offset + 1 });
  }
  return next;
}

/** Where a record came from. A BusRecord is one. */
export interface Origin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** An origin whose partition is kept as its key (trackers that compare partitions, never read them). */
export interface KeyedOrigin {
  readonly at: PartitionKey;
  readonly offset: number;
}

/** Where a record came from, copied: what a window keeps, not the record and its value. */
export function originOf(r: Origin): Origin {
  return { topic: r.topic, partition: r.partition, offset: r.offset };
}

export function keyedOrigin(o: Origin): KeyedOrigin {
  return { at: partitionKey(o.topic, o.partition), offset: o.offset };
}

/** Collects the lowest held offset per partition from origins: `new Holds()`, hold() each, then offsets. */
export class Holds {
  readonly offsets: HeldOffsets = new Map();

  /** Holds the origin's offset in its partition, unless a lower one is held there already; undefined holds nothing. */
  hold(o: Origin | KeyedOrigin | undefined): this {
    if (!o) return this;
    const k = 'at' in o ? o.at : partitionKey(o.topic, o.partition);
    const cur = this.offsets.get(k);
    if (cur === undefined || o.offset < cur) this.offsets.set(k, o.offset);
    return this;
  }
}
