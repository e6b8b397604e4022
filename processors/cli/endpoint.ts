/* The query endpoint the reading commands (query, explain, incidents) talk to. */
import { UsageError, fetchAirdig } from './args.js';

export const DEFAULT_QUERY_URL = 'http://127.0.0.1:8123';

/** An Array(String) query parameter in ClickHouse's text form: ['a', 'b'], quotes and backslashes escaped. */
export function arrayParam(values: readonly string[]): string {
  return `[${values.map((v) => `'${v.replaceAll('\\', '\\\\').replaceAll("'", "\\'")}'`).join(',')}]`;
}

/** Query parameters: text, or a list of strings (an Array(String) parameter). */
export type QueryParams = Record<string, string | readonly string[]>;

/**
 * A running airdig's query endpoint (ClickHouse's HTTP interface, read-only) or a ClickHouse
 * server. Credentials in the URL go in an Authorization header, not in the request line; every
 * statement runs with readonly=2, so a writer's URL given by mistake still cannot write.
 */
export class QueryEndpoint {
  readonly #base: URL;
  readonly #auth: string | undefined;

  constructor(url: string) {
    let target: URL;
    try {
      target = new URL(url);
    } catch {
      throw new UsageError(`--url: not a URL: ${url} (e.g. ${DEFAULT_QUERY_URL})`);
    }
    this.#auth = target.username
      ? `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`
      : undefined;
    target.username = '';
    target.password = '';
    this.#base = target;
  }

  /** The endpoint's address without credentials, for messages. */
  get url(): string {
    return this.#base.origin;
  }

  /**
   * One statement; `params` are ClickHouse query parameters: `{name:String}` in the SQL, sent as
   * param_name, so values never become SQL text.
   */
  async send(sql: string, o: { format: string; params?: QueryParams }): Promise<Response> {
    const target = new URL(this.#base);
    target.searchParams.set('default_format', o.format);
    target.searchParams.set('readonly', '2');
    for (const [name, value] of Object.entries(o.params ?? {})) target.searchParams.set(`param_${name}`, typeof value === 'string' ? value : arrayParam(value));
    return fetchAirdig(target, { method: 'POST', body: sql, headers: this.#auth ? { Authorization: this.#auth } : {} });
  }

  /** The rows of a SELECT, one object per row (JSONEachRow); an error the server answers is thrown with its text. */
  async rows<T>(sql: string, params: QueryParams = {}): Promise<T[]> {
    const res = await this.send(sql, { format: 'JSONEachRow', params });
    const text = await res.text();
    if (!res.ok) throw new Error(`${this.url} answered ${res.status}: ${text.trim()}`);
    return text
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as T);
  }
}

/** The endpoint a reading command's --url or --clickhouse names, else the local default. */
export function endpointOf(values: { url?: string; clickhouse?: string }): QueryEndpoint {
  return new QueryEndpoint(values.url ?? values.clickhouse ?? DEFAULT_QUERY_URL);
}
