/*
 * `airdig explain` and `airdig incidents`: the engine's answers in words, read from the query
 * endpoint (the views correlations, incidents, resource_aliases, graph_nodes, graph_edges). The
 * sentences are made from each correlation's evidence (the change, the path from it to the
 * impacted resource with each edge's type, the signal and its baseline); `airdig demo` prints an
 * incident with the same functions.
 */
import { UsageError, parseCommand } from './args.js';
import { arrayParam, endpointOf, type QueryEndpoint } from './endpoint.js';
import {
  CORRELATION_COLUMNS,
  causeText,
  dateTime,
  namesOf,
  parseDuration,
  sentences,
  shortId,
  type CorrelationRow,
  type Evidence,
} from '../explanations/sentences.js';

export { arrayParam };

export const EXPLAIN_HELP = `Usage: airdig explain INCIDENT|RESOURCE [--url URL] [--limit N]

Prints the engine's answer in words, from a running airdig's query endpoint:
  an incident id (inc-…)   the incident (opened, status, what it impacts) and its ranked causes,
                           each with the chain from the change to the signals it explains
  a resource               the correlations where it is impacted or is the cause's resource,
                           newest first; its canonical id or any alias (an instance id, private
                           IP or DNS name, an RDS endpoint, a name)

  --url URL        a running airdig query endpoint or a ClickHouse server
                   (default http://127.0.0.1:8123)
  --clickhouse URL same as --url
  --limit N        correlations shown for a resource (default 20)`;

export const INCIDENTS_HELP = `Usage: airdig incidents [--url URL] [--since DURATION | --all]

Lists the open incidents and those opened recently: id, when it opened, status, when it resolved,
what it impacts and its most probable cause. 'airdig explain ID' tells one in full.

  --url URL          a running airdig query endpoint or a ClickHouse server
                     (default http://127.0.0.1:8123)
  --clickhouse URL   same as --url
  --since DURATION   how far back (default 24h): 90s, 30m, 6h, 7d, 1h30m
  --all              every incident, whenever it opened`;

interface RankedCause {
  cause_id: string;
  cause_kind: string;
  resource_id: string;
  probability: number;
  score: number;
  explanation: string;
}

interface IncidentRow {
  id: string;
  opened_ms: number;
  resolved_ms: number;
  status: string;
  impacted: string[];
  signals: number;
  causes: RankedCause[];
}

const INCIDENT_COLUMNS = `id, toUnixTimestamp64Milli(opened) AS opened_ms, if(isNull(resolved), 0, toUnixTimestamp64Milli(assumeNotNull(resolved))) AS resolved_ms,
  status, impacted, length(signals) AS signals, causes`;

/** A named tuple as JSONEachRow gives it: an object, or (with output_format_json_named_tuples_as_objects off) an array. */
function rankedCause(c: unknown): RankedCause {
  if (!Array.isArray(c)) return c as RankedCause;
  const [cause_id, cause_kind, resource_id, probability, score, explanation] = c as [string, string, string, number, number, string];
  return { cause_id, cause_kind, resource_id, probability, score, explanation };
}

function incidentRow(r: IncidentRow): IncidentRow {
  return {
    ...r,
    opened_ms: Number(r.opened_ms),
    resolved_ms: Number(r.resolved_ms),
    signals: Number(r.signals),
    causes: (r.causes as unknown[]).map(rankedCause),
  };
}

const claimWord = (score: number) => (score >= 0.5 ? 'claimed' : 'weak lead');

/**
 * An incident in words: the header (opened, status, impacted), then each ranked cause with the
 * chain sentence of every correlation it has in the incident. undefined when the id is unknown; a
 * merged incident is told as the one it joined.
 */
export async function describeIncident(q: QueryEndpoint, id: string): Promise<string[] | undefined> {
  let [incident] = await q.rows<IncidentRow>(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE id = {id:String}`, { id });
  const lines: string[] = [];
  if (!incident) {
    const [merged] = await q.rows<{ merged_into: string }>(
      `SELECT merged_into FROM incident_log FINAL WHERE id = {id:String} AND status = 'merged' AND merged_into != ''`,
      { id },
    );
    if (!merged) return undefined;
    lines.push(`${id} was merged into ${merged.merged_into}:`, '');
    [incident] = await q.rows<IncidentRow>(`SELECT ${INCIDENT_COLUMNS} FROM incidents WHERE id = {id:String}`, { id: merged.merged_into });
    if (!incident) return undefined;
  }
  const i = incidentRow(incident);
  const names = await namesOf(q, i.impacted);
  const status = i.status === 'resolved' ? `resolved ${dateTime(i.resolved_ms)} UTC` : i.status;
  lines.push(
    `incident ${i.id}`,
    `  opened    ${dateTime(i.opened_ms)} UTC, ${status}`,
    `  impacted  ${i.impacted.map((r) => names.get(r) ?? shortId(r)).join(', ')}`,
    `  signals   ${i.signals}`,
    '',
  );
  if (i.causes.length === 0) {
    lines.push('No cause found: no change on what the impacted resources depend on in the window before the signals.');
    return lines;
  }
  const rows = await q.rows<CorrelationRow>(`SELECT ${CORRELATION_COLUMNS} FROM correlations WHERE incident_id = {id:String} ORDER BY score DESC, ts`, {
    id: i.id,
  });
  lines.push('Causes, most probable first:');
  for (const [n, c] of i.causes.entries()) {
    const mine = rows.filter((r) => r.cause_id === c.cause_id);
    lines.push(
      `  ${n + 1}. ${c.cause_kind} ${c.cause_id}: ${claimWord(c.score)}, score ${c.score.toFixed(2)}, probability ${c.probability.toFixed(2)}, ${mine.length} signal${mine.length === 1 ? '' : 's'}`,
    );
    for (const s of await sentences(q, mine)) lines.push(`     ${s}`);
  }
  return lines;
}

/** The canonical ids a name stands for: the id itself, an alias (resource_aliases), else a resource's name. */
async function resolveResource(q: QueryEndpoint, name: string): Promise<string[]> {
  const rows = await q.rows<{ id: string }>(
    `SELECT DISTINCT id FROM (
       SELECT resource_id AS id FROM resource_aliases WHERE alias = lower({name:String})
       UNION ALL SELECT id FROM graph_nodes WHERE id = {name:String}
       UNION ALL SELECT impacted_resource_id AS id FROM correlations WHERE impacted_resource_id = {name:String}
       UNION ALL SELECT cause_resource_id AS id FROM correlations WHERE cause_resource_id = {name:String}
     ) ORDER BY id`,
    { name },
  );
  if (rows.length) return rows.map((r) => r.id);
  const named = await q.rows<{ id: string }>('SELECT id FROM graph_nodes WHERE name = {name:String} AND NOT gone ORDER BY id', { name });
  return named.map((r) => r.id);
}

/** A resource's correlations in words, newest first; undefined when the name is not known at all. */
export async function describeResource(q: QueryEndpoint, name: string, limit: number): Promise<string[] | undefined> {
  const ids = await resolveResource(q, name);
  if (ids.length === 0) return undefined;
  const lines = [ids.length === 1 && ids[0] === name ? name : `${name}: ${ids.join(', ')}`, ''];
  const rows = await q.rows<CorrelationRow>(
    `SELECT ${CORRELATION_COLUMNS} FROM correlations
     WHERE has({ids:Array(String)}, impacted_resource_id) OR has({ids:Array(String)}, cause_resource_id)
     ORDER BY ts DESC, score DESC LIMIT {limit:UInt32}`,
    { ids: arrayParam(ids), limit: String(limit) },
  );
  if (rows.length === 0) {
    lines.push('No correlations: it is neither impacted by a change nor the resource of one that was linked to a signal.');
    return lines;
  }
  lines.push('Correlations, newest first:');
  const texts = await sentences(q, rows);
  rows.forEach((r, n) => lines.push(`  ${texts[n]}`, `      ${claimWord(r.score)} · ${r.cause_kind} ${r.cause_id} · incident ${r.incident_id}`));
  return lines;
}

const limitOf = (v: string | undefined): number => {
  if (v === undefined) return 20;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--limit: not a positive number: ${v}\n\n${EXPLAIN_HELP}`);
  return Number(v);
};

const readOptions = { url: { type: 'string' }, clickhouse: { type: 'string' }, help: { type: 'boolean', short: 'h' } } as const;

export async function runExplain(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...readOptions, limit: { type: 'string' } }, EXPLAIN_HELP);
  if (values.help) {
    console.log(EXPLAIN_HELP);
    return 0;
  }
  const [what, ...extra] = positionals;
  if (!what) throw new UsageError(`explain: say what to explain: an incident id or a resource\n\n${EXPLAIN_HELP}`);
  if (extra.length) throw new UsageError(`explain: one incident or resource at a time (also got ${extra.join(' ')})\n\n${EXPLAIN_HELP}`);
  const limit = limitOf(values.limit);
  const q = endpointOf(values);
  const lines = what.startsWith('inc-') ? await describeIncident(q, what) : await describeResource(q, what, limit);
  if (!lines) {
    process.stderr.write(
      what.startsWith('inc-')
        ? `airdig: no incident ${what} at ${q.url} ('airdig incidents' lists them)\n`
        : `airdig: nothing known as "${what}" at ${q.url}: not an incident id (inc-…), a resource id, an alias or a name\n`,
    );
    return 1;
  }
  console.log(lines.join('\n'));
  return 0;
}

/** Rows as a table: each column as wide as its widest cell, two spaces apart; the last one as it is. */
export function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

/** A list in a table cell, cut at `max` characters. */
function cell(items: string[], max: number): string {
  const text = `${items.length}: ${items.join(', ')}`;
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

export async function runIncidents(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, { ...readOptions, since: { type: 'string' }, all: { type: 'boolean' } }, INCIDENTS_HELP);
  if (values.help) {
    console.log(INCIDENTS_HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`incidents: unexpected ${positionals.join(' ')}\n\n${INCIDENTS_HELP}`);
  const since = parseDuration(values.since ?? '24h');
  if (since === undefined) throw new UsageError(`--since: not a duration: ${values.since} (e.g. 90s, 30m, 24h, 7d, 1h30m)\n\n${INCIDENTS_HELP}`);
  if (values.all && values.since) throw new UsageError(`--all and --since: give one of them\n\n${INCIDENTS_HELP}`);
  const q = endpointOf(values);
  const where = values.all ? '' : `WHERE status = 'open' OR opened >= fromUnixTimestamp64Milli({from:Int64})`;
  const incidents = (
    await q.rows<IncidentRow>(`SELECT ${INCIDENT_COLUMNS} FROM incidents ${where} ORDER BY opened DESC`, values.all ? {} : { from: String(Date.now() - since) })
  ).map(incidentRow);
  if (incidents.length === 0) {
    console.log(values.all ? 'No incidents.' : `No incidents open or opened in the last ${values.since ?? '24h'}.`);
    return 0;
  }
  const names = await namesOf(q, [...new Set(incidents.flatMap((i) => i.impacted))]);
  // The top cause in words: who did what on which resource, from its strongest correlation's evidence.
  const tops = await q.rows<{ incident_id: string; cause_id: string; evidence: string }>(
    `SELECT incident_id, cause_id, argMax(evidence, score) AS evidence FROM correlations
     WHERE has({ids:Array(String)}, incident_id) AND has({causes:Array(String)}, cause_id) GROUP BY incident_id, cause_id`,
    { ids: arrayParam(incidents.map((i) => i.id)), causes: arrayParam(incidents.flatMap((i) => i.causes.slice(0, 1).map((c) => c.cause_id))) },
  );
  const topCause = new Map(incidents.map((i) => [i.id, i.causes[0]?.cause_id]));
  const topOf = new Map(tops.filter((t) => topCause.get(t.incident_id) === t.cause_id).map((t) => [t.incident_id, JSON.parse(t.evidence) as Evidence]));
  const rows = incidents.map((i) => {
    const top = i.causes[0];
    const e = topOf.get(i.id);
    const cause = !top
      ? '—'
      : `${e ? causeText({ ...e, path: e.path.slice(0, 1) }) : top.cause_id}; score ${top.score.toFixed(2)}${top.score >= 0.5 ? '' : ' (weak lead)'}`;
    return [
      i.id,
      dateTime(i.opened_ms),
      i.status,
      i.resolved_ms ? dateTime(i.resolved_ms) : '—',
      cell(
        i.impacted.map((r) => names.get(r) ?? shortId(r)),
        40,
      ),
      cause,
    ];
  });
  console.log(table(['ID', 'OPENED (UTC)', 'STATUS', 'RESOLVED', 'IMPACTED', 'TOP CAUSE'], rows).join('\n'));
  return 0;
}
