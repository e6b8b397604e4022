/**
 * Coalescing sends: the messages that concurrent sends put on the same partition of a topic become
 * one record, so many small requests cost the broker one record instead of one each. Only for
 * values whose concatenation is itself a valid value — protobuf messages whose top-level fields are
 * repeated (an OTLP export request: two encoded requests back to back decode as one request holding
 * both requests' resources).
 */
import { partitionForKey } from './partitioner.js';
import { toKeyBuffer, type OutMessage, type Producer } from './types.js';

export interface CoalesceOptions {
  /** The partition count of a topic, to place a keyed message where the bus would; undefined sends that topic's messages as they are. */
  partitions(topic: string): number | undefined;
  /** Largest merged value in bytes; a message at least this large is sent alone. */
  maxBytes: number;
}

/** One send() call: answered once every record holding one of its messages is acknowledged. */
interface Waiter {
  remaining: number;
  error: unknown;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Group {
  messages: OutMessage[];
  bytes: number;
  waiters: Set<Waiter>;
}

/** One topic's partition: the group being filled and whether a record of it awaits its acks. */
interface Lane {
  topic: string;
  partition: number;
  next: Group | undefined;
  sending: boolean;
}

/**
 * A producer that merges, per topic and partition, what arrives while that partition's previous
 * merged record awaits its acknowledgement (group commit): a lone request goes out at the end of
 * the current event-loop turn and waits for nothing else, while under load every request that
 * came in during one round trip to the broker shares one record. Each merged record is sent on
 * `inner`; a send is answered once every record holding one of its messages is acknowledged, and
 * fails if any of them fails.
 */
export function coalescingProducer(inner: Producer, options: CoalesceOptions): Producer {
  const lanes = new Map<string, Lane>();
  const ready = new Set<Lane>();
  let scheduled = false;

  const settle = (waiter: Waiter, err: unknown) => {
    if (err !== undefined && waiter.error === undefined) waiter.error = err;
    if (--waiter.remaining > 0) return;
    if (waiter.error === undefined) waiter.resolve();
    else waiter.reject(waiter.error);
  };

  /** Sends a group as one record; `lane.sending` follows it when it is the lane's turn. */
  const sendGroup = (lane: Lane, g: Group, ownsLane: boolean) => {
    const first = g.messages[0]!;
    const merged: OutMessage =
      g.messages.length === 1
        ? { ...first, partition: lane.partition }
        : { partition: lane.partition, value: Buffer.concat(g.messages.map((m) => m.value!)), timestamp: first.timestamp ?? Date.now() };
    if (ownsLane) lane.sending = true;
    const done = (err: unknown) => {
      for (const w of g.waiters) settle(w, err);
      if (!ownsLane) return;
      lane.sending = false;
      // What came in meanwhile goes now, as one record.
      if (lane.next) startLane(lane);
    };
    inner.send(lane.topic, [merged]).then(
      () => done(undefined),
      (err: unknown) => done(err),
    );
  };

  const startLane = (lane: Lane) => {
    const g = lane.next;
    if (!g || lane.sending) return;
    lane.next = undefined;
    sendGroup(lane, g, true);
  };

  const flush = () => {
    scheduled = false;
    for (const lane of ready) startLane(lane);
    ready.clear();
  };

  const add = (topic: string, partition: number, message: OutMessage, waiter: Waiter) => {
    const size = message.value!.length;
    const id = `${partition}\u0000${topic}`;
    let lane = lanes.get(id);
    if (!lane) {
      lane = { topic, partition, next: undefined, sending: false };
      lanes.set(id, lane);
    }
    if (lane.next && lane.next.bytes + size > options.maxBytes) {
      // Full: it goes now, beside the record in flight; the message starts the next group.
      const full = lane.next;
      lane.next = undefined;
      sendGroup(lane, full, !lane.sending);
    }
    const g = (lane.next ??= { messages: [], bytes: 0, waiters: new Set() });
    g.messages.push(message);
    g.bytes += size;
    if (!g.waiters.has(waiter)) {
      g.waiters.add(waiter);
      waiter.remaining++;
    }
    if (!lane.sending) ready.add(lane);
  };

  return {
    send(topic, messages) {
      if (messages.length === 0) return Promise.resolve();
      const partitions = options.partitions(topic);
      return new Promise<void>((resolve, reject) => {
        // One count for this call itself, released below once every message is placed.
        const waiter: Waiter = { remaining: 1, error: undefined, resolve, reject };
        const alone: OutMessage[] = [];
        for (const m of messages) {
          const key = toKeyBuffer(m.key);
          const partition = m.partition ?? (key && partitions ? partitionForKey(key, partitions) : undefined);
          // Headers, tombstones and records without a place keep their own record.
          if (partition === undefined || m.value === null || m.headers || m.value.length >= options.maxBytes) alone.push(m);
          else add(topic, partition, m, waiter);
        }
        if (alone.length) {
          waiter.remaining++;
          inner.send(topic, alone).then(
            () => settle(waiter, undefined),
            (err: unknown) => settle(waiter, err),
          );
        }
        if (!scheduled && ready.size) {
          scheduled = true;
          setImmediate(flush);
        }
        settle(waiter, undefined);
      });
    },
  };
}
