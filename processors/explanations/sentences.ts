/*
 * Sentences from the engine's evidence: the change, the path from its resource to the impacted one
 * (each edge named), the signal and its baseline — as `airdig explain` prints them, the graph API
 * answers them (Correlation.explanation) and the notifications send them. Shared, so that they
 * say the same thing everywhere.
 */
import { percent } from '../edgesignals/signals.js';
import { shortActor } from '../identity/aws.js';

// ---------------------------------------------------------------------------------------------
// The evidence of a correlation, as the engine writes it (processors/engine/correlator.ts).

export interface Hop {
  id: string;
  name: string;
  type: string;
  /** The edge type between the previous hop and this one ('' for the cause's resource). */
  edge: string;
}

export interface Evidence {
  change: { id: string; kind: string; time: string; actor: string; event: string; summary: string };
  /** From the cause's resource (first) to the impacted one (last). */
  path: Hop[];
  signal: {
    rule: string;
    resource: string;
    onset: string;
    status: string;
    reason: string;
    value: number;
    threshold: number;
    labels?: Record<string, string>;
  };
}

/** A row of the correlations view as these commands read it. */
export interface CorrelationRow {
  id: string;
  ts_ms: number;
  cause_id: string;
  cause_kind: string;
  incident_id: string;
  score: number;
  claim: number;
  evidence: string;
}

export const CORRELATION_COLUMNS = 'id, toUnixTimestamp64Milli(ts) AS ts_ms, cause_id, cause_kind, incident_id, score, claim, evidence';

/** HH:MM:SS (UTC) of an ISO time. */
const clock = (iso: string) => new Date(iso).toISOString().slice(11, 19);
/** YYYY-MM-DD HH:MM:SS (UTC) of a time in ms. */
export const dateTime = (ms: number) => new Date(ms).toISOString().slice(0, 19).replace('T', ' ');

const millis = (ms: number) => `${ms >= 100 ? ms.toFixed(0) : Number(ms.toPrecision(3))} ms`;

/** A resource's short name when nothing better is known: a service's name, an ARN's resource id, else the id. */
export function shortId(id: string): string {
  const service = /^service:[^/]*\/(.+)$/.exec(id);
  if (service) return service[1]!;
  if (id.startsWith('arn:')) return id.split(/[:/]/).pop() || id;
  return id;
}

/** What a resource type is called in a sentence: security group, subnet, VPC, load balancer. */
function noun(type: string): string {
  const t = (type.split(':').pop() ?? type).replaceAll('-', ' ');
  return t === 'vpc' ? 'VPC' : t === 'db' ? 'database' : t;
}

/** A node of the chain by its name: instances and services as they are, other types with what they are ("subnet app"). */
function label(h: Hop): string {
  const name = h.name && h.name !== h.id ? h.name : shortId(h.id);
  if (h.type === 'service' || h.type === 'ec2:instance' || !h.type) return name;
  return `${noun(h.type)} ${name}`;
}

/** How hop i relates to hop i-1, in words, seen from the cause's side. */
function relation(prev: Hop, cur: Hop, names: string): string {
  switch (cur.edge) {
    case 'member_of':
      return `${noun(prev.type)} of ${names}`;
    case 'runs_on':
      return `where ${names} runs`;
    case 'calls':
      return `called by ${names}`;
    case 'owned_by':
      return `owner of ${names}`;
    case 'attached_to':
      return `attached to ${names}`;
    case 'routes_to':
      return `routing to ${names}`;
    default:
      return `${cur.edge} ${names}`;
  }
}

/** Who did what, where: "10:03:20 bob RevokeSecurityGroupEgress on sg-0pay (security group of payments-1, payments-2, where payments runs)". */
export function causeText(e: Evidence, siblings: string[] = []): string {
  const [first, ...rest] = e.path;
  const who = e.change.actor ? `${shortActor(e.change.actor)} ` : '';
  const where = first ? (first.type === 'service' ? label(first) : shortId(first.id)) : '?';
  // A CloudTrail call reads best as the call on the resource; a deploy or a posted change by its own summary.
  const what = e.change.kind === 'cloudtrail' || !e.change.summary ? `${e.change.event} on ${where}` : `${e.change.summary} on ${where}`;
  const roles = rest.map((h, i) => relation(e.path[i]!, h, i === 0 && siblings.length > 1 ? listed(siblings) : label(h)));
  return `${clock(e.change.time)} ${who}${what}${roles.length ? ` (${roles.join(', ')})` : ''}`;
}

/** Names in a sentence, at most five. */
function listed(names: string[]): string {
  return names.length > 5 ? `${names.slice(0, 5).join(', ')} and ${names.length - 5} more` : names.join(', ');
}

/** What was seen, on what: "10:04:00 checkout → payments errors 0.4 % → 31 % → checkout critical". */
export function signalText(e: Evidence): string {
  const s = e.signal;
  const labels = s.labels ?? {};
  const nameOf = (id: string) => {
    const hop = e.path.find((h) => h.id === id);
    return hop ? label(hop) : shortId(id);
  };
  const baseline = labels.baseline !== undefined && labels.baseline !== '' ? Number(labels.baseline) : undefined;
  let what = s.reason || `${s.rule} ${s.value}`;
  if ((s.rule === 'edge_error_ratio' || s.rule === 'edge_latency_p95') && labels.client_id && labels.server_id) {
    const route = `${nameOf(labels.client_id)} → ${nameOf(labels.server_id)}`;
    const fmt = s.rule === 'edge_error_ratio' ? percent : millis;
    const measure = s.rule === 'edge_error_ratio' ? 'errors' : 'p95 latency';
    what = `${route} ${measure} ${baseline !== undefined && Number.isFinite(baseline) ? `${fmt(baseline)} → ` : ''}${fmt(s.value)}`;
  }
  const impacted = e.path.at(-1);
  return `${clock(s.onset)} ${what} → ${impacted ? label(impacted) : shortId(s.resource)} ${s.status}`;
}

/** The whole chain of one correlation, as one sentence. */
export function chainSentence(e: Evidence, score: number, siblings: string[] = []): string {
  return `${causeText(e, siblings)} → ${signalText(e)}; score ${score.toFixed(2)}`;
}

// ---------------------------------------------------------------------------------------------
// Reading the views.

/** What the sentences read from: a query endpoint, or anything that runs its SELECTs (the graph API's store). */
export interface RowSource {
  rows<T>(sql: string, params?: Record<string, string | readonly string[]>): Promise<T[]>;
}

/** Names of resources by id (graph_nodes), for those the graph knows. */
export async function namesOf(q: RowSource, ids: string[]): Promise<Map<string, string>> {
  if (ids.length === 0) return new Map();
  const rows = await q.rows<{ id: string; name: string }>('SELECT id, name FROM graph_nodes WHERE has({ids:Array(String)}, id)', { ids });
  return new Map(rows.filter((r) => r.name).map((r) => [r.id, r.name]));
}

/** Edge types of graph_edges by direction: forward ones point from what depends to what it depends on (processors/engine/graph.ts). */
const FORWARD = new Set(['runs_on', 'member_of', 'owned_by']);
const REVERSE = new Set(['attached_to', 'routes_to']);

/**
 * The other nodes that stand where the path's second hop stands: every member of the security
 * group that runs the same service, not only the one the walk went through. Only for paths of
 * graph edges (a call edge is not in graph_edges); [] otherwise.
 */
async function siblingsOf(q: RowSource, path: Hop[]): Promise<string[]> {
  if (path.length < 3) return [];
  const [c0, c1, c2] = path as [Hop, Hop, Hop];
  const known = (edge: string) => FORWARD.has(edge) || REVERSE.has(edge);
  if (!known(c1.edge) || !known(c2.edge)) return [];
  // x relates to c0 as c1 does (forward: x → c0), and c2 to x as c2 to c1 (forward: c2 → x).
  const [x1, at1] = FORWARD.has(c1.edge) ? ['src', 'dst'] : ['dst', 'src'];
  const [x2, at2] = FORWARD.has(c2.edge) ? ['dst', 'src'] : ['src', 'dst'];
  // The members and their names in one statement (one round trip per path, not two).
  const rows = await q.rows<{ id: string; name: string }>(
    `WITH members AS (SELECT h1.x AS id FROM
       (SELECT ${x1} AS x FROM graph_edges WHERE type = {e1:String} AND ${at1} = {c0:String} AND NOT gone) AS h1
       INNER JOIN (SELECT ${x2} AS x FROM graph_edges WHERE type = {e2:String} AND ${at2} = {c2:String} AND NOT gone) AS h2 ON h1.x = h2.x)
     SELECT m.id AS id, n.name AS name FROM members AS m
     LEFT JOIN (SELECT id, name FROM graph_nodes WHERE id IN (SELECT id FROM members)) AS n ON n.id = m.id`,
    { e1: c1.edge, c0: c0.id, e2: c2.edge, c2: c2.id },
  );
  const names = new Map(rows.map((r) => [r.id, r.name || shortId(r.id)]));
  if (names.size < 2) return [];
  return [...names.values()].sort();
}

/** The chain sentences of correlation rows, siblings looked up once per distinct path start. */
export async function sentences(q: RowSource, rows: CorrelationRow[]): Promise<string[]> {
  const cache = new Map<string, Promise<string[]>>();
  const evidence = rows.map((r) => JSON.parse(r.evidence) as Evidence);
  // Every distinct path's siblings at once: the look-ups do not depend on each other.
  const siblings = await Promise.all(
    evidence.map((e) => {
      const key = e.path
        .slice(0, 3)
        .map((h) => `${h.id}\u0000${h.edge}`)
        .join('\u0001');
      if (!cache.has(key)) cache.set(key, siblingsOf(q, e.path));
      return cache.get(key)!;
    }),
  );
  return rows.map((r, i) => chainSentence(evidence[i]!, r.score, siblings[i]));
}

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** A duration as people write it (90s, 30m, 24h, 7d, 1h30m) in ms; undefined when it is not one. */
export function parseDuration(text: string): number | undefined {
  if (!/^(\d+[smhd])+$/.test(text)) return undefined;
  let ms = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)([smhd])/g)) ms += Number(n) * UNITS[unit!]!;
  return ms > 0 ? ms : undefined;
}
