import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HealthEvaluator, type HealthFact } from './evaluator.js';
import { anomalySchema, DEFAULT_RULES } from './rules.js';

function evaluator(anomalyMetrics: string[] = []) {
  const facts: HealthFact[] = [];
  const e = new HealthEvaluator({ rules: DEFAULT_RULES, anomaly: anomalySchema.parse({ metrics: anomalyMetrics, warmup: 20 }), emit: (f) => facts.push(f) });
  return { e, facts };
}

const up = { __name__: 'up', job: 'node', instance: 'a:9100' };

test('up == 0 makes the target critical at that sample, and healthy again when it recovers; steady states emit nothing', () => {
  const { e, facts } = evaluator();
  const t0 = 1_000_000;
  [1, 1, 0, 0, 1, 1].forEach((v, i) => e.observe(up, 'fp', 'target:node/a:9100', t0 + i * 15_000, v, false));
  assert.deepEqual(facts.map((f) => [f.ts_ms - t0, f.status, f.state, f.rule, f.value, f.threshold]), [
    [30_000, 'critical', 'firing', 'target_down', 0, 0],
    [60_000, 'healthy', 'resolved', 'target_down', 1, 0],
  ]);
  assert.equal(facts[0]!.reason, 'scrape target is down (up == 0)');
  assert.notEqual(facts[0]!.id, facts[1]!.id);
});

test('for_samples: a container not ready fires after two samples and resolves after two; the worst rule sets the status', () => {
  const { e, facts } = evaluator();
  const ready = { __name__: 'kube_pod_container_status_ready', namespace: 'shop', pod: 'p', container: 'c' };
  const r = 'k8s:/shop/pod/p';
  [0, 0, 1, 0, 1, 1].forEach((v, i) => e.observe(ready, 'fr', r, i, v, false));
  assert.deepEqual(facts.map((f) => [f.ts_ms, f.status, f.state]), [
    [1, 'warning', 'firing'],
    [5, 'healthy', 'resolved'],
  ]);
  e.observe(ready, 'fr', r, 10, 0, false);
  e.observe(ready, 'fr', r, 11, 0, false);
  e.observe({ __name__: 'up', pod: 'p', namespace: 'shop' }, 'fu', r, 12, 0, false);
  assert.deepEqual(facts.slice(2).map((f) => [f.rule, f.status]), [
    ['container_not_ready', 'warning'],
    ['target_down', 'critical'],
  ]);
  e.observe({ __name__: 'up', pod: 'p', namespace: 'shop' }, 'fu', r, 13, 1, false);
  assert.equal(facts.at(-1)!.status, 'warning', 'still warning: the container is not ready');
});

test('a steady series with one spike raises one anomaly, not a flapping stream; stale markers change nothing', () => {
  const { e, facts } = evaluator(['http_requests_in_flight']);
  const m = { __name__: 'http_requests_in_flight', job: 'api', instance: 'x' };
  let t = 0;
  for (let i = 0; i < 60; i++) e.observe(m, 'fa', 'target:api/x', t++, 10 + (i % 3) * 0.5, false);
  e.observe(m, 'fa', 'target:api/x', t++, 80, false);
  for (let i = 0; i < 60; i++) e.observe(m, 'fa', 'target:api/x', t++, 10 + (i % 3) * 0.5, false);
  e.observe(m, 'fa', 'target:api/x', t++, NaN, true);
  assert.deepEqual(facts.map((f) => [f.rule, f.state, f.value]), [
    ['anomaly', 'firing', 80],
    ['anomaly', 'resolved', 10],
  ]);
  assert.match(facts[0]!.reason, /standard deviations from its baseline/);
});

test('warm-up: no anomaly before enough samples; a firing state holds its record\'s offset', () => {
  const { e, facts } = evaluator(['g']);
  e.observe({ __name__: 'g' }, 'fg', 'r', 0, 1, false);
  e.observe({ __name__: 'g' }, 'fg', 'r', 1, 1000, false);
  assert.equal(facts.length, 0);
  e.observe(up, 'fp', 'r2', 5, 0, false, { topic: 't', partition: 1, offset: 41 });
  assert.equal(e.heldOffsets().get('t\u00001'), 41);
  e.observe(up, 'fp', 'r2', 6, 1, false, { topic: 't', partition: 1, offset: 42 });
  assert.equal(e.heldOffsets().size, 0);
});
