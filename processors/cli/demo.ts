/*
 * `airdig demo`: the pipeline `airdig run` starts, a scripted incident sent through its intakes
 * (processors/demo), what AirDig makes of it as it happens — read back from its own query endpoint —
 * and the answer as `airdig explain` gives it; then it keeps serving until Ctrl-C.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { errorMessage } from '../runtime/errors.js';
import { SPEED, STORY_MS, Story, type Intakes } from '../demo/story.js';
import { UsageError, parseCommand } from './args.js';
import { DEFAULT_QUERY_URL, QueryEndpoint } from './endpoint.js';
import { arrayParam, describeIncident } from './explain.js';
import { shortId } from '../explanations/sentences.js';
import { RUN_OPTIONS, runFlagsHelp, type RunFlag } from './flags.js';
import { loadConfig, startPipeline } from './pipeline.js';

const FLAGS: readonly RunFlag[] = ['data-dir', 'otlp-grpc', 'otlp-http', 'remote-write', 'query', 'query-native', 'admin', 'api', 'log-level', 'help'];

export const DEMO_HELP = `Usage: airdig demo [options]

Starts AirDig as 'airdig run' does (in-process topics, the embedded ClickHouse server) and plays a
scripted incident through its intakes over HTTP, in about a minute: a small AWS estate (a scan and
its Terraform state), four services calling each other (OTLP spans) and their metrics (remote
write), an unrelated tag, then a security-group change that cuts payments off its database; the
errors that follow, CloudTrail naming who did it, the next scan contradicting Terraform. It prints
what AirDig finds as it finds it, then the incident and its ranked causes as 'airdig explain' does
and the commands to look further, and keeps serving until Ctrl-C.

${runFlagsHelp(FLAGS, {
  'data-dir': 'where the embedded ClickHouse and the bus keep their data (default: a\nnew temporary directory, removed when the demo stops)',
  'log-level': 'logs on stderr (default warn): trace, debug, info, warn, error',
})}`;

/** How long (wall time) to wait for the engine's answer before saying it is late. */
const ANSWER_TIMEOUT_MS = 4 * 60_000;
/** An incident is printed once its rows have stopped changing for this long (more signals join it within seconds). */
const SETTLE_MS = 3_000;

const options = Object.fromEntries(FLAGS.map((f) => [f, RUN_OPTIONS[f]])) as Pick<typeof RUN_OPTIONS, (typeof FLAGS)[number]>;

/** HH:MM:SS (UTC) of a story time. */
const clock = (ms: number) => new Date(ms).toISOString().slice(11, 19);

export async function runDemo(args: string[]): Promise<number> {
  const { values, positionals } = parseCommand(args, options, DEMO_HELP);
  if (values.help) {
    console.log(DEMO_HELP);
    return 0;
  }
  if (positionals.length) throw new UsageError(`demo: unexpected ${positionals.join(' ')}\n\n${DEMO_HELP}`);
  const temporary = values['data-dir'] === undefined ? mkdtempSync(path.join(tmpdir(), 'airdig-demo-')) : undefined;
  try {
    const config = await loadConfig({ ...values, 'data-dir': values['data-dir'] ?? temporary, 'log-level': values['log-level'] ?? 'warn' });
    for (const [key, flag] of [
      ['query', 'query'],
      ['otlp_http', 'otlp-http'],
      ['remote_write', 'remote-write'],
    ] as const)
      if (!config.service[key]) throw new UsageError(`--${flag}: the demo needs this listener (127.0.0.1:0 picks a free port)\n\n${DEMO_HELP}`);
    return await play(config);
  } finally {
    if (temporary) rmSync(temporary, { recursive: true, force: true });
  }
}

async function play(config: Awaited<ReturnType<typeof loadConfig>>): Promise<number> {
  const say = (line: string) => process.stdout.write(`${line}\n`);
  const pipeline = await startPipeline(config, say, { components: false });
  if (!pipeline) return 0;
  const url = (name: string) => {
    const u = pipeline.urls.get(name);
    if (!u) throw new Error(`the pipeline has no ${name} listener`);
    return u;
  };
  const intakes: Intakes = {
    traces: url('otlp http'),
    remoteWrite: url('remote write'),
    cloudtrail: url('cloudtrail'),
    resources: url('resources'),
    terraform: url('terraform'),
  };
  const queryUrl = url('query');
  const q = new QueryEndpoint(queryUrl);
  say('airdig: ready');
  say('');
  say(`airdig demo: a shop on AWS, an unrelated tag, then a change that breaks payments, sent through the intakes above.`);
  say(`Story time runs ${SPEED}× faster than the clock and ends at the present; times are UTC.`);
  say('');
  const story = new Story(intakes, (ts, topic, text) => say(`${clock(ts)}  ${topic.padEnd(10)} ${text}`));
  pipeline.stopping.addEventListener('abort', () => say('airdig demo: stopping'));
  const played = story.run(pipeline.stopping).catch(async (err) => {
    say(`airdig demo: the story could not be sent: ${errorMessage(err)}`);
    await pipeline.stop('the story failed');
    return 'failed' as const;
  });
  const incident = await watch(q, story, (topic, text) => say(`${clock(story.clock.now())}  ${topic.padEnd(10)} ${text}`), pipeline.stopping);
  if (incident) {
    say('');
    say(`The answer (airdig explain ${incident}):`);
    say('');
    for (const line of (await describeIncident(q, incident)) ?? [`${incident}: not found`]) say(line);
    say('');
    for (const line of lookFurther(queryUrl, incident, pipeline.urls.get('admin'), pipeline.urls.get('api'), pipeline.urls.get('web view'))) say(line);
  } else if (!pipeline.stopping.aborted) say(`airdig demo: no claimed cause within ${ANSWER_TIMEOUT_MS / 60_000} min; 'airdig incidents' shows what there is`);
  await pipeline.finished;
  const failed = (await played) === 'failed';
  say('airdig: stopped');
  return failed ? 1 : 0;
}

interface DriftRow {
  id: string;
  drift: string;
  address: string;
  attribute: string;
  expected: string;
  actual: string;
  cause_actor: string;
  cause_event_name: string;
}

/**
 * Follows what AirDig makes of the story through its query endpoint — drift, unhealthy
 * resources, incidents — and tells each once. Resolves with the id of the first open incident
 * whose top cause is claimed, once its rows have settled; undefined if none comes in time or the
 * pipeline stops.
 */
async function watch(q: QueryEndpoint, story: Story, tell: (topic: string, text: string) => void, stopping: AbortSignal): Promise<string | undefined> {
  const seen = new Set<string>();
  const deadline = Date.now() + ANSWER_TIMEOUT_MS;
  let found: { id: string; revision: string; since: number } | undefined;
  while (!stopping.aborted && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 1_000));
    try {
      for (const d of await q.rows<DriftRow>(
        'SELECT id, drift, address, attribute, expected, actual, cause_actor, cause_event_name FROM drift_events ORDER BY ts',
      ))
        if (once(seen, `drift ${d.id}`)) tell('drift', driftText(d));
      for (const h of await q.rows<{ resource_id: string; status: string; reason: string }>(
        "SELECT resource_id, status, reason FROM resource_health WHERE status != 'healthy' ORDER BY resource_id",
      ))
        if (once(seen, `health ${h.resource_id} ${h.status}`)) tell('health', `${shortId(h.resource_id)} ${h.status}: ${h.reason}`);
      const [top] = await q.rows<{ id: string; revision: string; cause_id: string; score: number; explanation: string }>(
        `SELECT id, toString(revision) AS revision, tupleElement(causes[1], 'cause_id') AS cause_id, tupleElement(causes[1], 'score') AS score,
                tupleElement(causes[1], 'explanation') AS explanation
         FROM incidents WHERE status = 'open' AND length(causes) > 0 AND tupleElement(causes[1], 'score') >= 0.5 ORDER BY opened DESC LIMIT 1`,
      );
      if (!top) continue;
      if (once(seen, `incident ${top.id}`)) tell('incident', `${top.id} opened; most probable cause: ${top.explanation}`);
      // The incident is told once neither it nor its correlations have been revised for SETTLE_MS.
      const [rows] = await q.rows<{ revision: string }>(
        'SELECT toString(max(revision)) AS revision FROM correlations WHERE has({ids:Array(String)}, incident_id)',
        {
          ids: arrayParam([top.id]),
        },
      );
      const revision = `${top.revision} ${rows?.revision ?? ''}`;
      if (found?.id !== top.id || found.revision !== revision) found = { id: top.id, revision, since: Date.now() };
      else if (Date.now() - found.since >= SETTLE_MS || story.clock.now() > story.clock.start + STORY_MS + 60_000) return top.id;
    } catch (err) {
      // The endpoint may be busy a moment (a restart of the engine): the next round asks again.
      if (!stopping.aborted) tell('airdig', `query endpoint: ${errorMessage(err)}`);
    }
  }
  return undefined;
}

const once = (seen: Set<string>, key: string) => !seen.has(key) && Boolean(seen.add(key));

/** A security group rule as drift_events spells it (normalised JSON) in a line: "tcp 5432 → sg-0db". */
function ruleLine(r: Record<string, unknown>): string {
  const proto = String(r.protocol ?? '');
  const ports = r.from_port === r.to_port ? `${r.from_port ?? ''}` : `${r.from_port}-${r.to_port}`;
  const to = [...((r.cidr_blocks as string[]) ?? []), ...((r.security_groups as string[]) ?? [])].join(', ');
  return `${proto === 'all' || proto === '-1' ? 'all' : `${proto} ${ports}`} → ${to}`;
}

/** A drift in a line; for rule lists, the rules one side has and the other has not. */
export function driftText(d: DriftRow): string {
  const cause = d.cause_event_name ? `; cause ${shortId(d.cause_actor)} ${d.cause_event_name}` : '';
  let what = d.attribute ? `${d.attribute}: Terraform says ${d.expected}, the scan ${d.actual}` : '';
  if (d.attribute === 'ingress' || d.attribute === 'egress') {
    try {
      const expected = (JSON.parse(d.expected || '[]') as Record<string, unknown>[]).map(ruleLine);
      const actual = (JSON.parse(d.actual || '[]') as Record<string, unknown>[]).map(ruleLine);
      const only = (a: string[], b: string[]) => a.filter((r) => !b.includes(r));
      const parts = [
        ...only(expected, actual).map((r) => `${r} in the Terraform state, not in the scan`),
        ...only(actual, expected).map((r) => `${r} in the scan, not in the Terraform state`),
      ];
      if (parts.length) what = `${d.attribute} rule ${parts.join('; ')}`;
    } catch {
      // not JSON: told as it is
    }
  }
  return `${d.drift} ${d.address || '(unmanaged)'}${what ? ` ${what}` : ''}${cause}`;
}

/** The commands and URLs to look further, each with what it shows. */
function lookFurther(queryUrl: string, incident: string, admin: string | undefined, api?: string, web?: string): string[] {
  const flag = queryUrl === DEFAULT_QUERY_URL ? '' : ` --url ${queryUrl}`;
  // As a shell copies it between single quotes: spaces as +, quotes encoded, commas and parentheses as they are.
  const sql = (s: string) => `${queryUrl}/?query=${encodeURIComponent(s).replaceAll('%20', '+').replaceAll('%2C', ',').replaceAll("'", '%27')}`;
  const graphql = JSON.stringify({ query: `{ incident(id: "${incident}") { status causes { rank causeId score explanation } } }` });
  return [
    'Look further (AirDig keeps serving until Ctrl-C; the traffic goes on):',
    ...(web ? [`  ${web}#incident/${incident}    the web view: this incident drawn, and the Unified, SkyGraph, DeepDrift, TraceCore, PulseSight views`] : []),
    ...(api ? [`  curl -s ${api} -H 'Content-Type: application/json' -d '${graphql}'`] : []),
    `  npx airdig incidents${flag}`,
    `  npx airdig explain ${incident}${flag}`,
    `  npx airdig explain payments-1${flag}        a resource, by any of its names`,
    `  npx airdig query "SELECT ts, actor, event_name, resource_ids FROM change_events ORDER BY ts"${flag}`,
    `  npx airdig query "SELECT drift, address, attribute, cause_actor, cause_event_name FROM drift_events"${flag}`,
    `  curl '${sql('SELECT client, server, sum(calls), sum(errors) FROM service_edges GROUP BY client, server')}'`,
    `  curl '${sql("SELECT resource_id, status, reason FROM resource_health WHERE status != 'healthy'")}'`,
    ...(admin ? [`  ${admin}/metrics    AirDig's own metrics`] : []),
  ];
}
