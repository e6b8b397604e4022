/*
 * The evidence of a correlation as the engine writes it (processors/engine/correlator.ts), for tests
 * of what is made from it: `airdig explain`'s sentences, the notifications' texts.
 */
import type { Evidence } from '../../processors/explanations/sentences.js';

export const SG = 'arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0pay';
export const I1 = 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0pay1';

/** Evidence as the engine writes it for a revoked rule on payments' group and checkout's calls failing. */
export function evidence(over: Partial<Evidence> = {}): Evidence {
  return {
    change: {
      id: 'ct-1',
      kind: 'cloudtrail',
      time: '2026-12-02T10:02:00.000Z',
      actor: 'arn:aws:iam::123456789012:user/alice',
      event: 'RevokeSecurityGroupIngress',
      summary: '',
    },
    path: [
      { id: SG, name: 'payments', type: 'ec2:security-group', edge: '' },
      { id: I1, name: 'payments-1', type: 'ec2:instance', edge: 'member_of' },
      { id: 'service:shop/payments', name: 'payments', type: 'service', edge: 'runs_on' },
      { id: 'service:shop/checkout', name: 'checkout', type: 'service', edge: 'calls' },
    ],
    signal: {
      rule: 'edge_error_ratio',
      resource: 'service:shop/checkout',
      onset: '2026-12-02T10:04:00.000Z',
      status: 'critical',
      reason: 'as the caller: checkout → payments errors 31 % (62 of 200 calls), baseline 0.4 %',
      value: 0.31,
      threshold: 0.05,
      labels: { client_id: 'service:shop/checkout', server_id: 'service:shop/payments', role: 'client', baseline: '0.004' },
    },
    ...over,
  };
}
