import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ScannerRecord } from '../model/inventory.js';
import { ScopeTracker } from './scopes.js';

const AT = 'scanner_resources\u00000';

function resource(scan: string, scope: string, id: string, rel?: string): ScannerRecord {
  return {
    kind: 'resource',
    scan_id: scan,
    scope,
    provider: 'aws',
    account: '1',
    region: 'r',
    seen_ms: 1,
    resource: {
      id,
      type: 'ec2:instance',
      account: '1',
      region: 'r',
      name: id,
      attributes: '{}',
      tags: {},
      aliases: [],
      relationships: rel ? [{ type: 'member_of', target: rel }] : [],
    },
    completeness: 'complete',
    types: [],
    errors: [],
    resource_count: 0,
  };
}
function end(scan: string, scope: string, completeness: ScannerRecord['completeness']): ScannerRecord {
  return { ...resource(scan, scope, 'x'), kind: 'scan_end', resource: null, completeness, seen_ms: 9 };
}

/** Feeds records at offsets 0, 1, …; returns the ids marked gone. */
function feed(t: ScopeTracker, records: ScannerRecord[], from = 0, replay = false): string[] {
  const gone: string[] = [];
  records.forEach((r, i) => {
    for (const x of t.observe(r, { at: AT, offset: from + i }, replay)) if (x.gone) gone.push(x.kind === 'node' ? x.id : `${x.id}->${x.dst}`);
  });
  return gone;
}

/** What the changelog holds after these changes. */
function changelog(...changes: Map<string, string | number | null>[]): Map<string, string | number> {
  const out = new Map<string, string | number>();
  for (const c of changes) {
    for (const [k, v] of c) {
      if (v === null) out.delete(k);
      else out.set(k, v);
    }
  }
  return out;
}

test('a complete scan removes what it no longer saw in its scope only; partial and failed scans remove nothing', () => {
  const t = new ScopeTracker();
  const log = [
    resource('s1', 'A', 'a1', 'vpc'),
    resource('s1', 'A', 'a2'),
    end('s1', 'A', 'complete'), // 0..2
    resource('s2', 'B', 'b1'),
    end('s2', 'B', 'complete'), // 3..4
  ];
  assert.deepEqual(feed(t, log), []);
  assert.deepEqual(feed(t, [resource('s3', 'A', 'a1'), end('s3', 'A', 'failed')], 5), [], 'a failed scan removes nothing');
  assert.deepEqual(feed(t, [end('s4', 'A', 'partial')], 7), [], 'an empty partial scan removes nothing');
  assert.equal(t.heldOffsets().size, 0, 'what a scope holds is stored, not held');
  assert.deepEqual(feed(t, [resource('s5', 'A', 'a2'), end('s5', 'A', 'complete')], 8), ['a1', 'a1->vpc'], 'scope B untouched');
  assert.deepEqual(feed(t, [resource('s7', 'B', 'b2')], 10), []);
  assert.deepEqual(t.heldOffsets(), new Map([[AT, 10]]), 'a scan under way holds its first record');
  t.observe(end('s7', 'B', 'complete'), { at: AT, offset: 11 });
  assert.equal(t.heldOffsets().size, 0);
  assert.deepEqual(feed(t, [end('s6', 'B', 'complete')], 12), ['b2'], 'a complete scan that saw nothing: everything in its scope is gone');
});

test('changes: a complete scan stores what it saw and deletes what is gone; a partial one adds', () => {
  const t = new ScopeTracker();
  feed(t, [resource('s1', 'A', 'a1', 'vpc'), resource('s1', 'A', 'a2'), end('s1', 'A', 'complete')]);
  assert.deepEqual(
    t.takeChanges(),
    new Map<string, string | number | null>([
      ['n\u0000A\u0000a1', 'ec2:instance'],
      ['n\u0000A\u0000a2', 'ec2:instance'],
      ['e\u0000A\u0000a1\u0000member_of\u0000vpc', 1],
    ]),
  );
  feed(t, [resource('s2', 'A', 'a3'), end('s2', 'A', 'partial')], 3);
  assert.deepEqual(t.takeChanges(), new Map([['n\u0000A\u0000a3', 'ec2:instance']]));
  feed(t, [resource('s3', 'A', 'a2'), end('s3', 'A', 'complete')], 5);
  assert.deepEqual(
    t.takeChanges(),
    new Map([
      ['n\u0000A\u0000a1', null],
      ['n\u0000A\u0000a3', null],
      ['e\u0000A\u0000a1\u0000member_of\u0000vpc', null],
    ]),
  );
});

test('a restart restores what each scope holds and replays the scan under way from its held record', () => {
  const log = [resource('s1', 'A', 'a1'), resource('s1', 'A', 'a2'), end('s1', 'A', 'complete'), resource('s2', 'A', 'a2'), resource('s2', 'A', 'a3')];
  const t = new ScopeTracker();
  feed(t, log);
  const held = t.heldOffsets().get(AT)!;
  assert.equal(held, 3, 'the scan under way, not the complete one before it');
  const restarted = new ScopeTracker();
  restarted.restore(changelog(t.takeChanges()));
  assert.deepEqual(feed(restarted, log.slice(held), held, true), []);
  const rest = end('s2', 'A', 'complete');
  assert.deepEqual(feed(restarted, [rest], 5), ['a1']);
  assert.deepEqual(feed(t, [rest], 5), ['a1']);
  assert.deepEqual(feed(new ScopeTracker(), [rest]), [], 'without the restored scope nothing would be known gone');
});
