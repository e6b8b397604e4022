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
import { CLI, startAirdig, type RunningAirdig } from '../helpers/airdig.js';
import { kafkaBrokers, repoRoot } from '../helpers/kafka.js';
import { waitFor } from '../helpers/wait.js';

const run = promisify(execFile);
const FREE = ['--admin', '127.0.0.1:0', '--query', '127.0.0.1:0', '--query-native', '127.0.0.1:0', '--otlp-grpc', '127.0.0.1:0', '--otlp-http', '127.0.0.1:0', '--remote-write', '127.0.0.1:0'];
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
  const files = { state: path.join(dir, 'terraform.tfstate'), scan: path.join(dir, 'scan.json'), trail: path.join(dir, '123456789012_CloudTrail_eu-west-1_x.json.gz') };
  writeFileSync(files.state, readFileSync(path.join(TESTDATA, 'terraform.tfstate')));
  writeFileSync(files.scan, JSON.stringify(scan));
  writeFileSync(files.trail, gzipSync(JSON.stringify(trail)));
  return files;
}

/** A working directory with the .driftignore the golden drift events were made with. */
function workDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'airdig-sky-'));
  writeFileSync(path.join(dir, '.driftignore'), '# the default VPC security group is not ours\naws_security_group.sg-0default000000000\naws_instance.*.tags.LastPatched\n');
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

  const expected = readFileSync(path.join(TESTDATA, 'expected-drift-events.jsonl'), 'utf8').trim().split('\n').map((l) => {
    const { ts: _ts, scan_id: _scan, ...d } = JSON.parse(l) as Record<string, unknown>;
    return d;
  });
  const query = 'SELECT id, resource_id, resource_type, address, drift, attribute, expected, actual, lineage, serial, cause_event_id, cause_actor, cause_event_name FROM drift_events ORDER BY resource_id, attribute FORMAT JSONEachRow';
  const drifts = await waitFor(async () => {
    const out = await airdig('query', query, '--url', queryBase);
    const rows = out.trim() ? out.trim().split('\n').map((l) => JSON.parse(l) as { cause_event_id: string }) : [];
    return rows.length === expected.length && rows.filter((r) => r.cause_event_id).length === 4 ? rows : undefined;
  }, 60_000, 'five drift events, four with their causes');
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
