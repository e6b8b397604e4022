/*
 * What the graph API reads from ClickHouse: SELECTs over the query contract's views, every value a
 * query parameter, every statement with readonly=2. A Reader is made per request: it batches the
 * look-ups that resolvers ask for one at a time (a resource's health, aliases, drift …) into one
 * query per kind, and remembers what it read.
 */
import type { Store } from '../runtime/store/store.js';
import { toStoreError } from '../runtime/store/store.js';
import type { TopologyRecord } from '../model/topology.js';
import type { HealthFact } from '../model/health.js';
import type { ChangeEvent } from '../model/changes.js';
import type { DriftEvent } from '../model/drift.js';
import type { Correlation, Incident, RankedCause } from '../model/correlations.js';

type Params = Record<string, unknown>;

/** Times as the API gives them: RFC 3339 in UTC with milliseconds; null for none (0, or ClickHouse's zero time). */
export const isoTime = (ms: number | string | null | undefined): string | null => {
  const n = Number(ms ?? 0);
  return n > 0 ? new Date(n).toISOString() : null;
};

/** Runs parameterised SELECTs on the store, read-only. */
export class Sql {
  constructor(
    readonly store: Store,
    readonly timeoutS: number,
  ) {}

  async rows<T>(query: string, params: Params = {}): Promise<T[]> {
    try {
      const rs = await this.store.client.query({
        query,
        query_params: params,
        format: 'JSONEachRow',
        // readonly=2: a SELECT only, whatever the statement says; settings (the time limit) still apply.
        // No gzip: the answers are small and the server is near, so compressing costs both sides more CPU than it saves.
        clickhouse_settings: { readonly: '2', max_execution_time: this.timeoutS, output_format_json_quote_64bit_integers: 0, enable_http_compression: 0 },
      });
      return await rs.json<T>();
    } catch (err) {
      throw toStoreError(err, 'graph API query');
    }
  }
}

/**
 * Keys asked for in one turn of the event loop, fetched together: load(key) resolves with what
 * fetch gave for it (undefined when nothing), and remembers it for the rest of the request.
 */
export class Batch<V> {
  readonly #fetch: (keys: string[]) => Promise<Map<string, V>>;
  readonly #done = new Map<string, Promise<V | undefined>>();
  #pending: Map<string, { resolve: (v: V | undefined) => void; reject: (e: unknown) => void }[]> | undefined;

  constructor(fetch: (keys: string[]) => Promise<Map<string, V>>) {
    this.#fetch = fetch;
  }

  /** Gives a key's value without fetching it (it came with another query of the same request). */
  prime(key: string, value: V | undefined): void {
    if (!this.#done.has(key)) this.#done.set(key, Promise.resolve(value));
  }

  load(key: string): Promise<V | undefined> {
    const known = this.#done.get(key);
    if (known) return known;
    const p = new Promise<V | undefined>((resolve, reject) => {
      if (!this.#pending) {
        this.#pending = new Map();
        setImmediate(() => void this.#flush());
      }
      let waiting = this.#pending.get(key);
      if (!waiting) this.#pending.set(key, (waiting = []));
      waiting.push({ resolve, reject });
    });
    this.#done.set(key, p);
    return p;
  }

  async #flush(): Promise<void> {
    const pending = this.#pending!;
    this.#pending = undefined;
    try {
      const found = await this.#fetch([...pending.keys()]);
      for (const [key, waiting] of pending) for (const w of waiting) w.resolve(found.get(key));
    } catch (err) {
      for (const waiting of pending.values()) for (const w of waiting) w.reject(err);
    }
  }
}

/** Rows grouped by one of their columns. */
export function groupBy<T>(rows: T[], key: (r: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const r of rows) {
    const k = key(r);
    let list = out.get(k);
    if (!list) out.set(k, (list = []));
    list.push(r);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Rows as they are read, and the objects the schema's types are resolved from.

/** A graph_nodes row: the node's description, and when it was first and last seen. */
export type NodeRow = Pick<TopologyRecord, 'id' | 'type' | 'provider' | 'account' | 'region' | 'name' | 'attributes'> & {
  first_seen_ms: number;
  last_seen_ms: number;
};

export const NODE_COLUMNS = `id, type, provider, account, region, name, attributes,
  toUnixTimestamp64Milli(first_seen) AS first_seen_ms, toUnixTimestamp64Milli(last_seen) AS last_seen_ms`;

/** A health_facts row, as the fact on airdig.health. */
export type HealthFactRow = HealthFact;

export const HEALTH_FACT_COLUMNS = 'id, toUnixTimestamp64Milli(ts) AS ts_ms, resource_id, status, state, rule, reason, metric, value, threshold, labels';

/** A change_events row (the columns the API gives), as the change on airdig.changes. */
export type ChangeRow = Pick<
  ChangeEvent,
  | 'event_id'
  | 'ts_ms'
  | 'kind'
  | 'event_source'
  | 'event_name'
  | 'actor'
  | 'actor_type'
  | 'account'
  | 'region'
  | 'resource_ids'
  | 'source_ip'
  | 'user_agent'
  | 'summary'
>;

export const CHANGE_COLUMNS = `event_id, toUnixTimestamp64Milli(ts) AS ts_ms, kind, event_source, event_name, actor, actor_type, account, region, resource_ids,
  source_ip, user_agent, summary`;
/** A change as the API counts it: it did something (not read-only) and succeeded. */
export const CHANGE_APPLIED = "NOT read_only AND error_code = ''";

/** A drift_events row, as the drift on airdig.drift (without where it was read from). */
export type DriftRow = Omit<DriftEvent, 'lineage' | 'serial' | 'scan_id'>;

export const DRIFT_COLUMNS = `id, toUnixTimestamp64Milli(ts) AS ts_ms, resource_id, resource_type, address, drift, attribute, expected, actual,
  cause_event_id, cause_actor, cause_event_name, toUnixTimestamp64Milli(cause_ts) AS cause_ts_ms`;

/** A correlations row, as the correlation on airdig.correlations. */
export type CorrelationRecord = Omit<Correlation, 'revision_ms'>;

export const CORRELATION_COLUMNS = `id, toUnixTimestamp64Milli(ts) AS ts_ms, cause_id, cause_kind, toUnixTimestamp64Milli(cause_ts) AS cause_ts_ms, cause_resource_id,
  impacted_resource_id, signal, signal_id, score, window_s, incident_id, rank, path, evidence`;

export type CauseRecord = RankedCause;

/** An incidents row, as the incident on airdig.incidents. */
export type IncidentRecord = Omit<Incident, 'merged_into'>;

export const INCIDENT_COLUMNS = `id, toUnixTimestamp64Milli(opened) AS opened_ms,
  if(isNull(resolved), 0, toUnixTimestamp64Milli(assumeNotNull(resolved))) AS resolved_ms, status, impacted, signals,
  arrayMap(c -> map('cause_id', tupleElement(c, 'cause_id'), 'cause_kind', tupleElement(c, 'cause_kind'), 'resource_id', tupleElement(c, 'resource_id'),
    'probability', toString(tupleElement(c, 'probability')), 'score', toString(tupleElement(c, 'score')), 'explanation', tupleElement(c, 'explanation')), causes) AS causes,
  toUnixTimestamp64Milli(revision) AS revision_ms`;

/** An incident row with its causes' numbers as numbers (they are read as a map of strings, whatever the tuple output setting). */
export function incidentRecord(r: Omit<IncidentRecord, 'causes'> & { causes: Record<string, string>[] }): IncidentRecord {
  return {
    ...r,
    opened_ms: Number(r.opened_ms),
    resolved_ms: Number(r.resolved_ms),
    revision_ms: Number(r.revision_ms),
    causes: r.causes.map((c) => ({
      cause_id: c.cause_id ?? '',
      cause_kind: (c.cause_kind ?? '') as RankedCause['cause_kind'],
      resource_id: c.resource_id ?? '',
      probability: Number(c.probability),
      score: Number(c.score),
      explanation: c.explanation ?? '',
    })),
  };
}

export interface ServiceMinuteRow {
  client_id: string;
  server_id: string;
  connection_type: string;
  ts_ms: number;
  calls: number;
  errors: number;
  p50_ms: number;
  p95_ms: number;
  p99_ms: number;
}

export const SERVICE_MINUTE_COLUMNS = `client_id, server_id, connection_type, toUnixTimestamp(ts) * 1000 AS ts_ms, calls, errors, p50_ms, p95_ms, p99_ms`;

export interface RuntimeEventRow {
  id: string;
  ts_ms: number;
  rule: string;
  priority: string;
  resource_id: string;
  hostname: string;
  output: string;
}

// ---------------------------------------------------------------------------------------------
// Names → canonical ids.

/**
 * The canonical ids a name stands for: the id itself (a node, or a service seen only in calls),
 * an alias (resource_aliases), else a resource's name. [] when nothing has that name. Where a
 * name fits several (a service and the security group named after it), services come first.
 */
export async function resolveNames(sql: Sql, names: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (names.length === 0) return out;
  const rows = await sql.rows<{ name: string; id: string; how: number }>(
    `SELECT name, id, min(how) AS how FROM (
       SELECT id AS name, id, 0 AS how FROM graph_nodes WHERE has({names:Array(String)}, id) AND NOT gone
       UNION ALL SELECT alias AS name, resource_id AS id, 1 AS how FROM resource_aliases WHERE has({lowered:Array(String)}, alias) OR has({names:Array(String)}, alias)
       UNION ALL SELECT name, id, 2 AS how FROM graph_nodes WHERE has({names:Array(String)}, name) AND NOT gone
       UNION ALL SELECT client_id AS name, client_id AS id, 3 AS how FROM service_edges WHERE has({names:Array(String)}, client_id)
       UNION ALL SELECT server_id AS name, server_id AS id, 3 AS how FROM service_edges WHERE has({names:Array(String)}, server_id)
     ) GROUP BY name, id ORDER BY how, startsWith(id, 'service:') DESC, id`,
    { names, lowered: names.map((n) => n.toLowerCase()) },
  );
  const byLower = new Map(names.map((n) => [n.toLowerCase(), n]));
  const best = new Map<string, number>();
  for (const r of rows) {
    const name = names.includes(r.name) ? r.name : byLower.get(r.name);
    if (name === undefined) continue;
    // The strongest kind of match wins: an id over an alias over a name.
    const how = Number(r.how);
    const b = best.get(name);
    if (b !== undefined && how > b) continue;
    if (b === undefined || how < b) {
      best.set(name, how);
      out.set(name, []);
    }
    const ids = out.get(name)!;
    if (!ids.includes(r.id)) ids.push(r.id);
  }
  return out;
}

/** A service's name from its id (service:shop/checkout → checkout), for services only seen in calls. */
export function serviceNode(id: string): NodeRow {
  const m = /^service:([^/]*)\/(.+)$/.exec(id);
  return {
    id,
    type: 'service',
    provider: '',
    account: '',
    region: '',
    name: m ? m[2]! : id,
    attributes: m ? { 'service.namespace': m[1]! } : {},
    first_seen_ms: 0,
    last_seen_ms: 0,
  };
}
