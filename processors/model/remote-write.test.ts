import assert from 'node:assert/strict';
import { test } from 'node:test';
import { prometheus, io } from '../../protos/gen/prometheus.js';
import { fingerprint, walkRemoteWrite, walkRemoteWriteColumns, type SeriesView } from './remote-write.js';

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

test('a columns walk gives the samples of a decoded walk, as columns, with the same identities, counts and other values', () => {
  const STALE = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x7f]);
  const sentinel = 123.25;
  const many = Array.from({ length: 150 }, (_, k) => ({
    value: k === 7 ? sentinel : k * 0.5 - 3,
    timestamp: 1_700_000_000_000 + k * 1000 - (k === 3 ? 2e12 : 0),
  }));
  const v1Body = Buffer.from(
    prometheus.WriteRequest.encode({
      timeseries: [
        { labels: LABELS.map(([name, value]) => ({ name, value })), samples: many },
        { labels: [{ name: '__name__', value: 'one' }], samples: [{ value: NaN, timestamp: -5 }] },
        {
          labels: [{ name: '__name__', value: 'h' }],
          histograms: [{ countInt: 2, sum: 1, schema: 0, zeroThreshold: 0, timestamp: 5 }],
          exemplars: [{ labels: [{ name: 'trace_id', value: 't' }], value: 1, timestamp: 5 }],
        },
      ],
    }).finish(),
  );
  const sentinelBytes = Buffer.alloc(8);
  sentinelBytes.writeDoubleLE(sentinel);
  STALE.copy(v1Body, v1Body.indexOf(sentinelBytes));
  const symbols = ['', '__name__', 'm2', 'job', 'x'];
  const v2Body = io.prometheus.write.v2.Request.encode({
    symbols,
    timeseries: [
      { labelsRefs: [1, 2, 3, 4], samples: many.slice(0, 70) },
      { labelsRefs: [1, 2], samples: [{ value: Infinity, timestamp: 9 }] },
    ],
  }).finish();
  for (const [body, version] of [
    [v1Body, '1.0'],
    [v2Body, '2.0'],
  ] as const) {
    const decoded = walk(body, version);
    const got: { identity: unknown; histograms: unknown; exemplars: unknown; samples: { value: number; timestamp: number; stale: boolean }[] }[] = [];
    const result = walkRemoteWriteColumns(body, version, (s, c) => {
      assert.equal(s.sampleValues, undefined);
      const samples = [];
      for (let k = 0; k < c.count; k++) samples.push({ value: c.values[k]!, timestamp: c.timestamps[k]!, stale: c.stale[k] === 1 });
      got.push({ identity: s.identity, histograms: s.histogramValues, exemplars: s.exemplarValues, samples });
    });
    assert.equal(result.series, decoded.length, version);
    assert.equal(
      result.samples,
      decoded.reduce((n, s) => n + s.samples, 0),
    );
    decoded.forEach((s, i) => {
      assert.equal(got[i]!.identity, s.identity, `${version} series ${i}: the same identity`);
      assert.deepEqual(got[i]!.samples, s.sampleValues, `${version} series ${i}: the same samples`);
      assert.deepEqual(got[i]!.histograms, s.histogramValues);
      assert.deepEqual(got[i]!.exemplars, s.exemplarValues);
    });
    assert.ok(got.some((s) => s.samples.some((x) => x.stale)) === (version === '1.0'), `${version}: the stale marker`);
  }
});

test('a body changed in place after a walk is walked as what it now says, not as the bytes remembered from it', () => {
  const body = Buffer.from(v1(LABELS));
  const [a] = walk(body, '1.0');
  body[body.indexOf('web-1')] = 'x'.charCodeAt(0);
  const [b] = walk(body, '1.0');
  assert.notEqual(b!.identity, a!.identity);
  assert.equal(b!.identity!.labelMap.instance, 'xeb-1:8080');
});

test('label bytes compared 8 at a time: keys whose words read as NaN are found again, and told apart when they differ', () => {
  // Label text keys are name 0xff value 0xff …: with an empty value at bytes 14–15 the word of bytes 8–15
  // ends in 0xff 0xff, a NaN as a double.
  const withEmpty = (name: string): [string, string][] => [
    ['__name__', 'm'],
    [name, ''],
  ];
  for (const version of ['1.0', '2.0'] as const) {
    const body = (name: string, extra: string[]) => (version === '1.0' ? v1(withEmpty(name)) : v2(withEmpty(name), extra));
    const [a] = walk(body('abc', ['u']), version);
    walk(v1(LABELS), '1.0');
    walk(v2(LABELS), '2.0'); // the series at index 0 is another one: no hint helps, the key is looked up
    const [again] = walk(body('abc', ['v', 'w']), version);
    const [other] = walk(body('abd', []), version);
    assert.equal(again!.identity, a!.identity, `${version}: found again`);
    assert.notEqual(other!.identity, a!.identity, `${version}: another series`);
    assert.deepEqual(other!.labels, withEmpty('abd'));
  }
});

test('2.0: a series at the same index with the same labels_refs under other symbols is identified by its symbols', () => {
  const body = (symbols: string[], refs: number[]) =>
    io.prometheus.write.v2.Request.encode({ symbols, timeseries: [{ labelsRefs: refs, samples: [{ value: 1, timestamp: 1 }] }] }).finish();
  const [a] = walk(body(['', '__name__', 'up', 'job', 'a'], [1, 2, 3, 4]), '2.0');
  const [same] = walk(body(['', '__name__', 'up', 'job', 'a'], [1, 2, 3, 4]), '2.0');
  const [b] = walk(body(['', '__name__', 'up', 'job', 'b'], [1, 2, 3, 4]), '2.0');
  const [c] = walk(body(['', '__name__', 'down', 'job', 'b'], [1, 2, 3, 4]), '2.0');
  const [a2] = walk(body(['', 'a', 'up', 'job', '__name__'], [4, 2, 3, 1]), '2.0');
  assert.equal(same!.identity, a!.identity);
  assert.deepEqual(b!.labels, [
    ['__name__', 'up'],
    ['job', 'b'],
  ]);
  assert.deepEqual(c!.labels, [
    ['__name__', 'down'],
    ['job', 'b'],
  ]);
  assert.equal(a2!.identity, a!.identity, 'other refs to the same text');
  assert.throws(() => walk(body(['', '__name__', 'up', 'job'], [1, 2, 3, 4]), '2.0'), /symbol reference 4 is out of range/);
});
