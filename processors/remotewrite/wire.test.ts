import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prometheus, io } from '../../protos/gen/prometheus.js';
import { fingerprint, walkRemoteWrite, type SeriesView } from './wire.js';

function v1(labels: [string, string][], value = 1): Uint8Array {
  return prometheus.WriteRequest.encode({
    timeseries: [{ labels: labels.map(([name, value]) => ({ name, value })), samples: [{ value, timestamp: 1_700_000_000_000 }] }],
  }).finish();
}

function v2(labels: [string, string][], extraSymbols: string[] = []): Uint8Array {
  const symbols = ['', ...extraSymbols];
  const ref = (s: string) => (symbols.includes(s) ? symbols.indexOf(s) : symbols.push(s) - 1);
  const labelsRefs = labels.flatMap(([n, v]) => [ref(n), ref(v)]);
  return io.prometheus.write.v2.Request.encode({ symbols, timeseries: [{ labelsRefs, samples: [{ value: 1, timestamp: 1_700_000_000_000 }] }] }).finish();
}

const walk = (body: Uint8Array, version: '1.0' | '2.0') => {
  const out: SeriesView[] = [];
  walkRemoteWrite(body, version, true, (s) => out.push(s));
  return out;
};

const LABELS: [string, string][] = [
  ['__name__', 'http_requests_total'],
  ['instance', 'web-1:8080'],
  ['job', 'web'],
  ['path', '/ünïcode'],
];

test('series identity: the same label bytes give the same identity (labels, fingerprint, map) in every walk and in both versions', () => {
  const [a] = walk(v1(LABELS, 1), '1.0');
  const [b] = walk(v1(LABELS, 2), '1.0');
  assert.ok(a!.identity && a!.identity === b!.identity, 'one identity for one series');
  assert.deepEqual(a!.labels, LABELS);
  assert.equal(a!.identity.fingerprint, fingerprint(LABELS));
  assert.equal(a!.identity.metric, 'http_requests_total');
  assert.deepEqual(a!.identity.labelMap, Object.fromEntries(LABELS));
  // 2.0 refers to the same strings through a symbol table that differs per request.
  const [c] = walk(v2(LABELS, ['unrelated']), '2.0');
  const [d] = walk(v2(LABELS), '2.0');
  assert.equal(c!.identity, a!.identity);
  assert.equal(d!.identity, a!.identity);
  assert.equal(c!.target, a!.target);
});

test('series identity: one changed byte is another series; a remembered series does not excuse a bad one', () => {
  const [a] = walk(v1(LABELS), '1.0');
  const other: [string, string][] = LABELS.map(([n, v]) => [n, n === 'job' ? 'wec' : v]);
  const [b] = walk(v1(other), '1.0');
  assert.notEqual(a!.identity, b!.identity);
  assert.notEqual(a!.identity!.fingerprint, b!.identity!.fingerprint);
  assert.notEqual(a!.target, b!.target);
  // Name and value boundaries are part of the key: ("ab","c") is not ("a","bc").
  const [x] = walk(
    v1([
      ['__name__', 'm'],
      ['ab', 'c'],
    ]),
    '1.0',
  );
  const [y] = walk(
    v1([
      ['__name__', 'm'],
      ['a', 'bc'],
    ]),
    '1.0',
  );
  assert.notEqual(x!.identity, y!.identity);
  // Unsorted, duplicate, or not UTF-8: refused every time, even with its valid neighbours remembered.
  for (let i = 0; i < 2; i++) {
    assert.throws(() => walk(v1([LABELS[1]!, LABELS[0]!]), '1.0'), /not sorted/);
    assert.throws(() => walk(v1([LABELS[0]!, LABELS[0]!]), '1.0'), /duplicate label name/);
    const bad = Buffer.from(
      v1([
        ['__name__', 'm'],
        ['x', 'ok'],
      ]),
    );
    bad[bad.indexOf('ok')] = 0xc3;
    assert.throws(() => walk(bad, '1.0'), /not valid UTF-8/);
  }
});
