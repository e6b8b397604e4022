import { createHash } from 'node:crypto';
import { backoffMs, sleep } from '../clock.js';
import { toStoreError, type Store } from './store.js';
import type { StoreError } from '../errors.js';

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
}

/** Rows of one write() call that ClickHouse refused for good, by their index in that call. */
export interface RejectedRow {
  index: number;
  error: StoreError;
}

interface Pending<Row> {
  rows: Row[];
  resolve: (rejected: RejectedRow[]) => void;
  reject: (err: unknown) => void;
}

/**
 * Gathers rows from many write() calls into one INSERT, bounded by rows and time. Each insert
 * carries an insert_deduplication_token derived from its content, so a retry after an ambiguous
 * failure (timeout, connection cut) does not write the block twice. A block that ClickHouse refuses
 * for good is split until the refused rows are found alone; those are reported back to their
 * callers (who send their source records to the DLQ) and the rest is written.
 */
export class InsertBatcher<Row extends object> {
  readonly #opts: Required<Omit<InsertBatcherOptions, 'onInsert' | 'onRetry'>> & Pick<InsertBatcherOptions, 'onInsert' | 'onRetry'>;
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

  /** Resolves once the rows are written, with the rows refused for good. */
  write(rows: Row[]): Promise<RejectedRow[]> {
    if (rows.length === 0) return Promise.resolve([]);
    if (this.#closed) return Promise.reject(new Error(`batcher for ${this.#opts.table} is closed`));
    return new Promise((resolve, reject) => {
      this.#pending.push({ rows, resolve, reject });
      this.#pendingRows += rows.length;
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
      const refused = await this.#insertOrBisect(rows, 0);
      const perCaller: RejectedRow[][] = pending.map(() => []);
      const firstIndex = pending.map(() => -1);
      let at = 0;
      pending.forEach((p, i) => {
        firstIndex[i] = at;
        at += p.rows.length;
      });
      for (const { index, error } of refused) perCaller[owner[index]!]!.push({ index: index - firstIndex[owner[index]!]!, error });
      pending.forEach((p, i) => p.resolve(perCaller[i]!));
    } catch (err) {
      for (const p of pending) p.reject(err);
    }
  }

  /** Inserts rows[offset…]; returns the rows refused for good, with indexes relative to the whole block. */
  async #insertOrBisect(rows: Row[], offset: number): Promise<RejectedRow[]> {
    try {
      await this.#insertWithRetry(rows);
      return [];
    } catch (err) {
      const e = err as StoreError;
      if (e.retryable) throw e;
      if (rows.length === 1) return [{ index: offset, error: e }];
      const mid = rows.length >>> 1;
      const left = await this.#insertOrBisect(rows.slice(0, mid), offset);
      const right = await this.#insertOrBisect(rows.slice(mid), offset + mid);
      return [...left, ...right];
    }
  }

  async #insertWithRetry(rows: Row[]): Promise<void> {
    const body = rows.map((r) => JSON.stringify(r)).join('\n');
    const token = createHash('sha256').update(this.#opts.table).update('\n').update(body).digest('hex');
    for (let attempt = 0; ; attempt++) {
      const started = Date.now();
      try {
        await this.#opts.store.client.insert({
          table: this.#opts.table,
          values: rows,
          format: 'JSONEachRow',
          clickhouse_settings: { insert_deduplication_token: token, date_time_input_format: 'best_effort' },
        });
        this.#opts.onInsert?.(rows.length, Date.now() - started);
        return;
      } catch (err) {
        const e = toStoreError(err, `insert into ${this.#opts.table}`);
        if (!e.retryable || attempt + 1 >= this.#opts.maxAttempts) throw e;
        this.#opts.onRetry?.(e, attempt);
        await sleep(backoffMs(attempt, 100, 5_000));
      }
    }
  }
}
