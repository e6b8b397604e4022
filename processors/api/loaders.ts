/*
 * One request's look-ups, batched: every resolver of a list asks for its own item, the Batch of
 * that kind reads all of them in one query. Made per request (and per subscription event) so
 * nothing read is kept past it.
 */
import { sentences, type CorrelationRow } from '../explanations/sentences.js';
import {
  Batch,
  CHANGE_APPLIED,
  CHANGE_COLUMNS,
  CORRELATION_COLUMNS,
  DRIFT_COLUMNS,
  HEALTH_FACT_COLUMNS,
  INCIDENT_COLUMNS,
  NODE_COLUMNS,
  SERVICE_MINUTE_COLUMNS,
  groupBy,
  incidentRecord,
  resolveNames,
  serviceNode,
  type ChangeRow,
  type CorrelationRecord,
  type DriftRow,
  type HealthFactRow,
  type IncidentRecord,
  type NodeRow,
  type ServiceMinuteRow,
  type Sql,
} from './read.js';

export interface Summary {
  health: string;
  reason: string;
  open_drift: number;
  criticality: number;
}

/** Call edges between two services over a window, with their minutes and the window's quantiles. */
export interface ServiceEdgeRecord {
  client: string;
  server: string;
  connectionType: string;
  calls: number;
  errors: number;
  errorRatio: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  minutes: { ts: string; calls: number; errors: number; p50Ms: number; p95Ms: number; p99Ms: number }[];
}

const ids = (keys: string[]) => ({ ids: keys });

export class Loaders {
  readonly sql: Sql;
  readonly #keyed = new Map<string, Batch<unknown>>();

  constructor(sql: Sql) {
    this.sql = sql;
  }

  /** The batch of a kind (and of the arguments that shape its query), made on first use. */
  #batch<V>(name: string, fetch: (keys: string[]) => Promise<Map<string, V>>): Batch<V> {
    let b = this.#keyed.get(name) as Batch<V> | undefined;
    if (!b) this.#keyed.set(name, (b = new Batch(fetch)) as Batch<unknown>);
    return b;
  }

  /** The canonical ids of a name (id, alias, name); [] when unknown. */
  async resolve(name: string): Promise<string[]> {
    return (await this.#resolved().load(name)) ?? [];
  }

  #resolved(): Batch<string[]> {
    return this.#batch('resolve', (names) => resolveNames(this.sql, names));
  }

  /** The one resource a name stands for (the first when several have that name), or undefined. */
  async resolveOne(name: string): Promise<string | undefined> {
    return (await this.resolve(name))[0];
  }

  node(id: string): Promise<NodeRow | undefined> {
    return this.#nodes().load(id);
  }

  #nodes(): Batch<NodeRow> {
    return this.#batch('node', async (keys) => {
      const rows = await this.sql.rows<NodeRow>(`SELECT ${NODE_COLUMNS} FROM graph_nodes WHERE has({ids:Array(String)}, id) AND NOT gone`, ids(keys));
      const found = new Map(rows.map((r) => [r.id, r]));
      // A service that only calls or is called is a resource too, described by its id.
      for (const k of keys) if (!found.has(k) && k.startsWith('service:')) found.set(k, serviceNode(k));
      return found;
    });
  }

  /** Nodes read by another query of this request (the whole graph's): node(id) gives them without asking again. */
  primeNodes(rows: readonly NodeRow[]): void {
    const nodes = this.#nodes();
    for (const r of rows) nodes.prime(r.id, r);
  }

  /**
   * The one resource a name stands for, with its node read in the same round: the name's
   * candidates (ids, names, aliases) are described while the name is resolved, so resource(id)
   * costs one round trip before its fields, not two.
   */
  async resolveResource(name: string): Promise<string | undefined> {
    return this.#batch('resolveResource', async (names) => {
      const [resolved, candidates] = await Promise.all([
        resolveNames(this.sql, names),
        this.sql.rows<NodeRow>(
          `SELECT ${NODE_COLUMNS} FROM graph_nodes WHERE NOT gone AND (has({names:Array(String)}, id) OR has({names:Array(String)}, name)
             OR id IN (SELECT resource_id FROM resource_aliases WHERE has({lowered:Array(String)}, alias) OR has({names:Array(String)}, alias)))`,
          { names, lowered: names.map((n) => n.toLowerCase()) },
        ),
      ]);
      const nodes = this.#nodes();
      const described = new Map(candidates.map((r) => [r.id, r]));
      const out = new Map<string, string>();
      for (const [n, list] of resolved) {
        this.#resolved().prime(n, list);
        const id = list[0];
        if (id === undefined) continue;
        out.set(n, id);
        nodes.prime(id, described.get(id) ?? (id.startsWith('service:') ? serviceNode(id) : undefined));
      }
      return out;
    }).load(name);
  }

  /** Health, open drift and criticality (the resources view), with defaults for what it does not list. */
  async summary(id: string): Promise<Summary> {
    const [h, s] = await Promise.all([this.health(id), this.standing(id)]);
    return { ...h, ...s };
  }

  /** The latest health of a resource (resource_health); unknown when it has none. */
  async health(id: string): Promise<{ health: string; reason: string }> {
    const h = await this.#batch('health', async (keys) => {
      const rows = await this.sql.rows<{ resource_id: string; status: string; reason: string }>(
        'SELECT resource_id, status, reason FROM resource_health WHERE has({ids:Array(String)}, resource_id)',
        ids(keys),
      );
      return new Map(rows.map((r) => [r.resource_id, { health: r.status, reason: r.reason }]));
    }).load(id);
    return h ?? { health: 'unknown', reason: '' };
  }

  /**
   * Open drift and criticality as the resources view counts them (drifts seen on it; services that
   * run on it or call it), for graph nodes only. Asked of the view, ClickHouse builds every joined
   * aggregate over all resources before the filter; here each part is narrowed to the ids first.
   */
  async standing(id: string): Promise<{ open_drift: number; criticality: number }> {
    const s = await this.#batch('standing', async (keys) => {
      const rows = await this.sql.rows<{ id: string; open_drift: number; criticality: number }>(
        `SELECT id, sumIf(n, kind = 'drift') AS open_drift, sumIf(n, kind = 'dependents') AS criticality FROM (
           SELECT resource_id AS id, 'drift' AS kind, count() AS n FROM drift_events WHERE has({ids:Array(String)}, resource_id) GROUP BY resource_id
           UNION ALL SELECT dst AS id, 'dependents' AS kind, uniqExact(src) AS n FROM graph_edges
             WHERE type = 'runs_on' AND startsWith(src, 'service:') AND NOT gone AND has({ids:Array(String)}, dst) GROUP BY dst
           UNION ALL SELECT server_id AS id, 'dependents' AS kind, uniqExact(client_id) AS n FROM service_edges WHERE has({ids:Array(String)}, server_id) GROUP BY server_id
         ) WHERE id IN (SELECT id FROM graph_nodes WHERE has({ids:Array(String)}, id) AND NOT gone) GROUP BY id`,
        ids(keys),
      );
      return new Map(rows.map((r) => [r.id, { open_drift: Number(r.open_drift), criticality: Number(r.criticality) }]));
    }).load(id);
    return s ?? { open_drift: 0, criticality: 0 };
  }

  async aliases(id: string): Promise<string[]> {
    const list = await this.#batch('aliases', async (keys) => {
      const rows = await this.sql.rows<{ resource_id: string; aliases: string[] }>(
        'SELECT resource_id, groupUniqArray(alias) AS aliases FROM resource_aliases WHERE has({ids:Array(String)}, resource_id) GROUP BY resource_id',
        ids(keys),
      );
      return new Map(rows.map((r) => [r.resource_id, r.aliases.filter((a) => a !== r.resource_id).sort()]));
    }).load(id);
    return list ?? [];
  }

  async openDrift(id: string): Promise<DriftRow[]> {
    const list = await this.#batch('openDrift', async (keys) => {
      const rows = await this.sql.rows<DriftRow>(
        `SELECT ${DRIFT_COLUMNS} FROM drift_events WHERE has({ids:Array(String)}, resource_id) ORDER BY ts DESC, id`,
        ids(keys),
      );
      return groupBy(rows, (r) => r.resource_id);
    }).load(id);
    return list ?? [];
  }

  async healthHistory(id: string, sinceMs: number, first: number): Promise<HealthFactRow[]> {
    const list = await this.#batch(`healthHistory ${sinceMs} ${first}`, async (keys) => {
      const rows = await this.sql.rows<HealthFactRow>(
        `SELECT ${HEALTH_FACT_COLUMNS} FROM health_facts FINAL
         WHERE has({ids:Array(String)}, resource_id) AND ts >= fromUnixTimestamp64Milli({since:Int64})
         ORDER BY ts DESC, id LIMIT {first:UInt32} BY resource_id`,
        { ...ids(keys), since: sinceMs, first },
      );
      return groupBy(rows, (r) => r.resource_id);
    }).load(id);
    return list ?? [];
  }

  async resourceChanges(id: string, sinceMs: number, first: number): Promise<ChangeRow[]> {
    const list = await this.#batch(`resourceChanges ${sinceMs} ${first}`, async (keys) => {
      const rows = await this.sql.rows<ChangeRow & { rid: string }>(
        `SELECT rid, ${CHANGE_COLUMNS} FROM change_events ARRAY JOIN resource_ids AS rid
         WHERE has({ids:Array(String)}, rid) AND ${CHANGE_APPLIED} AND ts >= fromUnixTimestamp64Milli({since:Int64})
         ORDER BY ts DESC, event_id LIMIT {first:UInt32} BY rid`,
        { ...ids(keys), since: sinceMs, first },
      );
      return groupBy(rows, (r) => r.rid);
    }).load(id);
    return list ?? [];
  }

  async resourceCorrelations(id: string, first: number): Promise<CorrelationRecord[]> {
    const list = await this.#batch(`resourceCorrelations ${first}`, async (keys) => {
      const rows = await this.sql.rows<CorrelationRecord>(
        `SELECT ${CORRELATION_COLUMNS} FROM correlations
         WHERE has({ids:Array(String)}, impacted_resource_id) OR has({ids:Array(String)}, cause_resource_id) ORDER BY ts DESC, score DESC, id`,
        ids(keys),
      );
      const out = new Map<string, CorrelationRecord[]>();
      for (const k of keys) out.set(k, rows.filter((r) => r.impacted_resource_id === k || r.cause_resource_id === k).slice(0, first));
      return out;
    }).load(id);
    return list ?? [];
  }

  async resourceIncidents(id: string, first: number): Promise<IncidentRecord[]> {
    const list = await this.#batch(`resourceIncidents ${first}`, async (keys) => {
      const rows = (
        await this.sql.rows<Parameters<typeof incidentRecord>[0]>(
          `SELECT ${INCIDENT_COLUMNS} FROM incidents
           WHERE hasAny(impacted, {ids:Array(String)}) OR arrayExists(c -> has({ids:Array(String)}, tupleElement(c, 'resource_id')), incidents.causes)
           ORDER BY opened DESC, id`,
          ids(keys),
        )
      ).map(incidentRecord);
      const out = new Map<string, IncidentRecord[]>();
      for (const k of keys) out.set(k, rows.filter((i) => i.impacted.includes(k) || i.causes.some((c) => c.resource_id === k)).slice(0, first));
      return out;
    }).load(id);
    return list ?? [];
  }

  /** Call edges where the resource is the server ('in') or the client ('out'), over the last `minutes`. */
  async serviceEdges(id: string, side: 'in' | 'out', minutes: number): Promise<ServiceEdgeRecord[]> {
    const list = await this.#batch(`serviceEdges ${side} ${minutes}`, async (keys) => {
      const column = side === 'in' ? 'server_id' : 'client_id';
      const edges = await serviceEdgesWhere(this.sql, `has({ids:Array(String)}, ${column})`, minutes, ids(keys));
      return groupBy(edges, (e) => (side === 'in' ? e.server : e.client));
    }).load(id);
    return list ?? [];
  }

  change(eventId: string): Promise<ChangeRow | undefined> {
    return this.#batch('change', async (keys) => {
      const rows = await this.sql.rows<ChangeRow>(`SELECT ${CHANGE_COLUMNS} FROM change_events WHERE has({ids:Array(String)}, event_id)`, ids(keys));
      return new Map(rows.map((r) => [r.event_id, r]));
    }).load(eventId);
  }

  incident(id: string): Promise<IncidentRecord | undefined> {
    return this.#batch('incident', async (keys) => {
      const rows = (
        await this.sql.rows<Parameters<typeof incidentRecord>[0]>(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE has({ids:Array(String)}, id)`, ids(keys))
      ).map(incidentRecord);
      return new Map(rows.map((r) => [r.id, r]));
    }).load(id);
  }

  /** The incident a merged one joined, for ids the incidents view no longer lists. */
  mergedInto(id: string): Promise<string | undefined> {
    return this.#batch('mergedInto', async (keys) => {
      const rows = await this.sql.rows<{ id: string; merged_into: string }>(
        `SELECT id, merged_into FROM incident_log FINAL WHERE has({ids:Array(String)}, id) AND status = 'merged' AND merged_into != ''`,
        ids(keys),
      );
      return new Map(rows.map((r) => [r.id, r.merged_into]));
    }).load(id);
  }

  /** The correlations of an incident, strongest first. */
  async incidentCorrelations(incidentId: string): Promise<CorrelationRecord[]> {
    const list = await this.#batch('incidentCorrelations', async (keys) => {
      const rows = await this.sql.rows<CorrelationRecord>(
        `SELECT ${CORRELATION_COLUMNS} FROM correlations WHERE has({ids:Array(String)}, incident_id) ORDER BY score DESC, ts, id`,
        ids(keys),
      );
      return groupBy(rows, (r) => r.incident_id);
    }).load(incidentId);
    return list ?? [];
  }

  /** The sentence `airdig explain` prints for a correlation; the sentences of one request are made together (siblings looked up once per path). */
  async explanation(c: CorrelationRecord): Promise<string> {
    const key = `${c.id}\u0000${c.ts_ms}`;
    const batch = this.#batch<string>('explanation', async (keys) => {
      const rows = keys.map((k) => this.#explaining.get(k)!);
      const texts = await sentences(this.sql, rows);
      return new Map(keys.map((k, i) => [k, texts[i]!]));
    });
    this.#explaining.set(key, {
      id: c.id,
      ts_ms: c.ts_ms,
      cause_id: c.cause_id,
      cause_kind: c.cause_kind,
      incident_id: c.incident_id,
      score: c.score,
      claim: c.score >= 0.5 ? 1 : 0,
      evidence: c.evidence,
    });
    return (await batch.load(key)) ?? '';
  }

  readonly #explaining = new Map<string, CorrelationRow>();
}

/** Call edges over the last `minutes` matching a condition on service_edges, each with its minutes; quantiles over the whole window. */
export async function serviceEdgesWhere(sql: Sql, where: string, minutes: number, params: Record<string, unknown> = {}): Promise<ServiceEdgeRecord[]> {
  const window = `ts >= toStartOfMinute(now()) - INTERVAL {minutes:UInt32} MINUTE`;
  const [rows, windows] = await Promise.all([
    sql.rows<ServiceMinuteRow>(
      `SELECT ${SERVICE_MINUTE_COLUMNS} FROM service_edges WHERE ${where} AND ${window} ORDER BY client_id, server_id, connection_type, ts`,
      {
        ...params,
        minutes,
      },
    ),
    // The window's quantiles from the per-minute sketches (an average of minutes' p99 is not a p99).
    sql.rows<{ client_id: string; server_id: string; connection_type: string; q: number[] }>(
      `SELECT client_id, server_id, connection_type, quantilesMerge(0.5, 0.95, 0.99)(latency_state) AS q
       FROM service_edge_minutes WHERE ${where} AND ${window} GROUP BY client_id, server_id, connection_type`,
      { ...params, minutes },
    ),
  ]);
  const quantiles = new Map(windows.map((w) => [`${w.client_id}\u0000${w.server_id}\u0000${w.connection_type}`, w.q]));
  const out: ServiceEdgeRecord[] = [];
  for (const [key, minutesOf] of groupBy(rows, (r) => `${r.client_id}\u0000${r.server_id}\u0000${r.connection_type}`)) {
    const first = minutesOf[0]!;
    const calls = minutesOf.reduce((n, m) => n + Number(m.calls), 0);
    const errors = minutesOf.reduce((n, m) => n + Number(m.errors), 0);
    const q = quantiles.get(key) ?? [0, 0, 0];
    out.push({
      client: first.client_id,
      server: first.server_id,
      connectionType: first.connection_type,
      calls,
      errors,
      errorRatio: calls ? errors / calls : 0,
      p50Ms: finite(q[0]),
      p95Ms: finite(q[1]),
      p99Ms: finite(q[2]),
      minutes: minutesOf.map((m) => ({
        ts: new Date(Number(m.ts_ms)).toISOString(),
        calls: Number(m.calls),
        errors: Number(m.errors),
        p50Ms: finite(m.p50_ms),
        p95Ms: finite(m.p95_ms),
        p99Ms: finite(m.p99_ms),
      })),
    });
  }
  return out;
}

/** A number the schema's Float can carry (ClickHouse gives nan for a quantile of nothing). */
export const finite = (v: unknown): number => {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
};
