import { createClient, ClickHouseError, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import { createChdbConnection } from 'chdb/connection';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, StoreError } from '../errors.js';

export const DEFAULT_DATABASE = 'default';

export interface StoreOptions {
  /** A ClickHouse server (http[s]://user:pass@host:8123). Without it, the embedded engine (chDB) runs under dataDir. */
  url?: string;
  /** Directory of the embedded engine's data. */
  dataDir?: string;
  database?: string;
  requestTimeoutMs?: number;
}

/** The raw answer of a query in a text format, as a ClickHouse server's HTTP interface gives it. */
export interface RawResult {
  body: Buffer;
}

/** ClickHouse, embedded or a server, behind one @clickhouse/client. */
export interface Store {
  readonly kind: 'chdb' | 'server';
  readonly client: ClickHouseClient;
  readonly database: string;
  ping(): Promise<void>;
  /** Runs a statement and returns its output in the format it names (or defaultFormat). */
  queryRaw(sql: string, defaultFormat: string, settings?: Record<string, string>): Promise<RawResult>;
  close(): Promise<void>;
}

/** ClickHouse error codes that a retry of the same request can fix. */
const RETRYABLE_CLICKHOUSE_CODES = new Set([
  3, // UNEXPECTED_END_OF_FILE (connection cut mid-answer)
  159, // TIMEOUT_EXCEEDED
  202, // TOO_MANY_SIMULTANEOUS_QUERIES
  209, // SOCKET_TIMEOUT
  210, // NETWORK_ERROR
  241, // MEMORY_LIMIT_EXCEEDED
  242, // TABLE_IS_READ_ONLY
  252, // TOO_MANY_PARTS
  319, // UNKNOWN_STATUS_OF_INSERT
  425, // SYSTEM_ERROR
  999, // KEEPER_EXCEPTION
]);

const NETWORK_ERROR_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'UND_ERR_SOCKET']);

/** The ClickHouse error code carried by an error from either connection, if any. */
export function clickhouseCode(err: unknown): number | undefined {
  if (err instanceof StoreError) return err.clickhouseCode;
  const e = err as { clickhouseCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e?.clickhouseCode === 'number') return e.clickhouseCode;
  if (err instanceof ClickHouseError && /^\d+$/.test(err.code)) return Number(err.code);
  const m = typeof e?.message === 'string' ? /^Code: (\d+)\./.exec(e.message) : null;
  return m ? Number(m[1]) : undefined;
}

/** Wraps any error from ClickHouse into a StoreError that says whether a retry can help. */
export function toStoreError(err: unknown, what: string): StoreError {
  if (err instanceof StoreError) return err;
  const code = clickhouseCode(err);
  const sys = (err as { code?: unknown })?.code;
  const message = err instanceof Error ? err.message : String(err);
  const network = typeof sys === 'string' && NETWORK_ERROR_CODES.has(sys);
  const timeout = /timeout|socket hang up/i.test(message) && code === undefined;
  if (code === undefined && (network || timeout)) {
    return new StoreError(ErrorCodes.STORE_UNAVAILABLE, `${what}: ClickHouse unreachable: ${message}`, { cause: err, retryable: true });
  }
  const retryable = code !== undefined && RETRYABLE_CLICKHOUSE_CODES.has(code);
  return new StoreError(retryable ? ErrorCodes.STORE_UNAVAILABLE : ErrorCodes.STORE_REJECTED, `${what}: ${message}`, {
    cause: err,
    retryable,
    ...(code === undefined ? {} : { clickhouseCode: code }),
  });
}

interface ChdbExtension {
  queryAsync(sql: string, opts?: { format?: string }): Promise<{ bytes(): Uint8Array }>;
}

export function openStore(options: StoreOptions): Store {
  const database = options.database ?? DEFAULT_DATABASE;
  if (options.url) return openServer(options.url, database, options.requestTimeoutMs ?? 30_000);
  const dir = path.resolve(options.dataDir ?? './airdig-data', 'clickhouse');
  mkdirSync(dir, { recursive: true });
  const connection = createChdbConnection({ path: dir });
  const client = createClient({ connection } as Parameters<typeof createClient>[0]);
  const chdb = (connection as unknown as { chdb: ChdbExtension }).chdb;
  let closed = false;
  return {
    kind: 'chdb',
    client,
    database,
    async ping() {
      try {
        await chdb.queryAsync('SELECT 1', { format: 'TabSeparated' });
      } catch (err) {
        throw toStoreError(err, 'ping');
      }
    },
    async queryRaw(sql, defaultFormat) {
      try {
        const r = await chdb.queryAsync(sql, { format: defaultFormat });
        const bytes = r.bytes();
        return { body: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
      } catch (err) {
        throw toStoreError(err, 'query');
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}

function openServer(url: string, database: string, requestTimeoutMs: number): Store {
  // The client's own console logging is off: failures surface as StoreErrors and are logged by AirDig.
  const client = createClient({ url, database, request_timeout: requestTimeoutMs, compression: { request: false, response: true }, log: { level: ClickHouseLogLevel.OFF } });
  let closed = false;
  return {
    kind: 'server',
    client,
    database,
    async ping() {
      const r = await client.ping();
      if (!r.success) throw toStoreError(r.error, 'ping');
    },
    async queryRaw(sql, defaultFormat, settings = {}) {
      try {
        const r = await client.exec({ query: sql, clickhouse_settings: { default_format: defaultFormat, ...settings } as Record<string, string> });
        const chunks: Buffer[] = [];
        for await (const c of r.stream) chunks.push(c as Buffer);
        return { body: Buffer.concat(chunks) };
      } catch (err) {
        throw toStoreError(err, 'query');
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}
