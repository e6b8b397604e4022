import assert from 'node:assert/strict';
import { test } from 'node:test';
import { edgeSides, type EdgeFact } from '../model/edges.js';
import type { HealthFact } from '../model/health.js';
import type { Origin } from '../runtime/pipeline/holds.js';
import { EwmaDetector } from '../detectors/ewma.js';
import { edgeSignalsConfigSchema } from './config.js';
import { edgeSignalsFor } from './processor.js';
import { MINUTE_MS, type EdgeSignals, type StoredEntry } from './signals.js';
import { LatencySketch } from './sketch.js';

/** A minute boundary, so that minute m of a test is [T0 + m·60 s, T0 + (m+1)·60 s). */
const T0 = Date.UTC(2026, 0, 5, 10, 0);
const at = (m: number) => T0 + m * MINUTE_MS;
const TOPIC = 'airdig.edges';

interface Rec {
  edge: EdgeFact;
  origin: Origin;
}

/** A detector as the processor makes one, from its config schema (defaults and all), and the stream fed to it. */
function harness(raw: Record<string, unknown> = {}) {
  const facts: HealthFact[] = [];
  const counts = { late: 0, evicted: 0, full: 0 };
  const config = edgeSignalsConfigSchema.parse(raw);
  const make = () =>
    edgeSignalsFor(config, {
      emit: (f) => facts.push(f),
      onLate: () => counts.late++,
      onEvict: () => counts.evicted++,
      onFull: () => counts.full++,
    });
  const log: Rec[] = [];
  let offset = 0;
  let s = make();
  const h = {
    facts,
    counts,
    log,
    get s(): EdgeSignals {
      return s;
    },
    set s(v: EdgeSignals) {
      s = v;
    },
    make,
    /** One edge record at ts. */
    one(ts: number, o: { failed?: boolean; latency?: number; client?: string; server?: string; type?: EdgeFact['connection_type'] } = {}): Rec {
      const edge: EdgeFact = {
        id: `e${offset}`,
        ts_ms: ts,
        trace_id: `t${offset}`,
        ...edgeSides(o.client ?? 'checkout', 'shop', o.server ?? 'payments', 'shop'),
        connection_type: o.type ?? '',
        failed: o.failed ?? false,
        latency_ms: o.latency ?? 50,
        client_latency_ms: -1,
      };
      const r = { edge, origin: { topic: TOPIC, partition: 0, offset: offset++ } };
      log.push(r);
      s.observe(r.edge, r.origin);
      return r;
    },
    /** `calls` records spread over the first 20 s of minute m (so the next minute's records close it), the first `errors` failed. */
    minute(m: number, calls: number, errors: number, o: { latency?: (i: number) => number; client?: string; server?: string } = {}): void {
      for (let i = 0; i < calls; i++)
        h.one(at(m) + Math.floor((i * 20_000) / calls), { failed: i < errors, latency: o.latency?.(i) ?? 50, client: o.client, server: o.server });
    },
    /** One call of another edge at ts: moves the watermark. */
    tick(ts: number): Rec {
      return h.one(ts, { client: 'clock', server: 'tick' });
    },
  };
  return h;
}

/** Facts without their ids, reasons and labels: what a test compares first. */
const brief = (fs: HealthFact[]) => fs.map((f) => [f.resource_id, f.state, f.status, f.rule, f.ts_ms - T0]);

test('10 good minutes then 30 % errors of 200 calls: firing on the server and the client, onset the bad minute, once it closes', () => {
  const h = harness();
  for (let m = 0; m < 10; m++) h.minute(m, 200, 1); // 0.5 %
  h.minute(10, 200, 60);
  assert.equal(h.facts.length, 0, 'the bad minute is still open (watermark within it)');
  h.tick(at(11) + 29_999);
  assert.equal(h.facts.length, 0, 'its end plus the lateness not reached yet');
  h.tick(at(11) + 30_000);
  assert.deepEqual(brief(h.facts), [
    ['service:shop/payments', 'firing', 'critical', 'edge_error_ratio', 10 * MINUTE_MS],
    ['service:shop/checkout', 'firing', 'critical', 'edge_error_ratio', 10 * MINUTE_MS],
  ]);
  const [server, client] = h.facts as [HealthFact, HealthFact];
  assert.equal(server.reason, 'checkout → payments errors 30 % (60 of 200 calls), baseline 0.5 %');
  assert.equal(client.reason, 'as the caller: checkout → payments errors 30 % (60 of 200 calls), baseline 0.5 %');
  assert.equal(server.metric, 'error_ratio');
  assert.equal(server.value, 0.3);
  assert.equal(server.threshold, 0.05);
  assert.deepEqual(server.labels, {
    client_id: 'service:shop/checkout',
    server_id: 'service:shop/payments',
    connection_type: '',
    minute: new Date(at(10)).toISOString(),
    onset: new Date(at(10)).toISOString(),
    role: 'server',
    calls: '200',
    errors: '60',
    baseline: '0.005',
  });
  assert.equal(client.labels.role, 'client');
  assert.notEqual(server.id, client.id);
  assert.match(server.id, /^[0-9a-f]{32}$/);
  // Still bad: no second firing fact.
  h.minute(11, 200, 70);
  h.tick(at(12) + 30_000);
  assert.equal(h.facts.length, 2);
});

test('the 5 % rule: 19 calls (5 failed) are not judged; 20 calls with 1 error (5 %) are fine; 20 calls with 2 errors (10 %) fire', () => {
  const h = harness();
  h.minute(0, 19, 5, { client: 'a', server: 'b' });
  h.minute(0, 20, 1, { client: 'c', server: 'd' });
  h.minute(0, 20, 2, { client: 'e', server: 'f' });
  h.tick(at(1) + 30_000);
  assert.deepEqual(brief(h.facts), [
    ['service:shop/f', 'firing', 'critical', 'edge_error_ratio', 0],
    ['service:shop/e', 'firing', 'critical', 'edge_error_ratio', 0],
  ]);
  assert.equal(h.facts[0]!.value, 0.1);
  assert.equal(h.s.edges, 2, 'the edge of 19 calls was never judged: it has no state');
});

test('both thresholds are configurable: min_calls 10 and max_error_ratio 0.2', () => {
  const h = harness({ min_calls: 10, max_error_ratio: 0.2 });
  h.minute(0, 10, 3, { client: 'a', server: 'b' }); // 30 %
  h.minute(0, 10, 2, { client: 'c', server: 'd' }); // 20 %: not above
  h.minute(0, 9, 9, { client: 'e', server: 'f' }); // too few
  h.tick(at(1) + 30_000);
  assert.deepEqual(
    h.facts.map((f) => f.resource_id),
    ['service:shop/b', 'service:shop/a'],
  );
});

test('latency: after a stable baseline, a minute whose p95 is 4 times it fires edge_latency_p95 (warning); errors stay quiet', () => {
  const h = harness();
  for (let m = 0; m < 12; m++) h.minute(m, 100, 0, { latency: (i) => 80 + (i % 21) }); // p95 ≈ 99 ms
  h.tick(at(12) + 30_000);
  assert.equal(h.facts.length, 0, 'a stable baseline fires nothing');
  h.minute(13, 100, 0, { latency: (i) => 380 + (i % 21) });
  h.tick(at(14) + 30_000);
  assert.deepEqual(brief(h.facts), [
    ['service:shop/payments', 'firing', 'warning', 'edge_latency_p95', 13 * MINUTE_MS],
    ['service:shop/checkout', 'firing', 'warning', 'edge_latency_p95', 13 * MINUTE_MS],
  ]);
  const f = h.facts[0]!;
  assert.equal(f.metric, 'latency_p95_ms');
  assert.ok(Math.abs(f.value - 399) / 399 <= 0.01, `p95 ${f.value} within 1 % of 399`);
  assert.ok(f.threshold > 99 && f.threshold < 200, `the threshold is the baseline's bound (${f.threshold})`);
  assert.match(f.reason, /^checkout → payments p95 latency \d{3} ms \(100 calls\), baseline \d+(\.\d+)? ms$/);
});

test('latency: before warmup no anomaly; a drop is not a signal and moves the baseline', () => {
  const h = harness({ anomaly: { warmup: 5 } });
  for (let m = 0; m < 4; m++) h.minute(m, 50, 0, { latency: () => 100 });
  h.minute(4, 50, 0, { latency: () => 1000 }); // 4 judged minutes: still warming up
  h.minute(5, 50, 0, { latency: () => 1 }); // a drop
  h.tick(at(6) + 30_000);
  assert.equal(h.facts.length, 0);
});

test('an error ratio above its baseline but under 5 % is an anomaly: warning, threshold the baseline bound', () => {
  const h = harness();
  for (let m = 0; m < 10; m++) h.minute(m, 200, 0);
  h.minute(10, 200, 8); // 4 %: the absolute rule does not hold
  h.tick(at(11) + 30_000);
  assert.deepEqual(brief(h.facts), [
    ['service:shop/payments', 'firing', 'warning', 'edge_error_ratio', 10 * MINUTE_MS],
    ['service:shop/checkout', 'firing', 'warning', 'edge_error_ratio', 10 * MINUTE_MS],
  ]);
  assert.ok(Math.abs(h.facts[0]!.threshold - 0.02) < 1e-9, `bound = mean 0 + 4 × min sd 0.005 (${h.facts[0]!.threshold})`);
  // Worse, past the absolute rule: the same signal goes critical (a new firing fact of that minute), the onset stays.
  h.minute(11, 200, 40);
  h.tick(at(12) + 30_000);
  assert.deepEqual(brief(h.facts.slice(2)), [
    ['service:shop/payments', 'firing', 'critical', 'edge_error_ratio', 11 * MINUTE_MS],
    ['service:shop/checkout', 'firing', 'critical', 'edge_error_ratio', 11 * MINUTE_MS],
  ]);
  assert.equal(h.facts[2]!.labels.onset, new Date(at(10)).toISOString());
});

test('one error on a spotless baseline is no anomaly (the error ratio has a floor under its deviation)', () => {
  const h = harness();
  for (let m = 0; m < 10; m++) h.minute(m, 200, 0);
  h.minute(10, 200, 1);
  h.tick(at(11) + 30_000);
  assert.equal(h.facts.length, 0);
});

test('late records: within the lateness they count in their minute; after it closed they are counted as late and reopen nothing', () => {
  const h = harness(); // allowed_lateness_ms 30 s
  h.minute(0, 19, 2); // 19 calls: one short of being judged
  const t1 = h.tick(at(1) + 20_000); // watermark at(1) - 10 s: minute 0 still open
  const late = h.one(at(0) + 59_000, { failed: true }); // within the lateness
  assert.equal(h.s.heldOffsets().get(`${TOPIC}\u00000`), 0, 'minute 0 holds its first record');
  h.tick(at(1) + 30_000); // closes minute 0
  assert.deepEqual(brief(h.facts), [
    ['service:shop/payments', 'firing', 'critical', 'edge_error_ratio', 0],
    ['service:shop/checkout', 'firing', 'critical', 'edge_error_ratio', 0],
  ]);
  assert.match(h.facts[0]!.reason, /\(3 of 20 calls\)/, `the late record (offset ${late.origin.offset}) is in minute 0`);
  const tooLate = h.one(at(0) + 59_500, { failed: true });
  assert.equal(h.counts.late, 1, 'counted as late');
  assert.equal(h.s.heldOffsets().get(`${TOPIC}\u00000`), t1.origin.offset, `only minute 1 is held, not the late record (offset ${tooLate.origin.offset})`);
  assert.equal(h.s.open, 1, 'minute 0 was not opened again: only the tick of minute 1 is open');
  h.tick(at(2) + 30_000);
  assert.equal(h.facts.length, 2, 'minute 0 was not judged again');
});

test('a firing signal resolves after 2 good minutes (a too-quiet minute between them neither counts nor breaks the run), healthy, at the first good minute', () => {
  const h = harness();
  h.minute(0, 100, 30);
  h.minute(1, 100, 0);
  h.minute(2, 5, 0); // not judged
  h.tick(at(3) + 30_000);
  assert.equal(h.facts.length, 2, 'one good minute: still firing');
  h.minute(4, 100, 0);
  h.tick(at(5) + 30_000);
  assert.deepEqual(brief(h.facts.slice(2)), [
    ['service:shop/payments', 'resolved', 'healthy', 'edge_error_ratio', 1 * MINUTE_MS],
    ['service:shop/checkout', 'resolved', 'healthy', 'edge_error_ratio', 1 * MINUTE_MS],
  ]);
  assert.equal(h.facts[2]!.reason, 'checkout → payments errors back to 0 % (0 of 100 calls), 2 good minutes');
  assert.equal(h.facts[3]!.labels.onset, new Date(at(0)).toISOString());
  assert.equal(h.s.firing, 0);
});

test('a bad minute between good ones starts the count again; resolve_after_minutes is configurable', () => {
  const h = harness({ resolve_after_minutes: 3 });
  for (const [m, errors] of [
    [0, 30],
    [1, 0],
    [2, 0],
    [3, 30],
    [4, 0],
    [5, 0],
  ] as const)
    h.minute(m, 100, errors);
  h.tick(at(6) + 30_000);
  assert.equal(h.facts.length, 2, 'never 3 good minutes in a row');
  h.minute(7, 100, 0);
  h.tick(at(8) + 30_000);
  assert.deepEqual(
    h.facts.slice(2).map((f) => [f.state, f.ts_ms - T0]),
    [
      ['resolved', 4 * MINUTE_MS],
      ['resolved', 4 * MINUTE_MS],
    ],
  );
});

test('a service with two failing edges stays critical until both resolve', () => {
  const h = harness();
  h.minute(0, 100, 30, { client: 'web', server: 'api' });
  h.minute(0, 100, 30, { client: 'api', server: 'db' });
  h.minute(1, 100, 0, { client: 'web', server: 'api' });
  h.minute(1, 100, 30, { client: 'api', server: 'db' });
  h.minute(2, 100, 0, { client: 'web', server: 'api' });
  h.minute(2, 100, 30, { client: 'api', server: 'db' });
  h.tick(at(3) + 30_000);
  const resolved = h.facts.filter((f) => f.state === 'resolved');
  assert.deepEqual(
    resolved.map((f) => [f.resource_id, f.status]),
    [
      ['service:shop/api', 'critical'], // api is still the failing client of api → db
      ['service:shop/web', 'healthy'],
    ],
  );
});

/** Three bad minutes between good ones, two edges, a latency spike: a stream with several facts. */
function busyStream(h: ReturnType<typeof harness>): void {
  for (let m = 0; m < 16; m++) {
    h.minute(m, 100, m === 11 || m === 12 ? 40 : 0, { latency: (i) => (m === 12 ? 500 : 90) + (i % 11) });
    h.minute(m, 50, m >= 5 && m < 8 ? 10 : 0, { client: 'web', server: 'checkout' });
  }
  h.tick(at(17) + 30_000);
}

test('a replay of the same edges gives the same facts with the same ids', () => {
  const a = harness();
  busyStream(a);
  const b = harness();
  busyStream(b);
  assert.ok(a.facts.length >= 8, `a stream with facts (${a.facts.length})`);
  assert.deepEqual(b.facts, a.facts);
  assert.equal(new Set(a.facts.map((f) => f.id)).size, a.facts.length, 'no two facts share an id');
});

test('restart: states from the changelog and the held records replayed give the facts of an uninterrupted run, none twice', () => {
  const whole = harness();
  busyStream(whole);
  // The same stream, with a crash after each cut point: the changelog is what takeChanges gave, the
  // input is read again from the held offset (records up to the last handled one are replays).
  for (const cut of [150, 333, 1000, 1400]) {
    const h = harness();
    const changelog = new Map<string, StoredEntry>();
    const persist = () => {
      for (const [k, v] of h.s.takeChanges()) {
        if (v === null) changelog.delete(k);
        else changelog.set(k, JSON.parse(JSON.stringify(v)) as StoredEntry);
      }
    };
    busyStream(h);
    const records = h.log.slice();
    // Start over and feed up to the cut, as the first run.
    h.facts.length = 0;
    h.s = h.make();
    for (const r of records.slice(0, cut)) h.s.observe(r.edge, r.origin);
    persist();
    const held = h.s.heldOffsets().get(`${TOPIC}\u00000`) ?? cut;
    const before = h.facts.length;
    h.s = h.make();
    h.s.restore(changelog);
    for (const r of records.slice(held)) h.s.observe(r.edge, r.origin, r.origin.offset < cut);
    assert.deepEqual(h.facts, whole.facts, `cut at ${cut} (held from ${held}, ${before} facts before it)`);
  }
});

test('holds: an open minute holds its first record; once it closes its records are released', () => {
  const h = harness();
  const part = `${TOPIC}\u00000`;
  assert.equal(h.s.heldOffsets().size, 0);
  h.minute(0, 30, 0);
  assert.equal(h.s.heldOffsets().get(part), 0);
  const first1 = h.one(at(1) + 1_000);
  assert.equal(h.s.heldOffsets().get(part), 0, 'minute 0 is open within the lateness');
  h.one(at(1) + 30_000); // closes minute 0
  assert.equal(h.s.heldOffsets().get(part), first1.origin.offset, 'only minute 1 is held');
  h.one(at(3) + 30_000); // closes minutes 1 and 2
  assert.equal(h.s.heldOffsets().get(part), h.log.at(-1)!.origin.offset);
  assert.equal(h.s.open, 1);
});

test('max_edges: the least recently judged edge is evicted and counted; a firing one is resolved as no longer tracked', () => {
  const h = harness({ max_edges: 2 });
  h.minute(0, 20, 10, { client: 'a', server: 'b' });
  h.minute(0, 20, 0, { client: 'c', server: 'd' });
  h.tick(at(1) + 30_000);
  h.minute(2, 20, 0, { client: 'c', server: 'd' });
  h.minute(2, 20, 0, { client: 'e', server: 'f' }); // a third edge: a → b (least recently judged) goes
  h.tick(at(3) + 30_000);
  assert.equal(h.counts.evicted, 1);
  assert.equal(h.s.edges, 2);
  assert.deepEqual(
    h.facts.map((f) => [f.resource_id, f.state, f.status]),
    [
      ['service:shop/b', 'firing', 'critical'],
      ['service:shop/a', 'firing', 'critical'],
      ['service:shop/b', 'resolved', 'healthy'],
      ['service:shop/a', 'resolved', 'healthy'],
    ],
  );
  assert.equal(h.facts[2]!.reason, 'a → b no longer tracked (max_edges reached)');
  const changes = h.s.takeChanges();
  assert.equal(changes.get(`edge\u0000service:shop/a\u0000service:shop/b\u0000`), null, 'the evicted edge is a tombstone');
});

test('connection types are separate edges; an edge from a service to itself raises one fact', () => {
  const h = harness();
  for (let i = 0; i < 20; i++) h.one(at(0) + i, { failed: i < 5, type: 'messaging_system' });
  for (let i = 0; i < 20; i++) h.one(at(0) + i, { failed: false });
  for (let i = 0; i < 20; i++) h.one(at(0) + i, { failed: i < 5, client: 'self', server: 'self' });
  h.tick(at(1) + 30_000);
  assert.deepEqual(
    h.facts.map((f) => [f.resource_id, f.labels.connection_type]),
    [
      ['service:shop/payments', 'messaging_system'],
      ['service:shop/checkout', 'messaging_system'],
      ['service:shop/self', ''],
    ],
  );
});

test('LatencySketch: quantiles within 1 % of the exact nearest-rank value, in few buckets', () => {
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const n of [1, 19, 200, 5000]) {
    const s = new LatencySketch();
    const xs: number[] = [];
    for (let i = 0; i < n; i++) {
      const x = Math.exp(rand() * 8) * 0.5; // 0.5 ms … 1.5 s
      xs.push(x);
      s.add(x);
    }
    xs.sort((a, b) => a - b);
    for (const q of [0.5, 0.95, 0.99]) {
      const exact = xs[Math.max(1, Math.ceil(q * n)) - 1]!;
      const got = s.quantile(q);
      assert.ok(Math.abs(got - exact) / exact <= 0.01, `n ${n} q ${q}: ${got} vs ${exact}`);
    }
    assert.ok(s.buckets <= 800, `${s.buckets} buckets`);
  }
  const z = new LatencySketch();
  assert.ok(Number.isNaN(z.quantile(0.95)));
  for (let i = 0; i < 10; i++) z.add(i < 9 ? 0 : 10);
  assert.equal(z.quantile(0.5), 0);
  assert.ok(Math.abs(z.quantile(0.95) - 10) <= 0.1);
});

test('EwmaDetector (shared with health): upward_only ignores drops, min_sd and min_sd_ratio floor the deviation', () => {
  const base = { alpha: 0.1, warmup: 3, enter_z: 4, exit_z: 2 };
  const both = new EwmaDetector(base);
  const up = new EwmaDetector({ ...base, upward_only: true });
  for (const d of [both, up]) for (let i = 0; i < 5; i++) d.observe(10);
  assert.equal(both.observe(5).change, 'enter', 'a drop is anomalous both ways');
  assert.equal(up.observe(5).change, undefined, 'not upward only');
  assert.ok(up.mean < 10, 'the drop moved the baseline');
  const floored = () => {
    const d = new EwmaDetector({ ...base, min_sd: 1, min_sd_ratio: 0.5 });
    for (let i = 0; i < 5; i++) d.observe(10);
    return d;
  };
  assert.equal(floored().sd, 5, 'the larger floor: half the mean');
  assert.deepEqual(floored().observe(29), { change: undefined, z: 3.8 });
  assert.deepEqual(floored().observe(31), { change: 'enter', z: 4.2 });
  assert.equal(new EwmaDetector(base).sd, 0, 'no floor configured: none (as health has it)');
  const d = floored();
  d.observe(31);
  assert.deepEqual(EwmaDetector.from(base, d.state()).state(), { n: 6, mean: 10, variance: 0, anomalous: true });
});
