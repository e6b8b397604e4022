import { createHash } from 'node:crypto';
import { EwmaDetector, holds, type AnomalyConfig, type ThresholdRule } from './rules.js';

export interface HealthFact {
  id: string;
  ts_ms: number;
  resource_id: string;
  status: 'healthy' | 'warning' | 'critical';
  state: 'firing' | 'resolved';
  rule: string;
  reason: string;
  metric: string;
  value: number;
  threshold: number;
  labels: Record<string, string>;
}

export interface Origin {
  topic: string;
  partition: number;
  offset: number;
}

interface RuleState {
  firing: boolean;
  /** Consecutive samples against the current state (toward a change). */
  streak: number;
  severity: 'warning' | 'critical';
  reason: string;
  /** The record that made it fire: held uncommitted while it fires, so a restart replays it. */
  origin: Origin | undefined;
}

const RANK = { healthy: 0, warning: 1, critical: 2 } as const;

/**
 * Health of resources from their samples: threshold rules (with for_samples on both edges) and
 * per-series anomaly detection. A fact is emitted only when a rule starts or stops firing on a
 * series, carrying the resource's worst status after the change.
 */
export class HealthEvaluator {
  readonly #rules: readonly ThresholdRule[];
  readonly #anomaly: AnomalyConfig;
  readonly #emit: (f: HealthFact) => void;
  readonly #states = new Map<string, RuleState>();
  /** Firing states per resource, to compute its overall status. */
  readonly #active = new Map<string, Map<string, RuleState>>();
  readonly #detectors = new Map<string, EwmaDetector>();
  readonly #maxSeries: number;

  constructor(options: { rules: readonly ThresholdRule[]; anomaly: AnomalyConfig; emit: (f: HealthFact) => void; maxSeries?: number }) {
    this.#rules = options.rules;
    this.#anomaly = options.anomaly;
    this.#emit = options.emit;
    this.#maxSeries = options.maxSeries ?? 200_000;
  }

  /** One sample of a series. Stale markers are not data: they change nothing. */
  observe(labels: Record<string, string>, fingerprint: string, resource: string, ts: number, value: number, stale: boolean, origin?: Origin): void {
    if (stale || !resource) return;
    const metric = labels.__name__ ?? '';
    for (const rule of this.#rules) {
      if (rule.metric !== metric) continue;
      if (!Object.entries(rule.match).every(([k, v]) => labels[k] === v)) continue;
      this.#step(`${rule.name}\u0000${fingerprint}`, rule.name, holds(rule.op, value, rule.threshold), rule.for_samples, rule.severity, rule.reason || `${metric} ${rule.op} ${rule.threshold}`, resource, labels, ts, value, rule.threshold, origin);
    }
    if (this.#anomaly.metrics.includes(metric)) {
      let d = this.#detectors.get(fingerprint);
      if (!d) {
        if (this.#detectors.size >= this.#maxSeries) return;
        this.#detectors.set(fingerprint, (d = new EwmaDetector(this.#anomaly)));
      }
      const mean = d.mean;
      const { change, z } = d.observe(value);
      if (change) {
        const reason = change === 'enter' ? `${metric} = ${value} is ${z.toFixed(1)} standard deviations from its baseline ${mean.toPrecision(4)}` : `${metric} back within its baseline`;
        this.#step(`anomaly\u0000${fingerprint}`, 'anomaly', change === 'enter', 1, this.#anomaly.severity, reason, resource, labels, ts, value, this.#anomaly.enter_z, origin);
      }
    }
  }

  /** Lowest offset per "topic\0partition" of a record that opened a state still firing. */
  heldOffsets(): Map<string, number> {
    const held = new Map<string, number>();
    for (const s of this.#states.values()) {
      if (!s.firing || !s.origin) continue;
      const k = `${s.origin.topic}\u0000${s.origin.partition}`;
      const cur = held.get(k);
      if (cur === undefined || s.origin.offset < cur) held.set(k, s.origin.offset);
    }
    return held;
  }

  #step(key: string, rule: string, condition: boolean, forSamples: number, severity: 'warning' | 'critical', reason: string, resource: string, labels: Record<string, string>, ts: number, value: number, threshold: number, origin: Origin | undefined): void {
    let s = this.#states.get(key);
    if (!s) {
      if (!condition) return; // healthy and never fired: nothing to remember
      s = { firing: false, streak: 0, severity, reason, origin: undefined };
      this.#states.set(key, s);
    }
    s.streak = condition !== s.firing ? s.streak + 1 : 0;
    if (s.streak < forSamples) return;
    s.streak = 0;
    s.firing = condition;
    s.reason = reason;
    let active = this.#active.get(resource);
    if (!active) this.#active.set(resource, (active = new Map()));
    if (s.firing) {
      s.origin = origin;
      active.set(key, s);
    } else {
      active.delete(key);
      this.#states.delete(key);
      if (active.size === 0) this.#active.delete(resource);
    }
    let status: HealthFact['status'] = 'healthy';
    for (const a of active.values()) if (RANK[a.severity] > RANK[status]) status = a.severity;
    const state = condition ? 'firing' : 'resolved';
    const id = createHash('sha256').update(`${resource}\u0000${key}\u0000${ts}\u0000${state}`).digest('hex').slice(0, 32);
    this.#emit({ id, ts_ms: ts, resource_id: resource, status, state, rule, reason, metric: labels.__name__ ?? '', value, threshold, labels });
  }
}
