// The behaviour every bus implementation owes its users; run by memory.test.ts and kafka.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitFor, uniqueName } from '../../../tests/helpers/wait.js';
import { MalformedInputError, BusUnavailableError } from '../errors.js';
import { eachRecordOrDlq, headerString, DlqHeaders } from './dlq.js';
import { DLQ_TOPIC, IDLE_COMMIT_MS, type Bus, type BusRecord, type Consumer } from './types.js';
import { partitionKey } from '../pipeline/holds.js';

type Collected = { records: BusRecord[]; consumer: Consumer };

async function collect(bus: Bus, groupId: string, topics: string[], onRecord?: (r: BusRecord) => Promise<void> | void): Promise<Collected> {
  const records: BusRecord[] = [];
  const consumer = bus.consumer({
    groupId,
    topics,
    maxBatch: 100,
    handler: async (batch) => {
      for (const r of batch) await onRecord?.(r);
      records.push(...batch);
    },
  });
  await consumer.start();
  return { records, consumer };
}

function values(records: BusRecord[]): string[] {
  return records.map((r) => r.value.toString());
}

export function busContract(name: string, makeBus: () => Promise<Bus>): void {
  let bus: Bus;

  test.before(async () => {
    bus = await makeBus();
    await bus.ping();
  });
  test.after(async () => {
    await bus.close();
    await bus.close();
  });

  test(`${name}: keyed records keep their partition and order, with key, headers and timestamp`, async () => {
    const topic = uniqueName('contract-order');
    await bus.ensureTopics([{ name: topic, partitions: 3 }]);
    await bus.ensureTopics([{ name: topic, partitions: 3 }]); // idempotent
    const messages = [];
    for (let i = 0; i < 60; i++) {
      messages.push({ key: `k${i % 5}`, value: Buffer.from(`v${i}`), headers: { h: `x${i}` }, timestamp: 1_700_000_000_000 + i });
    }
    await bus.producer().send(topic, messages);
    const { records, consumer } = await collect(bus, uniqueName('g'), [topic]);
    await waitFor(() => records.length >= 60, 30_000, '60 records').catch((err: Error) => {
      throw new Error(`${err.message}; received ${records.length}, lag ${consumer.lag()}`);
    });
    await consumer.stop();
    assert.equal(records.length, 60);
    const partitionOfKey = new Map<string, number>();
    const lastOffset = new Map<number, number>();
    for (const r of records) {
      const key = r.key!.toString();
      const i = Number(r.value.toString().slice(1));
      assert.equal(key, `k${i % 5}`);
      assert.equal(headerString(r.headers, 'h'), `x${i}`);
      assert.equal(r.timestamp, 1_700_000_000_000 + i);
      if (partitionOfKey.has(key)) assert.equal(partitionOfKey.get(key), r.partition, `key ${key} changed partition`);
      partitionOfKey.set(key, r.partition);
      assert.ok((lastOffset.get(r.partition) ?? -1) < r.offset, 'offsets increase within a partition');
      lastOffset.set(r.partition, r.offset);
    }
    // Order per key equals send order.
    for (let k = 0; k < 5; k++) {
      const seen = records.filter((r) => r.key!.toString() === `k${k}`).map((r) => Number(r.value.toString().slice(1)));
      assert.deepEqual(
        seen,
        [...seen].sort((a, b) => a - b),
      );
    }
  });

  test(`${name}: committed records are not delivered again to the same group; another group reads everything`, async () => {
    const topic = uniqueName('contract-commit');
    await bus.ensureTopics([{ name: topic, partitions: 2 }]);
    const p = bus.producer();
    await p.send(
      topic,
      Array.from({ length: 20 }, (_, i) => ({ key: `a${i}`, value: Buffer.from(String(i)) })),
    );
    const group = uniqueName('g');
    const first = await collect(bus, group, [topic]);
    await waitFor(() => first.records.length >= 20, 30_000, 'first 20');
    await first.consumer.stop();
    await first.consumer.stop(); // a second stop is safe

    await p.send(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ key: `b${i}`, value: Buffer.from(String(100 + i)) })),
    );
    const second = await collect(bus, group, [topic]);
    await waitFor(() => second.records.length >= 5, 30_000, 'the 5 new records');
    await new Promise((r) => setTimeout(r, 300));
    await second.consumer.stop();
    assert.deepEqual(values(second.records).sort(), ['100', '101', '102', '103', '104']);

    const other = await collect(bus, uniqueName('g'), [topic]);
    await waitFor(() => other.records.length >= 25, 30_000, 'all 25 in another group');
    await other.consumer.stop();
    assert.equal(new Set(values(other.records)).size, 25);
  });

  test(`${name}: a consumer that stops before its output is written gets the batch again after restart`, async () => {
    const topic = uniqueName('contract-redeliver');
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.producer().send(
      topic,
      Array.from({ length: 10 }, (_, i) => ({ value: Buffer.from(String(i)), partition: 0 })),
    );
    const group = uniqueName('g');
    let release!: () => void;
    const blocked = new Promise<void>((r) => (release = r));
    const handled: string[] = [];
    const crashing = bus.consumer({
      groupId: group,
      topics: [topic],
      maxBatch: 4,
      handler: async (batch) => {
        if (handled.length >= 4) {
          // The "crash": output for this batch is never written.
          await blocked;
          throw new Error('crashed before writing');
        }
        handled.push(...values([...batch]));
      },
    });
    await crashing.start();
    await waitFor(() => handled.length >= 4, 30_000, 'first batch');
    const stopping = crashing.stop();
    release();
    await stopping;
    assert.deepEqual(handled, ['0', '1', '2', '3']);

    const again = await collect(bus, group, [topic]);
    await waitFor(() => again.records.length >= 6, 30_000, 'the uncommitted 6');
    await again.consumer.stop();
    assert.deepEqual(values(again.records), ['4', '5', '6', '7', '8', '9']);
  });

  test(`${name}: a failing handler gets the same batch again and nothing is skipped`, async () => {
    const topic = uniqueName('contract-retry');
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.producer().send(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ value: Buffer.from(String(i)) })),
    );
    let failures = 0;
    const seen: string[] = [];
    const c = bus.consumer({
      groupId: uniqueName('g'),
      topics: [topic],
      handler: async (batch) => {
        if (failures < 2) {
          failures++;
          throw new BusUnavailableError('store down');
        }
        seen.push(...values([...batch]));
      },
    });
    await c.start();
    await waitFor(() => seen.length >= 5, 30_000, 'records after retries');
    await c.stop();
    assert.equal(failures, 2);
    assert.deepEqual(seen, ['0', '1', '2', '3', '4']);
  });

  test(`${name}: a poison record goes to ${DLQ_TOPIC} with its bytes and the reason; the rest goes on`, async () => {
    const topic = uniqueName('contract-dlq');
    await bus.ensureTopics([
      { name: topic, partitions: 1 },
      { name: DLQ_TOPIC, partitions: 1 },
    ]);
    const dlq = await collect(bus, uniqueName('dlq-reader'), [DLQ_TOPIC]);
    await bus.producer().send(
      topic,
      ['ok1', 'poison', 'ok2'].map((v) => ({ key: `key-${v}`, value: Buffer.from(v) })),
    );
    const good: string[] = [];
    const c = bus.consumer({
      groupId: uniqueName('g'),
      topics: [topic],
      handler: async (batch) => {
        await eachRecordOrDlq(batch, bus.producer(), 'contract-test', (r) => {
          if (r.value.toString() === 'poison') throw new MalformedInputError('cannot parse poison');
          good.push(r.value.toString());
        });
      },
    });
    await c.start();
    const dead = await waitFor(() => dlq.records.find((r) => headerString(r.headers, DlqHeaders.sourceTopic) === topic), 30_000, 'the DLQ record');
    await waitFor(() => good.length >= 2, 30_000, 'good records');
    await c.stop();
    await dlq.consumer.stop();
    assert.deepEqual(good, ['ok1', 'ok2']);
    assert.equal(dead.value.toString(), 'poison');
    assert.equal(dead.key?.toString(), 'key-poison');
    assert.equal(headerString(dead.headers, DlqHeaders.sourcePartition), '0');
    assert.equal(headerString(dead.headers, DlqHeaders.sourceOffset), '1');
    assert.equal(headerString(dead.headers, DlqHeaders.error), 'cannot parse poison');
    assert.equal(headerString(dead.headers, DlqHeaders.errorCode), 'AIRDIG_MALFORMED_INPUT');
    assert.equal(headerString(dead.headers, DlqHeaders.component), 'contract-test');
  });

  test(`${name}: a commit hold keeps records for redelivery after restart`, async () => {
    const topic = uniqueName('contract-hold');
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.producer().send(
      topic,
      Array.from({ length: 6 }, (_, i) => ({ value: Buffer.from(String(i)) })),
    );
    const group = uniqueName('g');
    const seen: string[] = [];
    const c = bus.consumer({
      groupId: group,
      topics: [topic],
      handler: async (batch, ctx) => {
        seen.push(...values([...batch]));
        // A window still needs record 2 and everything after it.
        ctx.setHolds(new Map([[partitionKey(topic, 0), 2]]));
      },
    });
    await c.start();
    await waitFor(() => seen.length >= 6, 30_000, 'all 6');
    await c.stop();
    const again = await collect(bus, group, [topic]);
    await waitFor(() => again.records.length >= 4, 30_000, 'held records');
    await again.consumer.stop();
    assert.deepEqual(values(again.records), ['2', '3', '4', '5']);
  });

  test(`${name}: a hold released while the input is idle (a timer closed a window) is committed without a new batch`, async () => {
    const topic = uniqueName('contract-idle');
    await bus.ensureTopics([{ name: topic, partitions: 1 }]);
    await bus.producer().send(
      topic,
      Array.from({ length: 5 }, (_, i) => ({ value: Buffer.from(String(i)) })),
    );
    const group = uniqueName('g');
    let held: Map<string, number> = new Map([[partitionKey(topic, 0), 1]]);
    let seen = 0;
    const c = bus.consumer({
      groupId: group,
      topics: [topic],
      idle: async () => held,
      handler: async (batch, ctx) => {
        seen += batch.length;
        ctx.setHolds(held);
      },
    });
    await c.start();
    await waitFor(() => seen >= 5, 30_000, 'all 5');
    await new Promise((r) => setTimeout(r, IDLE_COMMIT_MS + 500));
    assert.equal(c.lag(), 4, 'held at record 1 while the window is open');
    held = new Map(); // the window closed by its timer: nothing is needed any more
    await waitFor(() => c.lag() === 0, 10_000, 'committed while idle');
    await c.stop();
    const again = await collect(bus, group, [topic]);
    await new Promise((r) => setTimeout(r, 1_000));
    await again.consumer.stop();
    assert.deepEqual(values(again.records), [], 'nothing is read again');
  });

  test(`${name}: a compacted topic read to its end gives the latest value per key, without the keys a tombstone deleted`, async () => {
    const topic = uniqueName('contract-compacted');
    await bus.ensureTopics([{ name: topic, partitions: 2, compacted: true }]);
    const p = bus.producer();
    await p.send(
      topic,
      ['a', 'b', 'c', 'd'].map((k) => ({ key: k, value: Buffer.from(`${k}1`) })),
    );
    await p.send(topic, [
      { key: 'a', value: Buffer.from('a2') },
      { key: 'c', value: null },
      { key: 'a', value: Buffer.from('a3') },
    ]);
    const latest = new Map<string, string>();
    const lastOffset = new Map<number, number>();
    await bus.readToEnd(topic, (r) => {
      assert.ok((lastOffset.get(r.partition) ?? -1) < r.offset, 'offset order within a partition');
      lastOffset.set(r.partition, r.offset);
      // A tombstone reads as an empty value (Kafka keeps it a while before compaction removes it).
      if (r.value.length === 0) latest.delete(r.key!.toString());
      else latest.set(r.key!.toString(), r.value.toString());
    });
    assert.deepEqual(Object.fromEntries([...latest].sort()), { a: 'a3', b: 'b1', d: 'd1' });

    const empty = uniqueName('contract-compacted-empty');
    await bus.ensureTopics([{ name: empty, partitions: 1, compacted: true }]);
    let n = 0;
    await bus.readToEnd(empty, () => n++);
    assert.equal(n, 0, 'an empty topic is read at once');
  });

  test(`${name}: two consumers in one group share the partitions and see every record once`, async () => {
    const topic = uniqueName('contract-share');
    await bus.ensureTopics([{ name: topic, partitions: 4 }]);
    const group = uniqueName('g');
    const a = await collect(bus, group, [topic]);
    const b = await collect(bus, group, [topic]);
    // Let the group settle before producing, so neither consumer reads a partition it then loses.
    await new Promise((r) => setTimeout(r, bus.kind === 'kafka' ? 4_000 : 50));
    await bus.producer().send(
      topic,
      Array.from({ length: 200 }, (_, i) => ({ key: `k${i}`, value: Buffer.from(String(i)) })),
    );
    await waitFor(() => a.records.length + b.records.length >= 200, 40_000, '200 records over two consumers');
    await new Promise((r) => setTimeout(r, 300));
    await a.consumer.stop();
    await b.consumer.stop();
    const all = [...values(a.records), ...values(b.records)];
    assert.equal(all.length, 200);
    assert.equal(new Set(all).size, 200);
    assert.ok(a.records.length > 0 && b.records.length > 0, `both consumers got records (${a.records.length}/${b.records.length})`);
    const pa = new Set(a.records.map((r) => r.partition));
    for (const r of b.records) assert.ok(!pa.has(r.partition), `partition ${r.partition} was read by both consumers`);
  });
}
