import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScannerRecord } from '../inventory/records.js';
import { ScopeTracker } from './scopes.js';

const AT = 'scanner_resources\u00000';

function resource(scan: string, scope: string, id: string, rel?: string): ScannerRecord {
  return {
    kind: 'resource', scan_id: scan, scope, provider: 'aws', account: '1', region: 'r', seen_ms: 1,
    resource: { id, type: 'ec2:instance', account: '1', region: 'r', name: id, attributes: '{}', tags: {}, aliases: [], relationships: rel ? [{ type: 'member_of', target: rel }] : [] },
    completeness: 'complete', types: [], errors: [], resource_count: 0,
  };
}
function end(scan: string, scope: string, completeness: ScannerRecord['completeness']): ScannerRecord {
  return { ...resource(scan, scope, 'x'), kind: 'scan_end', resource: null, completeness, seen_ms: 9 };
}

/** Feeds records at offsets 0, 1, …; returns the ids marked gone. */
function feed(t: ScopeTracker, records: ScannerRecord[], from = 0): string[] {
  const gone: string[] = [];
  records.forEach((r, i) => {
    for (const x of t.observe(r, { at: AT, offset: from + i })) if (x.gone) gone.push(x.kind === 'node' ? x.id : `${x.id}->${x.dst}`);
  });
  return gone;
}

test('a complete scan removes what it no longer saw in its scope only; partial and failed scans remove nothing', () => {
  const t = new ScopeTracker();
  const log = [
    resource('s1', 'A', 'a1', 'vpc'), resource('s1', 'A', 'a2'), end('s1', 'A', 'complete'), // 0..2
    resource('s2', 'B', 'b1'), end('s2', 'B', 'complete'), // 3..4
  ];
  assert.deepEqual(feed(t, log), []);
  assert.deepEqual(feed(t, [resource('s3', 'A', 'a1'), end('s3', 'A', 'failed')], 5), [], 'a failed scan removes nothing');
  assert.deepEqual(feed(t, [end('s4', 'A', 'partial')], 7), [], 'an empty partial scan removes nothing');
  assert.deepEqual(t.heldOffsets(), new Map([[AT, 0]]), 'the belief rests on the complete scan s1 and the partial ones since');
  assert.deepEqual(feed(t, [resource('s5', 'A', 'a2'), end('s5', 'A', 'complete')], 8), ['a1', 'a1->vpc'], 'scope B untouched');
  assert.deepEqual(t.heldOffsets(), new Map([[AT, 3]]), 'scope A now rests on s5 (offset 8), scope B on s2 (offset 3)');
  assert.deepEqual(feed(t, [end('s6', 'B', 'complete')], 10), ['b1'], 'a complete scan that saw nothing: everything in its scope is gone');
});

test('rollback puts back what a failed batch changed, so its redelivery marks the same things gone', () => {
  const t = new ScopeTracker();
  feed(t, [resource('s1', 'A', 'a1'), end('s1', 'A', 'complete')]);
  t.begin();
  const batch = [resource('s2', 'A', 'a2'), end('s2', 'A', 'complete')];
  assert.deepEqual(feed(t, batch, 2), ['a1']);
  t.rollback();
  t.begin();
  assert.deepEqual(feed(t, batch, 2), ['a1']);
});

test('a restart that replays from the held offset rebuilds the same belief', () => {
  const log = [resource('s1', 'A', 'a1'), resource('s1', 'A', 'a2'), end('s1', 'A', 'complete'), resource('s2', 'A', 'a2'), resource('s2', 'A', 'a3')];
  const t = new ScopeTracker();
  feed(t, log);
  const held = t.heldOffsets().get(AT)!;
  assert.equal(held, 0);
  const restarted = new ScopeTracker();
  feed(restarted, log.slice(held), held);
  const rest = end('s2', 'A', 'complete');
  assert.deepEqual(feed(restarted, [rest], 5), feed(t, [rest], 5));
  assert.deepEqual(feed(new ScopeTracker(), [rest]), [], 'without the replay nothing would be known gone');
});
