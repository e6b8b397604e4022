import { createHash } from 'node:crypto';
import { Holds, partitionKey, type HeldOffsets, type Origin } from '../runtime/pipeline/holds.js';
import type { HealthFact } from '../model/health.js';
import { EwmaDetector } from '../detectors/ewma.js';
import { holds, type AnomalyConfig, type Rule, type Selector } from './rules.js';

/** A runtime event (Falco) that marks a resource unhealthy until it has been quiet for a while. */
export interface RuntimeEvent {
  resource: string;
  rule: string;
  /** Undefined for events below warning: they only move the partition's event time. */
  severity: 'warning' | 'critical' | undefined;
  ts: number;
  reason: string;
  labels: Record<string, string>;
}

interface RuleState {
  firing: boolean;
  /** Consecutive observations against the current state (toward a change). */
  streak: number;
  severity: 'warning' | 'critical';
  reason: string;
  resource: string;
}

/**
 * A rule state as the changelog keeps it (key: the state's key), with what its rule needs besides:
 * a firing anomaly's detector (its baseline does not move while it is anomalous) and a runtime
 * rule's quiet timer.
 */
export interface StoredRuleState extends RuleState {
  detector?: { n: number; mean: number; variance: number; anomalous: boolean };
  quiet?: QuietTimer;
}

type Role = 'sample' | 'numerator' | 'denominator' | 'bucket' | 'increase';

/** A rule's interest in one metric name. */
interface Binding {
  rule: Rule;
  role: Role;
  match: [string, string][];
  matchRe: [string, RegExp][];
}

/** A label's value by its Prometheus name, also when it came from OTLP spelled with dots. */
function label(labels: Record<string, string>, name: string): string {
  const v = labels[name];
  if (v !== undefined) return v;
  for (const k in labels) if (promName(k) === name) return labels[k]!;
  return '';
}

interface Counter {
  last: number;
  inc: number;
  le: number;
}

/** What one windowed rule has gathered about one resource in the current window. */
interface WindowAgg {
  rule: Rule;
  resource: string;
  numerator: Map<string, Counter>;
  denominator: Map<string, Counter>;
}

/** The current window of one topic partition, by record time. */
interface PartitionWindow {
  index: number;
  /** The record that opened it: replaying from there rebuilds it exactly. */
  first: Origin | undefined;
  aggs: Map<string, WindowAgg>;
}

export interface QuietTimer {
  part: string;
  last: number;
  event: RuntimeEvent;
}

const RANK = { healthy: 0, warning: 1, critical: 2 } as const;
/**
 * A sample may be this far ahead of its record's time when it cuts windows (a clock running fast,
 * or a bad timestamp): further, it counts as this far, so one bad sample cannot move a partition's
 * window into the future and leave it unjudged.
 */
export const MAX_FUTURE_MS = 10 * 60_000;
const ANOMALY = 'anomaly\u0000';

/** Prometheus' name for an OpenTelemetry metric name: characters outside [a-zA-Z0-9_:] read as `_`. */
export function promName(name: string): string {
  return /^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(name) ? name : name.replace(/[^a-zA-Z0-9_:]/g, '_');
}

/**
 * Health of resources from their samples and runtime events: threshold rules (with for_samples on
 * both edges), windowed rules (ratio, quantile, increase), per-series anomaly detection and Falco
 * events. A fact is emitted only when a rule starts or stops firing, carrying the resource's worst
 * status after the change.
 *
 * Windows are cut per topic partition by the samples' own times (event time): a record is placed
 * by its first sample, belongs to the latest window its partition has reached, and opens
 * the next when it is past it, so replaying a partition from the record that opened a window
 * rebuilds that window exactly, whatever came before. Windows are bounded, so their opening records are
 * held uncommitted (heldOffsets). Rule states outlive windows: they are taken out as changes
 * (takeChanges) for the processor's changelog and put back with restore(); a record replayed after
 * a restart (beginRecord/event with replay) rebuilds windows but changes no rule state, since its
 * effects are in the restored states already.
 */
/** One observation of a rule's condition (see HealthEvaluator.#step). */
interface Step {
  /** The rule's state key: rule and series (or resource, for windowed rules). */
  key: string;
  rule: string;
  /** Whether the rule's condition holds for this observation. */
  condition: boolean;
  /** Consecutive observations that change the state. */
  forSamples: number;
  severity: 'warning' | 'critical';
  reason: string;
  resource: string;
  labels: Record<string, string>;
  ts: number;
  value: number;
  threshold: number;
}

export class HealthEvaluator {
  readonly #bindings = new Map<string, Binding[]>();
  readonly #anomaly: AnomalyConfig;
  readonly #anomalyMetrics: Set<string>;
  readonly #emit: (f: HealthFact) => void;
  readonly #states = new Map<string, RuleState>();
  /** Firing states per resource, to compute its overall status. */
  readonly #active = new Map<string, Map<string, RuleState>>();
  readonly #detectors = new Map<string, EwmaDetector>();
  readonly #maxSeries: number;
  readonly #windowMs: number;
  readonly #quietMs: number;
  readonly #windows = new Map<string, PartitionWindow>();
  /** The record in hand (beginRecord): its origin, the latest sample time it may be placed at, its window once placed. */
  #origin: Origin | undefined;
  #latest = Infinity;
  #recordWindow: PartitionWindow | undefined;
  /** Latest event time per partition, and the runtime events still firing. */
  readonly #eventTime = new Map<string, number>();
  readonly #quiet = new Map<string, QuietTimer>();
  /** Keys of the rule states changed since takeChanges(). */
  readonly #dirty = new Set<string>();
  /** The record in hand is replayed after a restart: its effects on rule states are restored already. */
  #replaying = false;

  /** Takes the health processor's validated config (its defaults live in healthConfigSchema). */
  constructor(options: {
    rules: readonly Rule[];
    anomaly: AnomalyConfig;
    emit: (f: HealthFact) => void;
    maxSeries: number;
    windowMs: number;
    quietMs: number;
  }) {
    this.#anomaly = options.anomaly;
    this.#anomalyMetrics = new Set(options.anomaly.metrics.map(promName));
    this.#emit = options.emit;
    this.#maxSeries = options.maxSeries;
    this.#windowMs = options.windowMs;
    this.#quietMs = options.quietMs;
    for (const rule of options.rules) {
      const bind = (names: string[], role: Role, s: Pick<Selector, 'match' | 'match_re'>, suffix = '') => {
        const b: Binding = { rule, role, match: Object.entries(s.match), matchRe: Object.entries(s.match_re).map(([k, re]) => [k, new RegExp(`^(?:${re})$`)]) };
        for (const n of names) {
          const key = promName(n) + suffix;
          const list = this.#bindings.get(key);
          if (list) list.push(b);
          else this.#bindings.set(key, [b]);
        }
      };
      if (rule.metric) bind(rule.metric, 'sample', rule);
      if (rule.ratio) {
        bind(rule.ratio.numerator.metric, 'numerator', rule.ratio.numerator);
        bind(rule.ratio.denominator.metric, 'denominator', rule.ratio.denominator);
      }
      if (rule.quantile) bind(rule.quantile.metric, 'bucket', rule.quantile, '_bucket');
      if (rule.increase) bind(rule.increase.metric, 'increase', rule.increase);
    }
  }

  /**
   * Starts one record of a partition; `ts` is its record time, which bounds how far in the future
   * its first sample may claim to be (MAX_FUTURE_MS) when it places the record in a window.
   */
  beginRecord(origin: Origin, ts: number, replay = false): void {
    this.#replaying = replay;
    this.#origin = origin;
    this.#latest = ts + MAX_FUTURE_MS;
    this.#recordWindow = undefined;
  }

  /**
   * Places the record in hand by the time of its first sample (event time): when that is past the
   * partition's window, the window is closed and judged first, and this record opens the next. The
   * whole record counts in one window — so replaying from the record that opened a window rebuilds
   * it exactly — and a late record counts in the window its partition has reached.
   */
  #place(ts: number): void {
    const origin = this.#origin;
    if (!origin) return;
    const part = partitionKey(origin.topic, origin.partition);
    const index = Math.floor(Math.min(ts, this.#latest) / this.#windowMs);
    let w = this.#windows.get(part);
    if (!w) {
      this.#windows.set(part, (w = { index, first: origin, aggs: new Map() }));
    } else if (index > w.index) {
      this.#closeWindow(w);
      w.index = index;
      w.first = origin;
      w.aggs = new Map();
    }
    this.#recordWindow = w;
  }

  /** One sample of a series. Stale markers are not data: they change nothing. */
  observe(labels: Record<string, string>, fingerprint: string, resource: string, ts: number, value: number, stale: boolean): void {
    if (!this.#recordWindow) this.#place(ts);
    if (stale || !resource) return;
    const raw = labels.__name__ ?? '';
    const metric = promName(raw);
    const bindings = this.#bindings.get(metric);
    if (bindings) {
      for (const b of bindings) {
        if (!b.match.every(([k, v]) => label(labels, k) === v) || !b.matchRe.every(([k, re]) => re.test(label(labels, k)))) continue;
        const rule = b.rule;
        if (b.role === 'sample') {
          this.#step({
            key: `${rule.name}\u0000${fingerprint}`,
            rule: rule.name,
            condition: holds(rule.op, value, rule.threshold),
            forSamples: rule.for_samples,
            severity: rule.severity,
            reason: rule.reason || `${raw} ${rule.op} ${rule.threshold}`,
            resource,
            labels,
            ts,
            value,
            threshold: rule.threshold,
          });
        } else {
          this.#count(b, labels, fingerprint, resource, value);
        }
      }
    }
    // Baselines are not stored (only a firing anomaly's): a replayed sample must not feed a restored one twice.
    if (this.#anomalyMetrics.has(metric) && !this.#replaying) {
      let d = this.#detectors.get(fingerprint);
      if (!d) {
        if (this.#detectors.size >= this.#maxSeries) return;
        this.#detectors.set(fingerprint, (d = new EwmaDetector(this.#anomaly)));
      }
      const mean = d.mean;
      const { change, z } = d.observe(value);
      if (change) {
        const reason =
          change === 'enter'
            ? `${raw} = ${value} is ${z.toFixed(1)} standard deviations from its baseline ${mean.toPrecision(4)}`
            : `${raw} back within its baseline`;
        this.#step({
          key: `${ANOMALY}${fingerprint}`,
          rule: 'anomaly',
          condition: change === 'enter',
          forSamples: 1,
          severity: this.#anomaly.severity,
          reason,
          resource,
          labels,
          ts,
          value,
          threshold: this.#anomaly.enter_z,
        });
      }
    }
  }

  /**
   * A runtime event: its rule fires on the resource at once and resolves after `quietMs` of event
   * time in the partition without another event of that rule on that resource.
   */
  event(e: RuntimeEvent, origin: Origin, replay = false): void {
    // Runtime rules have no window: a replayed event's effects are all in the restored states.
    if (replay) return;
    this.#replaying = false;
    const part = partitionKey(origin.topic, origin.partition);
    const now = Math.max(this.#eventTime.get(part) ?? -Infinity, e.ts);
    this.#eventTime.set(part, now);
    if (e.resource && e.severity) {
      const key = `runtime\u0000${e.rule}\u0000${e.resource}`;
      this.#step({
        key,
        rule: e.rule,
        condition: true,
        forSamples: 1,
        severity: e.severity,
        reason: e.reason,
        resource: e.resource,
        labels: e.labels,
        ts: e.ts,
        value: 1,
        threshold: 0,
      });
      const t = this.#quiet.get(key);
      if (t) t.last = Math.max(t.last, e.ts);
      else this.#quiet.set(key, { part, last: e.ts, event: e });
      this.#dirty.add(key);
    }
    for (const [key, t] of this.#quiet) {
      if (t.part !== part || t.last + this.#quietMs > now) continue;
      this.#quiet.delete(key);
      this.#dirty.add(key);
      const ev = t.event;
      this.#step({
        key,
        rule: ev.rule,
        condition: false,
        forSamples: 1,
        severity: ev.severity!,
        reason: `${ev.rule}: quiet for ${Math.round(this.#quietMs / 1000)} s`,
        resource: ev.resource,
        labels: ev.labels,
        ts: t.last + this.#quietMs,
        value: 0,
        threshold: 0,
      });
    }
  }

  /** Lowest offset per partition of a record an open window still needs: its first. */
  heldOffsets(): HeldOffsets {
    const held = new Holds();
    for (const w of this.#windows.values()) if (w.aggs.size) held.hold(w.first);
    return held.offsets;
  }

  /** The rule states changed since the last call, by key: the state to store, or null when it is gone. */
  takeChanges(): Map<string, StoredRuleState | null> {
    const out = new Map<string, StoredRuleState | null>();
    for (const key of this.#dirty) {
      const s = this.#states.get(key);
      if (!s) {
        out.set(key, null);
        continue;
      }
      const stored: StoredRuleState = { firing: s.firing, streak: s.streak, severity: s.severity, reason: s.reason, resource: s.resource };
      const d = key.startsWith(ANOMALY) ? this.#detectors.get(key.slice(ANOMALY.length)) : undefined;
      if (d && s.firing) stored.detector = { n: d.n, mean: d.mean, variance: d.variance, anomalous: d.anomalous };
      const q = this.#quiet.get(key);
      if (q) stored.quiet = q;
      out.set(key, stored);
    }
    this.#dirty.clear();
    return out;
  }

  /** Puts back rule states read from the changelog, before any record is handled. */
  restore(states: Iterable<[string, StoredRuleState]>): void {
    for (const [key, { detector, quiet, ...s }] of states) {
      this.#states.set(key, s);
      if (s.firing) {
        let active = this.#active.get(s.resource);
        if (!active) this.#active.set(s.resource, (active = new Map()));
        active.set(key, s);
      }
      if (detector && key.startsWith(ANOMALY)) this.#detectors.set(key.slice(ANOMALY.length), Object.assign(new EwmaDetector(this.#anomaly), detector));
      if (quiet) {
        this.#quiet.set(key, quiet);
        this.#eventTime.set(quiet.part, Math.max(this.#eventTime.get(quiet.part) ?? -Infinity, quiet.last));
      }
    }
  }

  /** Rule states held (firing, or on a streak toward a change). */
  get states(): number {
    return this.#states.size;
  }

  #count(b: Binding, labels: Record<string, string>, fingerprint: string, resource: string, value: number): void {
    const w = this.#recordWindow;
    if (!w) return;
    const key = `${b.rule.name}\u0000${resource}`;
    let agg = w.aggs.get(key);
    if (!agg) w.aggs.set(key, (agg = { rule: b.rule, resource, numerator: new Map(), denominator: new Map() }));
    const counters = b.role === 'denominator' ? agg.denominator : agg.numerator;
    const c = counters.get(fingerprint);
    if (!c) {
      const le = b.role === 'bucket' ? parseLe(labels.le) : 0;
      if (Number.isNaN(le)) return;
      counters.set(fingerprint, { last: value, inc: 0, le });
    } else {
      c.inc += value >= c.last ? value - c.last : value; // a drop is a counter reset
      c.last = value;
    }
  }

  #closeWindow(w: PartitionWindow): void {
    const end = (w.index + 1) * this.#windowMs;
    for (const agg of w.aggs.values()) {
      const rule = agg.rule;
      const value = windowValue(agg);
      if (value === undefined) continue;
      const metric = (rule.ratio?.numerator.metric ?? rule.quantile?.metric ?? rule.increase?.metric ?? [''])[0]!;
      const reason = rule.reason || `${rule.name} ${rule.op} ${rule.threshold}`;
      this.#step({
        key: `${rule.name}\u0000${agg.resource}`,
        rule: rule.name,
        condition: holds(rule.op, value, rule.threshold),
        forSamples: rule.for_samples,
        severity: rule.severity,
        reason,
        resource: agg.resource,
        labels: { __name__: metric },
        ts: end,
        value,
        threshold: rule.threshold,
      });
    }
  }

  /** One observation of a rule's condition for one key: counts it towards a change of state and emits the fact when the state changes. */
  #step(o: Step): void {
    const { key, rule, condition, forSamples, severity, reason, resource, labels, value, threshold } = o;
    // A fact is no later than its record's arrival allows (MAX_FUTURE_MS): a broken clock must not stamp the future.
    const ts = Math.min(o.ts, this.#latest);
    if (this.#replaying) return; // its effect is in the restored state already
    let s = this.#states.get(key);
    if (!s) {
      if (!condition) return; // healthy and never fired: nothing to remember
      s = { firing: false, streak: 0, severity, reason, resource };
      this.#states.set(key, s);
    }
    if (condition === s.firing) {
      if (s.streak === 0 && s.firing) return; // nothing changes
      this.#dirty.add(key);
      s.streak = 0;
      if (!s.firing) this.#states.delete(key);
      return;
    }
    this.#dirty.add(key);
    if (++s.streak < forSamples) return;
    s.streak = 0;
    s.firing = condition;
    s.reason = reason;
    let active = this.#active.get(resource);
    if (!active) this.#active.set(resource, (active = new Map()));
    if (s.firing) {
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

function parseLe(le: string | undefined): number {
  if (le === undefined) return NaN;
  if (le === '+Inf' || le === 'Inf' || le === 'inf') return Infinity;
  return Number(le);
}

function sumInc(m: Map<string, Counter>): number {
  let n = 0;
  for (const c of m.values()) n += c.inc;
  return n;
}

/** The judged value of a window: the ratio, the quantile or the increase; undefined below min_count. */
function windowValue(agg: WindowAgg): number | undefined {
  const rule = agg.rule;
  if (rule.ratio) {
    const den = sumInc(agg.denominator);
    if (den <= 0 || den < rule.min_count) return undefined;
    return sumInc(agg.numerator) / den;
  }
  if (rule.increase) return sumInc(agg.numerator);
  return histogramQuantile(rule.quantile!.q, agg.numerator, rule.min_count);
}

/**
 * PromQL's histogram_quantile over the window's bucket increases (summed per `le` across series):
 * linear interpolation inside the bucket holding the rank; the highest finite bound when the rank
 * falls in +Inf; undefined without a +Inf bucket or with fewer than minCount observations.
 */
export function histogramQuantile(q: number, buckets: Map<string, Counter>, minCount: number): number | undefined {
  const byLe = new Map<number, number>();
  for (const c of buckets.values()) byLe.set(c.le, (byLe.get(c.le) ?? 0) + c.inc);
  const les = [...byLe.keys()].sort((a, b) => a - b);
  if (les.at(-1) !== Infinity) return undefined;
  let cumulative = 0;
  const counts = les.map((le) => (cumulative = Math.max(cumulative, byLe.get(le)!))); // buckets are cumulative; keep them monotonic
  const total = counts.at(-1)!;
  if (total <= 0 || total < minCount) return undefined;
  const rank = q * total;
  const i = counts.findIndex((c) => c >= rank);
  if (les[i] === Infinity) return les.length > 1 ? les[les.length - 2] : undefined;
  const upper = les[i]!;
  const lower = i === 0 ? (upper > 0 ? 0 : upper) : les[i - 1]!;
  const below = i === 0 ? 0 : counts[i - 1]!;
  const inBucket = counts[i]! - below;
  return inBucket > 0 ? lower + ((upper - lower) * (rank - below)) / inBucket : upper;
}
