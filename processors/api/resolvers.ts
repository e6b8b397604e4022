/*
 * The resolvers of schema.graphql. Query fields read ClickHouse through the request's Loaders;
 * Subscription fields take their payloads from the LiveHub, in the same shapes as the rows, so
 * one set of type resolvers serves both.
 */
import { GraphQLError, GraphQLScalarType, Kind, type GraphQLResolveInfo, type ValueNode } from 'graphql';
import { parseDuration } from '../explanations/sentences.js';
import { blastRadius, checkLimit, neighbors, serviceMap, wholeGraph, MAX_WALK_DEPTH, type Direction } from './graph.js';
import { finite, Loaders } from './loaders.js';
import { MAX_FIRST } from './limits.js';
import type { LiveHub, LiveKind } from './live.js';
import {
  CHANGE_APPLIED,
  CHANGE_COLUMNS,
  DRIFT_COLUMNS,
  INCIDENT_COLUMNS,
  incidentRecord,
  isoTime,
  type CauseRecord,
  type ChangeRow,
  type CorrelationRecord,
  type DriftRow,
  type HealthFactRow,
  type IncidentRecord,
  type NodeRow,
  type RuntimeEventRow,
  type Sql,
} from './read.js';

export interface ApiContext {
  sql: Sql;
  /** This request's look-ups; a subscription gets new ones for each payload. */
  loaders: Loaders;
  live: LiveHub;
  /** Aborted when the HTTP request that holds the subscriptions (SSE) is gone. */
  ended?: AbortSignal;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** A time argument: RFC 3339, or a duration back from now (30m, 24h, 7d); the default when absent. */
export function sinceMs(value: string | null | undefined, defaultAgoMs: number, now = Date.now()): number {
  if (value === undefined || value === null || value === '') return now - defaultAgoMs;
  const ago = parseDuration(value);
  if (ago !== undefined) return now - ago;
  // RFC 3339: a date and a time with a zone (Z or ±hh:mm).
  const t = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?([Zz]|[+-]\d{2}:\d{2})$/.test(value) ? Date.parse(value) : NaN;
  if (Number.isNaN(t))
    throw new GraphQLError(`since: not an RFC 3339 time or a duration: "${value}" (e.g. 2026-12-03T10:00:00Z, 30m, 24h, 7d)`, {
      extensions: { code: 'BAD_USER_INPUT' },
    });
  return t;
}

const first = (n: number | undefined, fallback: number) => {
  const v = n ?? fallback;
  checkLimit('first', v, MAX_FIRST);
  return v;
};

const upper = (s: string | undefined, fallback = 'UNKNOWN') => (s ? s.toUpperCase() : fallback);

/** The ids a resource argument stands for: its canonical ids, and the name itself (a resource the graph has not seen yet). */
async function idsOf(ctx: ApiContext, name: string): Promise<string[]> {
  return [...new Set([...(await ctx.loaders.resolve(name)), name])];
}

/** The JSON scalar: any JSON value, as it is. */
const JSONScalar = new GraphQLScalarType({
  name: 'JSON',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: function literal(node: ValueNode): unknown {
    switch (node.kind) {
      case Kind.STRING:
      case Kind.BOOLEAN:
        return node.value;
      case Kind.INT:
      case Kind.FLOAT:
        return Number(node.value);
      case Kind.LIST:
        return node.values.map(literal);
      case Kind.OBJECT:
        return Object.fromEntries(node.fields.map((f) => [f.name.value, literal(f.value)]));
      default:
        return null;
    }
  },
});

interface ResourceFilter {
  type?: string;
  provider?: string;
  account?: string;
  region?: string;
  health?: string;
  drifted?: boolean;
  search?: string;
}

/** A page cursor: the last id of the page, base64url. */
const cursorOf = (id: string) => Buffer.from(id).toString('base64url');
function afterOf(cursor: string | undefined | null): string {
  if (!cursor) return '';
  const id = Buffer.from(cursor, 'base64url').toString();
  if (cursorOf(id) !== cursor)
    throw new GraphQLError(`after: not a cursor of this API: "${cursor}" (pass pageInfo.endCursor)`, { extensions: { code: 'BAD_USER_INPUT' } });
  return id;
}

async function resources(ctx: ApiContext, filter: ResourceFilter, n: number, after: string) {
  const where = ['1'];
  const params: Record<string, unknown> = {};
  for (const key of ['type', 'provider', 'account', 'region'] as const) {
    if (filter[key] === undefined || filter[key] === null) continue;
    where.push(`n.${key} = {${key}:String}`);
    params[key] = filter[key];
  }
  if (filter.health) {
    where.push('r.health = {health:String}');
    params.health = filter.health.toLowerCase();
  }
  if (filter.drifted === true) where.push('r.open_drift > 0');
  if (filter.drifted === false) where.push('r.open_drift = 0');
  if (filter.search) {
    where.push(`(positionCaseInsensitive(r.resource_id, {search:String}) > 0 OR positionCaseInsensitive(n.name, {search:String}) > 0
      OR arrayExists(v -> positionCaseInsensitive(v, {search:String}) > 0, mapValues(n.attributes))
      OR r.resource_id IN (SELECT resource_id FROM resource_aliases WHERE positionCaseInsensitive(alias, {search:String}) > 0))`);
    params.search = filter.search;
  }
  const from = `FROM resources AS r INNER JOIN graph_nodes AS n ON n.id = r.resource_id WHERE ${where.join(' AND ')}`;
  const [page, [total]] = await Promise.all([
    ctx.sql.rows<{ id: string }>(`SELECT r.resource_id AS id ${from} AND r.resource_id > {after:String} ORDER BY r.resource_id LIMIT {n:UInt32}`, {
      ...params,
      after,
      n: n + 1,
    }),
    ctx.sql.rows<{ n: number }>(`SELECT count() AS n ${from}`, params),
  ]);
  const ids = page.slice(0, n).map((r) => r.id);
  const nodes = (await Promise.all(ids.map((id) => ctx.loaders.node(id)))).filter((x): x is NodeRow => x !== undefined);
  return {
    nodes,
    pageInfo: { endCursor: ids.length ? cursorOf(ids.at(-1)!) : null, hasNextPage: page.length > n },
    totalCount: Number(total?.n ?? 0),
  };
}

type Args = Record<string, unknown> & { first?: number; since?: string; resource?: string };

/** The evidence JSON of a correlation, or undefined when it is not readable. */
function evidenceOf(c: CorrelationRecord): { path?: { id: string; name: string; type: string; edge: string }[] } | undefined {
  try {
    return JSON.parse(c.evidence) as { path?: { id: string; name: string; type: string; edge: string }[] };
  } catch {
    return undefined;
  }
}

/** An incident by id, or the one a merged incident joined; its correlations read in the same round when its causes are asked for. */
async function incidentById(ctx: ApiContext, id: string, withCauses = false): Promise<IncidentRecord | null> {
  // Prefetched, not awaited here: RankedCause.correlations awaits it (a failure surfaces there).
  if (withCauses) ctx.loaders.incidentCorrelations(id).catch(() => {});
  const found = await ctx.loaders.incident(id);
  if (found) return found;
  const into = await ctx.loaders.mergedInto(id);
  return (into ? await ctx.loaders.incident(into) : undefined) ?? null;
}

/** Whether a field's selection names a field directly (fragments are not looked into: then the answer is only later, not wrong). */
const selects = (info: GraphQLResolveInfo, name: string) =>
  info.fieldNodes.some((f) => f.selectionSet?.selections.some((s) => s.kind === Kind.FIELD && s.name.value === name));

/** A subscription: payloads of a kind that pass the filter; the payload's fields are resolved with fresh look-ups. */
function live<T>(kind: LiveKind, filter: (args: Args, ctx: ApiContext) => Promise<(p: T) => boolean>) {
  return {
    subscribe: async (_: unknown, args: Args, ctx: ApiContext) => {
      const s = ctx.live.subscribe<T>(kind, await filter(args, ctx));
      if (ctx.ended?.aborted) s.close();
      else ctx.ended?.addEventListener('abort', () => s.close(), { once: true });
      return s;
    },
    resolve: (payload: T, _args: Args, ctx: ApiContext) => {
      // Payloads of one subscription are resolved one after the other: each reads the store afresh.
      ctx.loaders = new Loaders(ctx.sql);
      return payload;
    },
  };
}

/** A filter on a resource argument: none without it, else its ids. */
async function resourceFilter(ctx: ApiContext, resource: string | undefined): Promise<Set<string> | undefined> {
  return resource ? new Set(await idsOf(ctx, resource)) : undefined;
}

export const resolvers = {
  JSON: JSONScalar,
  Query: {
    resource: async (_: unknown, { id }: { id: string }, ctx: ApiContext) => {
      const rid = await ctx.loaders.resolveResource(id);
      return (rid && (await ctx.loaders.node(rid))) ?? null;
    },
    resources: (_: unknown, a: { filter?: ResourceFilter; first?: number; after?: string }, ctx: ApiContext) =>
      resources(ctx, a.filter ?? {}, first(a.first, 50), afterOf(a.after)),
    neighbors: async (_: unknown, a: { id: string; depth?: number; edgeTypes?: string[]; direction?: Direction }, ctx: ApiContext) => {
      const rid = await ctx.loaders.resolveOne(a.id);
      return rid ? neighbors(ctx.loaders, rid, a.depth ?? 1, a.edgeTypes ?? undefined, a.direction ?? 'BOTH') : null;
    },
    blastRadius: async (_: unknown, a: { id: string; depth?: number }, ctx: ApiContext) => {
      const rid = await ctx.loaders.resolveOne(a.id);
      return rid ? blastRadius(ctx.loaders, rid, a.depth ?? 3) : null;
    },
    incidents: async (_: unknown, a: Args & { status?: string }, ctx: ApiContext) => {
      const rows = await ctx.sql.rows<Parameters<typeof incidentRecord>[0]>(
        `SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE opened >= fromUnixTimestamp64Milli({since:Int64}) ${a.status ? 'AND status = {status:String}' : ''}
         ORDER BY opened DESC, id LIMIT {first:UInt32}`,
        { since: sinceMs(a.since, DAY), first: first(a.first, 50), ...(a.status ? { status: a.status.toLowerCase() } : {}) },
      );
      return rows.map(incidentRecord);
    },
    incident: (_: unknown, { id }: { id: string }, ctx: ApiContext, info: GraphQLResolveInfo) => incidentById(ctx, id, selects(info, 'causes')),
    changes: async (_: unknown, a: Args, ctx: ApiContext) => {
      const ids = a.resource ? await idsOf(ctx, a.resource) : undefined;
      return ctx.sql.rows<ChangeRow>(
        `SELECT ${CHANGE_COLUMNS} FROM change_events WHERE ${CHANGE_APPLIED} AND ts >= fromUnixTimestamp64Milli({since:Int64})
         ${ids ? 'AND hasAny(resource_ids, {ids:Array(String)})' : ''} ORDER BY ts DESC, event_id LIMIT {first:UInt32}`,
        { since: sinceMs(a.since, DAY), first: first(a.first, 100), ...(ids ? { ids } : {}) },
      );
    },
    drift: async (_: unknown, a: Args & { kind?: string }, ctx: ApiContext) => {
      const ids = a.resource ? await idsOf(ctx, a.resource) : undefined;
      return ctx.sql.rows<DriftRow>(
        `SELECT ${DRIFT_COLUMNS} FROM drift_events WHERE ts >= fromUnixTimestamp64Milli({since:Int64})
         ${ids ? 'AND has({ids:Array(String)}, resource_id)' : ''} ${a.kind ? 'AND drift = {kind:String}' : ''}
         ORDER BY ts DESC, id LIMIT {first:UInt32}`,
        { since: sinceMs(a.since, 7 * DAY), first: first(a.first, 100), ...(ids ? { ids } : {}), ...(a.kind ? { kind: a.kind.toLowerCase() } : {}) },
      );
    },
    serviceMap: (_: unknown, a: { minutes?: number }, ctx: ApiContext) => serviceMap(ctx.loaders, a.minutes ?? 15),
    graph: (_: unknown, a: { limit?: number }, ctx: ApiContext) => wholeGraph(ctx.loaders, a.limit ?? 2000),
    runtimeEvents: async (_: unknown, a: Args, ctx: ApiContext) => {
      const ids = a.resource ? await idsOf(ctx, a.resource) : undefined;
      return ctx.sql.rows<RuntimeEventRow>(
        `SELECT id, toUnixTimestamp64Milli(ts) AS ts_ms, rule, priority, resource_id, hostname, output FROM runtime_events
         WHERE ts >= fromUnixTimestamp64Milli({since:Int64}) ${ids ? 'AND has({ids:Array(String)}, resource_id)' : ''}
         ORDER BY ts DESC, id LIMIT {first:UInt32}`,
        { since: sinceMs(a.since, DAY), first: first(a.first, 100), ...(ids ? { ids } : {}) },
      );
    },
  },
  Subscription: {
    healthChanged: live<HealthFactRow>('health', async (a, ctx) => {
      const ids = await resourceFilter(ctx, a.resource);
      const depth = Number(a.depth ?? 0);
      checkLimit('depth', depth, MAX_WALK_DEPTH, 0);
      if (ids && depth > 0) {
        // What is within depth now: the subscription keeps that set (a new neighbour needs a new subscription).
        for (const root of [...ids]) {
          const g = await neighbors(ctx.loaders, root, depth, undefined, 'BOTH');
          for (const n of g.nodes) ids.add(n.id);
          for (const e of g.edges) ids.add(e.source).add(e.target);
        }
      }
      return (f) => !ids || ids.has(f.resource_id);
    }),
    correlationAdded: live<CorrelationRecord>('correlation', async (a, ctx) => {
      const ids = await resourceFilter(ctx, a.resource);
      const min = Number(a.minScore ?? 0);
      return (c) => c.score >= min && (!ids || ids.has(c.impacted_resource_id) || ids.has(c.cause_resource_id));
    }),
    incidentUpdated: live<IncidentRecord>('incident', async (a) => {
      const id = a.id as string | undefined;
      return (i) => !id || i.id === id;
    }),
    driftDetected: live<DriftRow>('drift', async (a, ctx) => {
      const ids = await resourceFilter(ctx, a.resource);
      return (d) => !ids || ids.has(d.resource_id);
    }),
    changeRecorded: live<ChangeRow>('change', async (a, ctx) => {
      const ids = await resourceFilter(ctx, a.resource);
      return (c) => !ids || c.resource_ids.some((r) => ids.has(r));
    }),
  },
  Resource: {
    firstSeen: (r: NodeRow) => isoTime(r.first_seen_ms),
    lastSeen: (r: NodeRow) => isoTime(r.last_seen_ms),
    attributes: (r: NodeRow) => r.attributes ?? {},
    aliases: (r: NodeRow, _: unknown, ctx: ApiContext) => ctx.loaders.aliases(r.id),
    health: async (r: NodeRow, _: unknown, ctx: ApiContext) => upper((await ctx.loaders.health(r.id)).health),
    healthReason: async (r: NodeRow, _: unknown, ctx: ApiContext) => (await ctx.loaders.health(r.id)).reason,
    criticality: async (r: NodeRow, _: unknown, ctx: ApiContext) => (await ctx.loaders.standing(r.id)).criticality,
    healthHistory: (r: NodeRow, a: Args, ctx: ApiContext) => ctx.loaders.healthHistory(r.id, a.since ? sinceMs(a.since, 0) : 0, first(a.first, 100)),
    openDrift: (r: NodeRow, _: unknown, ctx: ApiContext) => ctx.loaders.openDrift(r.id),
    changes: (r: NodeRow, a: Args, ctx: ApiContext) => ctx.loaders.resourceChanges(r.id, a.since ? sinceMs(a.since, 0) : 0, first(a.first, 20)),
    correlations: (r: NodeRow, a: Args, ctx: ApiContext) => ctx.loaders.resourceCorrelations(r.id, first(a.first, 20)),
    incidents: (r: NodeRow, a: Args, ctx: ApiContext) => ctx.loaders.resourceIncidents(r.id, first(a.first, 20)),
    edgesIn: (r: NodeRow, a: { minutes?: number }, ctx: ApiContext) => ctx.loaders.serviceEdges(r.id, 'in', minutesOf(a.minutes)),
    edgesOut: (r: NodeRow, a: { minutes?: number }, ctx: ApiContext) => ctx.loaders.serviceEdges(r.id, 'out', minutesOf(a.minutes)),
  },
  GraphNode: {
    health: (n: { health: string }) => upper(n.health),
  },
  HealthFact: {
    ts: (f: HealthFactRow) => isoTime(f.ts_ms),
    resourceId: (f: HealthFactRow) => f.resource_id,
    status: (f: HealthFactRow) => upper(f.status),
    value: (f: HealthFactRow) => finite(f.value),
    threshold: (f: HealthFactRow) => finite(f.threshold),
  },
  Change: {
    id: (c: ChangeRow) => c.event_id,
    ts: (c: ChangeRow) => isoTime(c.ts_ms),
    source: (c: ChangeRow) => c.kind,
    eventSource: (c: ChangeRow) => c.event_source,
    eventName: (c: ChangeRow) => c.event_name,
    actorType: (c: ChangeRow) => c.actor_type,
    resourceIds: (c: ChangeRow) => c.resource_ids,
    sourceIp: (c: ChangeRow) => c.source_ip,
    userAgent: (c: ChangeRow) => c.user_agent,
  },
  Drift: {
    ts: (d: DriftRow) => isoTime(d.ts_ms),
    resourceId: (d: DriftRow) => d.resource_id,
    resourceType: (d: DriftRow) => d.resource_type,
    kind: (d: DriftRow) => upper(d.drift),
    causeEventId: (d: DriftRow) => d.cause_event_id,
    causeActor: (d: DriftRow) => d.cause_actor,
    causeEventName: (d: DriftRow) => d.cause_event_name,
    causeTs: (d: DriftRow) => (d.cause_event_id ? isoTime(d.cause_ts_ms) : null),
  },
  Correlation: {
    ts: (c: CorrelationRecord) => isoTime(c.ts_ms),
    causeId: (c: CorrelationRecord) => c.cause_id,
    causeKind: (c: CorrelationRecord) => c.cause_kind,
    causeTs: (c: CorrelationRecord) => isoTime(c.cause_ts_ms) ?? '',
    causeResourceId: (c: CorrelationRecord) => c.cause_resource_id,
    impactedResourceId: (c: CorrelationRecord) => c.impacted_resource_id,
    signalId: (c: CorrelationRecord) => c.signal_id,
    score: (c: CorrelationRecord) => finite(c.score),
    claim: (c: CorrelationRecord) => c.score >= 0.5,
    windowS: (c: CorrelationRecord) => Number(c.window_s),
    incidentId: (c: CorrelationRecord) => c.incident_id,
    rank: (c: CorrelationRecord) => Number(c.rank),
    path: (c: CorrelationRecord) => evidenceOf(c)?.path ?? c.path.map((id, i) => ({ id, name: '', type: '', edge: i === 0 ? '' : '?' })),
    evidence: (c: CorrelationRecord) => evidenceOf(c) ?? null,
    explanation: (c: CorrelationRecord, _: unknown, ctx: ApiContext) => (evidenceOf(c) ? ctx.loaders.explanation(c) : ''),
  },
  Incident: {
    opened: (i: IncidentRecord) => isoTime(i.opened_ms || i.revision_ms),
    resolved: (i: IncidentRecord) => isoTime(i.resolved_ms),
    status: (i: IncidentRecord) => (i.status === 'resolved' ? 'RESOLVED' : 'OPEN'),
    causes: (i: IncidentRecord) => i.causes.map((c, n) => ({ ...c, rank: n + 1, incident_id: i.id })),
    revision: (i: IncidentRecord) => isoTime(i.revision_ms) ?? '',
  },
  RankedCause: {
    causeId: (c: CauseRecord) => c.cause_id,
    causeKind: (c: CauseRecord) => c.cause_kind,
    resourceId: (c: CauseRecord) => c.resource_id,
    change: async (c: CauseRecord, _: unknown, ctx: ApiContext) => (c.cause_kind === 'drift' ? null : ((await ctx.loaders.change(c.cause_id)) ?? null)),
    correlations: async (c: CauseRecord & { incident_id: string }, _: unknown, ctx: ApiContext) =>
      (await ctx.loaders.incidentCorrelations(c.incident_id)).filter((r) => r.cause_id === c.cause_id),
  },
  RuntimeEvent: {
    ts: (e: RuntimeEventRow) => isoTime(e.ts_ms),
    resourceId: (e: RuntimeEventRow) => e.resource_id,
  },
};

function minutesOf(minutes: number | undefined): number {
  const m = minutes ?? 15;
  checkLimit('minutes', m, 7 * 24 * 60);
  return m;
}
