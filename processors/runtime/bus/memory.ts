import { BusFullError, AirdigError, ErrorCodes } from '../errors.js';
import { backoffMs, sleep } from '../clock.js';
import { partitionForKey } from './partitioner.js';
import { nextOffsets, partitionKey, type HeldOffsets, type PartitionKey } from '../pipeline/holds.js';
import {
  DEFAULT_MAX_BATCH,
  toKeyBuffer,
  type Bus,
  type BusRecord,
  type ConsumeContext,
  type Consumer,
  type ConsumerOptions,
  type OutMessage,
  type Producer,
  type TopicSpec,
  IDLE_COMMIT_MS,
} from './types.js';
import { memoryBusSchema, type MemoryBusConfig } from '../config/schema.js';
import { DiskLog, type DiskLogOptions, type PartitionLog } from './disklog.js';

/**
 * `service.memory_bus` (max_queued_records and max_queued_bytes: what a partition may hold that some
 * subscribed group has not committed, past which send() rejects with BusFullError; retain_records:
 * committed records a partition keeps for groups that join later); what is not given is the
 * schema's default.
 */
export type MemoryBusOptions = Partial<MemoryBusConfig>;

const MEMORY_BUS_DEFAULTS = memoryBusSchema.parse({});

/** Trimmed slots a partition's array may hold before they are dropped (and at least as many as it holds live). */
const TRIMMED_SLOTS = 1_024;

class Partition {
  /** Offset of the first record held. */
  base = 0;
  /** The offset the next send gets: past `end` while records wait for the log's fsync (consumers see only what is durable). */
  next = 0;
  /**
   * The records held from `#head` on; the slots before it were trimmed (emptied, and dropped once
   * they are many: a copy of the array per trim made most of a busy bus's garbage).
   */
  #records: (BusRecord | undefined)[] = [];
  #head = 0;
  bytes = 0;
  /**
   * A compacted topic's latest record per key (by the key's bytes), tombstones dropped: what the
   * partition holds once compacted, whatever retention trimmed from the records.
   */
  readonly latest: Map<string, BusRecord> | undefined;
  constructor(
    compacted: boolean,
    readonly log: PartitionLog | undefined,
  ) {
    this.latest = compacted ? new Map() : undefined;
  }
  /** How many records are held. */
  get held(): number {
    return this.#records.length - this.#head;
  }
  get end(): number {
    return this.base + this.held;
  }
  /** The record at offset, which base ≤ offset < end. */
  at(offset: number): BusRecord {
    return this.#records[this.#head + offset - this.base]!;
  }
  push(rec: BusRecord): void {
    this.#records.push(rec);
    this.bytes += recordBytes(rec);
  }
  /** A copy of the records held. */
  records(): BusRecord[] {
    return this.#records.slice(this.#head) as BusRecord[];
  }
  /** Holds these records (consecutive offsets from base) instead. */
  replace(records: BusRecord[], base: number): void {
    this.#records = records;
    this.#head = 0;
    this.base = base;
    this.bytes = 0;
    for (const r of records) this.bytes += recordBytes(r);
  }
  /** Drops records below offset. */
  trimTo(offset: number): number {
    const n = Math.min(Math.max(0, offset - this.base), this.held);
    if (n === 0) return 0;
    const records = this.#records;
    for (let i = this.#head; i < this.#head + n; i++) {
      this.bytes -= recordBytes(records[i]!);
      records[i] = undefined;
    }
    this.#head += n;
    this.base += n;
    if (this.#head >= TRIMMED_SLOTS && this.#head >= this.held) {
      records.copyWithin(0, this.#head);
      records.length -= this.#head;
      this.#head = 0;
    }
    return n;
  }
}

class Topic {
  readonly partitions: Partition[];
  /** Groups that ever subscribed: data they have not committed is kept for them. */
  readonly groups = new Set<Group>();
  #rr = 0;
  #waiters = new Set<() => void>();
  constructor(
    readonly name: string,
    partitions: number,
    readonly compacted = false,
    log?: DiskLog,
  ) {
    this.partitions = Array.from({ length: partitions }, (_, p) => new Partition(compacted, log?.partition(name, p)));
  }
  choosePartition(msg: OutMessage, key: Buffer | null): number {
    if (msg.partition !== undefined) {
      if (msg.partition < 0 || msg.partition >= this.partitions.length) {
        throw new AirdigError(ErrorCodes.BUS_UNAVAILABLE, `topic ${this.name} has no partition ${msg.partition}`);
      }
      return msg.partition;
    }
    if (key) return partitionForKey(key, this.partitions.length);
    this.#rr = (this.#rr + 1) % this.partitions.length;
    return this.#rr;
  }
  lowestCommitted(partition: number): number | undefined {
    let low: number | undefined;
    for (const g of this.groups) {
      const c = g.committed(this.name, partition);
      if (low === undefined || c < low) low = c;
    }
    return low;
  }
  wait(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.#waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.#waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
  notify(): void {
    for (const w of [...this.#waiters]) w();
  }
}

type Committed = { topic: string; partition: number; offset: number };

class Group {
  readonly #committed = new Map<PartitionKey, Committed>();
  readonly members: MemoryConsumer[] = [];
  constructor(
    readonly id: string,
    readonly log: DiskLog | undefined,
  ) {}
  committed(topic: string, partition: number): number {
    return this.#committed.get(partitionKey(topic, partition))?.offset ?? 0;
  }
  commit(topic: string, partition: number, offset: number): void {
    const k = partitionKey(topic, partition);
    if ((this.#committed.get(k)?.offset ?? 0) >= offset) return;
    this.#committed.set(k, { topic, partition, offset });
    this.#persist();
  }
  /** A consumer of the group reads these partitions: persisted at once (at offset 0 if new), so the log keeps their records for it across a restart. */
  subscribe(topic: Topic): void {
    let added = false;
    for (let p = 0; p < topic.partitions.length; p++) {
      const k = partitionKey(topic.name, p);
      if (this.#committed.has(k)) continue;
      this.#committed.set(k, { topic: topic.name, partition: p, offset: 0 });
      added = true;
    }
    if (added) this.#persist();
  }
  /** A commit read back from the log when the bus opens. */
  restore(c: Committed): void {
    this.#committed.set(partitionKey(c.topic, c.partition), { ...c });
  }
  #persist(): void {
    // A commit that does not reach the disk before a crash only means records are delivered again.
    this.log?.saveCommits(this.id, new Map(this.#committed)).catch(() => undefined);
  }
}

const EMPTY = Buffer.alloc(0);

function recordBytes(r: BusRecord): number {
  return r.value.length + (r.key?.length ?? 0);
}

/**
 * Kafka's semantics in one process: keyed partitions, order per partition, offsets, consumer groups,
 * redelivery of what was not committed. Constructed directly it keeps everything in memory;
 * MemoryBus.open() backs it with a DiskLog: send() resolves once its records are on disk, consumers
 * still read from memory, and reopening restores topics, commits and records from the log.
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory' as const;
  readonly #topics = new Map<string, Topic>();
  readonly #groups = new Map<string, Group>();
  readonly #maxRecords: number;
  readonly #maxBytes: number;
  readonly #retain: number;
  #closed = false;
  readonly #producer: Producer;
  readonly #log: DiskLog | undefined;

  /**
   * The durable bus in `dir` (created if missing): what an earlier process wrote there is read back
   * (records from the lowest committed offset of the groups that read them, the latest record per
   * key of compacted topics, the commits), a torn last record cut off.
   */
  static async open(dir: string, options: MemoryBusOptions = {}, logOptions: DiskLogOptions = {}): Promise<MemoryBus> {
    const log = await DiskLog.open(dir, logOptions);
    const bus = new MemoryBus(options, log);
    try {
      await bus.#restore();
    } catch (err) {
      await log.close();
      throw err;
    }
    return bus;
  }

  /** The disk log behind the bus, when it has one (tests and maintenance). */
  get log(): DiskLog | undefined {
    return this.#log;
  }

  /** Topics created on first use (not declared with ensureTopics) have one partition. */
  constructor(options: MemoryBusOptions = {}, log?: DiskLog) {
    this.#log = log;
    const c = { ...MEMORY_BUS_DEFAULTS, ...options };
    this.#maxRecords = c.max_queued_records;
    this.#maxBytes = c.max_queued_bytes;
    this.#retain = c.retain_records;
    this.#producer = { send: (topic, messages) => this.#send(topic, messages) };
  }

  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    const defined: Promise<void>[] = [];
    for (const s of specs) {
      if (this.#topics.has(s.name)) continue;
      const partitions = Math.max(1, s.partitions);
      this.#topics.set(s.name, new Topic(s.name, partitions, s.compacted ?? false, this.#log));
      const meta = { partitions, compacted: s.compacted ?? false, ...(s.retentionMs === undefined ? {} : { retentionMs: s.retentionMs }) };
      if (this.#log) defined.push(this.#log.defineTopic(s.name, meta));
    }
    await Promise.all(defined);
  }

  producer(): Producer {
    return this.#producer;
  }

  consumer(options: ConsumerOptions): Consumer {
    return new MemoryConsumer(this, options);
  }

  async readToEnd(topicName: string, onRecord: (r: BusRecord) => void): Promise<void> {
    if (this.#closed) throw new AirdigError(ErrorCodes.BUS_CLOSED, 'in-process bus is closed');
    const topic = this.topic(topicName);
    for (const part of topic.partitions) {
      // A compacted partition reads as Kafka's would once compacted: the latest record per key, in offset order.
      const records = part.latest ? [...part.latest.values()].sort((a, b) => a.offset - b.offset) : part.records();
      for (const r of records) onRecord(r);
    }
  }

  async ping(): Promise<void> {
    if (this.#closed) throw new AirdigError(ErrorCodes.BUS_CLOSED, 'in-process bus is closed');
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const t of this.#topics.values()) t.notify();
    await this.#log?.close();
  }

  /** Records held per topic and partition: end offset and the lowest committed offset of any group. */
  describe(): { topic: string; partition: number; end: number; held: number }[] {
    const out = [];
    for (const t of this.#topics.values()) {
      for (let p = 0; p < t.partitions.length; p++) {
        out.push({ topic: t.name, partition: p, end: t.partitions[p]!.end, held: t.partitions[p]!.held });
      }
    }
    return out;
  }

  topic(name: string): Topic {
    let t = this.#topics.get(name);
    if (!t) {
      t = new Topic(name, 1, false, this.#log);
      this.#topics.set(name, t);
      // Awaited by the first send that writes to it (#send), so no acknowledged record is in a topic the log does not know.
      void this.#log?.defineTopic(name, { partitions: 1, compacted: false }).catch(() => undefined);
    }
    return t;
  }

  group(id: string): Group {
    let g = this.#groups.get(id);
    if (!g) {
      g = new Group(id, this.#log);
      this.#groups.set(id, g);
    }
    return g;
  }

  get closed(): boolean {
    return this.#closed;
  }

  async #send(topicName: string, messages: readonly OutMessage[]): Promise<void> {
    if (this.#closed) throw new AirdigError(ErrorCodes.BUS_CLOSED, 'in-process bus is closed');
    const topic = this.topic(topicName);
    // Place every message first, so a send that does not fit is refused whole and nothing is half-written.
    // Side by side rather than an object per message: a send of thousands of records made as many objects to hold while they wait for the log.
    const partitions: number[] = [];
    const keys: (Buffer | null)[] = [];
    const extraRecords = new Map<number, number>();
    const extraBytes = new Map<number, number>();
    for (const msg of messages) {
      const key = toKeyBuffer(msg.key);
      if (topic.compacted && !key) throw new AirdigError(ErrorCodes.BUS_UNAVAILABLE, `compacted topic ${topicName} takes only records with a key`);
      const p = topic.choosePartition(msg, key);
      partitions.push(p);
      keys.push(key);
      extraRecords.set(p, (extraRecords.get(p) ?? 0) + 1);
      extraBytes.set(p, (extraBytes.get(p) ?? 0) + (msg.value?.length ?? 0) + (key?.length ?? 0));
    }
    for (const [p, n] of extraRecords) {
      const part = topic.partitions[p]!;
      const bytes = extraBytes.get(p)!;
      const committed = topic.lowestCommitted(p) ?? part.next;
      if (part.bytes + bytes > this.#maxBytes) part.trimTo(committed); // make room from what every group has read
      const uncommitted = part.next - committed;
      if (uncommitted + n > this.#maxRecords || part.bytes + bytes > this.#maxBytes) {
        throw new BusFullError(
          `in-process topic ${topicName} partition ${p} holds ${uncommitted} uncommitted records (${part.bytes} bytes); limit ${this.#maxRecords} records, ${this.#maxBytes} bytes`,
        );
      }
    }
    const now = Date.now();
    const byPartition = new Map<number, BusRecord[]>();
    const tombstones = new Set<BusRecord>();
    for (let i = 0; i < messages.length; i++) {
      const msg = messages[i]!;
      const p = partitions[i]!;
      const key = keys[i]!;
      const part = topic.partitions[p]!;
      const rec: BusRecord = {
        topic: topicName,
        partition: p,
        offset: part.next++,
        key,
        value: msg.value ?? EMPTY,
        headers: msg.headers ?? {},
        timestamp: msg.timestamp ?? now,
      };
      if (msg.value === null) tombstones.add(rec);
      (byPartition.get(p) ?? byPartition.set(p, []).get(p)!).push(rec);
    }
    const log = this.#log;
    if (!log) {
      for (const [p, recs] of byPartition) this.#publish(topic, p, recs, tombstones);
      return;
    }
    const written: Promise<void>[] = [log.defineTopic(topicName, { partitions: topic.partitions.length, compacted: topic.compacted })];
    for (const [p, recs] of byPartition) {
      const part = topic.partitions[p]!;
      // Published in the log's append order, so records reach memory in offset order whichever send resolves first.
      written.push(log.append(part.log!, recs, tombstones, () => this.#publish(topic, p, recs, tombstones)));
    }
    await Promise.all(written);
  }

  /** Makes records visible to consumers (durable ones, with a log). */
  #publish(topic: Topic, p: number, recs: readonly BusRecord[], tombstones: ReadonlySet<BusRecord>): void {
    const part = topic.partitions[p]!;
    for (const rec of recs) {
      part.push(rec);
      if (part.latest) {
        if (tombstones.has(rec)) part.latest.delete(rec.key!.toString('latin1'));
        else part.latest.set(rec.key!.toString('latin1'), rec);
      }
    }
    this.trim(topic, p);
    topic.notify();
  }

  /** Reads the log back: topics, the groups' commits, then each partition's records from where its groups stand. */
  async #restore(): Promise<void> {
    const log = this.#log!;
    for (const [name, meta] of log.topics) this.#topics.set(name, new Topic(name, meta.partitions, meta.compacted, log));
    // The lowest commit per partition: memory holds from there. A group joins a topic's groups (and
    // holds its records back from trimming) when a consumer of it starts again, so a group that
    // no longer runs does not keep the bus full after a restart.
    const lowest = new Map<PartitionKey, number>();
    for (const [id, offsets] of log.committed()) {
      const group = this.group(id);
      for (const [k, c] of offsets) {
        const part = this.#topics.get(c.topic)?.partitions[c.partition];
        if (!part) continue;
        // With fsync 'never' a commit can be ahead of what reached the disk.
        const offset = Math.min(c.offset, part.log!.end);
        group.restore({ ...c, offset });
        lowest.set(k, Math.min(lowest.get(k) ?? offset, offset));
      }
    }
    for (const topic of this.#topics.values()) {
      for (let p = 0; p < topic.partitions.length; p++) {
        const part = topic.partitions[p]!;
        const end = part.log!.end;
        // A group more than max_queued_records behind could not have been (sends past it are refused).
        const from = Math.max(0, end - this.#maxRecords, Math.min(lowest.get(partitionKey(topic.name, p)) ?? end, end - this.#retain));
        const records: BusRecord[] = [];
        // A compacted topic is read whole, for its latest record per key; others from `from`.
        await part.log!.read(topic.compacted ? 0 : from, (r) => {
          const rec: BusRecord = {
            topic: topic.name,
            partition: p,
            offset: r.offset,
            key: r.key,
            value: r.value ?? EMPTY,
            headers: r.headers,
            timestamp: r.timestamp,
          };
          if (part.latest && r.key) {
            if (r.value === null) part.latest.delete(r.key.toString('latin1'));
            else part.latest.set(r.key.toString('latin1'), rec);
          }
          if (r.offset < from) return;
          // Below every commit, compaction leaves gaps: memory holds the contiguous tail only.
          if (records.length > 0 && records.at(-1)!.offset + 1 !== r.offset) records.length = 0;
          records.push(rec);
        });
        if (records.length > 0 && records.at(-1)!.offset + 1 !== end) records.length = 0;
        part.replace(records, records[0]?.offset ?? end);
        part.next = end;
      }
    }
  }

  /**
   * Retention: a partition keeps what some group has not committed, plus up to retainRecords of the
   * newest committed ones, so a group that joins later still finds recent history (Kafka keeps data by
   * time and size, not by commits; in memory, size is what matters).
   */
  trim(topic: Topic, partition: number): void {
    const part = topic.partitions[partition]!;
    const committed = topic.lowestCommitted(partition) ?? part.end;
    part.trimTo(Math.min(committed, part.end - this.#retain));
  }

  rebalance(group: Group): void {
    const byTopic = new Map<string, MemoryConsumer[]>();
    for (const m of group.members) for (const t of m.topics) (byTopic.get(t) ?? byTopic.set(t, []).get(t)!).push(m);
    const next = new Map<MemoryConsumer, { topic: string; partition: number }[]>();
    for (const m of group.members) next.set(m, []);
    for (const [t, members] of byTopic) {
      const topic = this.topic(t);
      for (let p = 0; p < topic.partitions.length; p++) next.get(members[p % members.length]!)!.push({ topic: t, partition: p });
    }
    for (const [m, assignment] of next) m.assign(assignment);
  }
}

class MemoryConsumer implements Consumer {
  readonly topics: readonly string[];
  readonly #bus: MemoryBus;
  readonly #opts: ConsumerOptions;
  readonly #group: Group;
  #assignment: { topic: string; partition: number }[] = [];
  /** Next offset to read, per partition. */
  #positions = new Map<PartitionKey, number>();
  #holds: HeldOffsets = new Map();
  /** The next offset of each partition after what the handler has handled. */
  readonly #handled = new Map<PartitionKey, { topic: string; partition: number; offset: number }>();
  #abort = new AbortController();
  #loop: Promise<void> | undefined;
  #state: 'new' | 'running' | 'stopped' = 'new';

  constructor(bus: MemoryBus, opts: ConsumerOptions) {
    this.#bus = bus;
    this.#opts = opts;
    this.topics = [...opts.topics];
    this.#group = bus.group(opts.groupId);
  }

  assign(assignment: { topic: string; partition: number }[]): void {
    this.#assignment = assignment;
    const positions = new Map<PartitionKey, number>();
    for (const a of assignment) {
      const k = partitionKey(a.topic, a.partition);
      positions.set(k, this.#positions.get(k) ?? this.#group.committed(a.topic, a.partition));
    }
    this.#positions = positions;
    for (const t of this.topics) this.#bus.topic(t).notify();
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    for (const t of this.topics) {
      const topic = this.#bus.topic(t);
      topic.groups.add(this.#group);
      this.#group.subscribe(topic);
    }
    this.#group.members.push(this);
    this.#bus.rebalance(this.#group);
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    if (this.#state !== 'running') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    this.#abort.abort();
    await this.#loop;
    const i = this.#group.members.indexOf(this);
    if (i >= 0) this.#group.members.splice(i, 1);
    this.#bus.rebalance(this.#group);
  }

  lag(): number {
    let lag = 0;
    for (const a of this.#assignment) {
      lag += this.#bus.topic(a.topic).partitions[a.partition]!.end - this.#group.committed(a.topic, a.partition);
    }
    return lag;
  }

  /**
   * Until a record reaches one of the topics, the consumer stops, or (with opts.idle) it has been
   * idle for idleMs: true then. The waits on the topics that
   * did not wake it end too: left pending, one more per turn would pile up on every topic that
   * stays silent while another one is busy (the engine's drift input, say), for as long as it does.
   */
  async #waitForRecords(signal: AbortSignal): Promise<boolean> {
    const woken = new AbortController();
    const stop = () => woken.abort();
    signal.addEventListener('abort', stop, { once: true });
    let idle = false;
    const timer = this.#opts.idle
      ? setTimeout(() => {
          idle = true;
          woken.abort();
        }, this.#opts.idleMs ?? IDLE_COMMIT_MS)
      : undefined;
    try {
      await Promise.race(this.topics.map((t) => this.#bus.topic(t).wait(woken.signal)));
    } finally {
      clearTimeout(timer);
      signal.removeEventListener('abort', stop);
      woken.abort();
    }
    return idle;
  }

  async #run(): Promise<void> {
    const max = this.#opts.maxBatch ?? DEFAULT_MAX_BATCH;
    const signal = this.#abort.signal;
    let attempt = 0;
    const ctx: ConsumeContext = {
      setHolds: (held) => {
        this.#holds = new Map(held);
      },
    };
    while (!signal.aborted && !this.#bus.closed) {
      const batch = this.#take(max);
      if (batch.length === 0) {
        if (await this.#waitForRecords(signal)) await this.#commitIdle();
        continue;
      }
      // Deliver the same batch until the handler succeeds: nothing is committed past unwritten output.
      for (;;) {
        try {
          await this.#opts.handler(batch, ctx);
          attempt = 0;
          this.#commit(batch);
          break;
        } catch (err) {
          this.#opts.onHandlerError?.(err, attempt);
          await sleep(backoffMs(attempt++, 50, 5_000), signal);
          if (signal.aborted) break;
        }
      }
    }
  }

  #take(max: number): BusRecord[] {
    const batch: BusRecord[] = [];
    for (const a of this.#assignment) {
      if (batch.length >= max) break;
      const k = partitionKey(a.topic, a.partition);
      const part = this.#bus.topic(a.topic).partitions[a.partition]!;
      let pos = Math.max(this.#positions.get(k) ?? 0, part.base);
      while (pos < part.end && batch.length < max) batch.push(part.at(pos++));
      this.#positions.set(k, pos);
    }
    return batch;
  }

  #commit(batch: readonly BusRecord[]): void {
    const next = nextOffsets(batch);
    for (const [k, c] of next) this.#handled.set(k, c);
    this.#commitUpTo(next);
  }

  /** After idleMs without records: the component's idle work, then everything handled committed up to its holds. */
  async #commitIdle(): Promise<void> {
    try {
      this.#holds = new Map(await this.#opts.idle!());
    } catch (err) {
      this.#opts.onHandlerError?.(err, 0);
      return;
    }
    this.#commitUpTo(this.#handled);
  }

  #commitUpTo(positions: ReadonlyMap<PartitionKey, { topic: string; partition: number; offset: number }>): void {
    for (const [k, c] of positions) {
      const hold = this.#holds.get(k);
      const offset = hold === undefined ? c.offset : Math.min(hold, c.offset);
      if (offset <= this.#group.committed(c.topic, c.partition)) continue;
      this.#group.commit(c.topic, c.partition, offset);
      this.#bus.trim(this.#bus.topic(c.topic), c.partition);
    }
  }
}
