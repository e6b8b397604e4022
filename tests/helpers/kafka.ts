import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');

/**
 * Bootstrap address of the real Kafka broker for this test run. `npm test` starts one broker for
 * the whole run and passes it in AIRDIG_TEST_KAFKA; a test file run on its own starts (or reuses)
 * the same broker through scripts/kafka.sh.
 */
export function kafkaBrokers(): string {
  const fromEnv = process.env.AIRDIG_TEST_KAFKA;
  if (fromEnv) return fromEnv;
  const out = execFileSync('bash', [path.join(repoRoot, 'scripts/kafka.sh'), 'start', path.join(repoRoot, '.airdig-test/kafka')], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const m = /BOOTSTRAP=(\S+)/.exec(out);
  if (!m) throw new Error(`scripts/kafka.sh did not print a bootstrap address: ${out}`);
  process.env.AIRDIG_TEST_KAFKA = m[1];
  return m[1]!;
}
