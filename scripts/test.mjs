#!/usr/bin/env node
// `npm test`: starts one real Kafka broker (scripts/kafka.sh) and one ClickHouse server (`airdig
// clickhouse`, the embedded engine AirDig supervises) for the whole run, runs every compiled *.test.js
// under dist/ with node's test runner, and stops both whatever the outcome.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kafkaDir = path.join(root, '.airdig-test/kafka');
const clickhouseDir = path.join(root, '.airdig-test/clickhouse');
const filter = process.argv.slice(2);

function findTests(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) out.push(...findTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out.sort();
}

const files = findTests(path.join(root, 'dist')).filter((f) => filter.length === 0 || filter.some((s) => f.includes(s)));
if (files.length === 0) {
  console.error(`no test files match ${filter.join(' ')}`);
  process.exit(1);
}

let brokers = process.env.AIRDIG_TEST_KAFKA;
let started = false;
if (!brokers) {
  rmSync(kafkaDir, { recursive: true, force: true });
  const r = spawnSync('bash', [path.join(root, 'scripts/kafka.sh'), 'start', kafkaDir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  const m = /BOOTSTRAP=(\S+)/.exec(r.stdout ?? '');
  if (r.status !== 0 || !m) {
    console.error('could not start the Kafka broker for the tests (scripts/kafka.sh start)');
    process.exit(1);
  }
  brokers = m[1];
  started = true;
  console.log(`# Kafka broker for this run: ${brokers}`);
  await warmUpGroups(brokers);
}

/**
 * The first consumer group on a new broker waits for the broker to create and load
 * __consumer_offsets; on a loaded machine that has taken tens of seconds. Pay it here, once, so
 * that no test's timeout measures it: one group joins a one-partition topic and reads one record.
 */
async function warmUpGroups(bootstrap) {
  const { default: Kafka } = await import('node-rdkafka');
  const t0 = Date.now();
  const topic = 'airdig-test-warmup';
  const base = { 'metadata.broker.list': bootstrap, 'log.connection.close': false };
  const admin = Kafka.AdminClient.create(base);
  await new Promise((resolve) => admin.createTopic({ topic, num_partitions: 1, replication_factor: 1 }, 30_000, () => resolve()));
  admin.disconnect();
  const producer = new Kafka.HighLevelProducer(base);
  await new Promise((resolve, reject) => producer.connect({}, (err) => (err ? reject(err) : resolve())));
  await new Promise((resolve, reject) => producer.produce(topic, null, Buffer.from('warm-up'), null, Date.now(), (err) => (err ? reject(err) : resolve())));
  await new Promise((resolve) => producer.disconnect(() => resolve()));
  const consumer = new Kafka.KafkaConsumer(
    { ...base, 'group.id': 'airdig-test-warmup', 'topic.metadata.refresh.interval.ms': 1_000 },
    { 'auto.offset.reset': 'earliest' },
  );
  await new Promise((resolve, reject) => consumer.connect({}, (err) => (err ? reject(err) : resolve())));
  consumer.subscribe([topic]);
  let got = false;
  while (!got && Date.now() - t0 < 120_000) {
    got = await new Promise((resolve) => consumer.consume(1, (err, msgs) => resolve(!err && msgs.length > 0)));
  }
  await new Promise((resolve) => consumer.disconnect(() => resolve()));
  console.log(`# Kafka group coordinator ${got ? 'ready' : 'still not ready'} after ${Date.now() - t0} ms`);
}

function stopBroker() {
  if (started) spawnSync('bash', [path.join(root, 'scripts/kafka.sh'), 'stop', kafkaDir], { stdio: 'inherit' });
  started = false;
}

/** `airdig clickhouse` on free ports; resolves with its writer URL and query endpoints once it is ready. */
function startClickHouse() {
  rmSync(clickhouseDir, { recursive: true, force: true });
  const cli = path.join(root, 'dist/processors/cli/main.js');
  const args = [
    cli,
    'clickhouse',
    '--data-dir',
    clickhouseDir,
    '--query',
    '127.0.0.1:0',
    '--query-native',
    '127.0.0.1:0',
    '--print-writer-url',
    '--log-level',
    'warn',
  ];
  const ch = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`airdig clickhouse was not ready within 60 s:\n${out}`)), 60_000);
    ch.stdout.on('data', (d) => {
      out += d;
      if (!/^airdig clickhouse: ready$/m.test(out)) return;
      clearTimeout(timer);
      const line = (name) => new RegExp(`^ {2}${name} +(\\S+)`, 'm').exec(out)?.[1];
      resolve({ child: ch, writer: /^WRITER_URL=(\S+)$/m.exec(out)?.[1], query: line('query'), native: line('query-native')?.replace(/^tcp:\/\//, '') });
    });
    ch.once('exit', (code) => reject(new Error(`airdig clickhouse exited with ${code}:\n${out}`)));
  });
}

let clickhouse;
try {
  clickhouse = await startClickHouse();
} catch (err) {
  console.error(`could not start the ClickHouse server for the tests: ${err.message}`);
  stopBroker();
  process.exit(1);
}
console.log(`# ClickHouse server for this run: ${clickhouse.query} (native ${clickhouse.native})`);
function stopClickHouse() {
  if (clickhouse?.child.exitCode === null) clickhouse.child.kill('SIGTERM');
}

const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    AIRDIG_TEST_KAFKA: brokers,
    AIRDIG_TEST_CLICKHOUSE_URL: clickhouse.writer,
    AIRDIG_TEST_CLICKHOUSE_QUERY: clickhouse.query,
    AIRDIG_TEST_CLICKHOUSE_NATIVE: clickhouse.native,
  },
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  stopBroker();
  stopClickHouse();
  process.exit(code ?? (signal ? 1 : 0));
});
