import Kafka from 'node-rdkafka';
import { BusFullError, BusUnavailableError, AirdigError, ErrorCodes } from '../errors.js';
import { backoffMs, sleep } from '../clock.js';
import { nextOffsets, partitionKey, type HeldOffsets, type PartitionKey } from '../pipeline/holds.js';
import {
  DEFAULT_MAX_BATCH,
  toKeyBuffer,
  type Bus,
  type BusRecord,
  type ConsumeContext,
  type Consumer,
  type ConsumerOptions,
  type Headers,
  type OutMessage,
  type Producer,
  type TopicSpec,
  IDLE_COMMIT_MS,
} from './types.js';
import { kafkaSchema, type KafkaConfig } from '../config/schema.js';
import { BrokerWatch } from './broker-watch.js';

/** `service.kafka` (brokers: a comma-separated host:port list), and the client id; what is not given is the schema's default. */
export type KafkaBusOptions = Partial<KafkaConfig> & {
  brokers: string;
  clientId?: string;
  /** Told when the broker stops answering (with why) and when it answers again (undefined). */
  onBrokerChange?: (down: string | undefined) => void;
  /** Told of librdkafka's error events (a client's connection lost, a fatal producer error), one of each error code per client at most once per CLIENT_ERROR_REPEAT_MS. */
  onClientError?: (what: string, message: string, fatal: boolean) => void;
};

/** An error code of one client is told once in this long (librdkafka repeats its errors on each reconnect). */
const CLIENT_ERROR_REPEAT_MS = 10_000;

const KAFKA_DEFAULTS = kafkaSchema.parse({});

const ERR_TOPIC_ALREADY_EXISTS = 36;
const ERR_QUEUE_FULL = -184;
/** The gap between records that ends a batch (see setDefaultConsumeTimeout below). */
const CONSUME_GAP_MS = 100;
/** librdkafka's wait for more records before a produce request (its default is 5 ms). */
const PRODUCER_LINGER_MS = 1;
/** Poll interval while no delivery report is awaited. */
const IDLE_POLL_MS = 100;

interface PendingSend {
  remaining: number;
  error: unknown;
  resolve: () => void;
  reject: (err: unknown) => void;
}

function connect<T extends Kafka.Producer | Kafka.KafkaConsumer>(client: T, timeoutMs: number, what: string): Promise<T> {
  return new Promise((resolve, reject) => {
    client.connect({ timeout: timeoutMs }, (err) => {
      if (err) reject(new BusUnavailableError(`cannot connect ${what} to Kafka: ${err.message}`, err));
      else resolve(client);
    });
  });
}

function toRdkafkaHeaders(headers: Headers | undefined): Kafka.MessageHeader[] | undefined {
  if (!headers) return undefined;
  const out: Kafka.MessageHeader[] = [];
  for (const [k, v] of Object.entries(headers)) out.push({ [k]: v });
  return out;
}

function fromRdkafkaHeaders(headers: Kafka.MessageHeader[] | undefined): Headers {
  const out: Headers = {};
  if (!headers) return out;
  for (const h of headers) for (const [k, v] of Object.entries(h)) out[k] = Buffer.isBuffer(v) ? v : Buffer.from(String(v));
  return out;
}

function toBusRecord(m: Kafka.Message): BusRecord {
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key === undefined || m.key === null ? null : Buffer.isBuffer(m.key) ? m.key : Buffer.from(m.key),
    value: m.value ?? Buffer.alloc(0),
    headers: fromRdkafkaHeaders(m.headers),
    timestamp: m.timestamp ?? Date.now(),
  };
}

/** The bus on a real Kafka broker through librdkafka: idempotent producer, cooperative-sticky groups, manual commits. */
export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  readonly #opts: KafkaConfig & Pick<KafkaBusOptions, 'onBrokerChange' | 'onClientError'> & { clientId: string };
  readonly #toldErrors = new Map<string, number>();
  #producer: Promise<Kafka.Producer> | undefined;
  /** Records produced and not yet reported delivered or failed. */
  #inFlight = 0;
  #pollTimer: NodeJS.Timeout | undefined;
  readonly #consumers = new Set<KafkaConsumer>();
  #closed = false;
  #watch: BrokerWatch | undefined;

  constructor(options: KafkaBusOptions) {
    this.#opts = { ...KAFKA_DEFAULTS, clientId: 'airdig', ...options };
  }

  /** Passes a client's error events to onClientError, one of each error code at most once per CLIENT_ERROR_REPEAT_MS. */
  tellErrors(client: Kafka.Producer | Kafka.KafkaConsumer, what: string): void {
    (client as Kafka.Producer).on('event.error', (err: Kafka.LibrdKafkaError) => {
      const fatal = Boolean(err.isFatal);
      // By error code, not text: librdkafka's texts carry times and counts, so every one would differ
      // (no repeat held back, and one entry more per message for as long as the bus lives).
      const key = `${what}\0${err.code}`;
      const now = Date.now();
      if (!fatal && now - (this.#toldErrors.get(key) ?? -Infinity) < CLIENT_ERROR_REPEAT_MS) return;
      this.#toldErrors.set(key, now);
      this.#opts.onClientError?.(what, err.message, fatal);
    });
  }

  get options(): Readonly<KafkaConfig & { clientId: string }> {
    return this.#opts;
  }

  baseConfig(): Record<string, string | number | boolean> {
    return {
      'metadata.broker.list': this.#opts.brokers,
      'client.id': this.#opts.clientId,
      'log.connection.close': false,
      // After an outage the broker is dialled again within a second of being back (librdkafka's default backs off to 10 s).
      'reconnect.backoff.max.ms': 1_000,
      ...this.#opts.librdkafka,
    };
  }

  async ensureTopics(specs: readonly TopicSpec[]): Promise<void> {
    const admin = Kafka.AdminClient.create(this.baseConfig() as Kafka.GlobalConfig);
    try {
      for (const s of specs) {
        const config: Record<string, string> = {};
        if (s.compacted) config['cleanup.policy'] = 'compact';
        if (s.retentionMs !== undefined) config['retention.ms'] = String(s.retentionMs);
        await new Promise<void>((resolve, reject) => {
          admin.createTopic(
            { topic: s.name, num_partitions: s.partitions, replication_factor: this.#opts.replication_factor, config },
            this.#opts.connect_timeout_ms,
            (err) => {
              if (!err || err.code === ERR_TOPIC_ALREADY_EXISTS) resolve();
              else reject(new BusUnavailableError(`cannot create topic ${s.name}: ${err.message}`, err));
            },
          );
        });
      }
    } finally {
      admin.disconnect();
    }
  }

  async ping(): Promise<void> {
    const p = await this.#getProducer();
    await new Promise<void>((resolve, reject) => {
      p.getMetadata({ timeout: this.#opts.connect_timeout_ms, allTopics: false } as Kafka.MetadataOptions, (err) => {
        if (err) reject(new BusUnavailableError(`Kafka metadata request failed: ${err.message}`, err));
        else resolve();
      });
    });
  }

  producer(): Producer {
    return { send: (topic, messages) => (this.#watch ? this.#watch.guard(() => this.#send(topic, messages)) : this.#send(topic, messages)) };
  }

  /** Why the broker counts as down (it does not answer metadata requests), or undefined. */
  unavailable(): string | undefined {
    return this.#watch?.down;
  }

  consumer(options: ConsumerOptions): Consumer {
    const c = new KafkaConsumer(this, options);
    this.#consumers.add(c);
    return c;
  }

  async readToEnd(topic: string, onRecord: (r: BusRecord) => void): Promise<void> {
    const timeout = this.#opts.connect_timeout_ms;
    // No group is joined (assign, not subscribe) and nothing is committed: the group id only satisfies librdkafka.
    const client = new Kafka.KafkaConsumer(
      {
        ...this.baseConfig(),
        'group.id': `${this.#opts.clientId}.read-to-end`,
        'enable.auto.commit': false,
        'enable.auto.offset.store': false,
        'fetch.wait.max.ms': 50,
      } as Kafka.ConsumerGlobalConfig,
      { 'auto.offset.reset': 'earliest' },
    );
    await connect(client, timeout, `reader of ${topic}`);
    try {
      // A topic created a moment ago may have no leader yet: ask again for a while.
      let found: { ends: Map<number, number>; assignment: Kafka.Assignment[] } | undefined;
      for (let attempt = 0; !found; attempt++) {
        try {
          found = await this.#watermarks(client, topic);
        } catch (err) {
          if (attempt >= 20) throw err;
          await sleep(backoffMs(attempt, 100, 1_000));
        }
      }
      const { ends, assignment } = found;
      if (assignment.length === 0) return;
      client.assign(assignment);
      const deadline = Date.now() + Math.max(60_000, 6 * timeout);
      while (ends.size) {
        const messages = await new Promise<Kafka.Message[]>((resolve, reject) => client.consume(1_000, (err, m) => (err ? reject(err) : resolve(m))));
        for (const m of messages) {
          const end = ends.get(m.partition);
          if (end === undefined || m.offset >= end) continue;
          onRecord(toBusRecord(m));
          if (m.offset + 1 >= end) ends.delete(m.partition);
        }
        // The position passes offsets a compacted log no longer has, which no message marks.
        for (const pos of client.position(assignment.filter((a) => ends.has(a.partition)))) {
          if (pos.offset >= 0 && pos.offset >= ends.get(pos.partition)!) ends.delete(pos.partition);
        }
        if (ends.size && Date.now() > deadline)
          throw new BusUnavailableError(`reading ${topic} to its end took too long; partitions ${[...ends.keys()].join(', ')} not done`);
      }
    } finally {
      await new Promise<void>((resolve) => client.disconnect(() => resolve()));
    }
  }

  /** The partitions of a topic that hold records, each with its low offset and its end. */
  async #watermarks(client: Kafka.KafkaConsumer, topic: string): Promise<{ ends: Map<number, number>; assignment: Kafka.Assignment[] }> {
    const timeout = this.#opts.connect_timeout_ms;
    const partitions = await new Promise<number>((resolve, reject) =>
      client.getMetadata({ topic, timeout }, (err, md) => {
        const t = md?.topics.find((x) => x.name === topic);
        if (err || !t || t.partitions.length === 0 || t.partitions.some((p) => p.leader < 0))
          reject(new BusUnavailableError(`no metadata for topic ${topic}${err ? `: ${err.message}` : ''}`, err));
        else resolve(t.partitions.length);
      }),
    );
    const ends = new Map<number, number>();
    const assignment: Kafka.Assignment[] = [];
    for (let p = 0; p < partitions; p++) {
      const w = await new Promise<Kafka.WatermarkOffsets>((resolve, reject) =>
        client.queryWatermarkOffsets(topic, p, timeout, (err, o) =>
          err ? reject(new BusUnavailableError(`cannot read the offsets of ${topic} partition ${p}: ${err.message}`, err)) : resolve(o),
        ),
      );
      if (w.highOffset > w.lowOffset) {
        ends.set(p, w.highOffset);
        assignment.push({ topic, partition: p, offset: w.lowOffset });
      }
    }
    return { ends, assignment };
  }

  forget(c: KafkaConsumer): void {
    this.#consumers.delete(c);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.stop();
    await Promise.all([...this.#consumers].map((c) => c.stop()));
    const p = this.#producer;
    this.#producer = undefined;
    if (p) {
      const producer = await p.catch(() => undefined);
      if (producer) {
        await new Promise<void>((resolve) => producer.flush(this.#opts.connect_timeout_ms, () => resolve()));
        clearInterval(this.#pollTimer);
        this.#pollTimer = undefined;
        await new Promise<void>((resolve) => producer.disconnect(() => resolve()));
      }
    }
  }

  #getProducer(): Promise<Kafka.Producer> {
    if (this.#closed) return Promise.reject(new AirdigError(ErrorCodes.BUS_CLOSED, 'Kafka bus is closed'));
    if (!this.#producer) {
      const producer = new Kafka.Producer({
        ...this.baseConfig(),
        'enable.idempotence': true,
        acks: 'all',
        'compression.codec': this.#opts.compression,
        // Records from concurrent requests share a produce request; a lone request waits no longer than this.
        'linger.ms': PRODUCER_LINGER_MS,
        'batch.num.messages': 10_000,
        'batch.size': 1_000_000,
        'queue.buffering.max.messages': 200_000,
        'message.timeout.ms': 30_000,
        partitioner: 'murmur2_random',
        dr_cb: true,
        // What service.kafka.librdkafka sets wins over the defaults above.
        ...this.#opts.librdkafka,
      } as Kafka.ProducerGlobalConfig);
      this.tellErrors(producer, 'producer');
      producer.on('delivery-report', (err, report) => {
        this.#inFlight--;
        const pending = report.opaque as PendingSend;
        if (err && pending.error === undefined) pending.error = err;
        if (--pending.remaining === 0) {
          if (pending.error !== undefined) {
            const e = pending.error as Kafka.LibrdKafkaError;
            pending.reject(new BusUnavailableError(`Kafka did not accept the records: ${e.message}`, e));
          } else pending.resolve();
        }
      });
      // A producer that failed to connect is dropped, so the next send or ping tries again.
      this.#producer = connect(producer, this.#opts.connect_timeout_ms, 'producer').then(
        (p) => {
          // Errors and logs are served by poll() too: a slow poll while nothing waits for a report.
          p.setPollInterval(IDLE_POLL_MS);
          this.#watchBroker(p);
          return p;
        },
        (err) => {
          this.#producer = undefined;
          throw err;
        },
      );
    }
    return this.#producer;
  }

  /**
   * Serves delivery reports every millisecond while records wait for theirs, and not at all when
   * none do: a request is answered about a millisecond after the broker acknowledged it, not after
   * a fixed poll interval, and an idle producer does not wake the event loop.
   */
  #pollWhilePending(producer: Kafka.Producer): void {
    if (this.#inFlight <= 0 || this.#pollTimer) return;
    this.#pollTimer = setInterval(() => {
      try {
        producer.poll();
      } catch {
        // Not connected (closing): the flush in close() serves what is left.
      }
      if (this.#inFlight <= 0) {
        clearInterval(this.#pollTimer);
        this.#pollTimer = undefined;
      }
    }, 1);
  }

  /** Starts the broker-down detector on the producer's connection (once). */
  #watchBroker(producer: Kafka.Producer): void {
    if (this.#watch || this.#closed) return;
    this.#watch = new BrokerWatch({
      probe: (timeout) =>
        new Promise<void>((resolve, reject) =>
          producer.getMetadata({ timeout, allTopics: false } as Kafka.MetadataOptions, (err) => (err ? reject(err) : resolve())),
        ),
      onChange: (down) => this.#opts.onBrokerChange?.(down),
    });
    this.#watch.start();
  }

  async #send(topic: string, messages: readonly OutMessage[]): Promise<void> {
    if (messages.length === 0) return;
    const producer = await this.#getProducer();
    await new Promise<void>((resolve, reject) => {
      const pending: PendingSend = { remaining: messages.length, error: undefined, resolve, reject };
      let i = 0;
      const produceRest = (attempt: number) => {
        for (; i < messages.length; i++) {
          const m = messages[i]!;
          try {
            producer.produce(topic, m.partition ?? null, m.value, toKeyBuffer(m.key), m.timestamp ?? Date.now(), pending, toRdkafkaHeaders(m.headers));
            this.#inFlight++;
          } catch (err) {
            if ((err as Kafka.LibrdKafkaError).code === ERR_QUEUE_FULL && attempt < 50) {
              // librdkafka's local queue is full: let delivery reports drain it, then go on where we stopped.
              setTimeout(() => {
                produceRest(attempt + 1);
                this.#pollWhilePending(producer);
              }, 20);
              return;
            }
            const unsent = messages.length - i;
            pending.remaining -= unsent;
            const e =
              (err as Kafka.LibrdKafkaError).code === ERR_QUEUE_FULL
                ? new BusFullError(`Kafka producer queue is full; ${unsent} of ${messages.length} records were not queued`)
                : new BusUnavailableError(`Kafka produce to ${topic} failed: ${(err as Error).message}`, err);
            if (pending.remaining === 0) reject(e);
            else pending.error = e;
            return;
          }
        }
      };
      produceRest(0);
      this.#pollWhilePending(producer);
    });
  }
}

class KafkaConsumer implements Consumer {
  readonly #bus: KafkaBus;
  readonly #opts: ConsumerOptions;
  #client: Kafka.KafkaConsumer | undefined;
  #loop: Promise<void> | undefined;
  #abort = new AbortController();
  #state: 'new' | 'running' | 'stopped' = 'new';
  #holds: HeldOffsets = new Map();
  /** Highest committed offset per partition we know of, for lag. */
  readonly #committed = new Map<PartitionKey, number>();
  /** The next offset of each partition after what the handler has handled. */
  readonly #handled = new Map<PartitionKey, Kafka.TopicPartitionOffset>();
  /**
   * The next offset after what this consumer has handled of each partition it ever had, kept across
   * rebalances: when a partition comes back from its last commit (the group lost this member while
   * the broker was down, or the commit of the last batches failed), what this process already
   * handled is not handed to the handler again, so a sink does not write it twice.
   */
  readonly #done = new Map<PartitionKey, number>();

  constructor(bus: KafkaBus, opts: ConsumerOptions) {
    this.#bus = bus;
    this.#opts = opts;
  }

  async start(): Promise<void> {
    if (this.#state !== 'new') return;
    this.#state = 'running';
    const client = new Kafka.KafkaConsumer(
      {
        ...this.#bus.baseConfig(),
        'group.id': this.#opts.groupId,
        'enable.auto.commit': false,
        'enable.auto.offset.store': false,
        'partition.assignment.strategy': 'cooperative-sticky',
        rebalance_cb: true,
        // Commits are asynchronous (a synchronous one waits on the main thread for as long as the
        // broker does not answer); their outcome comes back as 'offset.commit'.
        offset_commit_cb: true,
        'fetch.wait.max.ms': 50,
        'session.timeout.ms': 10_000,
        'heartbeat.interval.ms': 1_000,
        // A subscribed topic the first metadata answer did not list yet (just created) is looked
        // for again after this long; librdkafka's default is 5 minutes.
        'topic.metadata.refresh.interval.ms': 5_000,
      } as Kafka.ConsumerGlobalConfig,
      { 'auto.offset.reset': 'earliest' },
    );
    this.#bus.tellErrors(client, `consumer ${this.#opts.groupId}`);
    await connect(client, this.#bus.options.connect_timeout_ms, `consumer ${this.#opts.groupId}`);
    client.on('offset.commit', (err, offsets) => {
      if (!err) return;
      // Not committed: forget it, so that the next commit (of a batch or when idle) sends it again.
      for (const o of offsets ?? []) {
        const k = partitionKey(o.topic, o.partition);
        if (this.#committed.get(k) === o.offset) this.#committed.delete(k);
      }
    });
    client.on('rebalance', (_err, assignment) => {
      // A partition that moves (either way) starts afresh: what we handled or committed of it before
      // is stale, and an idle commit of it would move its committed offset back.
      for (const a of assignment ?? []) {
        const k = partitionKey(a.topic, a.partition);
        this.#handled.delete(k);
        this.#committed.delete(k);
      }
    });
    // consume(maxBatch) waits this long for each further record, so a batch ends at the first gap this
    // long; a steadier trickle fills the batch up to maxBatch before it is handled (not yet bounded in time).
    client.setDefaultConsumeTimeout(CONSUME_GAP_MS);
    client.subscribe([...this.#opts.topics]);
    this.#client = client;
    this.#loop = this.#run(client);
  }

  async stop(): Promise<void> {
    if (this.#state !== 'running') {
      this.#state = 'stopped';
      return;
    }
    this.#state = 'stopped';
    this.#abort.abort();
    await this.#loop;
    const client = this.#client!;
    await new Promise<void>((resolve) => client.disconnect(() => resolve()));
    this.#bus.forget(this);
  }

  lag(): number {
    const client = this.#client;
    if (!client) return 0;
    let lag = 0;
    try {
      for (const a of client.assignments()) {
        const w = client.getWatermarkOffsets(a.topic, a.partition);
        const c = this.#committed.get(partitionKey(a.topic, a.partition)) ?? w.lowOffset;
        if (w.highOffset >= 0) lag += Math.max(0, w.highOffset - Math.max(c, w.lowOffset));
      }
    } catch {
      // Watermarks are not cached before the first fetch.
    }
    return lag;
  }

  #consume(client: Kafka.KafkaConsumer, max: number): Promise<Kafka.Message[]> {
    return new Promise((resolve, reject) => client.consume(max, (err, messages) => (err ? reject(err) : resolve(messages))));
  }

  async #run(client: Kafka.KafkaConsumer): Promise<void> {
    const max = this.#opts.maxBatch ?? DEFAULT_MAX_BATCH;
    const signal = this.#abort.signal;
    const ctx: ConsumeContext = {
      setHolds: (held) => {
        this.#holds = new Map(held);
      },
    };
    let attempt = 0;
    let lastRecord = Date.now();
    let lastSweep = Date.now();
    while (!signal.aborted) {
      let messages: Kafka.Message[];
      try {
        messages = await this.#consume(client, max);
      } catch (err) {
        this.#opts.onHandlerError?.(err, attempt);
        await sleep(backoffMs(attempt++, 100, 5_000), signal);
        continue;
      }
      if (messages.length === 0) {
        if (this.#opts.idle && Date.now() - lastRecord >= (this.#opts.idleMs ?? IDLE_COMMIT_MS)) {
          lastRecord = Date.now();
          try {
            this.#holds = new Map(await this.#opts.idle());
          } catch (err) {
            this.#opts.onHandlerError?.(err, 0);
            continue;
          }
          this.#commitOffsets(client, this.#assignedHandled(client));
        }
        continue;
      }
      lastRecord = Date.now();
      const records: BusRecord[] = messages.map(toBusRecord);
      const batch = this.#notHandledYet(records);
      // Deliver the same batch until the handler succeeds: nothing is committed past unwritten output.
      for (;;) {
        try {
          if (batch.length) await this.#opts.handler(batch, ctx);
          attempt = 0;
          this.#commit(client, records);
          // While busy, idle() never runs: every idleMs, the partitions this batch did not touch (a
          // quiet one beside a busy one) are committed up to their handled position and the holds
          // the handler set, so their lag does not wait for the whole consumer to be quiet.
          if (Date.now() - lastSweep >= (this.#opts.idleMs ?? IDLE_COMMIT_MS)) {
            lastSweep = Date.now();
            this.#commitOffsets(client, this.#assignedHandled(client));
          }
          break;
        } catch (err) {
          this.#opts.onHandlerError?.(err, attempt);
          await sleep(backoffMs(attempt++, 50, 5_000), signal);
          if (signal.aborted) {
            // Leave uncommitted: the group redelivers the batch to whoever owns the partition next.
            break;
          }
        }
      }
    }
  }

  /** The records past what this consumer handled of their partition (a batch holds runs of one partition: one lookup per run). */
  #notHandledYet(records: readonly BusRecord[]): BusRecord[] {
    let run: BusRecord | undefined;
    let from = 0;
    return records.filter((r) => {
      if (r.partition !== run?.partition || r.topic !== run.topic) from = this.#done.get(partitionKey(r.topic, r.partition)) ?? 0;
      run = r;
      return r.offset >= from;
    });
  }

  /** The handled positions of partitions still ours: a revoked one's position is its new owner's to commit. */
  #assignedHandled(client: Kafka.KafkaConsumer): ReadonlyMap<PartitionKey, Kafka.TopicPartitionOffset> {
    const assigned = new Set(client.assignments().map((a) => partitionKey(a.topic, a.partition)));
    for (const k of this.#handled.keys()) if (!assigned.has(k)) this.#handled.delete(k);
    return this.#handled;
  }

  #commit(client: Kafka.KafkaConsumer, batch: readonly BusRecord[]): void {
    const next = nextOffsets(batch);
    for (const [k, tpo] of next) {
      this.#handled.set(k, tpo);
      if (tpo.offset > (this.#done.get(k) ?? 0)) this.#done.set(k, tpo.offset);
    }
    this.#commitOffsets(client, next);
  }

  /** Commits each partition's handled position, no further than its hold. */
  #commitOffsets(client: Kafka.KafkaConsumer, next: ReadonlyMap<PartitionKey, Kafka.TopicPartitionOffset>): void {
    const offsets: Kafka.TopicPartitionOffset[] = [];
    for (const [k, tpo] of next) {
      const hold = this.#holds.get(k);
      const offset = hold === undefined ? tpo.offset : Math.min(hold, tpo.offset);
      if ((this.#committed.get(k) ?? -1) >= offset) continue;
      offsets.push({ ...tpo, offset });
      this.#committed.set(k, offset);
    }
    if (offsets.length === 0) return;
    try {
      client.commit(offsets);
    } catch {
      // A partition revoked in a rebalance cannot be committed here; its new owner re-reads from the last commit.
      for (const o of offsets) this.#committed.delete(partitionKey(o.topic, o.partition));
    }
  }
}
