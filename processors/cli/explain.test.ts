import assert from 'node:assert/strict';
import { test } from 'node:test';
import { arrayParam, table } from './explain.js';
import { causeText, chainSentence, parseDuration, signalText } from '../explanations/sentences.js';
import { I1, evidence } from '../../tests/helpers/evidence.js';

test('a chain in words: who changed what, the path to the impact with each edge, the signal before and after, the score', () => {
  assert.equal(
    chainSentence(evidence(), 0.912, ['payments-1', 'payments-2']),
    '10:02:00 alice RevokeSecurityGroupIngress on sg-0pay (security group of payments-1, payments-2, where payments runs, called by checkout)' +
      ' → 10:04:00 checkout → payments errors 0.4 % → 31 % → checkout critical; score 0.91',
  );
  // Without siblings the instance the walk went through is named.
  assert.match(causeText(evidence()), /\(security group of payments-1, where payments runs, called by checkout\)$/);
});

test('other edges, kinds and signals: reverse edges, a deploy by its summary, a signal without a baseline, a metric rule by its reason', () => {
  const volume = evidence({
    change: { id: 'ct-2', kind: 'cloudtrail', time: '2026-12-02T10:00:00Z', actor: 'bob', event: 'DetachVolume', summary: '' },
    path: [
      { id: 'arn:aws:ec2:eu-west-1:1:volume/vol-1', name: '', type: 'ec2:volume', edge: '' },
      { id: I1, name: 'payments-1', type: 'ec2:instance', edge: 'attached_to' },
    ],
  });
  assert.equal(causeText(volume), '10:00:00 bob DetachVolume on vol-1 (attached to payments-1)');
  const deploy = evidence({
    change: { id: 'd-1', kind: 'deploy', time: '2026-12-02T10:03:00Z', actor: '', event: 'deploy', summary: 'payments 1.4.2 → 1.5.0' },
    path: [{ id: 'service:shop/payments', name: 'payments', type: 'service', edge: '' }],
  });
  assert.equal(causeText(deploy), '10:03:00 payments 1.4.2 → 1.5.0 on payments');
  const fresh = evidence();
  fresh.signal.labels = { client_id: 'service:shop/checkout', server_id: 'service:shop/payments' };
  assert.equal(signalText(fresh), '10:04:00 checkout → payments errors 31 % → checkout critical');
  const down = evidence();
  down.signal = { ...down.signal, rule: 'target_down', reason: 'up == 0 on 10.0.1.31:9100', labels: { job: 'node' } };
  assert.equal(signalText(down), '10:04:00 up == 0 on 10.0.1.31:9100 → checkout critical');
});

test('durations, tables and array parameters', () => {
  assert.equal(parseDuration('24h'), 86_400_000);
  assert.equal(parseDuration('1h30m'), 5_400_000);
  assert.equal(parseDuration('90s'), 90_000);
  for (const bad of ['', '24', 'h', '5x', '1.5h', '-1h', '0s']) assert.equal(parseDuration(bad), undefined, bad);
  assert.deepEqual(
    table(
      ['ID', 'STATUS', 'CAUSE'],
      [
        ['inc-1', 'open', 'a b'],
        ['inc-22', 'resolved', 'c'],
      ],
    ),
    ['ID      STATUS    CAUSE', 'inc-1   open      a b', 'inc-22  resolved  c'],
  );
  assert.equal(arrayParam(["it's", 'a\\b']), "['it\\'s','a\\\\b']");
});
