/*
 * `airdig demo` end to end: the built CLI on free ports plays its story through the real intakes,
 * the engine claims the bad change as the incident's top cause, `airdig incidents` and `airdig
 * explain` read it from the demo's query endpoint, and Ctrl-C (SIGINT) stops it cleanly. Then
 * the reading commands' answers to bad input.
 */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, FREE_PORTS } from '../helpers/airdig.js';
import { repoRoot } from '../helpers/kafka.js';
import { waitFor } from '../helpers/wait.js';

const execFileP = promisify(execFile);

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('airdig demo: the bad change is the top cause, incidents, explain and the graph API tell it, SIGINT stops it cleanly', { timeout: 240_000 }, async () => {
  const started = Date.now();
  const child = spawn(process.execPath, [CLI, 'demo', ...FREE_PORTS], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => child.exitCode !== null || /^Look further/m.test(out), 180_000, "the demo's answer");
    assert.equal(child.exitCode, null, `airdig demo exited\nstdout:\n${out}\nstderr:\n${err}`);
    const answerSeconds = (Date.now() - started) / 1000;
    console.log(`the answer came ${answerSeconds.toFixed(0)} s after the start`);
    console.log(out);
    const eventId = /bob RevokeSecurityGroupEgress, eventID (\S+)/.exec(out)?.[1];
    const tagId = /carol CreateTags, eventID (\S+)/.exec(out)?.[1];
    const incident = /^The answer \(airdig explain (inc-[0-9a-f]+)\):$/m.exec(out)?.[1];
    const query = /^ {2}query +(http:\/\/\S+?)\/\?/m.exec(out)?.[1];
    const dataDir = /embedded ClickHouse server in (\S+)$/m.exec(out)?.[1];
    assert.ok(eventId && tagId && incident && query && dataDir, out);

    // The top cause is the bad change, claimed; the tag is a weak lead below it.
    const causes = [...out.matchAll(/^ {2}(\d+)\. cloudtrail (\S+): (claimed|weak lead), score ([\d.]+)/gm)].map((m) => ({
      rank: Number(m[1]),
      id: m[2],
      claim: m[3],
      score: Number(m[4]),
    }));
    assert.deepEqual(causes[0] && { id: causes[0].id, claim: causes[0].claim }, { id: eventId, claim: 'claimed' }, out);
    assert.ok(causes[0]!.score >= 0.5);
    assert.ok(!causes.some((c) => c.id === tagId && c.rank === 1), 'the unrelated tag is not the top cause');
    assert.match(
      out,
      /bob RevokeSecurityGroupEgress on sg-0pay \(security group of payments-1, payments-2, where payments runs\) → \S+ checkout → payments errors/,
    );
    // What AirDig found along the way: the drift with its cause, and payments critical.
    assert.match(
      out,
      /drift +modified aws_security_group\.payments egress rule tcp 5432 → sg-0db in the Terraform state, not in the scan; cause bob RevokeSecurityGroupEgress/,
    );
    assert.match(out, /health +payments critical/);

    const incidents = await cli(['incidents', '--url', query]);
    assert.equal(incidents.code, 0, incidents.stderr);
    const [header, ...rows] = incidents.stdout.trimEnd().split('\n');
    assert.match(header!, /^ID +OPENED \(UTC\) +STATUS +RESOLVED +IMPACTED +TOP CAUSE$/);
    const row = rows.find((r) => r.startsWith(incident));
    assert.ok(row, incidents.stdout);
    assert.match(row, / open +— +\d+: .*bob RevokeSecurityGroupEgress on sg-0pay; score (0\.[5-9]\d|1\.00)$/);
    assert.equal(header!.indexOf('STATUS'), row.indexOf('open'), 'aligned columns');

    const explained = await cli(['explain', incident, '--url', query]);
    assert.equal(explained.code, 0, explained.stderr);
    assert.match(explained.stdout, new RegExp(`^incident ${incident}$`, 'm'));
    assert.match(explained.stdout, new RegExp(`^ {2}1\\. cloudtrail ${eventId}: claimed`, 'm'));
    const byAlias = await cli(['explain', '10.0.1.31', '--url', query]);
    assert.equal(byAlias.code, 0, byAlias.stderr);
    assert.match(byAlias.stdout, /^10\.0\.1\.31: arn:aws:ec2:eu-west-1:123456789012:instance\/i-0pay1$/m);
    assert.match(byAlias.stdout, /carol CreateTags on i-0pay1 \(where payments runs\)/);

    // Unknown ids: a message and exit status 1.
    const unknown = await cli(['explain', 'inc-0000', '--url', query]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no incident inc-0000 at http:\/\/127\.0\.0\.1:\d+/);
    const nothing = await cli(['explain', "o'brien", '--url', query]);
    assert.equal(nothing.code, 1);
    assert.match(nothing.stderr, /nothing known as "o'brien" at http:\/\/127\.0\.0\.1:\d+/);

    // The graph API and the web view on one port, printed by the demo: a plain POST (GraphQL over HTTP) answers the incident.
    const api = /^ {2}api +(http:\/\/127\.0\.0\.1:\d+\/graphql)$/m.exec(out)?.[1];
    const web = /^ {2}web view +(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out)?.[1];
    assert.ok(api && web, out);
    assert.equal(new URL(api).origin, new URL(web).origin, 'one port for both');
    const res = await fetch(api, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/graphql-response+json' },
      body: JSON.stringify({
        query: `query($id: String!) {
          incident(id: $id) { id status impacted causes { rank causeId causeKind resourceId score change { actor eventName } correlations { explanation } } }
          incidents { id }
        }`,
        variables: { id: incident },
      }),
    });
    assert.equal(res.status, 200);
    type Answer = { data: { incident: { id: string; status: string; impacted: string[]; causes: ApiCause[] }; incidents: { id: string }[] }; errors?: unknown };
    type ApiCause = {
      rank: number;
      causeId: string;
      causeKind: string;
      resourceId: string;
      score: number;
      change: { actor: string; eventName: string };
      correlations: { explanation: string }[];
    };
    const body = (await res.json()) as Answer;
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const i = body.data.incident;
    assert.deepEqual({ id: i.id, status: i.status }, { id: incident, status: 'OPEN' });
    assert.ok(i.impacted.includes('service:shop/payments'), JSON.stringify(i.impacted));
    const top = i.causes[0]!;
    assert.deepEqual({ rank: top.rank, causeId: top.causeId, causeKind: top.causeKind }, { rank: 1, causeId: eventId, causeKind: 'cloudtrail' });
    assert.match(top.resourceId, /security-group\/sg-0pay$/);
    assert.deepEqual({ event: top.change.eventName, bob: /user\/bob$/.test(top.change.actor) }, { event: 'RevokeSecurityGroupEgress', bob: true });
    assert.match(top.correlations[0]!.explanation, /bob RevokeSecurityGroupEgress on sg-0pay \(security group of payments-1, payments-2, where payments runs/);
    assert.ok(body.data.incidents.some((x) => x.id === incident));
    assert.ok(out.includes(`  ${web}#incident/${incident} `), 'the demo links the web view to its incident');
    const page = await fetch(web);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);

    child.kill('SIGINT');
    assert.equal(await exited, 0, err);
    assert.match(out, /airdig demo: stopping\nairdig: stopped\n$/);
    assert.equal(existsSync(dataDir), false, 'its temporary data directory is removed');
    assert.doesNotMatch(err, /Warning|"level":50/, 'no warnings or errors on stderr');
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});

test('explain and incidents: usage errors exit 2, an unreachable endpoint is named', async () => {
  const since = await cli(['incidents', '--since', 'yesterday']);
  assert.equal(since.code, 2);
  assert.match(since.stderr, /^airdig: --since: not a duration: yesterday/);
  assert.match(since.stderr, /Usage: airdig incidents/);
  const both = await cli(['incidents', '--all', '--since', '1h']);
  assert.equal(both.code, 2);
  const none = await cli(['explain']);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /say what to explain/);
  const limit = await cli(['explain', 'x', '--limit', 'many']);
  assert.equal(limit.code, 2);
  const badUrl = await cli(['incidents', '--url', 'not a url']);
  assert.equal(badUrl.code, 2);
  assert.match(badUrl.stderr, /--url: not a URL: not a url/);
  // A port nobody listens on: the error names the URL.
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const port = (holder.address() as { port: number }).port;
  await new Promise<void>((r) => holder.close(() => r()));
  for (const args of [['incidents'], ['explain', 'inc-1']]) {
    const r = await cli([...args, '--url', `http://127.0.0.1:${port}`]);
    assert.equal(r.code, 1, args.join(' '));
    assert.match(r.stderr, new RegExp(`cannot reach http://127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`), r.stderr);
  }
  for (const command of ['demo', 'explain', 'incidents']) {
    const help = await cli([command, '--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, new RegExp(`^Usage: airdig ${command}`));
  }
});
