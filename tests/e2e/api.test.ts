/*
 * The graph API of `airdig demo`: the built CLI on free ports, and once the demo has printed its
 * incident, a plain HTTP POST to /graphql (GraphQL over HTTP) returns that incident with its
 * ranked causes, the security-group change on top.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { test } from 'node:test';
import { CLI, FREE_PORTS } from '../helpers/airdig.js';
import { repoRoot } from '../helpers/kafka.js';
import { waitFor } from '../helpers/wait.js';

test('airdig demo: the web view URL is printed, and /graphql answers the demo incident with its ranked causes', { timeout: 180_000 }, async () => {
  const child = spawn(process.execPath, [CLI, 'demo', ...FREE_PORTS], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => child.exitCode !== null || /^The answer \(airdig explain inc-/m.test(out), 150_000, "the demo's incident");
    assert.equal(child.exitCode, null, `airdig demo exited\nstdout:\n${out}\nstderr:\n${err}`);
    const api = /^ {2}api +(http:\/\/127\.0\.0\.1:\d+\/graphql)$/m.exec(out)?.[1];
    const web = /^ {2}web view +(http:\/\/127\.0\.0\.1:\d+\/)$/m.exec(out)?.[1];
    const incident = /^The answer \(airdig explain (inc-[0-9a-f]+)\):$/m.exec(out)?.[1];
    const eventId = /bob RevokeSecurityGroupEgress, eventID (\S+)/.exec(out)?.[1];
    assert.ok(api && web && incident && eventId, out);
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
    const body = (await res.json()) as { data: { incident: any; incidents: { id: string }[] }; errors?: unknown };
    assert.equal(body.errors, undefined, JSON.stringify(body.errors));
    const i = body.data.incident;
    assert.equal(i.id, incident);
    assert.equal(i.status, 'OPEN');
    assert.ok(i.impacted.includes('service:shop/payments'), i.impacted);
    assert.ok(i.causes.length >= 2, JSON.stringify(i.causes));
    const [top] = i.causes;
    assert.deepEqual({ rank: top.rank, causeId: top.causeId, causeKind: top.causeKind }, { rank: 1, causeId: eventId, causeKind: 'cloudtrail' });
    assert.match(top.resourceId, /security-group\/sg-0pay$/);
    assert.ok(top.score >= 0.5);
    assert.equal(top.change.eventName, 'RevokeSecurityGroupEgress');
    assert.match(top.change.actor, /user\/bob$/);
    assert.match(top.correlations[0].explanation, /bob RevokeSecurityGroupEgress on sg-0pay \(security group of payments-1, payments-2, where payments runs/);
    assert.ok(body.data.incidents.some((x) => x.id === incident));

    // The web view's address answers (the bundle, or the page saying it is not built).
    const page = await fetch(web);
    assert.equal(page.status, 200);
    assert.match(page.headers.get('content-type') ?? '', /^text\/html/);

    child.kill('SIGINT');
    assert.equal(await exited, 0, err);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
});
