import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type HealthEvaluator, histogramQuantile, MAX_FUTURE_MS, type StoredRuleState } from './evaluator.js';
import type { HealthFact } from '../model/health.js';
import { DEFAULT_RULES, ruleSchema } from './rules.js';
import { healthConfigSchema } from './config.js';
import { evaluatorFor } from './processor.js';

/** An evaluator as the health processor makes one: from its config schema, defaults and all. */
function withConfig(raw: Record<string, unknown>, emit: (f: HealthFact) => void): HealthEvaluator {
  return evaluatorFor(healthConfigSchema.parse(raw), emit);
}

function evaluator(anomalyMetrics: string[] = []) {
  const facts: HealthFact[] = [];
  const e = withConfig({ rules: DEFAULT_RULES, anomaly: { metrics: anomalyMetrics, warmup: 20 } }, (f) => facts.push(f));
  return { e, facts };
}

const up = { __name__: 'up', job: 'node', instance: 'a:9100' };

test('up == 0 makes the target critical at that sample, and healthy again when it recovers; steady states emit nothing', () => {
  const { e, facts } = evaluator();
  const t0 = 1_000_000;
  [1, 1, 0, 0, 1, 1].forEach((v, i) => e.observe(up, 'fp', 'target:node/a:9100', t0 + i * 15_000, v, false));
  assert.deepEqual(
    facts.map((f) => [f.ts_ms - t0, f.status, f.state, f.rule, f.value, f.threshold]),
    [
      [30_000, 'critical', 'firing', 'target_down', 0, 0],
      [60_000, 'healthy', 'resolved', 'target_down', 1, 0],
    ],
  );
  assert.equal(facts[0]!.reason, 'scrape target is down (up == 0)');
  assert.notEqual(facts[0]!.id, facts[1]!.id);
});

test('for_samples: a container not ready fires after two samples and resolves after two; the worst rule sets the status', () => {
  const { e, facts } = evaluator();
  const ready = { __name__: 'kube_pod_container_status_ready', namespace: 'shop', pod: 'p', container: 'c' };
  const r = 'k8s:/shop/pod/p';
  [0, 0, 1, 0, 1, 1].forEach((v, i) => e.observe(ready, 'fr', r, i, v, false));
  assert.deepEqual(
    facts.map((f) => [f.ts_ms, f.status, f.state]),
    [
      [1, 'warning', 'firing'],
      [5, 'healthy', 'resolved'],
    ],
  );
  e.observe(ready, 'fr', r, 10, 0, false);
  e.observe(ready, 'fr', r, 11, 0, false);
  e.observe({ __name__: 'up', pod: 'p', namespace: 'shop' }, 'fu', r, 12, 0, false);
  assert.deepEqual(
    facts.slice(2).map((f) => [f.rule, f.status]),
    [
      ['container_not_ready', 'warning'],
      ['target_down', 'critical'],
    ],
  );
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
  assert.deepEqual(
    facts.map((f) => [f.rule, f.state, f.value]),
    [
      ['anomaly', 'firing', 80],
      ['anomaly', 'resolved', 10],
    ],
  );
  assert.match(facts[0]!.reason, /standard deviations from its baseline/);
});

test('warm-up: no anomaly before enough samples; a firing state holds no offset, it is a change to store', () => {
  const { e, facts } = evaluator(['g']);
  e.observe({ __name__: 'g' }, 'fg', 'r', 0, 1, false);
  e.observe({ __name__: 'g' }, 'fg', 'r', 1, 1000, false);
  assert.equal(facts.length, 0);
  e.beginRecord({ topic: 't', partition: 1, offset: 41 }, 5);
  e.observe(up, 'fp', 'r2', 5, 0, false);
  assert.equal(e.heldOffsets().size, 0);
  assert.deepEqual(
    e.takeChanges(),
    new Map([['target_down\u0000fp', { firing: true, streak: 0, severity: 'critical', reason: 'scrape target is down (up == 0)', resource: 'r2' }]]),
  );
  e.observe(up, 'fp', 'r2', 6, 0, false);
  assert.equal(e.takeChanges().size, 0, 'still firing: nothing changed');
  e.observe(up, 'fp', 'r2', 7, 1, false);
  assert.deepEqual(e.takeChanges(), new Map([['target_down\u0000fp', null]]), 'resolved: the state is deleted');
});

test('restart: states restored from their changes resolve as the uninterrupted run does; a replayed record changes no state', () => {
  const ready = { __name__: 'kube_pod_container_status_ready', namespace: 'shop', pod: 'p', container: 'c' };
  const r = 'k8s:/shop/pod/p';
  const values = [0, 0, 0, 1, 0, 1, 1];
  const full = evaluator();
  values.forEach((v, i) => {
    full.e.beginRecord(O(i), i);
    full.e.observe(ready, 'fr', r, i, v, false);
  });
  assert.deepEqual(
    full.facts.map((f) => [f.ts_ms, f.state]),
    [
      [1, 'firing'],
      [6, 'resolved'],
    ],
  );
  for (let cut = 1; cut < values.length; cut++) {
    // The first run handles records 0..cut-1 and stores its changes; the restart replays from 0.
    const first = evaluator();
    const stored = new Map<string, StoredRuleState>();
    values.slice(0, cut).forEach((v, i) => {
      first.e.beginRecord(O(i), i);
      first.e.observe(ready, 'fr', r, i, v, false);
      for (const [k, s] of first.e.takeChanges()) {
        if (s) stored.set(k, s);
        else stored.delete(k);
      }
    });
    const again = evaluator();
    again.e.restore(stored);
    values.forEach((v, i) => {
      again.e.beginRecord(O(i), i, i < cut);
      again.e.observe(ready, 'fr', r, i, v, false);
    });
    assert.deepEqual([...first.facts, ...again.facts], full.facts, `restart after record ${cut - 1}`);
  }
});

const O = (offset: number, partition = 0) => ({ topic: 'rw', partition, offset });
const W = 60_000;

/**
 * Feeds records of one partition: each [time, samples], the samples at that time; the records'
 * own (arrival) time is `arrival(time)`, the same by default. Returns the facts.
 */
function run(records: [number, [Record<string, string>, number][]][], rules = DEFAULT_RULES, arrival = (t: number) => t) {
  const facts: HealthFact[] = [];
  const e = withConfig({ rules, anomaly: {}, window_ms: W }, (f) => facts.push(f));
  records.forEach(([t, samples], i) => {
    e.beginRecord(O(i), arrival(t));
    for (const [labels, v] of samples) e.observe(labels, JSON.stringify(labels), 'target:api/a', t, v, false);
  });
  return { e, facts };
}

const req = (code: string) => ({ __name__: 'http_requests_total', job: 'api', instance: 'a', code });
/** A record of a later window: its first sample closes and judges the window before (a record without samples places nothing). */
const CLOSE: [Record<string, string>, number][] = [[req('200'), 0]];

test('error ratio: 5xx over all requests per window fires above 5 % and resolves when it falls', () => {
  // per window: two samples per series; increases ok 100 / err 1 (1 %), then ok 100 / err 20 (~17 %), then 1 %.
  let ok = 0;
  let err = 0;
  const records: [number, [Record<string, string>, number][]][] = [];
  const windows = [1, 20, 1];
  windows.forEach((errInc, w) => {
    records.push([
      w * W + 1_000,
      [
        [req('200'), ok],
        [req('500'), err],
      ],
    ]);
    ok += 100;
    err += errInc;
    records.push([
      w * W + 31_000,
      [
        [req('200'), ok],
        [req('500'), err],
      ],
    ]);
  });
  records.push([3 * W + 1_000, CLOSE]); // a sample of the next window closes the third
  const { facts } = run(records);
  assert.deepEqual(
    facts.map((f) => [f.rule, f.state, f.status, f.ts_ms, Number(f.value.toFixed(3)), f.threshold]),
    [
      ['http_error_ratio', 'firing', 'warning', 2 * W, Number((20 / 120).toFixed(3)), 0.05],
      ['http_error_ratio', 'resolved', 'healthy', 3 * W, Number((1 / 101).toFixed(3)), 0.05],
    ],
  );
  assert.equal(facts[0]!.metric, 'http_requests_total');
});

/** Error-ratio records over windows 0..3 (1 %, ~17 %, 1 %), then a sample of window 4. */
function ratioStory(): [number, [Record<string, string>, number][]][] {
  let ok = 0;
  let err = 0;
  const records: [number, [Record<string, string>, number][]][] = [];
  for (const [w, errInc] of [1, 20, 1].entries()) {
    for (const at of [1_000, 31_000]) {
      records.push([
        w * W + at,
        [
          [req('200'), ok],
          [req('500'), err],
        ],
      ]);
      ok += 100;
      err += errInc;
    }
  }
  records.push([3 * W + 1_000, CLOSE]);
  return records;
}

test('event time: a backfill of yesterday, arriving now in one burst, gives the facts live traffic gave', () => {
  const live = run(ratioStory()).facts;
  assert.equal(live.length, 2);
  const now = 86_400_000 + 5 * W;
  const backfill = run(ratioStory(), DEFAULT_RULES, () => now).facts;
  assert.deepEqual(backfill, live, "same windows, same facts and ids, at the samples' times");
  assert.deepEqual(
    backfill.map((f) => f.ts_ms),
    [2 * W, 3 * W],
  );
});

test('event time: a sample far in the future places its record at most MAX_FUTURE_MS after its arrival', () => {
  const records = ratioStory();
  // A record stamped in the year 2286 (a broken clock) arrives between the second window's records.
  const story: [number, [Record<string, string>, number][]][] = [...records.slice(0, 3), [1e13, [[req('204'), 0]]], ...records.slice(3)];
  const facts: HealthFact[] = [];
  const e = withConfig({ rules: DEFAULT_RULES, anomaly: {}, window_ms: W }, (f) => facts.push(f));
  story.forEach(([t, samples], i) => {
    e.beginRecord(O(i), t === 1e13 ? W + 2_000 : t);
    for (const [labels, v] of samples) e.observe(labels, JSON.stringify(labels), 'target:api/a', t, v, false);
  });
  // Without the bound the partition's window would be in 2286, judged never; with it, it is
  // window (W + 2 s + MAX_FUTURE_MS) / W, which later records pass again.
  const boundIndex = Math.floor((W + 2_000 + MAX_FUTURE_MS) / W);
  e.beginRecord(O(story.length), (boundIndex + 1) * W + 1_000);
  e.observe(req('200'), 'x', 'target:api/a', (boundIndex + 1) * W + 1_000, 0, false);
  // Window 11 took the late records of windows 1 and 2 (21 errors in 221 requests) and is judged.
  assert.deepEqual(
    facts.map((f) => [f.ts_ms, f.state]),
    [[(boundIndex + 1) * W, 'firing']],
  );
  assert.equal(e.heldOffsets().get('rw\u00000'), story.length, 'only the newest window is open');
});

test('event time: a record counts whole in the window of its first sample', () => {
  // One record holds samples of window 0 and of window 1: all of it is window 0's.
  const { facts } = run([
    [
      1_000,
      [
        [req('200'), 0],
        [req('500'), 0],
      ],
    ],
    [
      30_000,
      [
        [req('200'), 100],
        [req('500'), 50],
      ],
    ],
  ]);
  assert.equal(facts.length, 0, 'window 0 is still open');
  const e = withConfig({ rules: DEFAULT_RULES, anomaly: {}, window_ms: W }, () => {});
  e.beginRecord(O(0), 1_000);
  e.observe(req('200'), 'a', 'target:api/a', 1_000, 0, false);
  e.observe(req('500'), 'b', 'target:api/a', 1_000, 0, false);
  e.beginRecord(O(1), W + 5_000);
  e.observe(req('200'), 'a', 'target:api/a', 50_000, 100, false);
  e.observe(req('500'), 'b', 'target:api/a', W + 5_000, 50, false);
  assert.equal(e.heldOffsets().get('rw\u00000'), 0, 'the straddling record did not open window 1');
});

test('a counter reset inside a window counts as PromQL counts it; below min_count a window is not judged', () => {
  const { facts } = run([
    [
      1_000,
      [
        [req('200'), 50],
        [req('503'), 7],
      ],
    ],
    [
      20_000,
      [
        [req('200'), 2],
        [req('503'), 9],
      ],
    ], // 200s reset to 2 (increase 2); 503s +2
    [
      40_000,
      [
        [req('200'), 6],
        [req('503'), 9],
      ],
    ], // +4 → total 6 < min_count 10: not judged
    [W + 1_000, CLOSE],
  ]);
  assert.deepEqual(facts, []);
  const judged = run([
    [
      1_000,
      [
        [req('200'), 50],
        [req('503'), 7],
      ],
    ],
    [
      20_000,
      [
        [req('200'), 8],
        [req('503'), 11],
      ],
    ], // reset: +8; 503s +4 → 4 / 12
    [W + 1_000, CLOSE],
  ]);
  assert.equal(judged.facts.length, 1);
  assert.equal(judged.facts[0]!.value, 4 / 12);
});

test('latency p99 from histogram buckets, interpolated within the bucket as histogram_quantile does', () => {
  const b = (le: string) => ({ __name__: 'http_request_duration_seconds_bucket', job: 'api', instance: 'a', le });
  const buckets = (n: [number, number, number, number]) =>
    [
      [b('0.1'), n[0]],
      [b('0.5'), n[1]],
      [b('2.5'), n[2]],
      [b('+Inf'), n[3]],
    ] as [Record<string, string>, number][];
  const { facts } = run([
    [1_000, buckets([0, 0, 0, 0])],
    [30_000, buckets([90, 95, 100, 100])], // p99 = 0.5 + 2.0 * (99 - 95) / 5 = 2.1 s
    [W + 1_000, buckets([90, 95, 100, 100])],
    [W + 30_000, buckets([180, 190, 200, 200])], // the slow tail stays: still firing, no new fact
    [2 * W + 1_000, buckets([180, 190, 200, 200])],
    [2 * W + 30_000, buckets([380, 390, 400, 400])], // a fast window: all 200 within 0.1 s
    [3 * W + 1_000, CLOSE],
  ]);
  assert.deepEqual(
    facts.map((f) => [f.rule, f.state, f.ts_ms, Number(f.value.toFixed(4))]),
    [
      ['http_latency_p99', 'firing', W, 2.1],
      ['http_latency_p99', 'resolved', 3 * W, Number(((0.1 * 198) / 200).toFixed(4))],
    ],
  );
});

test('increase: a restarted container fires pod_restarting for the window it restarted in', () => {
  const r = { __name__: 'kube_pod_container_status_restarts_total', namespace: 'shop', pod: 'p', container: 'c' };
  const { facts } = run([
    [1_000, [[r, 3]]],
    [30_000, [[r, 3]]],
    [W + 1_000, [[r, 3]]],
    [W + 30_000, [[r, 4]]],
    [2 * W + 1_000, [[r, 4]]],
    [2 * W + 30_000, [[r, 4]]],
    [3 * W + 1_000, CLOSE],
  ]);
  assert.deepEqual(
    facts.map((f) => [f.rule, f.state, f.ts_ms, f.value]),
    [
      ['pod_restarting', 'firing', 2 * W, 1],
      ['pod_restarting', 'resolved', 3 * W, 0],
    ],
  );
});

test('replay: an open window holds the record that opened it, and replaying from there gives the same facts', () => {
  const records: [number, [Record<string, string>, number][]][] = [
    [
      1_000,
      [
        [req('200'), 0],
        [req('500'), 0],
      ],
    ],
    [
      30_000,
      [
        [req('200'), 100],
        [req('500'), 1],
      ],
    ],
    [
      W + 1_000,
      [
        [req('200'), 100],
        [req('500'), 1],
      ],
    ],
    [
      W + 30_000,
      [
        [req('200'), 200],
        [req('500'), 40],
      ],
    ],
    [
      2 * W + 1_000,
      [
        [req('200'), 200],
        [req('500'), 40],
      ],
    ],
    [
      2 * W + 30_000,
      [
        [req('200'), 300],
        [req('500'), 41],
      ],
    ],
    [3 * W + 1_000, CLOSE],
  ];
  const full = run(records).facts;
  assert.equal(full.length, 2);
  const upTo = (n: number) => run(records.slice(0, n));
  // After record 3 the second window is open: the hold is record 2, the window's first.
  const mid = upTo(4);
  assert.equal(mid.e.heldOffsets().get('rw\u00000'), 2);
  // After record 5 (window 3 open, ratio firing): only the open window holds, from its first record 4.
  const late = upTo(6);
  assert.equal(late.e.heldOffsets().get('rw\u00000'), 4);
  // A restart with the stored states, replaying from that hold, ends with the same facts as the uninterrupted run.
  const replay: HealthFact[] = [];
  const e = withConfig({ rules: DEFAULT_RULES, anomaly: {}, window_ms: W }, (f) => replay.push(f));
  e.restore([...late.e.takeChanges()].filter((c): c is [string, StoredRuleState] => c[1] !== null));
  records.forEach(([t, samples], i) => {
    if (i < 4) return;
    e.beginRecord(O(i), t, i < 6);
    for (const [labels, v] of samples) e.observe(labels, JSON.stringify(labels), 'target:api/a', t, v, false);
  });
  assert.deepEqual([...late.facts, ...replay], full);
});

test('for_samples > 1: a streak under way is a stored state, not a hold', () => {
  const { e } = evaluator();
  const ready = { __name__: 'kube_pod_container_status_ready', namespace: 'shop', pod: 'p', container: 'c' };
  e.observe(ready, 'fr', 'k8s:/shop/pod/p', 1, 0, false);
  assert.equal(e.heldOffsets().size, 0);
  assert.equal(e.takeChanges().get('container_not_ready\u0000fr')?.streak, 1, 'pending streak');
  e.observe(ready, 'fr', 'k8s:/shop/pod/p', 2, 1, false);
  assert.equal(e.takeChanges().get('container_not_ready\u0000fr'), null, 'the streak broke: nothing to remember');
});

test('runtime events fire at once and resolve after the quiet time of event time; below warning nothing fires', () => {
  const facts: HealthFact[] = [];
  const e = withConfig({ rules: [], anomaly: {}, runtime_quiet_ms: 600_000 }, (f) => facts.push(f));
  const ev = (ts: number, severity: 'warning' | 'critical' | undefined, resource = 'k8s:/shop/pod/p') => ({
    resource,
    rule: 'falco: Terminal shell in container',
    severity,
    ts,
    reason: 'shell',
    labels: {},
  });
  const o = (offset: number) => ({ topic: 'falco_events', partition: 0, offset });
  e.event(ev(1_000, 'critical'), o(0));
  e.event(ev(100_000, 'critical'), o(1)); // a repeat: still firing, no new fact
  e.event(ev(200_000, undefined, 'k8s:/shop/pod/q'), o(2));
  assert.deepEqual(
    facts.map((f) => [f.state, f.status, f.resource_id]),
    [['firing', 'critical', 'k8s:/shop/pod/p']],
  );
  assert.equal(e.heldOffsets().size, 0, 'a firing runtime rule holds nothing');
  // A restart from the stored state (its quiet timer included) resolves at the same time; a replayed event changes nothing.
  const restarted = withConfig({ rules: [], anomaly: {}, runtime_quiet_ms: 600_000 }, (f) => facts.push(f));
  restarted.restore([...e.takeChanges()].filter((c): c is [string, StoredRuleState] => c[1] !== null));
  restarted.event(ev(200_000, undefined, 'k8s:/shop/pod/q'), o(2), true);
  restarted.event(ev(650_000, undefined, 'k8s:/shop/pod/q'), o(3)); // 550 s after the last repeat: still firing
  assert.equal(facts.length, 1);
  restarted.event(ev(700_000, undefined, 'k8s:/shop/pod/q'), o(4)); // 600 s after the last repeat
  assert.deepEqual(
    facts.map((f) => [f.state, f.status, f.ts_ms]),
    [
      ['firing', 'critical', 1_000],
      ['resolved', 'healthy', 700_000],
    ],
  );
  assert.deepEqual(restarted.takeChanges(), new Map([['runtime\u0000falco: Terminal shell in container\u0000k8s:/shop/pod/p', null]]));
});

test('a firing anomaly is stored with its detector: after a restart it resolves when the series is back within its baseline', () => {
  const { e, facts } = evaluator(['g']);
  const m = { __name__: 'g', job: 'j', instance: 'i' };
  let t = 0;
  for (let i = 0; i < 40; i++) e.observe(m, 'fg', 'target:j/i', t++, 10 + (i % 2), false);
  e.observe(m, 'fg', 'target:j/i', t++, 90, false);
  assert.deepEqual(
    facts.map((f) => f.state),
    ['firing'],
  );
  const restarted = evaluator(['g']);
  restarted.e.restore([...e.takeChanges()].filter((c): c is [string, StoredRuleState] => c[1] !== null));
  restarted.e.observe(m, 'fg', 'target:j/i', t++, 85, false);
  assert.equal(restarted.facts.length, 0, 'still anomalous');
  restarted.e.observe(m, 'fg', 'target:j/i', t++, 10, false);
  assert.deepEqual(
    restarted.facts.map((f) => [f.rule, f.state]),
    [['anomaly', 'resolved']],
  );
});

test('OpenTelemetry metric names match the rules with dots read as underscores', () => {
  const facts: HealthFact[] = [];
  const e = withConfig({ rules: DEFAULT_RULES, anomaly: {} }, (f) => facts.push(f));
  for (let i = 0; i < 3; i++) e.observe({ __name__: 'system.filesystem.utilization', 'host.id': 'h' }, 'fd', 'host:h', i, 0.97, false);
  assert.deepEqual(
    facts.map((f) => [f.rule, f.state, f.metric]),
    [['disk_saturated', 'firing', 'system.filesystem.utilization']],
  );
});

test('histogramQuantile: PromQL edge cases', () => {
  const m = (pairs: [number, number][]) => new Map(pairs.map(([le, inc], i) => [String(i), { le, inc, last: 0 }]));
  assert.equal(
    histogramQuantile(
      0.5,
      m([
        [1, 10],
        [2, 20],
        [Infinity, 20],
      ]),
      1,
    ),
    1,
  );
  assert.equal(
    histogramQuantile(
      0.75,
      m([
        [1, 10],
        [2, 20],
        [Infinity, 20],
      ]),
      1,
    ),
    1.5,
  );
  assert.equal(
    histogramQuantile(
      0.99,
      m([
        [1, 10],
        [2, 10],
        [Infinity, 20],
      ]),
      1,
    ),
    2,
    'rank in +Inf: the highest finite bound',
  );
  assert.equal(
    histogramQuantile(
      0.5,
      m([
        [1, 10],
        [2, 20],
      ]),
      1,
    ),
    undefined,
    'no +Inf bucket',
  );
  assert.equal(
    histogramQuantile(
      0.5,
      m([
        [1, 0],
        [Infinity, 0],
      ]),
      1,
    ),
    undefined,
    'no observations',
  );
  assert.equal(
    histogramQuantile(
      0.5,
      m([
        [1, 3],
        [Infinity, 4],
      ]),
      10,
    ),
    undefined,
    'below min_count',
  );
});

test('rule config: exactly one shape, valid regular expressions', () => {
  const base = { name: 'x', op: '>', threshold: 1, severity: 'warning' };
  assert.throws(() => ruleSchema.parse(base), /exactly one of metric, ratio, quantile, increase \(got none\)/);
  assert.throws(() => ruleSchema.parse({ ...base, metric: 'a', increase: { metric: 'b' } }), /got metric, increase/);
  assert.throws(() => ruleSchema.parse({ ...base, metric: 'a', match_re: { code: '5(' } }), /not a valid regular expression/);
  assert.deepEqual(ruleSchema.parse({ ...base, metric: 'a' }).metric, ['a']);
});
