// SkyGraph / DeepDrift end to end: a Terraform state, a scan and CloudTrail logs sent with
// `airdig ingest` to a running `airdig run` answer "which resources drifted, what changed them and
// who did it" through the query endpoint; embedded and distributed on the real Kafka broker.
import { distributedClickhouse } from '../helpers/clickhouse.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { CLI, startAirdig, type RunningAirdig, FREE_PORTS as FREE } from '../helpers/airdig.js';
import { kafkaBrokers, repoRoot } from '../helpers/kafka.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const TESTDATA = path.join(repoRoot, 'processors/drift/testdata');
const SCAN_TIME = Date.parse('2026-11-23T10:30:00Z');

async function airdig(...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, [CLI, ...args], { cwd: repoRoot });
  return stdout;
}

/** The golden estate, its times moved to now: the scan is taken now, the CloudTrail events as long before it as in the files. */
function estate(dir: string): { state: string; scan: string; trail: string } {
  const shift = Date.now() - SCAN_TIME;
  const scan = JSON.parse(readFileSync(path.join(TESTDATA, 'scan.json'), 'utf8')) as { scan: Record<string, unknown> };
  delete scan.scan.time;
  const trail = JSON.parse(readFileSync(path.join(TESTDATA, 'cloudtrail.json'), 'utf8')) as { Records: { eventTime: string }[] };
  for (const r of trail.Records) r.eventTime = new Date(Date.parse(r.eventTime) + shift).toISOString().replace(/\.\d+Z$/, 'Z');
  const files = {
    state: path.join(dir, 'terraform.tfstate'),
    scan: path.join(dir, 'scan.json'),
    trail: path.join(dir, '123456789012_CloudTrail_eu-west-1_x.json.gz'),
  };
  writeFileSync(files.state, readFileSync(path.join(TESTDATA, 'terraform.tfstate')));
  writeFileSync(files.scan, JSON.stringify(scan));
  writeFileSync(files.trail, gzipSync(JSON.stringify(trail)));
  return files;
}

/** A working directory with the .driftignore the golden drift events were made with. */
function workDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'airdig-sky-'));
  writeFileSync(
    path.join(dir, '.driftignore'),
    '# the default VPC security group is not ours\naws_security_group.sg-0default000000000\naws_instance.*.tags.LastPatched\n',
  );
  return dir;
}

async function scenario(a: RunningAirdig, queryBase = a.url('query')): Promise<void> {
  const files = estate(mkdtempSync(path.join(tmpdir(), 'airdig-sky-')));
  const otlp = a.url('otlp http');
  assert.match(await airdig('ingest', 'tfstate', files.state, '--url', otlp), /"accepted":9/);
  // The scan must be taken after the state was received (a scan older than the state judges no "missing").
  await new Promise((r) => setTimeout(r, 50));
  assert.match(await airdig('ingest', 'resources', files.scan, '--url', otlp), /"accepted":8/);
  assert.match(await airdig('ingest', 'cloudtrail', files.trail, '--url', otlp), /"accepted":8/);
  await assert.rejects(airdig('ingest', 'tfstate', path.join(TESTDATA, 'scan.json'), '--url', otlp), /no top-level "version"/);

  const expected = readFileSync(path.join(TESTDATA, 'expected-drift-events.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => {
      const { ts: _ts, scan_id: _scan, ...d } = JSON.parse(l) as Record<string, unknown>;
      return d;
    });
  const query =
    'SELECT id, resource_id, resource_type, address, drift, attribute, expected, actual, lineage, serial, cause_event_id, cause_actor, cause_event_name FROM drift_events ORDER BY resource_id, attribute FORMAT JSONEachRow';
  const drifts = await waitFor(
    async () => {
      const out = await airdig('query', query, '--url', queryBase);
      const rows = out.trim()
        ? out
            .trim()
            .split('\n')
            .map((l) => JSON.parse(l) as { cause_event_id: string })
        : [];
      return rows.length === expected.length && rows.filter((r) => r.cause_event_id).length === 4 ? rows : undefined;
    },
    60_000,
    'five drift events, four with their causes',
  );
  assert.deepEqual(drifts, expected);
  const nodes = await airdig('query', "SELECT count() FROM graph_nodes WHERE attributes['scope'] = 'aws/123456789012/eu-west-1'", '--url', queryBase);
  assert.equal(nodes.trim(), '8');
}

test('embedded: airdig ingest tfstate, resources and cloudtrail → drift_events with causes, graph_nodes', async () => {
  const dir = workDir();
  const a = await startAirdig(['--data-dir', path.join(dir, 'data'), ...FREE], /^airdig: ready$/m, 90_000, dir);
  try {
    await scenario(a);
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});

/** A complete scan of aws/210987654321/eu-central-1 taken now, as `airdig ingest resources` sends it. */
async function ingestScan(otlp: string, id: string, resources: object[]): Promise<void> {
  const file = path.join(mkdtempSync(path.join(tmpdir(), 'airdig-sky-')), 'scan.json');
  writeFileSync(file, JSON.stringify({ scan: { id, provider: 'aws', account: '210987654321', region: 'eu-central-1', completeness: 'complete' }, resources }));
  assert.match(await airdig('ingest', 'resources', file, '--url', otlp), new RegExp(`"accepted":${resources.length}`));
}

/** OTLP/HTTP JSON spans of service shop/<service> whose resource places it on the EC2 instance hostId. */
async function postSpans(otlp: string, service: string, hostId: string, extra: Record<string, string> = {}): Promise<void> {
  const attrs = {
    'service.name': service,
    'service.namespace': 'shop',
    'cloud.provider': 'aws',
    'cloud.region': 'eu-central-1',
    'cloud.account.id': '210987654321',
    'host.id': hostId,
    ...extra,
  };
  const now = `${Date.now()}000000`;
  const body = {
    resourceSpans: [
      {
        resource: { attributes: Object.entries(attrs).map(([key, v]) => ({ key, value: { stringValue: v } })) },
        scopeSpans: [
          {
            spans: [
              { traceId: '5b8efff798038103d269b633813fc60c', spanId: 'eee19b7ec3c1b174', name: 'GET /', kind: 2, startTimeUnixNano: now, endTimeUnixNano: now },
            ],
          },
        ],
      },
    ],
  };
  const res = await fetch(`${otlp}/v1/traces`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  assert.equal(res.status, 200, await res.text());
}

test("embedded: spans from services on scanned EC2 instances keep the scans' names and attributes in graph_nodes; a later scan renames", async () => {
  const dir = workDir();
  const a = await startAirdig(['--data-dir', path.join(dir, 'data'), ...FREE], /^airdig: ready$/m, 90_000, dir);
  try {
    const otlp = a.url('otlp http');
    const json = async <T>(sql: string): Promise<T[]> => {
      const out = (await airdig('query', `${sql} FORMAT JSONEachRow`, '--url', a.url('query'))).trim();
      return out ? out.split('\n').map((l) => JSON.parse(l) as T) : [];
    };
    const web = 'arn:aws:ec2:eu-central-1:210987654321:instance/i-0e2e0000000000001';
    const worker = 'arn:aws:ec2:eu-central-1:210987654321:instance/i-0e2e0000000000002';
    const scope = 'aws/210987654321/eu-central-1';
    const node = (id: string) =>
      json<{ type: string; name: string; attributes: Record<string, string>; gone: boolean }>(
        `SELECT type, name, attributes, gone FROM graph_nodes WHERE id = '${id}'`,
      );
    const sightings = async (id: string) =>
      Number((await json<{ n: string | number }>(`SELECT count() AS n FROM graph_node_versions WHERE id = '${id}' AND source = 'traces'`))[0]?.n) === 1;
    const runsOn = async (service: string, id: string) =>
      Number(
        (
          await json<{ n: string | number }>(
            `SELECT count() AS n FROM graph_edges WHERE src = 'service:shop/${service}' AND dst = '${id}' AND type = 'runs_on' AND NOT gone`,
          )
        )[0]?.n,
      ) === 1;

    // Scan first, then spans from a service on the instance.
    await ingestScan(otlp, 'e2e-scan-1', [
      { id: 'i-0e2e0000000000001', type: 'ec2:instance', name: 'web-1', attributes: { instance_type: 't3.small' }, tags: { Team: 'shop' } },
    ]);
    await waitFor(async () => (await node(web)).length === 1, 30_000, 'the scanned instance');
    await postSpans(otlp, 'checkout', 'i-0e2e0000000000001');
    await waitFor(async () => (await sightings(web)) && (await runsOn('checkout', web)), 30_000, 'checkout runs_on web-1');
    assert.deepEqual(await node(web), [
      {
        type: 'ec2:instance',
        name: 'web-1',
        attributes: { instance_type: 't3.small', 'tags.Team': 'shop', aliases: 'i-0e2e0000000000001', scope },
        gone: false,
      },
    ]);

    // Spans first (they name the host), then a scan: the scan describes it. The same scan renames web-1.
    await postSpans(otlp, 'cart', 'i-0e2e0000000000002', { 'host.name': 'ip-10-0-2-7' });
    await waitFor(async () => (await sightings(worker)) && (await runsOn('cart', worker)), 30_000, 'cart runs_on the unscanned instance');
    assert.deepEqual(await node(worker), [{ type: 'ec2:instance', name: 'ip-10-0-2-7', attributes: {}, gone: false }]);
    await ingestScan(otlp, 'e2e-scan-2', [
      { id: 'i-0e2e0000000000001', type: 'ec2:instance', name: 'web-1-renamed', attributes: { instance_type: 't3.large' } },
      { id: 'i-0e2e0000000000002', type: 'ec2:instance', name: 'worker-2', attributes: { instance_type: 'm5.large' } },
    ]);
    await waitFor(async () => (await node(worker))[0]?.name === 'worker-2' && (await node(web))[0]?.name === 'web-1-renamed', 30_000, 'the second scan');
    assert.deepEqual(await node(web), [
      { type: 'ec2:instance', name: 'web-1-renamed', attributes: { instance_type: 't3.large', aliases: 'i-0e2e0000000000001', scope }, gone: false },
    ]);
    assert.deepEqual(await node(worker), [
      { type: 'ec2:instance', name: 'worker-2', attributes: { instance_type: 'm5.large', aliases: 'i-0e2e0000000000002', scope }, gone: false },
    ]);
    assert.ok(await runsOn('checkout', web));
    assert.ok(await runsOn('cart', worker));
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});

test('distributed: the same on the real Kafka broker', async () => {
  const dir = workDir();
  const ch = distributedClickhouse('airdig_sky');
  const a = await startAirdig(['--kafka', kafkaBrokers(), ...ch.args, '--data-dir', path.join(dir, 'data'), ...FREE], /^airdig: ready$/m, 90_000, dir);
  try {
    await scenario(a, ch.queryBase);
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});
