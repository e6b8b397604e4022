import { createClient, ClickHouseError, ClickHouseLogLevel, type ClickHouseClient } from '@clickhouse/client';
import { ErrorCodes, StoreError } from '../errors.js';
import { clickhouseSchema } from '../config/schema.js';

/** ClickHouse's own database, which always exists. */
const SERVER_DEFAULT_DATABASE = 'default';

export interface StoreOptions {
  /** A ClickHouse server: http[s]://user:password@host:8123 — the embedded engine's writer URL or a server's. */
  url: string;
  /** service.clickhouse.database: where AirDig's tables live (created if missing); a database in the URL's path wins. */
  database?: string;
  request_timeout_ms?: number;
}

const CLICKHOUSE_DEFAULTS = clickhouseSchema.parse({});

/** ClickHouse over its HTTP interface, behind one @clickhouse/client, in both modes. */
export interface Store {
  readonly client: ClickHouseClient;
  readonly database: string;
  ping(): Promise<void>;
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

export function openStore(options: StoreOptions): Store {
  const target = new URL(options.url);
  const c = { ...CLICKHOUSE_DEFAULTS, ...options };
  const database = target.pathname.length > 1 ? decodeURIComponent(target.pathname.slice(1)) : c.database;
  target.pathname = '/';
  const base = { url: target.toString(), request_timeout: c.request_timeout_ms, log: { level: ClickHouseLogLevel.OFF } };
  // The client's own console logging is off: failures surface as StoreErrors and are logged by AirDig.
  const client = createClient({ ...base, database, compression: { request: false, response: true } });
  let created = false;
  let closed = false;
  return {
    client,
    database,
    async ping() {
      const r = await client.ping();
      if (!r.success) throw toStoreError(r.error, 'ping');
      if (created || database === SERVER_DEFAULT_DATABASE) return;
      // A client bound to a database that does not exist fails every request, CREATE DATABASE included.
      const admin = createClient({ ...base, database: SERVER_DEFAULT_DATABASE });
      try {
        await admin.command({ query: `CREATE DATABASE IF NOT EXISTS \`${database.replace(/`/g, '')}\`` });
        created = true;
      } catch (err) {
        throw toStoreError(err, `create database ${database}`);
      } finally {
        await admin.close();
      }
    },
    async close() {
      if (closed) return;
      closed = true;
      await client.close();
    },
  };
}
