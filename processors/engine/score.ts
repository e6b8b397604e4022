/*
 * How much a change is likely to have caused a signal, from what is known of both. Each factor is
 * in [0, 1]; the score is their product, revised by how many other candidates compete (see README).
 */
import type { CauseKind } from '../model/correlations.js';

/** CloudTrail event names by how much they change what depends on the resource. */
const HEAVY = [
  /SecurityGroup(Ingress|Egress|Rules)/, // RevokeSecurityGroupIngress, AuthorizeSecurityGroupEgress, ModifySecurityGroupRules
  /^(Stop|Terminate|Reboot|Hibernate)Instances$/,
  /^(Modify|Reboot|Delete|Stop|Failover)DB(Instance|Cluster)/,
  /^(Replace|Delete|Create)Route$|^ReplaceRouteTableAssociation$|^(Disassociate|Replace)NetworkAcl/,
  /^(Deregister|Register)Targets$|^(Modify|Delete)(Listener|Rule|TargetGroup|LoadBalancer)/,
  /^Update(FunctionCode|FunctionConfiguration|Service|ClusterConfig|NodegroupConfig)/,
  /^(Put|Delete|Detach|Attach)(Role|User|Group)?Policy$|^UpdateAssumeRolePolicy$|^PutBucketPolicy$|^PutKeyPolicy$/,
  /^(Detach|Attach|Delete)(Volume|NetworkInterface)$|^ModifyNetworkInterfaceAttribute$|^ModifyInstanceAttribute$/,
  /^(Disable|ScheduleKeyDeletion)/,
];
const LIGHT = [/Tag/, /^(Put|Delete)BucketTagging$/, /^Describe|^Get|^List/];

/** The weight of a change by what it is: 1 for what breaks things, 0.15 for labels. */
export function kindWeight(kind: CauseKind, eventName: string, driftKind = ''): number {
  if (kind === 'deploy') return 1;
  if (kind === 'change_api') return 0.85;
  if (kind === 'drift') return driftKind === 'missing' ? 0.9 : driftKind === 'unmanaged' ? 0.3 : 0.6;
  if (HEAVY.some((re) => re.test(eventName))) return 1;
  if (LIGHT.some((re) => re.test(eventName))) return 0.15;
  return 0.6;
}

/** Closer in time is likelier: e^(-Δt/decay); Δt ≥ 0 (a change after the onset is never a candidate). */
export const timeFactor = (deltaMs: number, decayMs: number): number => Math.exp(-Math.max(0, deltaMs) / decayMs);

/** Each hop away from the impacted resource keeps 90 %: 0.9^hops. */
export const distanceFactor = (hops: number): number => 0.9 ** hops;

/** A critical signal says more than a warning. */
export const signalFactor = (status: string): number => (status === 'critical' ? 1 : 0.85);

/** The weight before competition: product of the factors. */
export function rawScore(f: { kind: number; time: number; distance: number; signal: number }): number {
  return f.kind * f.time * f.distance * f.signal;
}

/**
 * Scores of a signal's candidates once they compete: each raw score times (0.7 + 0.3 × its share of
 * all the signal's raw scores). Alone, a candidate keeps its raw score; of two equals, each keeps
 * 85 % of it, of many less; a weak candidate beside a strong one barely moves the strong one.
 */
export function competed(raw: readonly number[]): number[] {
  const sum = raw.reduce((a, b) => a + b, 0);
  return raw.map((r) => (sum > 0 ? Math.min(1, r * (0.7 + (0.3 * r) / sum)) : 0));
}

/** Claims: scores of this much and more. */
export const CLAIM = 0.5;
