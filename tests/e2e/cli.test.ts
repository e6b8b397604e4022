import { distributedClickhouse, sqlUrl } from '../helpers/clickhouse.js';
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { execFile, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CLI, startAirdig, FREE_PORTS as FREE } from '../helpers/airdig.js';
import { kafkaBrokers, repoRoot } from '../helpers/kafka.js';
import { waitFor, uniqueName } from '../helpers/wait.js';
import { KafkaBus } from '../../processors/runtime/bus/kafka.js';
import { sendToDlq } from '../../processors/runtime/bus/dlq.js';
import { MalformedInputError } from '../../processors/runtime/errors.js';

const execFileP = promisify(execFile);

function tmp(): string {
  return mkdtempSync(path.join(tmpdir(), 'airdig-e2e-'));
}

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileP(process.execPath, [CLI, ...args]);
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

test('embedded: airdig run answers /ping, /readyz, /metrics and SELECT, and stops cleanly on SIGTERM', async () => {
  const a = await startAirdig(['--data-dir', tmp(), ...FREE], /^airdig: ready$/m);
  try {
    const query = a.url('query');
    const admin = a.url('admin');
    assert.equal(await (await fetch(`${query}/ping`)).text(), 'Ok.\n');
    const ready = await fetch(`${admin}/readyz`);
    assert.equal(ready.status, 200);
    assert.deepEqual(((await ready.json()) as { checks: unknown }).checks, {
      clickhouse: 'ok',
      bus: 'ok',
      'sink health_facts': 'ok',
      'sink otlp_metrics': 'ok',
      'sink prometheus_samples': 'ok',
      'sink runtime_events': 'ok',
      'sink change_events': 'ok',
      'sink drift_events': 'ok',
      'sink graph_nodes': 'ok',
      'sink graph_edges': 'ok',
      'sink service_edges': 'ok',
      'sink otel_traces': 'ok',
      'sink otel_logs': 'ok',
      'sink dead_letters': 'ok',
      'processor health': 'ok',
      'processor servicegraph': 'ok',
      'processor edge_signals': 'ok',
      'processor changes': 'ok',
      'processor topology': 'ok',
      'processor drift': 'ok',
      'processor placement': 'ok',
      'processor deploys': 'ok',
      'processor engine': 'ok',
      'sink resource_aliases': 'ok',
      'sink correlations': 'ok',
      'sink incidents': 'ok',
      'sink api': 'ok',
      'receiver remote_write': 'ok',
      'receiver otlp': 'ok',
      'receiver falco': 'ok',
      'receiver cloudtrail': 'ok',
      'receiver resources': 'ok',
      'receiver terraform_state': 'ok',
      'receiver changes_api': 'ok',
    });
    // OTLP/HTTP reaches the bus through the running process.
    const start = `${Date.now()}000000`;
    const otlp = await fetch(a.url('otlp http') + '/v1/traces', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'e2e' } }] },
            scopeSpans: [
              {
                spans: [
                  {
                    traceId: '0af7651916cd43dd8448eb211c80319c',
                    spanId: '0102030405060708',
                    name: 'x',
                    kind: 2,
                    startTimeUnixNano: start,
                    endTimeUnixNano: start,
                  },
                ],
              },
            ],
          },
        ],
      }),
    });
    assert.equal(otlp.status, 200);
    const stored = await waitFor(
      async () =>
        (await (
          await fetch(
            `${query}/?query=${encodeURIComponent("SELECT ServiceName, SpanName, SpanKind FROM otel_traces WHERE TraceId = '0af7651916cd43dd8448eb211c80319c'")}`,
          )
        ).text()) || undefined,
      10_000,
      'the span in otel_traces',
    );
    assert.equal(stored, 'e2e\tx\tSPAN_KIND_SERVER\n');
    assert.match(await (await fetch(`${admin}/metrics`)).text(), /airdig_component_sent_total\{component="otlp",kind="receiver"\} 1/);
    assert.equal((await fetch(`${admin}/healthz`)).status, 200);
    assert.equal(await (await fetch(`${query}/?query=SELECT+1`)).text(), '1\n');
    const metrics = await (await fetch(`${admin}/metrics`)).text();
    assert.match(metrics, /airdig_component_up\{component="dead_letters",kind="sink"\} 1/);
    assert.match(metrics, /airdig_component_queue_depth\{component="dead_letters"\} 0/);
    assert.match(metrics, /airdig_process_cpu_seconds_total/);
    // `airdig query` against the running instance.
    const q = await cli(['query', '--url', query, "SELECT name FROM system.tables WHERE name = 'dead_letters'"]);
    assert.equal(q.code, 0, q.stderr);
    assert.equal(q.stdout, 'dead_letters\n');
    const refused = await cli(['query', '--url', query, 'DROP TABLE dead_letters']);
    assert.equal(refused.code, 1);
    // Refused by the engine itself: READONLY (164) or, for lack of the grant, ACCESS_DENIED (497).
    assert.match(refused.stderr, /^Code: (164|497)\. DB::Exception: /);
    assert.equal((await cli(['query', '--url', query, 'EXISTS TABLE dead_letters'])).stdout, '1\n');
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
  assert.match(a.stdout(), /airdig: stopped/);
  assert.match(a.stderr(), /SIGTERM: stopping/);
});

test('a bad config exits 2 naming the key path, without a stack trace', async () => {
  const dir = tmp();
  const file = path.join(dir, 'bad.yaml');
  writeFileSync(file, 'service:\n  admin: nowhere\n  colour: blue\n');
  const r = await cli(['run', '--config', file]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /invalid configuration:\n {2}service\.admin: must be host:port/);
  assert.match(r.stderr, /service\.colour: unknown key/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  const flag = await cli(['run', '--no-such-flag']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /Unknown option '--no-such-flag'/);
  const missing = await cli(['run', '--config', path.join(dir, 'none.yaml')]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--config: file .*none\.yaml does not exist/);
  // A value given as a flag is named by the flag the user typed.
  const typed = await cli(['run', '--admin', 'nowhere', '--otlp-http', 'also-nowhere']);
  assert.equal(typed.code, 2);
  assert.match(typed.stderr, /\n {2}--admin: must be host:port/);
  assert.match(typed.stderr, /\n {2}--otlp-http: must be host:port/);
  assert.doesNotMatch(typed.stderr, /service\.admin/);
});

test('a port already in use: the error names the address and the flag that moves that listener', async () => {
  const { createServer } = await import('node:net');
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', () => r()));
  const taken = `127.0.0.1:${(holder.address() as { port: number }).port}`;
  try {
    for (const flag of ['--admin', '--otlp-http', '--otlp-grpc', '--remote-write', '--query', '--query-native', '--api']) {
      const args = ['--data-dir', tmp(), ...FREE];
      args[args.indexOf(flag) + 1] = taken;
      const r = await cli(['run', ...args]);
      assert.equal(r.code, 1, `${flag}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`cannot listen on ${taken}: address already in use.*move this listener with ${flag} ADDR`), flag);
    }
  } finally {
    holder.close();
  }
});

test('the start-up summary is one aligned column of names', async () => {
  const a = await startAirdig(['--data-dir', tmp(), ...FREE], /^airdig: ready$/m, 90_000);
  try {
    const rows = a
      .stdout()
      .split('\n')
      .filter((l) => l.startsWith('  '));
    assert.ok(rows.length > 10, a.stdout());
    // Names up to 12 characters, what they are from the 16th character on.
    for (const l of rows) assert.match(l, /^ {2}\S.{11} \S/, `aligned:\n${rows.join('\n')}`);
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});

test('--help on every command', async () => {
  for (const args of [['--help'], ['run', '--help'], ['migrate', '--help'], ['query', '--help'], ['ingest', '--help'], ['scan', '--help'], ['help', 'run']]) {
    const r = await cli(args);
    assert.equal(r.code, 0, args.join(' '));
    assert.match(r.stdout, /Usage: airdig/);
  }
  assert.match((await cli(['run', '--help'])).stdout, /--kafka BROKERS/);
  const usage = await cli(['ingest', 'terraform', 'x.tfstate']);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /say what the files are: cloudtrail, tfstate or resources/);
  const missing = await cli(['ingest', 'tfstate', '/nonexistent/terraform.tfstate', '--url', 'http://127.0.0.1:1']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /nonexistent\/terraform.tfstate: ENOENT/);
});

test('airdig migrate applies the migrations once', async () => {
  const dir = tmp();
  const first = await cli(['migrate', '--data-dir', dir]);
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /applied 0001_dead_letters/);
  const second = await cli(['migrate', '--data-dir', dir]);
  assert.match(second.stdout, /^0 applied, \d+ already applied$/m);
});

test('ClickHouse server unreachable at start: not ready, retrying, no crash', async () => {
  const a = await startAirdig(['--data-dir', tmp(), ...FREE, '--clickhouse', 'http://127.0.0.1:1']);
  try {
    const admin = a.url('admin');
    await waitFor(
      async () => {
        const r = await fetch(`${admin}/readyz`);
        const j = (await r.json()) as { checks: Record<string, string> };
        return r.status === 503 && j.checks.clickhouse?.startsWith('unavailable');
      },
      30_000,
      'clickhouse unavailable in /readyz',
    );
    await waitFor(() => /ClickHouse at http:\/\/127\.0\.0\.1:1\/ unavailable .*retrying in/.test(a.stderr()), 30_000, 'a retry log line');
    assert.doesNotMatch(a.stderr(), /\[WARN\]\[@clickhouse\/client\]/, 'no client console noise');
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});

test('Kafka unreachable at start: not ready, retrying with backoff, no crash; SIGTERM still stops it', async () => {
  const a = await startAirdig(['--data-dir', tmp(), ...FREE, '--kafka', '127.0.0.1:1', '--clickhouse', '']);
  try {
    const admin = a.url('admin');
    const body = await waitFor(
      async () => {
        const r = await fetch(`${admin}/readyz`);
        const j = (await r.json()) as { checks: Record<string, string> };
        return r.status === 503 && j.checks.bus?.startsWith('unavailable') ? j : undefined;
      },
      30_000,
      'bus unavailable in /readyz',
    );
    assert.equal(body.checks.clickhouse, 'ok');
    await waitFor(() => /retrying in/.test(a.stderr()), 30_000, 'a retry log line');
    assert.equal(a.child.exitCode, null, 'still running');
  } finally {
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});

test('distributed: the same pipeline on the real Kafka broker; a DLQ record reaches dead_letters', async () => {
  const brokers = kafkaBrokers();
  const ch = distributedClickhouse('airdig_cli');
  const a = await startAirdig(
    ['--config', 'pipelines/distributed.yaml', '--kafka', brokers, ...ch.args, '--data-dir', tmp(), ...FREE],
    /^airdig: ready$/m,
    90_000,
  );
  const bus = new KafkaBus({ brokers });
  try {
    const source = uniqueName('e2e-source');
    await sendToDlq(
      bus.producer(),
      { topic: source, partition: 0, offset: 7, key: Buffer.from('k'), value: Buffer.from('bad bytes'), headers: {}, timestamp: Date.now() },
      new MalformedInputError('broken'),
      'e2e',
    );
    const query = ch.queryBase;
    const sql = `SELECT component, error, base64Decode(value_base64) AS v FROM dead_letters FINAL WHERE source_topic = '${source}' FORMAT JSONEachRow`;
    const row = await waitFor(
      async () => {
        const text = await (await fetch(sqlUrl(query, sql))).text();
        return text.trim() ? JSON.parse(text.trim()) : undefined;
      },
      60_000,
      'the dead letter in ClickHouse',
    );
    assert.deepEqual(row, { component: 'e2e', error: 'broken', v: 'bad bytes' });
    // OTLP → Kafka (otlp_spans) → otel_traces, across the real broker.
    const traceId = Buffer.from(uniqueName('t')).toString('hex').padEnd(32, '0').slice(0, 32);
    const start = `${Date.now()}000000`;
    const otlp = await fetch(a.url('otlp http') + '/v1/traces', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        resourceSpans: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'kafka-e2e' } }] },
            scopeSpans: [{ spans: [{ traceId, spanId: '0102030405060708', name: 'via kafka', kind: 3, startTimeUnixNano: start, endTimeUnixNano: start }] }],
          },
        ],
      }),
    });
    assert.equal(otlp.status, 200);
    const stored = await waitFor(
      async () => (await (await fetch(sqlUrl(query, `SELECT ServiceName, SpanName FROM otel_traces WHERE TraceId = '${traceId}'`))).text()) || undefined,
      60_000,
      'the span in otel_traces via Kafka',
    );
    assert.equal(stored, 'kafka-e2e\tvia kafka\n');
  } finally {
    await bus.close();
    assert.equal(await a.stop('SIGTERM'), 0);
  }
});

/** Pids of `airdig run` processes started with this data dir. */
function airdigPids(dataDir: string): number[] {
  return readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .flatMap((d) => {
      try {
        const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
        return argv.some((a) => a.endsWith('main.js')) && argv.includes('run') && argv.includes(dataDir) ? [Number(d)] : [];
      } catch {
        return [];
      }
    });
}

test('npm start: SIGTERM sent to npm stops AirDig (the start script execs node)', async () => {
  const dataDir = tmp();
  const npm = spawn('npm', ['start', '--', '--data-dir', dataDir, ...FREE], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  npm.stdout!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => npm.once('exit', (code) => resolve(code)));
  try {
    await waitFor(() => /^airdig: ready$/m.test(out), 90_000, 'airdig: ready from npm start');
    const pids = airdigPids(dataDir);
    assert.equal(pids.length, 1, `one airdig process: ${pids.join(' ')}`);
    npm.kill('SIGTERM');
    await exited;
    await waitFor(() => airdigPids(dataDir).length === 0, 30_000, 'AirDig gone after SIGTERM to npm');
  } finally {
    for (const pid of airdigPids(dataDir)) process.kill(pid, 'SIGKILL');
  }
});
