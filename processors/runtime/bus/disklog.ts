/**
 * The embedded bus's storage: an append-only log per partition under one directory, so that what
 * send() acknowledged survives kill -9 and a restart replays from committed offsets (see README.md
 * beside this file for the layout and the frame format).
 */
import { crc32 } from 'node:zlib';
import { mkdir, open, readdir, readFile, rename, stat, truncate, unlink, utimes, writeFile, type FileHandle } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { AirdigError, BusUnavailableError, ErrorCodes, errorMessage } from '../errors.js';
import { busLogSchema, type BusLogConfig } from '../config/schema.js';
import { partitionKey, type PartitionKey } from '../pipeline/holds.js';
import type { Headers } from './types.js';

export type DiskLogOptions = Partial<BusLogConfig>;

const DISK_LOG_DEFAULTS = busLogSchema.parse({});

/** length (u32) and CRC-32 (u32) of the body that follows. */
const FRAME_PREFIX = 8;

/** A record as the log stores it: a null value is a tombstone. */
export interface LogRecord {
  offset: number;
  timestamp: number;
  key: Buffer | null;
  value: Buffer | null;
  headers: Headers;
}

export interface TopicMeta {
  partitions: number;
  compacted: boolean;
  retentionMs?: number;
}

/** offset (f64), timestamp (f64), key length (i32, -1: null), header count (u16), value length (i32, -1: tombstone); the key, headers and value follow their lengths. */
const BODY_FIXED = 8 + 8 + 4 + 4 + 2;
const HEADER_STRING = 0;
const HEADER_BYTES = 1;
const SEGMENT_SUFFIX = '.log';
const TOPICS_FILE = 'topics.json';
const GROUPS_DIR = 'groups';
const LOCK_FILE = 'lock';

function headerBytes(headers: Headers): number {
  let n = 0;
  for (const name in headers) {
    const v = headers[name]!;
    n += 2 + Buffer.byteLength(name) + 1 + 4 + (typeof v === 'string' ? Buffer.byteLength(v) : v.length);
  }
  return n;
}

/**
 * Frames records for one write, into one buffer: each frame's header, key, headers and value copied
 * in place and its CRC written over its body (no per-record pieces or concatenation: copying a value
 * costs less than the objects a value written as it is needs, and its CRC is then one crc32 call,
 * not two). A null value is a tombstone; so is a record in `tombstones`. `alloc` gives the memory.
 */
export function encodeRecords(
  records: readonly LogRecord[],
  options: { tombstones?: ReadonlySet<object> | undefined; alloc?: (bytes: number) => Buffer } = {},
): Buffer {
  const { tombstones, alloc = (n: number) => Buffer.allocUnsafe(n) } = options;
  let bytes = 0;
  for (const r of records) {
    bytes += FRAME_PREFIX + BODY_FIXED + (r.key?.length ?? 0) + headerBytes(r.headers) + (r.value && !tombstones?.has(r) ? r.value.length : 0);
  }
  const buf = alloc(bytes);
  let pos = 0;
  for (const r of records) {
    const start = pos;
    const value = r.value && !tombstones?.has(r) ? r.value : null;
    pos += FRAME_PREFIX;
    buf.writeDoubleBE(r.offset, pos);
    buf.writeDoubleBE(r.timestamp, pos + 8);
    pos += 16;
    if (r.key) {
      buf.writeInt32BE(r.key.length, pos);
      buf.set(r.key, pos + 4);
      pos += 4 + r.key.length;
    } else {
      buf.writeInt32BE(-1, pos);
      pos += 4;
    }
    const countAt = pos;
    pos += 2;
    let count = 0;
    for (const name in r.headers) {
      const v = r.headers[name]!;
      const nameLength = buf.write(name, pos + 2);
      buf.writeUInt16BE(nameLength, pos);
      pos += 2 + nameLength;
      buf[pos++] = typeof v === 'string' ? HEADER_STRING : HEADER_BYTES;
      const valueLength = typeof v === 'string' ? buf.write(v, pos + 4) : v.copy(buf, pos + 4);
      buf.writeUInt32BE(valueLength, pos);
      pos += 4 + valueLength;
      count++;
    }
    buf.writeUInt16BE(count, countAt);
    if (value) {
      buf.writeInt32BE(value.length, pos);
      buf.set(value, pos + 4);
      pos += 4 + value.length;
    } else {
      buf.writeInt32BE(-1, pos);
      pos += 4;
    }
    buf.writeUInt32BE(pos - start - FRAME_PREFIX, start);
    buf.writeUInt32BE(crc32(buf.subarray(start + FRAME_PREFIX, pos)), start + 4);
  }
  return buf;
}

/**
 * Decodes the frames of a segment, calling onRecord with each record and where its frame lies.
 * Stops at the first frame that is incomplete or fails its CRC (a torn write); returns the length
 * of the valid prefix. Keys, values and header bytes are copies: the segment's buffer is not kept.
 */
export function decodeFrames(buf: Buffer, onRecord: (r: LogRecord, frameStart: number, frameEnd: number) => void): number {
  let pos = 0;
  while (pos + FRAME_PREFIX <= buf.length) {
    const length = buf.readUInt32BE(pos);
    const end = pos + FRAME_PREFIX + length;
    if (length < BODY_FIXED || end > buf.length) break;
    const body = buf.subarray(pos + FRAME_PREFIX, end);
    if (crc32(body) !== buf.readUInt32BE(pos + 4)) break;
    const record = decodeBody(body);
    if (!record) break;
    onRecord(record, pos, end);
    pos = end;
  }
  return pos;
}

function decodeBody(body: Buffer): LogRecord | undefined {
  const offset = body.readDoubleBE(0);
  const timestamp = body.readDoubleBE(8);
  let pos = 16;
  const take = (): Buffer | null | undefined => {
    if (pos + 4 > body.length) return undefined;
    const n = body.readInt32BE(pos);
    pos += 4;
    if (n < 0) return null;
    if (pos + n > body.length) return undefined;
    const b = Buffer.from(body.subarray(pos, pos + n));
    pos += n;
    return b;
  };
  const key = take();
  if (key === undefined || pos + 2 > body.length) return undefined;
  const count = body.readUInt16BE(pos);
  pos += 2;
  const headers: Headers = {};
  for (let i = 0; i < count; i++) {
    if (pos + 2 > body.length) return undefined;
    const nameLength = body.readUInt16BE(pos);
    const name = body.toString('utf8', pos + 2, pos + 2 + nameLength);
    pos += 2 + nameLength;
    const kind = body[pos++];
    if (pos + 4 > body.length) return undefined;
    const valueLength = body.readUInt32BE(pos);
    pos += 4;
    if (pos + valueLength > body.length) return undefined;
    headers[name] = kind === HEADER_STRING ? body.toString('utf8', pos, pos + valueLength) : Buffer.from(body.subarray(pos, pos + valueLength));
    pos += valueLength;
  }
  const value = take();
  if (value === undefined || pos !== body.length) return undefined;
  return { offset, timestamp, key, value, headers };
}

function segmentName(base: number): string {
  return `${String(base).padStart(20, '0')}${SEGMENT_SUFFIX}`;
}

interface Segment {
  base: number;
  file: string;
  bytes: number;
  /** When it was last written (ms), for retention by age. */
  lastWrite: number;
  /** When it became the active segment (ms), for rolling by age. */
  opened: number;
}

/** Frames of at least this size are encoded into a pooled block; smaller ones into Buffer.allocUnsafe's memory. */
const BLOCK_MIN_BYTES = 64 * 1024;
/** Blocks come in powers of two up to this size (larger frames get a buffer of their own, not kept)... */
const BLOCK_MAX_BYTES = 8 * 1024 ** 2;
/**
 * ... and idle ones are kept up to this many bytes in all: about what sends have in flight when
 * they come fast (32 sends of a megabyte over 4 partitions, in blocks rounded up to a power of two).
 * Fewer would mean fresh memory again for most sends, just when they are many; a log idle for a
 * maintenance interval gives them all back (FrameBlocks.trim).
 */
const BLOCKS_KEPT_BYTES = 64 * 1024 ** 2;

/**
 * The memory large sends' frames are encoded into, reused: a fresh buffer of a megabyte per send
 * costs page faults and garbage-collector work per record's worth of bytes. A block goes back
 * (put) once the write of its frames is done, never earlier.
 */
export class FrameBlocks {
  /** Idle blocks by size. */
  readonly #idle = new Map<number, ArrayBuffer[]>();
  #idleBytes = 0;
  /** A block was taken since the last trim(). */
  #taken = false;

  take(bytes: number): Buffer {
    if (bytes < BLOCK_MIN_BYTES) return Buffer.allocUnsafe(bytes);
    const size = 2 ** Math.ceil(Math.log2(bytes));
    if (size > BLOCK_MAX_BYTES) return Buffer.allocUnsafeSlow(bytes);
    this.#taken = true;
    let block = this.#idle.get(size)?.pop();
    if (block) this.#idleBytes -= size;
    else block = Buffer.allocUnsafeSlow(size).buffer as ArrayBuffer;
    return Buffer.from(block, 0, bytes);
  }

  /** Gives back the idle blocks when none was taken since the last trim. */
  trim(): void {
    if (!this.#taken) {
      this.#idle.clear();
      this.#idleBytes = 0;
    }
    this.#taken = false;
  }

  /** Takes back the memory of frames whose write is done (a block; anything else is left to the garbage collector). */
  put(frames: Buffer): void {
    const block = frames.buffer as ArrayBuffer;
    const size = block.byteLength;
    if (frames.length < BLOCK_MIN_BYTES || size > BLOCK_MAX_BYTES || (size & (size - 1)) !== 0 || this.#idleBytes + size > BLOCKS_KEPT_BYTES) return;
    const idle = this.#idle.get(size) ?? this.#idle.set(size, []).get(size)!;
    idle.push(block);
    this.#idleBytes += size;
  }
}

interface PendingAppend {
  frames: Buffer;
  firstOffset: number;
  /** Runs once the frames are durable, before the send resolves, in append order. */
  onDurable: () => void;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** One partition's segments; every change to them runs in #exclusive, one at a time. */
export class PartitionLog {
  readonly topic: string;
  readonly partition: number;
  readonly dir: string;
  segments: Segment[] = [];
  /** The offset the next record gets written with. */
  end = 0;
  #handle: FileHandle | undefined;
  #queue: PendingAppend[] = [];
  #lock: Promise<void> = Promise.resolve();
  /** Bytes written to the active segment since its last fsync (fsync 'interval'). */
  unsynced = 0;
  /** A closed segment appeared since the last compaction. */
  compactable = false;
  #failed: Error | undefined;

  constructor(root: string, topic: string, partition: number) {
    this.topic = topic;
    this.partition = partition;
    this.dir = path.join(root, `${topic}-${partition}`);
  }

  get queued(): boolean {
    return this.#queue.length > 0;
  }

  get bytes(): number {
    let n = 0;
    for (const s of this.segments) n += s.bytes;
    return n;
  }

  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn);
    this.#lock = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Lists the segments and cuts a torn tail off the last one; sets `end`. */
  async open(): Promise<{ cutBytes: number }> {
    let names: string[];
    try {
      names = (await readdir(this.dir)).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { cutBytes: 0 };
      throw err;
    }
    for (const name of names) {
      const file = path.join(this.dir, name);
      const s = await stat(file);
      this.segments.push({ base: Number(name.slice(0, -SEGMENT_SUFFIX.length)), file, bytes: s.size, lastWrite: s.mtimeMs, opened: s.mtimeMs });
    }
    const last = this.segments.at(-1);
    if (!last) return { cutBytes: 0 };
    this.end = last.base;
    const buf = await readFile(last.file);
    const valid = decodeFrames(buf, (r) => {
      this.end = r.offset + 1;
    });
    if (valid < buf.length) {
      await truncate(last.file, valid);
      last.bytes = valid;
    }
    return { cutBytes: buf.length - valid };
  }

  /** Reads the records at or past `from` (every record when from is 0), in offset order. */
  async read(from: number, onRecord: (r: LogRecord) => void): Promise<void> {
    for (let i = 0; i < this.segments.length; i++) {
      const next = this.segments[i + 1];
      if (next && next.base <= from) continue;
      const buf = await readFile(this.segments[i]!.file);
      decodeFrames(buf, (r) => {
        if (r.offset >= from) onRecord(r);
      });
    }
  }

  /** Queues a send's records (`records[0]` at offset `end`, the rest following), encoded into memory from `blocks`. */
  append(blocks: FrameBlocks, records: readonly LogRecord[], tombstones: ReadonlySet<object> | undefined, onDurable: () => void): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    const frames = encodeRecords(records, { tombstones, alloc: (n) => blocks.take(n) });
    const firstOffset = records[0]!.offset;
    this.end = firstOffset + records.length;
    return new Promise((resolve, reject) => this.#queue.push({ frames, firstOffset, onDurable, resolve, reject }));
  }

  /** Writes what is queued to the active segment (rolling it first when it is full or old), fsyncs with `sync`, then resolves the sends. */
  flush(blocks: FrameBlocks, options: { sync: boolean; segmentBytes: number; segmentMs: number; syncOnRoll: boolean }): Promise<void> {
    return this.exclusive(async () => {
      const batch = this.#queue;
      if (batch.length === 0) return;
      this.#queue = [];
      try {
        const active = this.segments.at(-1);
        const now = Date.now();
        if (!active || (active.bytes > 0 && (active.bytes >= options.segmentBytes || now - active.opened >= options.segmentMs))) {
          await this.#roll(batch[0]!.firstOffset, options.syncOnRoll);
        } else if (!this.#handle) {
          this.#handle = await open(active.file, 'a');
        }
        // One writev for the batch (libuv writes past IOV_MAX and partial writes in a loop).
        const pieces = batch.map((b) => b.frames);
        let bytes = 0;
        for (const b of batch) bytes += b.frames.length;
        const { bytesWritten } = await this.#handle!.writev(pieces);
        if (bytesWritten !== bytes) throw new Error(`short write: ${bytesWritten} of ${bytes} bytes`);
        const segment = this.segments.at(-1)!;
        segment.bytes += bytes;
        segment.lastWrite = now;
        if (options.sync) await this.#handle!.datasync();
        else this.unsynced += bytes;
      } catch (err) {
        // What reached the file is unknown now: refuse every later send rather than leave a hole in the offsets.
        this.#failed = new BusUnavailableError(
          `the bus log of ${this.topic} partition ${this.partition} failed (${errorMessage(err)}); restart to recover from ${this.dir}`,
          err,
        );
        const refused = [...batch, ...this.#queue];
        this.#queue = [];
        for (const b of refused) {
          blocks.put(b.frames);
          b.reject(this.#failed);
        }
        return;
      }
      for (const b of batch) {
        blocks.put(b.frames);
        b.onDurable();
        b.resolve();
      }
    });
  }

  /** Closes the active segment and starts a new one at `base`. */
  async #roll(base: number, sync: boolean): Promise<void> {
    if (this.#handle) {
      if (sync && this.unsynced > 0) await this.#handle.datasync();
      await this.#handle.close();
      this.#handle = undefined;
      this.unsynced = 0;
    }
    await mkdir(this.dir, { recursive: true });
    const file = path.join(this.dir, segmentName(base));
    this.#handle = await open(file, 'a');
    const now = Date.now();
    if (this.segments.length > 0) this.compactable = true;
    this.segments.push({ base, file, bytes: 0, lastWrite: now, opened: now });
  }

  /** fsync 'interval': one fsync of what was written since the last one. */
  sync(): Promise<void> {
    return this.exclusive(async () => {
      if (!this.#handle || this.unsynced === 0) return;
      this.unsynced = 0;
      await this.#handle.datasync();
    });
  }

  /** Rolls an idle active segment that is older than segmentMs, so that age retention can reach its records. */
  rollIfOld(segmentMs: number, sync: boolean): Promise<void> {
    return this.exclusive(async () => {
      const active = this.segments.at(-1);
      if (active && active.bytes > 0 && Date.now() - active.opened >= segmentMs) await this.#roll(this.end, sync);
    });
  }

  /**
   * Deletes closed segments, oldest first, while each lies wholly below `protectedFrom` (every
   * group's committed offset) and is past retention by age or by the partition's size.
   */
  retain(protectedFrom: number, retentionMs: number, retentionBytes: number): Promise<number> {
    return this.exclusive(async () => {
      let deleted = 0;
      let total = this.bytes;
      const now = Date.now();
      while (this.segments.length > 1) {
        const [oldest, next] = [this.segments[0]!, this.segments[1]!];
        if (next.base > protectedFrom) break;
        if (now - oldest.lastWrite <= retentionMs && total <= retentionBytes) break;
        await unlink(oldest.file);
        total -= oldest.bytes;
        this.segments.shift();
        deleted++;
      }
      return deleted;
    });
  }

  /**
   * Compaction: the closed segments wholly below `protectedFrom` keep only the latest record of each
   * key over the whole partition, tombstones dropped (so the uncommitted part stays contiguous for
   * the groups still reading it).
   */
  compact(protectedFrom: number): Promise<number> {
    return this.exclusive(async () => {
      this.compactable = false;
      const closed = this.segments.slice(0, -1).filter((s, i) => this.segments[i + 1]!.base <= protectedFrom);
      if (closed.length === 0) return 0;
      const latest = new Map<string, { offset: number; tombstone: boolean }>();
      for (const s of this.segments) {
        decodeFrames(await readFile(s.file), (r) => {
          if (r.key) latest.set(r.key.toString('latin1'), { offset: r.offset, tombstone: r.value === null });
        });
      }
      let removed = 0;
      for (const s of closed) {
        const buf = await readFile(s.file);
        const kept: Buffer[] = [];
        let total = 0;
        decodeFrames(buf, (r, start, end) => {
          const l = r.key ? latest.get(r.key.toString('latin1')) : undefined;
          if (l && l.offset === r.offset && !l.tombstone) kept.push(buf.subarray(start, end));
          else removed++;
          total++;
        });
        if (kept.length === total) continue;
        if (kept.length === 0) {
          await unlink(s.file);
          this.segments.splice(this.segments.indexOf(s), 1);
          continue;
        }
        const data = Buffer.concat(kept);
        const temp = `${s.file}.compacting`;
        const h = await open(temp, 'w');
        try {
          await h.write(data);
          await h.datasync();
        } finally {
          await h.close();
        }
        await rename(temp, s.file);
        await utimes(s.file, s.lastWrite / 1000, s.lastWrite / 1000);
        s.bytes = data.length;
      }
      return removed;
    });
  }

  close(): Promise<void> {
    return this.exclusive(async () => {
      if (this.unsynced > 0) await this.#handle?.datasync();
      await this.#handle?.close();
      this.#handle = undefined;
    });
  }
}

/** A group's persisted commits: one JSON file, replaced whole (temp + rename). */
class GroupFile {
  readonly file: string;
  /** What the file holds. */
  persisted = new Map<PartitionKey, { topic: string; partition: number; offset: number }>();
  /** The latest set asked for (written or not yet). */
  requested: ReadonlyMap<PartitionKey, { topic: string; partition: number; offset: number }> = new Map();
  #next: Map<PartitionKey, { topic: string; partition: number; offset: number }> | undefined;
  #writing: Promise<void> | undefined;

  constructor(
    dir: string,
    readonly group: string,
  ) {
    this.file = path.join(dir, `${encodeURIComponent(group)}.json`);
  }

  save(offsets: Map<PartitionKey, { topic: string; partition: number; offset: number }>, sync: boolean): Promise<void> {
    this.#next = offsets;
    this.requested = offsets;
    this.#writing ??= this.#write(sync).finally(() => (this.#writing = undefined));
    return this.#writing;
  }

  async #write(sync: boolean): Promise<void> {
    while (this.#next) {
      const offsets = this.#next;
      this.#next = undefined;
      const body = JSON.stringify({ group: this.group, offsets: [...offsets.values()].map((o) => [o.topic, o.partition, o.offset]) });
      await replaceFile(this.file, body, sync);
      this.persisted = offsets;
    }
  }

  idle(): Promise<void> {
    return this.#writing ?? Promise.resolve();
  }
}

/**
 * The partitions of every topic under one directory, the topics' specs, and each consumer group's
 * committed offsets. Appends of one tick are written and fsynced together (one fsync per partition
 * touched, however many sends it holds).
 */
export class DiskLog {
  readonly dir: string;
  readonly #config: BusLogConfig;
  readonly #partitions = new Map<PartitionKey, PartitionLog>();
  readonly #groups = new Map<string, GroupFile>();
  readonly #blocks = new FrameBlocks();
  readonly topics = new Map<string, TopicMeta>();
  /** Each partition's flush under way (and the sends it will take). */
  readonly #flushing = new Map<PartitionLog, Promise<void>>();
  #maintaining: Promise<void> | undefined;
  #timers: NodeJS.Timeout[] = [];
  #topicsWrite: Promise<void> = Promise.resolve();
  #closed = false;
  /** What open() found: bytes cut off torn tails, per partition. */
  readonly repaired: { topic: string; partition: number; cutBytes: number }[] = [];

  private constructor(dir: string, config: BusLogConfig) {
    this.dir = dir;
    this.#config = config;
  }

  /** Opens (or creates) the log in dir: reads the topics and the groups' commits, cuts torn tails. */
  static async open(dir: string, options: DiskLogOptions = {}): Promise<DiskLog> {
    const log = new DiskLog(path.resolve(dir), { ...DISK_LOG_DEFAULTS, ...options });
    await mkdir(path.join(log.dir, GROUPS_DIR), { recursive: true });
    await log.#lock();
    try {
      const topics = JSON.parse(await readFile(path.join(log.dir, TOPICS_FILE), 'utf8')) as Record<string, TopicMeta>;
      for (const [name, meta] of Object.entries(topics)) log.topics.set(name, meta);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new AirdigError(ErrorCodes.BUS_UNAVAILABLE, `cannot read ${path.join(log.dir, TOPICS_FILE)}: ${errorMessage(err)}`);
    }
    for (const [name, meta] of log.topics) {
      for (let p = 0; p < meta.partitions; p++) {
        const part = log.partition(name, p);
        const { cutBytes } = await part.open();
        if (cutBytes > 0) log.repaired.push({ topic: name, partition: p, cutBytes });
      }
    }
    for (const name of await readdir(path.join(log.dir, GROUPS_DIR))) {
      if (!name.endsWith('.json')) continue;
      const body = JSON.parse(await readFile(path.join(log.dir, GROUPS_DIR, name), 'utf8')) as { group: string; offsets: [string, number, number][] };
      const g = log.#group(body.group);
      for (const [topic, partition, offset] of body.offsets) g.persisted.set(partitionKey(topic, partition), { topic, partition, offset });
    }
    const c = log.#config;
    if (c.fsync === 'interval') log.#timers.push(setInterval(() => void log.#syncAll(), c.fsync_interval_ms).unref());
    log.#timers.push(setInterval(() => void log.maintain(), c.maintenance_interval_ms).unref());
    return log;
  }

  /** One process per log: a lock file with the pid; a lock whose process is gone (kill -9) is taken over. */
  async #lock(): Promise<void> {
    const file = path.join(this.dir, LOCK_FILE);
    for (;;) {
      try {
        await writeFile(file, String(process.pid), { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const pid = Number(readFileSync(file, 'utf8'));
      if (pid > 0 && pid !== process.pid && processAlive(pid)) {
        throw new AirdigError(ErrorCodes.BUS_UNAVAILABLE, `the bus log in ${this.dir} is in use by process ${pid}`);
      }
      await unlink(file).catch(() => undefined);
    }
  }

  get config(): BusLogConfig {
    return this.#config;
  }

  partition(topic: string, partition: number): PartitionLog {
    const k = partitionKey(topic, partition);
    let p = this.#partitions.get(k);
    if (!p) {
      p = new PartitionLog(this.dir, topic, partition);
      this.#partitions.set(k, p);
    }
    return p;
  }

  /** Records a topic's spec (kept across restarts, as a broker keeps a topic's config). */
  defineTopic(name: string, meta: TopicMeta): Promise<void> {
    if (this.topics.has(name)) return this.#topicsWrite;
    this.topics.set(name, meta);
    const body = JSON.stringify(Object.fromEntries(this.topics), null, 1);
    this.#topicsWrite = this.#topicsWrite.then(() => replaceFile(path.join(this.dir, TOPICS_FILE), body, this.#config.fsync !== 'never'));
    return this.#topicsWrite;
  }

  /**
   * Queues a send's records for a partition (consecutive offsets from its end; a null value, or a
   * record in `tombstones`, is a tombstone); resolves once they are on disk as the fsync policy
   * says, after onDurable ran.
   */
  append(part: PartitionLog, records: readonly LogRecord[], tombstones: ReadonlySet<object> | undefined, onDurable: () => void): Promise<void> {
    if (this.#closed) return Promise.reject(new AirdigError(ErrorCodes.BUS_CLOSED, 'in-process bus is closed'));
    const done = part.append(this.#blocks, records, tombstones, onDurable);
    // Every send of this tick joins one write and one fsync per partition; sends during its flush join
    // the partition's next one, which starts as soon as that flush is done (not when every partition's is).
    if (!this.#flushing.has(part))
      this.#flushing.set(
        part,
        new Promise<void>((r) => setImmediate(r)).then(() => this.#flushPartition(part)),
      );
    return done;
  }

  async #flushPartition(part: PartitionLog): Promise<void> {
    const c = this.#config;
    const options = { sync: c.fsync === 'batch', segmentBytes: c.segment_bytes, segmentMs: c.segment_ms, syncOnRoll: c.fsync !== 'never' };
    try {
      while (part.queued) await part.flush(this.#blocks, options);
    } finally {
      this.#flushing.delete(part);
    }
  }

  async #syncAll(): Promise<void> {
    await Promise.all([...this.#partitions.values()].map((p) => p.sync().catch(() => undefined)));
  }

  #group(id: string): GroupFile {
    let g = this.#groups.get(id);
    if (!g) {
      g = new GroupFile(path.join(this.dir, GROUPS_DIR), id);
      this.#groups.set(id, g);
    }
    return g;
  }

  /** Commits as persisted, per group. */
  committed(): Map<string, ReadonlyMap<PartitionKey, { topic: string; partition: number; offset: number }>> {
    return new Map([...this.#groups].map(([id, g]) => [id, g.persisted]));
  }

  /** Persists a group's commits (the whole set; coalesced while a write is under way). */
  saveCommits(group: string, offsets: Map<PartitionKey, { topic: string; partition: number; offset: number }>): Promise<void> {
    return this.#group(group).save(offsets, this.#config.fsync !== 'never');
  }

  /** The lowest persisted commit of any group on a partition; Infinity when no group reads it. */
  protectedFrom(topic: string, partition: number): number {
    const k = partitionKey(topic, partition);
    let low = Infinity;
    for (const g of this.#groups.values()) {
      // Commits only grow: the persisted one, or for a group whose first write is under way, the one asked for.
      const c = g.persisted.get(k) ?? g.requested.get(k);
      if (c && c.offset < low) low = c.offset;
    }
    return low;
  }

  /** Rolls old segments, deletes what retention allows, compacts compacted topics. One pass at a time. */
  maintain(): Promise<void> {
    this.#maintaining ??= this.#maintain().finally(() => (this.#maintaining = undefined));
    return this.#maintaining;
  }

  async #maintain(): Promise<void> {
    const c = this.#config;
    this.#blocks.trim();
    for (const part of this.#partitions.values()) {
      if (this.#closed) return;
      const meta = this.topics.get(part.topic);
      try {
        await part.rollIfOld(c.segment_ms, c.fsync !== 'never');
        const protectedFrom = this.protectedFrom(part.topic, part.partition);
        await part.retain(protectedFrom, meta?.retentionMs ?? c.retention_ms, c.retention_bytes);
        if (meta?.compacted && part.compactable) await part.compact(protectedFrom);
      } catch {
        // Maintenance runs again at the next interval; appends do not depend on it.
      }
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    for (const t of this.#timers) clearInterval(t);
    await Promise.all(this.#flushing.values());
    await this.#maintaining;
    await this.#topicsWrite.catch(() => undefined);
    await Promise.all([...this.#groups.values()].map((g) => g.idle().catch(() => undefined)));
    await Promise.all([...this.#partitions.values()].map((p) => p.close().catch(() => undefined)));
    await unlink(path.join(this.dir, LOCK_FILE)).catch(() => undefined);
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function replaceFile(file: string, body: string, sync: boolean): Promise<void> {
  const temp = `${file}.tmp`;
  const h = await open(temp, 'w');
  try {
    await h.writeFile(body);
    if (sync) await h.datasync();
  } finally {
    await h.close();
  }
  await rename(temp, file);
}
