import type http from 'node:http';
import { clickhouseCode, type Store } from '../store/store.js';
import { describeStatement, splitStatements } from '../store/sql.js';
import { listenHttp, readBody, type Listening } from '../http.js';
import { errorMessage } from '../errors.js';

export const DEFAULT_QUERY_MAX_BODY_BYTES = 1024 * 1024;
export const DEFAULT_QUERY_MAX_CONCURRENT = 8;
export const DEFAULT_FORMAT = 'TabSeparated';

/** Statements a read-only ClickHouse user may run. */
const READ_ONLY_KEYWORDS = new Set(['SELECT', 'WITH', 'SHOW', 'DESCRIBE', 'DESC', 'EXPLAIN', 'EXISTS']);
/** Table functions that reach files, other hosts or processes: not on a read-only endpoint. */
const FORBIDDEN_FUNCTIONS = new Set([
  'file', 'url', 's3', 's3cluster', 'gcs', 'azureblobstorage', 'hdfs', 'remote', 'remotesecure', 'cluster', 'clusterallreplicas',
  'mysql', 'postgresql', 'mongodb', 'redis', 'sqlite', 'odbc', 'jdbc', 'executable', 'input', 'iceberg', 'deltalake', 'hudi', 'python',
]);
/** Settings a query may not change here, because they would lift read-only. */
const FORBIDDEN_SETTINGS = new Set(['readonly', 'allow_ddl', 'allow_introspection_functions']);

/** ClickHouse's error names for the codes this endpoint raises itself. */
const CODE_NAMES: Record<number, string> = { 62: 'SYNTAX_ERROR', 164: 'READONLY', 202: 'TOO_MANY_SIMULTANEOUS_QUERIES', 497: 'ACCESS_DENIED', 81: 'UNKNOWN_DATABASE' };

/** HTTP status for a ClickHouse error code, as ClickHouse's own HTTP handler maps them. */
export function httpStatusForCode(code: number): number {
  if ([164, 497, 516, 194].includes(code)) return 403;
  if ([60, 46, 47, 50, 56, 81, 115, 73, 63].includes(code)) return 404;
  if ([62, 27, 26, 6, 38, 41, 70, 72, 117, 53, 43, 36, 42].includes(code)) return 400;
  if (code === 202) return 503;
  return 500;
}

export function contentTypeForFormat(format: string): string {
  const f = format.toLowerCase();
  if (f.startsWith('tabseparated') || f.startsWith('tsv')) return 'text/tab-separated-values; charset=UTF-8';
  if (f.startsWith('csv')) return 'text/csv; charset=UTF-8';
  if (f.startsWith('json') || f === 'ndjson') return 'application/json; charset=UTF-8';
  if (['parquet', 'arrow', 'arrowstream', 'native', 'rowbinary', 'orc', 'avro'].some((b) => f.startsWith(b))) return 'application/octet-stream';
  return 'text/plain; charset=UTF-8';
}

export class QueryRefused extends Error {
  constructor(readonly clickhouseCode: number, message: string) {
    super(message);
  }
}

/** Checks that sql is one read-only statement; returns the output format it names, if any. */
export function checkReadOnly(sql: string): { format: string | undefined } {
  const statements = splitStatements(sql);
  if (statements.length === 0) throw new QueryRefused(62, 'Empty query');
  if (statements.length > 1) throw new QueryRefused(62, 'Multi-statements are not allowed');
  const info = describeStatement(statements[0]!);
  if (!READ_ONLY_KEYWORDS.has(info.keyword)) {
    throw new QueryRefused(164, `Cannot execute query in readonly mode: ${info.keyword || 'this statement'} is not allowed on the AirDig query endpoint, which is read-only`);
  }
  for (const f of info.functions) {
    if (FORBIDDEN_FUNCTIONS.has(f)) throw new QueryRefused(497, `table function ${f}() is not allowed on the AirDig query endpoint`);
  }
  for (const s of info.settings) {
    if (FORBIDDEN_SETTINGS.has(s)) throw new QueryRefused(164, `Cannot modify '${s}' setting in readonly mode`);
  }
  if (/\bINTO\s+OUTFILE\b/i.test(statements[0]!.replace(/'(?:[^'\\]|\\.)*'/g, "''"))) {
    throw new QueryRefused(497, 'INTO OUTFILE is not allowed on the AirDig query endpoint');
  }
  return { format: info.format };
}

export interface QueryServerOptions {
  address: string;
  store: () => Store | undefined;
  maxBodyBytes?: number;
  maxConcurrent?: number;
}

function exceptionText(code: number, message: string): string {
  // The engine's own messages already read "Code: N. DB::Exception: …"; ours are framed the same way.
  if (/^Code: \d+\. DB::Exception:/.test(message)) return message.endsWith('\n') ? message : `${message}\n`;
  return `Code: ${code}. DB::Exception: ${message}. (${CODE_NAMES[code] ?? 'UNKNOWN_EXCEPTION'})\n`;
}

function sendError(res: http.ServerResponse, code: number, message: string): void {
  res.writeHead(httpStatusForCode(code), {
    'Content-Type': 'text/plain; charset=UTF-8',
    'X-ClickHouse-Exception-Code': String(code),
  });
  res.end(exceptionText(code, message));
}

/**
 * A read-only endpoint that speaks ClickHouse's HTTP interface over the embedded engine, so that
 * curl, clickhouse-client's HTTP mode and Grafana's ClickHouse plugin can query AirDig as they
 * would a ClickHouse server.
 */
export function startQueryServer(opts: QueryServerOptions): Promise<Listening> {
  const maxBody = opts.maxBodyBytes ?? DEFAULT_QUERY_MAX_BODY_BYTES;
  const maxConcurrent = opts.maxConcurrent ?? DEFAULT_QUERY_MAX_CONCURRENT;
  let running = 0;
  return listenHttp(opts.address, async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://query');
    if (url.pathname === '/ping' || (url.pathname === '/' && req.method === 'GET' && !url.searchParams.has('query'))) {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=UTF-8' }).end('Ok.\n');
      return;
    }
    if (url.pathname !== '/') {
      sendError(res, 62, `There is no handle ${url.pathname}. Use / for queries and /ping for health`);
      return;
    }
    if (req.method !== 'GET' && req.method !== 'POST') {
      res.writeHead(405, { Allow: 'GET, POST' }).end();
      return;
    }
    const readonlyParam = url.searchParams.get('readonly');
    if (readonlyParam !== null && readonlyParam !== '1' && readonlyParam !== '2') {
      sendError(res, 164, "Cannot modify 'readonly' setting in readonly mode");
      return;
    }
    for (const s of FORBIDDEN_SETTINGS) {
      if (s !== 'readonly' && url.searchParams.has(s)) {
        sendError(res, 164, `Cannot modify '${s}' setting in readonly mode`);
        return;
      }
    }
    let sql = url.searchParams.get('query') ?? '';
    if (req.method === 'POST') {
      const body = await readBody(req, maxBody);
      if (body === undefined) {
        sendError(res, 62, `Query is longer than ${maxBody} bytes`);
        return;
      }
      if (body.length) sql = sql ? `${sql}\n${body.toString('utf8')}` : body.toString('utf8');
    }
    const store = opts.store();
    if (!store) {
      sendError(res, 210, 'ClickHouse is not ready yet');
      return;
    }
    const database = url.searchParams.get('database');
    if (database && database !== store.database) {
      sendError(res, 81, `Database ${database} does not exist; AirDig's tables are in ${store.database}`);
      return;
    }
    let format: string;
    try {
      format = checkReadOnly(sql).format ?? url.searchParams.get('default_format') ?? DEFAULT_FORMAT;
    } catch (err) {
      if (err instanceof QueryRefused) sendError(res, err.clickhouseCode, err.message);
      else sendError(res, 62, errorMessage(err));
      return;
    }
    if (running >= maxConcurrent) {
      sendError(res, 202, `Too many simultaneous queries. Maximum: ${maxConcurrent}`);
      return;
    }
    running++;
    try {
      const defaultFormat = url.searchParams.get('default_format') ?? DEFAULT_FORMAT;
      const result = await store.queryRaw(sql, defaultFormat, { readonly: '1' });
      res.writeHead(200, {
        'Content-Type': contentTypeForFormat(format),
        'X-ClickHouse-Format': format,
        'X-ClickHouse-Server-Display-Name': 'airdig',
      });
      res.end(result.body);
    } catch (err) {
      sendError(res, clickhouseCode(err) ?? 1002, errorMessage(err).replace(/^query: /, ''));
    } finally {
      running--;
    }
  });
}
