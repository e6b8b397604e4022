import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { busContract } from './contract.js';
import { MemoryBus } from './memory.js';
import { DiskLog, FrameBlocks, decodeFrames, encodeRecords, type LogRecord } from './disklog.js';
import { headerString } from './dlq.js';
import type { Bus, BusRecord } from './types.js';
import { waitFor } from '../../../tests/helpers/wait.js';

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'airdig-disklog-'));
}

busContract('durable bus', async () => MemoryBus.open(tmp()));

/** Records of a group that joins now, read until `n` arrived (and a little longer, to see extras). */
async function readAs(bus: Bus, groupId: string, topic: string, n: number): Promise<BusRecord[]> {
  const records: BusRecord[] = [];
  const c = bus.consumer({ groupId, topics: [topic], handler: async (batch) => void records.push(...batch) });
  await c.start();
  await waitFor(() => records.length >= n, 10_000, `${n} records`).catch((err: Error) => {
    throw new Error(`${err.message}; got ${records.length}`);
  });
  await new Promise((r) => setTimeout(r, 100));
  await c.stop();
  return records;
}

function segments(dir: string, topic: string, partition: number): string[] {
  return readdirSync(path.join(dir, `${topic}-${partition}`))
    .filter((n) => n.endsWith('.log'))
    .sort();
}

test('durable bus: every resolved send is readable after reopening, with key, headers, timestamp and offsets', async () => {
  const dir = tmp();
  let bus = await MemoryBus.open(dir);
  await bus.ensureTopics([{ name: 't', partitions: 3 }]);
  const sends = [];
  for (let s = 0; s < 10; s++) {
    sends.push(
      bus.producer().send(
        't',
        Array.from({ length: 30 }, (_, i) => ({
          key: `k${i % 7}`,
          value: Buffer.from(`${s}:${i}`),
          headers: { h: `x${i}`, raw: Buffer.from([s, i]) },
          timestamp: 1_000 + i,
        })),
      ),
    );
  }
  await Promise.all(sends);
  const before = await readAs(bus, 'g-before', 't', 300);
  await bus.close();

  bus = await MemoryBus.open(dir);
  const after = await readAs(bus, 'g-after', 't', 300);
  await bus.close();
  assert.equal(after.length, 300);
  const view = (r: BusRecord) =>
    `${r.partition}/${r.offset} ${r.key} ${r.value} ${headerString(r.headers, 'h')} ${(r.headers.raw as Buffer).toString('hex')} ${r.timestamp}`;
  assert.deepEqual(after.map(view).sort(), before.map(view).sort());
  assert.ok(Buffer.isBuffer(after[0]!.headers.raw), 'a Buffer header stays a Buffer');
});

test('durable bus: committed offsets survive a restart; the group reads only what it had not committed', async () => {
  const dir = tmp();
  let bus = await MemoryBus.open(dir);
  await bus.ensureTopics([{ name: 't', partitions: 2 }]);
  await bus.producer().send(
    't',
    Array.from({ length: 20 }, (_, i) => ({ key: `a${i}`, value: Buffer.from(String(i)) })),
  );
  assert.equal((await readAs(bus, 'g', 't', 20)).length, 20);
  await bus.producer().send(
    't',
    Array.from({ length: 5 }, (_, i) => ({ key: `b${i}`, value: Buffer.from(String(100 + i)) })),
  );
  await bus.close();

  bus = await MemoryBus.open(dir);
  const again = await readAs(bus, 'g', 't', 5);
  await bus.producer().send('t', [{ key: 'c', value: Buffer.from('200') }]);
  const offsets = new Map<number, number[]>();
  const other = await readAs(bus, 'other', 't', 26);
  for (const r of other) (offsets.get(r.partition) ?? offsets.set(r.partition, []).get(r.partition)!).push(r.offset);
  await bus.close();
  assert.deepEqual(again.map((r) => r.value.toString()).sort(), ['100', '101', '102', '103', '104']);
  // Offsets go on from where the log ended, without a gap or a repeat.
  for (const list of offsets.values())
    assert.deepEqual(
      list,
      Array.from({ length: list.length }, (_, i) => i),
    );
});

test('durable bus: a torn last record is cut off on open, and the next send takes its offset', async () => {
  const dir = tmp();
  let bus = await MemoryBus.open(dir);
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  for (let i = 0; i < 10; i++) await bus.producer().send('t', [{ key: 'k', value: Buffer.from(`value-${i}`) }]);
  await bus.close();
  const [segment] = segments(dir, 't', 0);
  const file = path.join(dir, 't-0', segment!);
  const size = statSync(file).size;
  truncateSync(file, size - 5); // a crash in the middle of the last write

  bus = await MemoryBus.open(dir);
  assert.deepEqual(bus.log!.repaired, [{ topic: 't', partition: 0, cutBytes: size / 10 - 5 }]);
  await bus.producer().send('t', [{ key: 'k', value: Buffer.from('after') }]);
  await bus.close();

  bus = await MemoryBus.open(dir);
  const records = await readAs(bus, 'g', 't', 10);
  await bus.close();
  assert.deepEqual(
    records.map((r) => `${r.offset}:${r.value}`),
    [...Array.from({ length: 9 }, (_, i) => `${i}:value-${i}`), '9:after'],
  );
});

test('durable bus: a corrupted record (CRC mismatch) ends the valid log there', async () => {
  const dir = tmp();
  let bus = await MemoryBus.open(dir);
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  for (let i = 0; i < 4; i++) await bus.producer().send('t', [{ value: Buffer.from(`record-${i}`) }]);
  await bus.close();
  const file = path.join(dir, 't-0', segments(dir, 't', 0)[0]!);
  const bytes = readFileSync(file);
  bytes[bytes.length - 3]! ^= 0xff; // one flipped bit in the last record's value
  writeFileSync(file, bytes);
  bus = await MemoryBus.open(dir);
  const records = await readAs(bus, 'g', 't', 3);
  await bus.close();
  assert.deepEqual(
    records.map((r) => r.value.toString()),
    ['record-0', 'record-1', 'record-2'],
  );
});

test('durable bus: a compacted topic keeps the latest record per key through compaction and restart; tombstones drop keys', async () => {
  const dir = tmp();
  const small = { segment_bytes: 512 };
  let bus = await MemoryBus.open(dir, {}, small);
  await bus.ensureTopics([{ name: 'state', partitions: 2, compacted: true }]);
  const expected = new Map<string, string>();
  for (let round = 0; round < 20; round++) {
    await bus.producer().send(
      'state',
      Array.from({ length: 10 }, (_, k) => ({ key: `key-${k}`, value: Buffer.from(`v${round}-${k}`) })),
    );
  }
  for (let k = 0; k < 10; k++) expected.set(`key-${k}`, `v19-${k}`);
  await bus.producer().send('state', [
    { key: 'key-3', value: null },
    { key: 'key-7', value: null },
  ]);
  expected.delete('key-3');
  expected.delete('key-7');
  const diskRecords = () => {
    let n = 0;
    for (const p of [0, 1]) for (const s of segments(dir, 'state', p)) decodeFrames(readFileSync(path.join(dir, `state-${p}`, s)), () => n++);
    return n;
  };
  assert.equal(diskRecords(), 202);
  await bus.log!.maintain();
  const compacted = diskRecords();
  assert.ok(compacted < 60, `compaction left ${compacted} of 202 records`);
  await bus.close();

  bus = await MemoryBus.open(dir, {}, small);
  const latest = new Map<string, string>();
  await bus.readToEnd('state', (r) => {
    if (r.value.length === 0) latest.delete(r.key!.toString());
    else latest.set(r.key!.toString(), r.value.toString());
  });
  // Sends after compaction and restart go on at the right offsets and are read too.
  await bus.producer().send('state', [{ key: 'key-1', value: Buffer.from('new') }]);
  expected.set('key-1', 'new');
  latest.clear();
  await bus.readToEnd('state', (r) => {
    if (r.value.length === 0) latest.delete(r.key!.toString());
    else latest.set(r.key!.toString(), r.value.toString());
  });
  await bus.close();
  assert.deepEqual(Object.fromEntries([...latest].sort()), Object.fromEntries([...expected].sort()));
});

test('durable bus: retention deletes old segments only below every group’s committed offset', async () => {
  const dir = tmp();
  const logOptions = { segment_bytes: 400, retention_ms: 1 };
  let bus = await MemoryBus.open(dir, {}, logOptions);
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  for (let i = 0; i < 40; i++) await bus.producer().send('t', [{ value: Buffer.from(`record-${String(i).padStart(3, '0')}`) }]);
  // "fast" reads everything; "slow" reads and commits only the first 15.
  assert.equal((await readAs(bus, 'fast', 't', 40)).length, 40);
  const slow: BusRecord[] = [];
  const c = bus.consumer({
    groupId: 'slow',
    topics: ['t'],
    maxBatch: 15,
    handler: async (batch) => {
      if (slow.length >= 15) await new Promise(() => undefined); // stuck: nothing past 15 is committed
      slow.push(...batch);
    },
  });
  await c.start();
  await waitFor(() => slow.length >= 15, 5_000, 'the slow group’s first batch');
  const segmentsBefore = segments(dir, 't', 0);
  await waitFor(
    async () => {
      await bus.log!.maintain();
      return segments(dir, 't', 0).length < segmentsBefore.length;
    },
    5_000,
    'retention',
  );
  const kept = segments(dir, 't', 0).map((n) => Number(n.slice(0, -4)));
  assert.ok(kept[0]! <= 15, `the first kept segment starts at ${kept[0]}, past the slow group's commit (15)`);
  assert.ok(kept.length >= 2 && kept[1]! > 15, `segments below 15 are deleted: ${kept.join(' ')}`);
  void c.stop();
  await bus.close();

  bus = await MemoryBus.open(dir, {}, logOptions);
  const rest = await readAs(bus, 'slow', 't', 25);
  await bus.close();
  assert.deepEqual(
    rest.map((r) => r.offset),
    Array.from({ length: 25 }, (_, i) => 15 + i),
  );
});

test('durable bus: with no group reading it, a topic past its retention keeps only the active segment', async () => {
  const dir = tmp();
  const bus = await MemoryBus.open(dir, {}, { segment_bytes: 100 });
  await bus.ensureTopics([{ name: 'aging', partitions: 1, retentionMs: 1 }]);
  for (let i = 0; i < 20; i++) await bus.producer().send('aging', [{ value: Buffer.from(`record-${i}`) }]);
  assert.ok(segments(dir, 'aging', 0).length > 3);
  await new Promise((r) => setTimeout(r, 5));
  await bus.log!.maintain();
  assert.equal(segments(dir, 'aging', 0).length, 1);
  await bus.close();
});

test('durable bus: concurrent sends of one tick share one write and one fsync per partition', async () => {
  const dir = tmp();
  const bus = await MemoryBus.open(dir);
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  await bus.producer().send('t', [{ value: Buffer.from('first') }]);
  const file = path.join(dir, 't-0', segments(dir, 't', 0)[0]!);
  const sizes: number[] = [];
  // 100 sends in one tick: resolved together, so a file size sampled at each resolution never changes.
  await Promise.all(
    Array.from({ length: 100 }, (_, i) =>
      bus
        .producer()
        .send('t', [{ value: Buffer.from(`v${i}`) }])
        .then(() => sizes.push(statSync(file).size)),
    ),
  );
  await bus.close();
  assert.equal(new Set(sizes).size, 1, `sizes seen: ${[...new Set(sizes)].join(' ')}`);
});

test('durable bus: a second process cannot open a log in use', async () => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'lock'), String(process.ppid)); // a live process that is not this one
  await assert.rejects(MemoryBus.open(dir), /the bus log in .* is in use by process \d+/);
  writeFileSync(path.join(dir, 'lock'), '999999999'); // a process that is gone (kill -9): taken over
  const bus = await MemoryBus.open(dir);
  await bus.close();
});

test('disk log frames: a record round-trips, and every truncation of a frame is detected', () => {
  const records: LogRecord[] = [
    { offset: 7, timestamp: 1_700_000_000_123, key: Buffer.from('k'), value: Buffer.from('value'), headers: { a: 'é', b: Buffer.from([0, 1]) } },
    { offset: 8, timestamp: -1, key: null, value: null, headers: {} },
  ];
  const buf = encodeRecords(records);
  const out: unknown[] = [];
  assert.equal(
    decodeFrames(buf, (r) => out.push(r)),
    buf.length,
  );
  assert.deepEqual(out, records);
  const firstLength = encodeRecords([records[0]!]).length;
  for (let cut = 0; cut < buf.length; cut++) {
    const n: unknown[] = [];
    const valid = decodeFrames(buf.subarray(0, cut), (r) => n.push(r));
    assert.equal(valid, cut >= firstLength ? firstLength : 0, `cut at ${cut}`);
  }
});

test('disk log frames: a block is reused only once given back, and frames encoded into reused memory round-trip', () => {
  const blocks = new FrameBlocks();
  const a = blocks.take(100_000);
  const b = blocks.take(100_000);
  assert.equal(a.length, 100_000);
  assert.notEqual(a.buffer, b.buffer, 'two blocks in use never share memory');
  blocks.put(a);
  assert.equal(blocks.take(120_000).buffer, a.buffer, 'a block given back is taken again (same size class)');
  assert.notEqual(blocks.take(100_000).buffer, a.buffer, 'but not twice');
  // Frames written into a block that held other frames decode as themselves.
  const value = (seed: number) => Buffer.alloc(700, seed);
  const records = (seed: number): LogRecord[] =>
    Array.from({ length: 200 }, (_, i) => ({
      offset: seed * 1000 + i,
      timestamp: seed,
      key: Buffer.from(`k${i}`),
      value: value(seed + i),
      headers: { s: `${seed}` },
    }));
  const first = encodeRecords(records(1), { alloc: (n) => blocks.take(n) });
  blocks.put(first);
  const second = encodeRecords(records(2), { alloc: (n) => blocks.take(n) });
  assert.equal(second.buffer, first.buffer);
  const out: LogRecord[] = [];
  assert.equal(
    decodeFrames(second, (r) => out.push(r)),
    second.length,
  );
  assert.deepEqual(out, records(2));
  // Idle for a maintenance interval (nothing taken since the last trim): the idle blocks go.
  blocks.put(second);
  blocks.trim();
  assert.equal(blocks.take(140_000).buffer, second.buffer, 'a trim right after use keeps them');
  blocks.put(second);
  blocks.trim();
  blocks.trim();
  assert.notEqual(blocks.take(140_000).buffer, second.buffer, 'a trim after an idle interval gives them back');
});

test('durable bus: records survive kill -9 of the writing process at random moments', async () => {
  const writer = path.join(path.dirname(fileURLToPath(import.meta.url)), 'testdata', 'crash-writer.js');
  const started = Date.now();
  let trials = 0;
  for (; trials < 5 && Date.now() - started < 40_000; trials++) {
    const dir = tmp();
    const child = spawn(process.execPath, [writer, dir, 'crash'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    const exited = new Promise((r) => child.once('exit', r));
    await waitFor(() => out.includes('\n'), 20_000, 'the first acknowledged batch');
    await new Promise((r) => setTimeout(r, 200 + Math.random() * 1_500));
    child.kill('SIGKILL');
    await exited;
    const acked = out.split('\n').filter((l) => /^\d+$/.test(l));
    assert.ok(acked.length > 0);
    // Read everything back: retain_records is large, so memory holds the whole log again.
    const bus = await MemoryBus.open(dir, { retain_records: 10_000_000, max_queued_records: 10_000_000 });
    const batches = new Map<string, Set<string>>();
    await bus.readToEnd('crash', (r) => {
      const batch = headerString(r.headers, 'batch')!;
      const values = batches.get(batch) ?? batches.set(batch, new Set()).get(batch)!;
      assert.ok(!values.has(r.value.toString()), `record ${r.value} appears twice`);
      values.add(r.value.toString());
    });
    await bus.close();
    const missing = acked.filter((b) => batches.get(b)?.size !== 50);
    assert.deepEqual(missing, [], `trial ${trials}: ${acked.length} batches acknowledged, ${missing.length} not whole after the restart`);
  }
  assert.ok(trials >= 3, `${trials} trials`);
});

test('disk log: opens an empty directory and reports no repairs; closing twice is safe', async () => {
  const log = await DiskLog.open(tmp());
  assert.deepEqual(log.repaired, []);
  assert.equal(log.topics.size, 0);
  await log.close();
  await log.close();
});

test('durable bus: a group that stopped reading does not keep the bus full after a restart, and finds its records if it comes back', async () => {
  const dir = tmp();
  const limits = { max_queued_records: 10 };
  let bus = await MemoryBus.open(dir, limits);
  await bus.ensureTopics([{ name: 't', partitions: 1 }]);
  const stuck = bus.consumer({ groupId: 'gone', topics: ['t'], handler: () => new Promise(() => undefined) });
  await stuck.start();
  await bus.producer().send(
    't',
    Array.from({ length: 8 }, (_, i) => ({ value: Buffer.from(String(i)) })),
  );
  await bus.close(); // the process ends with "gone" 8 records behind
  bus = await MemoryBus.open(dir, limits);
  // Before its consumer starts again, "gone" does not count against the limit.
  await bus.producer().send(
    't',
    Array.from({ length: 8 }, (_, i) => ({ value: Buffer.from(String(8 + i)) })),
  );
  const back = await readAs(bus, 'gone', 't', 16);
  await bus.close();
  assert.deepEqual(
    back.map((r) => Number(r.value.toString())),
    Array.from({ length: 16 }, (_, i) => i),
  );
});
