// A bounded slice of the intake fuzzer (tests/fuzz/fuzz.ts) in every test run: a fixed seed, so a
// finding reproduces; `npm run fuzz` runs more, with a seed of its own.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fuzz } from './fuzz.js';
import { openMigratedStore } from '../helpers/component.js';

const PER_TARGET = Number(process.env.AIRDIG_FUZZ_SLICE ?? 300);

test(`fuzz slice: ${PER_TARGET} mutated bodies per decoder — no 5xx, no hang, every intake takes a valid body afterwards`, async () => {
  const store = await openMigratedStore('fuzz');
  const report = await fuzz(PER_TARGET, 20261202, store).finally(() => store.close());
  assert.equal(report.requests, PER_TARGET * Object.keys(report.byTarget).length);
  assert.deepEqual(report.findings.slice(0, 10), [], `${report.findings.length} findings`);
  assert.deepEqual(report.broken, []);
  // The mutations reach the decoders: most bodies are refused as bad input, some are still valid.
  const statuses = Object.values(report.byTarget).flatMap((t) => Object.entries(t.statuses));
  const count = (cls: string) => statuses.filter(([c]) => c === cls).reduce((n, [, k]) => n + k, 0);
  assert.ok(count('4xx') > report.requests / 4, `4xx ${count('4xx')} of ${report.requests}`);
  assert.ok(count('2xx') > 0, 'some mutations are still valid');
  // Each target's own decoder refuses some (gRPC: INVALID_ARGUMENT and the like, counted as 4xx).
  for (const [name, t] of Object.entries(report.byTarget))
    assert.ok((t.statuses['4xx'] ?? 0) > 0, `${name}: no bad input refused ${JSON.stringify(t.statuses)}`);
});

test('the check after the storm names the intakes that no longer take a valid body', async () => {
  const store = await openMigratedStore('fuzz_check');
  // A few requests each, then the bus closes under the receivers: an intake that publishes fails.
  const report = await fuzz(3, 7, store, undefined, (pipeline) => pipeline.bus.close()).finally(() => store.close());
  const broken = report.broken.map((b) => b.slice(0, b.indexOf(': ')));
  for (const intake of ['otlp traces (protobuf)', 'otlp traces (gRPC)', 'cloudtrail', 'terraform state', 'falco'])
    assert.ok(broken.includes(intake), `${intake} not named: ${report.broken.join('; ')}`);
  // The graph API reads ClickHouse, not the bus: it still answers.
  assert.ok(!broken.includes('graphql'), report.broken.join('; '));
});
