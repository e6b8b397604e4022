#!/usr/bin/env node
// `npm test`: starts one real Kafka broker (scripts/kafka.sh) for the whole run, runs every compiled
// *.test.js under dist/ with node's test runner, and stops the broker whatever the outcome.
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, statSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const kafkaDir = path.join(root, '.airdig-test/kafka');
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
}

function stopBroker() {
  if (started) spawnSync('bash', [path.join(root, 'scripts/kafka.sh'), 'stop', kafkaDir], { stdio: 'inherit' });
  started = false;
}

const child = spawn(process.execPath, ['--test', '--test-concurrency=1', '--test-timeout=300000', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, AIRDIG_TEST_KAFKA: brokers },
});
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => child.kill(sig));
child.on('exit', (code, signal) => {
  stopBroker();
  process.exit(code ?? (signal ? 1 : 0));
});
