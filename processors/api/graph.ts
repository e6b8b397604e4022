/*
 * Drawn graphs: the whole graph (Unified, SkyGraph), the service map (TraceCore), a resource's
 * neighbourhood and its blast radius. Nodes carry what a view colours and badges them by; edges
 * are the topology's (graph_edges) and the calls between services (service_edges).
 */
import { GraphQLError } from 'graphql';
import { serviceEdgesWhere, type Loaders, type ServiceEdgeRecord } from './loaders.js';
import { CHANGE_APPLIED, NODE_COLUMNS, type NodeRow, type Sql } from './read.js';

/** How far neighbors and blastRadius may walk. */
export const MAX_WALK_DEPTH = 6;
/** Most nodes a walk or the whole graph gives; past it the graph is cut (truncated). */
export const MAX_GRAPH_NODES = 10_000;
/** The window of the call edges drawn beside the topology (minutes). */
export const CALL_WINDOW_MINUTES = 15;

/** How each edge type carries dependency (as processors/engine/graph.ts walks it): forward, src depends on dst; reverse, dst on src. */
const DEPENDENCY: Record<string, 'forward' | 'reverse'> = {
  runs_on: 'forward',
  member_of: 'forward',
  owned_by: 'forward',
  calls: 'forward',
  attached_to: 'reverse',
  routes_to: 'reverse',
};

export interface GraphNode {
  id: string;
  type: string;
  name: string;
  provider: string;
  account: string;
  region: string;
  vpc: string | null;
  health: string;
  openDrift: number;
  recentChanges: number;
  criticality: number;
  distance: number;
}

export interface GraphEdge {
  id: string;
  source: string;
  target: string;
  type: string;
  calls: number | null;
  errors: number | null;
  errorRatio: number | null;
  p95Ms: number | null;
}

export interface Subgraph {
  root: string | null;
  nodes: GraphNode[];
  edges: GraphEdge[];
  truncated: boolean;
}

interface TopologyEdge {
  src: string;
  dst: string;
  type: string;
}

const topologyEdge = (e: TopologyEdge): GraphEdge => ({
  id: `${e.type}:${e.src}->${e.dst}`,
  source: e.src,
  target: e.dst,
  type: e.type,
  calls: null,
  errors: null,
  errorRatio: null,
  p95Ms: null,
});

/** A call edge as drawn: totals over the window, the p95 of its latest minute. */
const callEdge = (e: ServiceEdgeRecord): GraphEdge => ({
  id: `calls:${e.client}->${e.server}${e.connectionType ? `:${e.connectionType}` : ''}`,
  source: e.client,
  target: e.server,
  type: 'calls',
  calls: e.calls,
  errors: e.errors,
  errorRatio: e.errorRatio,
  p95Ms: e.minutes.at(-1)?.p95Ms ?? e.p95Ms,
});

/** Changes on each resource in the last hour. */
async function recentChanges(sql: Sql, ids: string[]): Promise<Map<string, number>> {
  const rows = await sql.rows<{ id: string; n: number }>(
    `SELECT rid AS id, count() AS n FROM change_events ARRAY JOIN resource_ids AS rid
     WHERE has({ids:Array(String)}, rid) AND ${CHANGE_APPLIED} AND ts >= now() - INTERVAL 1 HOUR GROUP BY rid`,
    { ids },
  );
  return new Map(rows.map((r) => [r.id, Number(r.n)]));
}

/**
 * The VPC each resource is in: itself for a VPC, else one or two member_of hops (instance → subnet
 * → VPC), else the resource its vpc_id attribute names (an alias); the least id when several fit.
 * The topology's part is one statement narrowed to the ids before the VPCs are looked up; the
 * attribute's part is a lookup of the attribute values, as the nodes give them.
 */
async function vpcs(sql: Sql, ids: string[], nodes: Promise<(NodeRow | undefined)[]>): Promise<Map<string, string>> {
  const member = "SELECT src, dst FROM graph_edges WHERE type = 'member_of' AND NOT gone";
  const [topology, named] = await Promise.all([
    sql.rows<{ id: string; vpc: string }>(
      `SELECT id, min(candidate) AS vpc FROM (
         SELECT arrayJoin({ids:Array(String)}) AS id, id AS candidate
         UNION ALL SELECT src AS id, dst AS candidate FROM (${member}) WHERE has({ids:Array(String)}, src)
         UNION ALL SELECT a.src AS id, b.dst AS candidate FROM (SELECT src, dst FROM (${member}) WHERE has({ids:Array(String)}, src)) AS a
                   INNER JOIN (${member}) AS b ON a.dst = b.src
       ) WHERE candidate IN (SELECT id FROM graph_nodes WHERE endsWith(type, 'vpc') AND NOT gone) GROUP BY id`,
      { ids },
    ),
    nodes.then(async (rows) => {
      const byNode = rows.filter((n): n is NodeRow => !!n?.attributes?.vpc_id);
      if (byNode.length === 0) return new Map<string, string>();
      const found = await sql.rows<{ alias: string; vpc: string }>(
        'SELECT alias, min(resource_id) AS vpc FROM resource_aliases WHERE has(arrayMap(v -> lower(v), {values:Array(String)}), alias) GROUP BY alias',
        { values: [...new Set(byNode.map((n) => n.attributes.vpc_id!))] },
      );
      const byAlias = new Map(found.map((r) => [r.alias, r.vpc]));
      // As ClickHouse's lower() does: ASCII letters only.
      const lower = (v: string) => v.replace(/[A-Z]+/g, (m) => m.toLowerCase());
      const byValue = new Map(byNode.map((n) => [n.attributes.vpc_id!, byAlias.get(lower(n.attributes.vpc_id!))]));
      return new Map(
        byNode.flatMap((n) => {
          const vpc = byValue.get(n.attributes.vpc_id!);
          return vpc === undefined ? [] : [[n.id, vpc] as const];
        }),
      );
    }),
  ]);
  const out = new Map(topology.map((r) => [r.id, r.vpc]));
  for (const [id, vpc] of named) if (!out.has(id) || vpc < out.get(id)!) out.set(id, vpc);
  return out;
}

/** Graph nodes for ids, at their distances, with health, drift, recent changes, criticality and VPC; ids the graph does not know are left out. */
export async function graphNodes(loaders: Loaders, distances: ReadonlyMap<string, number>): Promise<GraphNode[]> {
  const ids = [...distances.keys()];
  if (ids.length === 0) return [];
  const described = Promise.all(ids.map((id) => loaders.node(id)));
  const [nodes, summaries, changes, vpcOf] = await Promise.all([
    described,
    Promise.all(ids.map((id) => loaders.summary(id))),
    recentChanges(loaders.sql, ids),
    vpcs(loaders.sql, ids, described),
  ]);
  const out: GraphNode[] = [];
  ids.forEach((id, i) => {
    const n = nodes[i];
    if (!n) return;
    const s = summaries[i]!;
    out.push({
      id,
      type: n.type,
      name: n.name || id,
      provider: n.provider,
      account: n.account,
      region: n.region,
      vpc: vpcOf.get(id) ?? null,
      health: s.health,
      openDrift: s.open_drift,
      recentChanges: changes.get(id) ?? 0,
      criticality: s.criticality,
      distance: distances.get(id) ?? 0,
    });
  });
  return out;
}

/** Every resource and every edge between them (topology and the last window's calls), at most limit nodes. */
export async function wholeGraph(loaders: Loaders, limit: number): Promise<Subgraph> {
  checkLimit('limit', limit, MAX_GRAPH_NODES);
  const { sql } = loaders;
  // The nodes come described (node(id) will not ask again), and the edges with the rest of the nodes' look-ups.
  const [rows, calls] = await Promise.all([
    sql.rows<NodeRow>(`SELECT ${NODE_COLUMNS} FROM graph_nodes WHERE NOT gone ORDER BY id LIMIT {n:UInt32}`, { n: limit + 1 }),
    serviceEdgesWhere(sql, '1', CALL_WINDOW_MINUTES),
  ]);
  loaders.primeNodes(rows);
  const ids = new Set(rows.map((r) => r.id));
  // Services known only from their calls are nodes too.
  for (const e of calls) for (const id of [e.client, e.server]) ids.add(id);
  const kept = [...ids].slice(0, limit);
  const truncated = ids.size > limit;
  const keep = new Set(kept);
  const [edges, nodes] = await Promise.all([
    sql.rows<TopologyEdge>(
      'SELECT src, dst, type FROM graph_edges WHERE NOT gone AND has({ids:Array(String)}, src) AND has({ids:Array(String)}, dst) ORDER BY src, dst, type',
      { ids: kept },
    ),
    graphNodes(loaders, new Map(kept.map((id) => [id, 0]))),
  ]);
  return {
    root: null,
    nodes,
    edges: [...edges.map(topologyEdge), ...calls.filter((e) => keep.has(e.client) && keep.has(e.server)).map(callEdge)],
    truncated,
  };
}

/** The service map: services and the calls between them over the last `minutes`. */
export async function serviceMap(loaders: Loaders, minutes: number): Promise<Subgraph> {
  checkLimit('minutes', minutes, 7 * 24 * 60);
  const calls = await serviceEdgesWhere(loaders.sql, '1', minutes);
  const ids = new Map<string, number>();
  for (const e of calls) for (const id of [e.client, e.server]) ids.set(id, 0);
  return { root: null, nodes: await graphNodes(loaders, ids), edges: calls.map(callEdge), truncated: false };
}

export type Direction = 'IN' | 'OUT' | 'BOTH';

/** One step of a walk: the edges at the frontier (topology, and calls when asked for), as src → dst. */
async function step(sql: Sql, frontier: string[], direction: Direction, edgeTypes: string[] | undefined): Promise<GraphEdge[]> {
  const at =
    direction === 'OUT'
      ? 'has({f:Array(String)}, src)'
      : direction === 'IN'
        ? 'has({f:Array(String)}, dst)'
        : 'has({f:Array(String)}, src) OR has({f:Array(String)}, dst)';
  const types = edgeTypes?.filter((t) => t !== 'calls');
  const wantsTopology = !edgeTypes || (types?.length ?? 0) > 0;
  const wantsCalls = !edgeTypes || edgeTypes.includes('calls');
  const [topology, calls] = await Promise.all([
    wantsTopology
      ? sql.rows<TopologyEdge>(`SELECT src, dst, type FROM graph_edges WHERE NOT gone AND (${at}) ${types ? 'AND has({types:Array(String)}, type)' : ''}`, {
          f: frontier,
          ...(types ? { types } : {}),
        })
      : [],
    wantsCalls
      ? serviceEdgesWhere(
          sql,
          direction === 'OUT'
            ? 'has({f:Array(String)}, client_id)'
            : direction === 'IN'
              ? 'has({f:Array(String)}, server_id)'
              : '(has({f:Array(String)}, client_id) OR has({f:Array(String)}, server_id))',
          CALL_WINDOW_MINUTES,
          { f: frontier },
        )
      : [],
  ]);
  return [...topology.map(topologyEdge), ...calls.map(callEdge)];
}

/** Walks from root up to depth edges; `next` says which end of an edge is reached from which (undefined: the edge is not followed). */
async function walk(
  loaders: Loaders,
  root: string,
  depth: number,
  fetch: (frontier: string[]) => Promise<GraphEdge[]>,
  next: (e: GraphEdge, from: ReadonlySet<string>) => string | undefined,
): Promise<Subgraph> {
  checkLimit('depth', depth, MAX_WALK_DEPTH, 0);
  const distances = new Map([[root, 0]]);
  const edges = new Map<string, GraphEdge>();
  let frontier = [root];
  let truncated = false;
  for (let d = 1; d <= depth && frontier.length && !truncated; d++) {
    const from = new Set(frontier);
    const reached: string[] = [];
    for (const e of await fetch(frontier)) {
      const other = next(e, from);
      if (other === undefined) continue;
      edges.set(e.id, e);
      if (distances.has(other)) continue;
      if (distances.size >= MAX_GRAPH_NODES) {
        truncated = true;
        continue;
      }
      distances.set(other, d);
      reached.push(other);
    }
    frontier = reached;
  }
  const nodes = await graphNodes(loaders, distances);
  return { root, nodes, edges: [...edges.values()].filter((e) => distances.has(e.source) && distances.has(e.target)), truncated };
}

/** What is connected to root within depth edges, in the direction(s) asked for. */
export function neighbors(loaders: Loaders, root: string, depth: number, edgeTypes: string[] | undefined, direction: Direction): Promise<Subgraph> {
  return walk(
    loaders,
    root,
    depth,
    (frontier) => step(loaders.sql, frontier, direction, edgeTypes),
    (e, from) => {
      if (direction !== 'IN' && from.has(e.source)) return e.target;
      if (direction !== 'OUT' && from.has(e.target)) return e.source;
      return undefined;
    },
  );
}

/** What depends on root within depth: for a forward edge its source, for a reverse one its target; services among them. */
export async function blastRadius(loaders: Loaders, root: string, depth: number): Promise<Subgraph & { services: string[] }> {
  const g = await walk(
    loaders,
    root,
    depth,
    (frontier) => step(loaders.sql, frontier, 'BOTH', Object.keys(DEPENDENCY)),
    (e, from) => {
      const how = DEPENDENCY[e.type];
      if (how === 'forward' && from.has(e.target)) return e.source;
      if (how === 'reverse' && from.has(e.source)) return e.target;
      return undefined;
    },
  );
  return { ...g, services: g.nodes.filter((n) => n.type === 'service' || n.id.startsWith('service:')).map((n) => n.id) };
}

/** A count argument within its bounds, or a clear error. */
export function checkLimit(name: string, value: number, max: number, min = 1): void {
  if (!Number.isInteger(value) || value < min || value > max)
    throw new GraphQLError(`${name} must be between ${min} and ${max} (got ${value})`, { extensions: { code: 'BAD_USER_INPUT' } });
}
