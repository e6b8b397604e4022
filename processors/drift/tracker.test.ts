import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseScanBody, parseTerraformState } from '../inventory/records.js';
import type { ScannerRecord, TerraformRecord } from '../model/inventory.js';
import { DriftIgnore } from './ignore.js';
import { DriftTracker, type StoredDriftValue } from './tracker.js';
import type { DriftEvent } from '../model/drift.js';
import { ABANDONED_AFTER_MS } from '../model/inventory.js';
import { repoRoot } from '../../tests/helpers/kafka.js';

const file = (name: string) => readFileSync(path.join(repoRoot, 'processors/drift/testdata', name));
const STATE_AT = Date.parse('2026-11-23T10:00:00Z');
type Logged = { topic: 'state' | 'scan'; r: TerraformRecord | ScannerRecord };

const tracker = () => new DriftTracker({ causeWindowMs: 3_600_000, ignore: new DriftIgnore('aws_security_group.sg-0default000000000') });

/** Feeds a log of records at offsets 0, 1, … per topic; returns what was reported. */
function feed(t: DriftTracker, log: Logged[], from: Record<string, number> = {}, replay = false): DriftEvent[] {
  const offsets: Record<string, number> = { state: from.state ?? 0, scan: from.scan ?? 0 };
  const out: DriftEvent[] = [];
  for (const { topic, r } of log) {
    const origin = { at: topic, offset: offsets[topic]!++ };
    out.push(...(topic === 'state' ? t.observeState(r as TerraformRecord, origin, replay) : t.observeScan(r as ScannerRecord, origin, replay)));
  }
  return out;
}

/** What the changelog holds after these changes. */
function changelog(...changes: Map<string, StoredDriftValue | null>[]): Map<string, StoredDriftValue> {
  const out = new Map<string, StoredDriftValue>();
  for (const c of changes) {
    for (const [k, v] of c) {
      if (v) out.set(k, JSON.parse(JSON.stringify(v)) as StoredDriftValue);
      else out.delete(k);
    }
  }
  return out;
}

const state = (): Logged[] => parseTerraformState(file('terraform.tfstate'), STATE_AT).records.map((r) => ({ topic: 'state', r }));
const scan = (patch: Record<string, unknown> = {}, extra: unknown[] = []): Logged[] => {
  const body = JSON.parse(file('scan.json').toString()) as { scan: Record<string, unknown>; resources: unknown[] };
  return parseScanBody(Buffer.from(JSON.stringify({ scan: { ...body.scan, ...patch }, resources: [...body.resources, ...extra] })), 0).records.map((r) => ({
    topic: 'scan',
    r,
  }));
};

test('a scan older than the state judges nothing missing; Kubernetes objects are never unmanaged', () => {
  const t = tracker();
  const pod = { id: 'k8s:prod/shop/pod/api-1', type: 'k8s:pod', name: 'api-1' };
  const drifts = feed(t, [...state(), ...scan({ time: '2026-11-23T09:00:00Z' }, [pod])]);
  assert.deepEqual(
    drifts.filter((d) => d.drift === 'missing'),
    [],
    'the scan ran before the state was received',
  );
  assert.deepEqual(
    drifts.filter((d) => d.drift === 'unmanaged').map((d) => d.resource_id),
    ['arn:aws:ec2:eu-west-1:123456789012:instance/i-0ccc0000000000003'],
  );
  const later = feed(t, scan({ id: 'scan-2', time: '2026-11-23T11:00:00Z' }), { scan: 100 });
  assert.deepEqual(
    later.map((d) => d.drift),
    ['missing'],
    'a later scan does; the other drifts were already reported',
  );
});

test('the latest state and complete scan hold no offset; a restart restores them and judges as the uninterrupted run', () => {
  const log = [...state(), ...scan()];
  const t = tracker();
  const first = feed(t, log);
  assert.equal(first.length, 6);
  assert.equal(t.heldOffsets().size, 0);
  const stored = changelog(t.takeChanges());
  assert.equal(stored.size, 2 + 9 + 8, 'two heads, nine managed and eight scanned resources');
  const again = tracker();
  again.restore(stored);
  assert.deepEqual(feed(again, log, {}, true), [], 'records replayed after the restart change nothing and report nothing again');
  // A new serial that no longer manages the IAM role stores only what changed.
  const next = state()
    .map(({ topic, r }) => ({ topic, r: { ...(r as TerraformRecord), serial: 43 } }))
    .filter(({ r }) => r.resource?.tf_type !== 'aws_iam_role');
  const later = [...next, ...scan({ id: 'scan-2', time: '2026-11-23T11:00:00Z' })];
  assert.deepEqual(
    feed(again, later, { state: 10, scan: 9 }).map((d) => d.id),
    feed(t, later, { state: 10, scan: 9 }).map((d) => d.id),
  );
  const changes = again.takeChanges();
  assert.deepEqual(
    [...changes.keys()]
      .filter((k) => k.startsWith('state'))
      .map((k) => (k.split('\u0000').length === 2 ? 'head' : changes.get(k) === null ? 'deleted' : 'changed')),
    ['head', 'deleted'],
  );
});

test('a scan whose end never comes is given up after a day, releasing its hold', () => {
  const t = tracker();
  const unfinished = scan({ id: 'never-ends', time: '2026-11-23T10:00:00Z' }).slice(0, 3);
  feed(t, [...state(), ...unfinished]);
  assert.equal(t.heldOffsets().get('scan'), 0);
  const dayLater = new Date(Date.parse('2026-11-23T10:00:00Z') + ABANDONED_AFTER_MS + 60_000).toISOString();
  feed(t, scan({ id: 'next', time: dayLater }), { scan: 3 });
  assert.equal(t.heldOffsets().get('scan'), undefined, 'the abandoned scan is given up and the complete one holds nothing');
});
