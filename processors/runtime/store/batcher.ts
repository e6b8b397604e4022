import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { drainStream } from '@clickhouse/client';
import { backoffMs, sleep } from '../clock.js';
import { toStoreError, type Store } from './store.js';
import type { StoreError } from '../errors.js';
import { compileRowBinaryEncoder, DirectRows, rowCount, type ColumnDescription, type EncodedRows, type RowBinaryEncoder } from './rowbinary.js';

export const DEFAULT_BATCH_MAX_ROWS = 10_000;
export const DEFAULT_BATCH_MAX_DELAY_MS = 200;
export const DEFAULT_INSERT_ATTEMPTS = 8;

export interface InsertBatcherOptions {
  store: Store;
  table: string;
  /** Flush once this many rows are pending. */
  maxRows?: number;
  /** Flush at the latest this long after the first pending row. */
  maxDelayMs?: number;
  /** Attempts for a retryable failure before write() rejects (the caller's batch is then delivered again). */
  maxAttempts?: number;
  onInsert?: (rows: number, ms: number) => void;
  onRetry?: (err: StoreError, attempt: number) => void;
  /** DirectRows that the table's columns do not fit are encoded from their row objects: why (once per layout and table columns). */
  onDirectFallback?: (message: string) => void;
}

/** Rows of one write() call that ClickHouse refused for good, by their index in that call. */
export interface RejectedRow {
  /** The item of the write() (a row object, or the DirectRows holding the row). */
  index: number;
  error: StoreError;
  /** How many rows this stands for (DirectRows whose row objects could not be made): 1 if absent. */
  rows?: number;
}

interface Pending<Row> {
  rows: Row[];
  resolve: (rejected: RejectedRow[]) => void;
  reject: (err: unknown) => void;
}

/** Sends rows [lo, hi) of a block; throws a StoreError. */
type Send = (lo: number, hi: number) => Promise<void>;

/**
 * ClickHouse errors after which the encoder's column list may be stale (a column dropped or
 * renamed since it was compiled): the table's columns are read again once before bisecting.
 */
const SCHEMA_CHANGED_CODES = new Set([
  10, // NOT_FOUND_COLUMN_IN_BLOCK
  16, // NO_SUCH_COLUMN_IN_TABLE
  47, // UNKNOWN_IDENTIFIER
]);

// One encoder per table and store, shared by every batcher of that table; a failed look-up is forgotten, so the
// next flush asks again.
interface CachedEncoder {
  promise: Promise<RowBinaryEncoder>;
  encoder?: RowBinaryEncoder;
}
const encoders = new WeakMap<Store, Map<string, CachedEncoder>>();

async function loadEncoder(store: Store, table: string): Promise<RowBinaryEncoder> {
  const dot = table.indexOf('.');
  const database = dot < 0 ? '' : table.slice(0, dot);
  const name = dot < 0 ? table : table.slice(dot + 1);
  let columns: ColumnDescription[];
  try {
    const r = await store.client.query({
      query: `SELECT name, type, default_kind FROM system.columns
        WHERE database = if({db:String} = '', currentDatabase(), {db:String}) AND table = {t:String} ORDER BY position`,
      query_params: { db: database, t: name },
      format: 'JSONEachRow',
    });
    columns = await r.json<ColumnDescription>();
  } catch (err) {
    throw toStoreError(err, `reading the columns of ${table}`);
  }
  return compileRowBinaryEncoder(table, columns);
}

/** The RowBinary encoder of a table, compiled on first use from system.columns. */
export function rowBinaryEncoderFor(store: Store, table: string): Promise<RowBinaryEncoder> {
  let byTable = encoders.get(store);
  if (!byTable) encoders.set(store, (byTable = new Map()));
  const cached = byTable.get(table);
  if (cached) return cached.promise;
  const entry: CachedEncoder = { promise: loadEncoder(store, table) };
  byTable.set(table, entry);
  entry.promise.then(
    (e) => (entry.encoder = e),
    () => byTable.get(table) === entry && byTable.delete(table),
  );
  return entry.promise;
}

/** Drops a table's encoder (its columns changed), unless another batcher already replaced it. */
function forgetEncoder(store: Store, table: string, encoder: RowBinaryEncoder): void {
  const byTable = encoders.get(store);
  if (byTable?.get(table)?.encoder === encoder) byTable.delete(table);
}

/**
 * Gathers rows from many write() calls into one INSERT, bounded by rows and time. Each insert
 * carries an insert_deduplication_token derived from its content, so a retry after an ambiguous
 * failure (timeout, connection cut) does not write the block twice. A block that ClickHouse refuses
 * for good is split until the refused rows are found alone; those are reported back to their
 * callers (who send their source records to the DLQ) and the rest is written.
 *
 * Rows are encoded once as RowBinaryWithDefaults from the table's column types (a row whose value
 * cannot be written as its column's type is refused on the spot, without a round trip), and
 * bisection resends slices of the encoded bytes. DirectRows (rows a sink encoded itself) go into
 * the body as they are when the table's columns are their layout, and are released once the block
 * is done; bisection still finds their rows one by one, and a refused one is reported as its
 * DirectRows' index (so its record goes to the DLQ).
 */
export class InsertBatcher<Row extends object> {
  readonly #opts: Required<Omit<InsertBatcherOptions, 'onInsert' | 'onRetry' | 'onDirectFallback'>> &
    Pick<InsertBatcherOptions, 'onInsert' | 'onRetry' | 'onDirectFallback'>;
  #pending: Pending<Row>[] = [];
  #pendingRows = 0;
  #timer: NodeJS.Timeout | undefined;
  #inflight = new Set<Promise<void>>();
  #closed = false;

  constructor(options: InsertBatcherOptions) {
    this.#opts = {
      maxRows: DEFAULT_BATCH_MAX_ROWS,
      maxDelayMs: DEFAULT_BATCH_MAX_DELAY_MS,
      maxAttempts: DEFAULT_INSERT_ATTEMPTS,
      ...options,
    };
  }

  /** Resolves once the rows (row objects, or DirectRows each holding several) are written, with the rows refused for good. */
  write(rows: Row[]): Promise<RejectedRow[]> {
    if (rows.length === 0) return Promise.resolve([]);
    if (this.#closed) return Promise.reject(new Error(`batcher for ${this.#opts.table} is closed`));
    return new Promise((resolve, reject) => {
      this.#pending.push({ rows, resolve, reject });
      this.#pendingRows += rowCount(rows);
      if (this.#pendingRows >= this.#opts.maxRows) this.#flushNow();
      else if (!this.#timer) this.#timer = setTimeout(() => this.#flushNow(), this.#opts.maxDelayMs);
    });
  }

  async flush(): Promise<void> {
    this.#flushNow();
    await Promise.all([...this.#inflight]);
  }

  async close(): Promise<void> {
    await this.flush();
    this.#closed = true;
  }

  #flushNow(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending.length === 0) return;
    const pending = this.#pending;
    this.#pending = [];
    this.#pendingRows = 0;
    const p = this.#insertAll(pending).finally(() => this.#inflight.delete(p));
    this.#inflight.add(p);
  }

  async #insertAll(pending: Pending<Row>[]): Promise<void> {
    const rows: Row[] = [];
    const owner: number[] = [];
    pending.forEach((p, i) => {
      for (const r of p.rows) {
        rows.push(r);
        owner.push(i);
      }
    });
    try {
      let refused: RejectedRow[];
      try {
        refused = await this.#insertRowBinary(rows);
      } finally {
        // Written or not, these bytes are not sent again: a failed batch comes back as new records.
        for (const r of rows) if (r instanceof DirectRows) r.release();
      }
      const perCaller: RejectedRow[][] = pending.map(() => []);
      const firstIndex = pending.map(() => -1);
      let at = 0;
      pending.forEach((p, i) => {
        firstIndex[i] = at;
        at += p.rows.length;
      });
      refused.sort((a, b) => a.index - b.index);
      for (const { index, error, rows } of refused)
        perCaller[owner[index]!]!.push({ index: index - firstIndex[owner[index]!]!, error, ...(rows === undefined ? {} : { rows }) });
      pending.forEach((p, i) => p.resolve(perCaller[i]!));
    } catch (err) {
      for (const p of pending) p.reject(err);
    }
  }

  /** RowBinaryWithDefaults over HTTP, encoded once; bisection sends slices of the same bytes. */
  async #insertRowBinary(rows: Row[]): Promise<RejectedRow[]> {
    const { store, table } = this.#opts;
    for (let fresh = false; ; fresh = true) {
      const encoder = await this.#withRetry(`reading the columns of ${table}`, () => rowBinaryEncoderFor(store, table));
      const block = encoder.encode(rows);
      for (const message of block.fallbacks) this.#opts.onDirectFallback?.(message);
      if (block.rows === 0) return block.refused;
      const send = this.#rowBinarySender(encoder, block);
      let failed: StoreError;
      try {
        await send(0, block.rows);
        return block.refused;
      } catch (err) {
        failed = err as StoreError;
      }
      if (failed.retryable) throw failed;
      if (!fresh && failed.clickhouseCode !== undefined && SCHEMA_CHANGED_CODES.has(failed.clickhouseCode)) {
        forgetEncoder(store, table, encoder);
        continue;
      }
      const found = await this.#bisect(0, block.rows, send, failed);
      return [...block.refused, ...found.map((r) => ({ index: block.source[r.index]!, error: r.error }))];
    }
  }

  #rowBinarySender(encoder: RowBinaryEncoder, block: EncodedRows): Send {
    const { client } = this.#opts.store;
    return async (lo, hi) => {
      const body = block.slice(lo, hi);
      // The statement names the table and columns the bytes are for. sha1: enough to tell blocks apart, and
      // fast on every CPU (sha256 is faster only with SHA extensions, md5 is slower than both there).
      const hash = createHash('sha1').update(encoder.insertQuery).update('\n');
      for (const part of body) hash.update(part);
      const token = hash.digest('hex');
      await this.#insertWithRetry(hi - lo, async () => {
        // exec, not insert(): the client's insert() takes JSON rows or text formats, not a binary body.
        const r = await client.exec({
          query: encoder.insertQuery,
          values: Readable.from(body, { objectMode: false }),
          clickhouse_settings: { insert_deduplication_token: token },
          decompress_response_stream: false,
        });
        await drainStream(r.stream);
      });
    };
  }

  /**
   * Inserts rows [lo, hi) (or, given `failed`, takes that they were just refused with it); returns the
   * rows refused for good, by block index.
   */
  async #bisect(lo: number, hi: number, send: Send, failed?: StoreError): Promise<RejectedRow[]> {
    let e = failed;
    if (!e) {
      try {
        await send(lo, hi);
        return [];
      } catch (err) {
        e = err as StoreError;
      }
    }
    if (e.retryable) throw e;
    if (hi - lo === 1) return [{ index: lo, error: e }];
    const mid = lo + ((hi - lo) >>> 1);
    return [...(await this.#bisect(lo, mid, send)), ...(await this.#bisect(mid, hi, send))];
  }

  /** One insert of `rows` rows, retried; reports its duration to onInsert. */
  #insertWithRetry(rows: number, insert: () => Promise<unknown>): Promise<void> {
    return this.#withRetry(`insert into ${this.#opts.table}`, async () => {
      const started = Date.now();
      await insert();
      this.#opts.onInsert?.(rows, Date.now() - started);
    });
  }

  /** Runs fn, retrying retryable failures with backoff; throws a StoreError. */
  async #withRetry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (err) {
        const e = toStoreError(err, what);
        if (!e.retryable || attempt + 1 >= this.#opts.maxAttempts) throw e;
        this.#opts.onRetry?.(e, attempt);
        await sleep(backoffMs(attempt, 100, 5_000));
      }
    }
  }
}
