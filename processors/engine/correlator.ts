import { createHash } from 'node:crypto';
import type { ChangeEvent } from '../model/changes.js';
import type { DriftEvent } from '../model/drift.js';
import type { HealthFact } from '../model/health.js';
import type { TopologyRecord } from '../model/topology.js';
import type { CauseKind, Correlation, Incident, RankedCause } from '../model/correlations.js';
import { Graph, pathOf, type Hop, type Reached } from './graph.js';
import { CLAIM, competed, distanceFactor, kindWeight, rawScore, signalFactor, timeFactor } from './score.js';
import { shortActor } from '../identity/aws.js';
import { OldestFirst } from './oldest.js';

export interface CorrelatorOptions {
  /** How long before a signal's onset a change is a candidate. */
  windowMs: number;
  /** How long after its onset (event time) a signal still takes changes that arrive late. */
  lateMs: number;
  /** Time decay of the time factor. */
  decayMs: number;
  maxHops: number;
  /** Nodes one walk may visit. */
  maxNodes: number;
  /** Signals further apart than this (onsets) are not one incident. */
  incidentGapMs: number;
  maxSignals: number;
  maxCauses: number;
  /** A correlation row carries its cause's rank in the incident up to this; further down, 0 (a shift among them is no new row). */
  maxRank: number;
}

/** A possible cause: a change or a drift, on the canonical resources it touched. */
interface Cause {
  id: string;
  kind: CauseKind;
  ts: number;
  resources: string[];
  /** The ids it is found by: its resources as given and as the graph resolved them when it came. */
  keys: string[];
  weight: number;
  /** For the evidence: who, what. */
  actor: string;
  event: string;
  summary: string;
  /** A drift's CloudTrail cause: the two are one cause, the change's. */
  causeEventId: string;
  /** The watermark once it was read: whether it came in time for a signal's late window. */
  arrived: number;
}

/** A fired health fact: the impact whose causes are sought. */
interface Signal {
  id: string;
  /** resource \0 rule: what resolves it. */
  key: string;
  resource: string;
  rule: string;
  status: string;
  onset: number;
  reason: string;
  value: number;
  threshold: number;
  /** The fact's labels (an edge signal's client, server, calls and baseline; a series' labels): evidence for the explanations. */
  labels: Record<string, string>;
  resolvedMs: number;
  /** The watermark once it was read (a signal read late still takes the causes there before it). */
  arrived: number;
  /** Its scored candidates, as last evaluated. */
  candidates: Candidate[];
  /** What it depends on (the last walk), the keys that walk looked up, and where it started (its canonical resource). */
  reach: Map<string, Reached> | undefined;
  watch: Set<string>;
  at: string;
  /** The causes it claims (score ≥ CLAIM): signals claiming one cause are one incident. */
  claims: Set<string>;
  /** The walk must be made again (the graph moved under it). */
  stale: boolean;
  /** Its candidates must be scored again (a cause came, the walk moved, it resolved). */
  dirty: boolean;
}

interface Candidate {
  cause: Cause;
  /** The node of the cause on the walk, and how it was reached. */
  resource: string;
  reached: Reached;
  raw: number;
  score: number;
  factors: { kind: number; time: number; distance: number; signal: number };
  /** The incident and rank its row was last built with: the same again sends nothing. */
  sent?: string;
}

const hash = (...parts: string[]) => createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);

/**
 * The engine's state and reasoning: the graph, the causes within the window, the open signals and
 * the incidents they form. Feed it records in any order (topology, calls, changes, drift, health);
 * evaluate() gives the correlation and incident rows that changed since the last call, with
 * deterministic ids. Every time is a record's own: what a row says depends on the records and the
 * order they were read in, never on the wall clock or on how they were cut into batches (the
 * revision time given to evaluate() only stamps the rows).
 *
 * Its state beyond the graph — the causes, the signals (with the incident each was last in) and
 * the watermark — is what stateChanges() hands out for a changelog and restoreState() takes back,
 * so that a restarted engine goes on from exactly where it was.
 */
export class Correlator {
  readonly graph = new Graph();
  readonly #o: CorrelatorOptions;
  readonly #causes = new Map<string, Cause>();
  /** canonical resource id → causes on it. */
  readonly #byResource = new Map<string, Set<Cause>>();
  readonly #signals = new Map<string, Signal>();
  /** Open (not resolved) signal per resource \0 rule. */
  readonly #open = new Map<string, Signal>();
  /** Indexes of the signals' walks: a node → the signals whose walk reached it; a key → the signals whose walk looked it up; a canonical resource → the signals on it; a cause → the signals claiming it. */
  readonly #reachers = new Map<string, Set<Signal>>();
  readonly #watchers = new Map<string, Set<Signal>>();
  readonly #on = new Map<string, Set<Signal>>();
  readonly #claimers = new Map<string, Set<Signal>>();
  /** The incidents as last formed, by id; signals whose incident must be formed again. */
  readonly #groups = new Map<string, Signal[]>();
  readonly #regroup = new Set<Signal>();
  #critical = { version: -1, of: new Map<string, number>() };
  /** What was last emitted per row id, to send only what changed. */
  readonly #emitted = new Map<string, string>();
  /** Incident ids emitted, by signal: a signal that moves to another incident leaves a "merged" behind. */
  readonly #incidentOf = new Map<string, string>();
  #watermark = 0;
  /** State keys (cause\0id, signal\0id, watermark) changed since stateChanges() was last called. */
  readonly #changed = new Set<string>();
  /** The oldest signal and cause, for eviction when max_signals / max_causes is reached. */
  readonly #oldestSignal = new OldestFirst<Signal>();
  readonly #oldestCause = new OldestFirst<Cause>();
  /** Counts, for metrics. */
  readonly stats = { unresolvedSignals: 0, unresolvedCauses: 0, evictedSignals: 0, evictedCauses: 0, walks: 0, evaluations: 0, regrouped: 0 };

  constructor(o: CorrelatorOptions) {
    this.#o = o;
  }

  get watermark(): number {
    return this.#watermark;
  }

  get openSignals(): number {
    return this.#signals.size;
  }

  get causes(): number {
    return this.#causes.size;
  }

  /** How much it holds, for metrics and the benchmark: every map that must stay bounded. */
  sizes(): Record<string, number> {
    let watched = 0;
    let walks = 0;
    let keys = 0;
    for (const s of this.#signals.values())
      if (s.reach) {
        walks++;
        watched += s.reach.size;
        keys += s.watch.size;
      }
    return {
      signals: this.#signals.size,
      open: this.#open.size,
      incidents: this.#groups.size,
      reachIndex: this.#reachers.size,
      watchIndex: this.#watchers.size,
      causes: this.#causes.size,
      causeIndex: this.#byResource.size,
      walks,
      watched,
      keys,
      emitted: this.#emitted.size,
      incidentOf: this.#incidentOf.size,
      ...this.graph.sizes(),
    };
  }

  topology(r: TopologyRecord): void {
    this.graph.applyTopology(r);
  }

  /** A call seen at ts; `seen` is the last-seen time the graph keeps for it (ts unless told). */
  call(client: string, server: string, ts: number, address = '', seen = ts): void {
    this.graph.applyCall(client, server, seen, address);
    this.#advance(ts);
  }

  /** A CloudTrail (or deploy, or API) change; read-only and failed calls are no cause. */
  change(e: ChangeEvent): void {
    this.#advance(e.ts_ms);
    if (e.read_only || e.error_code) return;
    const kind: CauseKind = e.kind;
    this.#addCause({
      id: e.event_id,
      kind,
      ts: e.ts_ms,
      resources: e.resource_ids,
      weight: kindWeight(kind, e.event_name),
      actor: e.actor,
      event: e.event_name,
      summary: e.summary,
      causeEventId: '',
    });
  }

  drift(d: DriftEvent): void {
    this.#advance(d.ts_ms);
    this.#addCause({
      id: d.id,
      kind: 'drift',
      ts: d.ts_ms,
      resources: [d.resource_id],
      weight: kindWeight('drift', '', d.drift),
      actor: d.cause_actor,
      event: `drift ${d.drift}${d.attribute ? ` ${d.attribute}` : ''}`,
      summary: d.attribute ? `${d.attribute}: expected ${d.expected.slice(0, 80)}, actual ${d.actual.slice(0, 80)}` : d.drift,
      causeEventId: d.cause_event_id,
    });
  }

  health(f: HealthFact): void {
    this.#advance(f.ts_ms);
    const key = `${f.resource_id}\u0000${f.rule}`;
    if (f.state === 'resolved') {
      const open = this.#open.get(key);
      if (open && f.ts_ms >= open.onset) {
        open.resolvedMs = f.ts_ms;
        this.#open.delete(key);
        this.#regroup.add(open);
        this.#changed.add(SIGNAL + open.id);
      }
      return;
    }
    if (this.#signals.has(f.id) || this.#open.has(key)) return; // a replay, or still firing (worse: the same signal)
    if (this.#signals.size >= this.#o.maxSignals) this.#evictOldestSignal();
    const s: Signal = {
      id: f.id,
      key,
      resource: f.resource_id,
      rule: f.rule,
      status: f.status,
      onset: f.ts_ms,
      reason: f.reason,
      value: f.value,
      threshold: f.threshold,
      labels: f.labels,
      resolvedMs: 0,
      arrived: this.#watermark,
      ...unwalked(),
    };
    this.#keepSignal(s);
    this.#open.set(key, s);
    this.#changed.add(SIGNAL + s.id);
    if (!this.graph.has(this.graph.resolve(s.resource))) this.stats.unresolvedSignals++;
  }

  #advance(ts: number): void {
    if (ts > this.#watermark) {
      this.#watermark = ts;
      this.#changed.add(WATERMARK);
    }
  }

  #addCause(c: Omit<Cause, 'keys' | 'arrived'>): void {
    if (this.#causes.has(c.id)) return;
    if (this.#causes.size >= this.#o.maxCauses) this.#evictOldestCause();
    let known = false;
    const keys = new Set<string>();
    for (const r of c.resources) {
      const id = this.graph.resolve(r);
      if (this.graph.has(id)) known = true;
      keys.add(r).add(id);
    }
    if (!known) this.stats.unresolvedCauses++;
    const cause: Cause = { ...c, keys: [...keys], arrived: this.#watermark };
    this.#indexCause(cause);
    this.#changed.add(CAUSE + cause.id);
    // Signals that reach what it touched, whose window it falls into and whose late window it came in, look again.
    for (const k of cause.keys) for (const s of this.#reachers.get(k) ?? []) if (this.#takes(s, cause)) s.dirty = true;
  }

  #keepSignal(s: Signal): void {
    this.#signals.set(s.id, s);
    if (this.#oldestSignal.size > 2 * this.#signals.size + 1_024) this.#oldestSignal.rebuild([...this.#signals.values()].map((t) => [t.onset, t.id, t]));
    else this.#oldestSignal.push(s.onset, s.id, s);
  }

  #indexCause(c: Cause): void {
    this.#causes.set(c.id, c);
    if (this.#oldestCause.size > 2 * this.#causes.size + 1_024) this.#oldestCause.rebuild([...this.#causes.values()].map((d) => [d.ts, d.id, d]));
    else this.#oldestCause.push(c.ts, c.id, c);
    for (const k of c.keys) index(this.#byResource, k, c);
  }

  /**
   * Whether a signal takes a cause: the cause is at most the window before the onset and never
   * after it, and was read while the signal still took late evidence — before the watermark had
   * passed the late window after the onset, or before the signal itself was read. Decided by the
   * watermarks the two were read at, so the same records in the same order give the same answer
   * however they were cut into batches.
   */
  #takes(s: Signal, c: Cause): boolean {
    const delta = s.onset - c.ts;
    return delta >= 0 && delta <= this.#o.windowMs && c.arrived <= Math.max(s.onset + this.#o.lateMs, s.arrived);
  }

  #causesOn(id: string): Iterable<Cause> {
    return this.#byResource.get(id) ?? [];
  }

  /** Candidates of one signal: causes on what it depends on, in the window before its onset, never after. */
  #evaluate(s: Signal): void {
    const reach = s.stale || !s.reach ? this.#walk(s) : s.reach;
    this.stats.evaluations++;
    const best = new Map<string, Candidate>();
    for (const [node, reached] of reach) {
      for (const cause of this.#causesOn(node)) {
        if (!this.#takes(s, cause)) continue;
        const delta = s.onset - cause.ts;
        const prev = best.get(cause.id);
        if (prev && prev.reached.hops <= reached.hops) continue;
        const factors = {
          kind: cause.weight,
          time: timeFactor(delta, this.#o.decayMs),
          distance: distanceFactor(reached.hops),
          signal: signalFactor(s.status),
        };
        best.set(cause.id, { cause, resource: node, reached, raw: rawScore(factors), score: 0, factors });
      }
    }
    // A drift whose CloudTrail cause is a candidate too is that change seen again: one cause.
    for (const c of [...best.values()])
      if (c.cause.kind === 'drift' && c.cause.causeEventId && best.has(c.cause.causeEventId)) {
        const change = best.get(c.cause.causeEventId)!;
        change.raw = Math.min(1, change.raw * 1.1);
        best.delete(c.cause.id);
      }
    const list = [...best.values()].sort((a, b) => b.raw - a.raw || a.cause.id.localeCompare(b.cause.id));
    const scores = competed(list.map((c) => c.raw));
    list.forEach((c, i) => (c.score = scores[i]!));
    s.candidates = list;
    s.dirty = false;
    const claims = new Set(list.filter((c) => c.score >= CLAIM).map((c) => c.cause.id));
    for (const id of s.claims) if (!claims.has(id)) unindex(this.#claimers, id, s);
    for (const id of claims) index(this.#claimers, id, s);
    s.claims = claims;
    this.#regroup.add(s);
  }

  /** The signal's walk made again, and the indexes that find it by what it reached and looked up. */
  #walk(s: Signal): Map<string, Reached> {
    this.stats.walks++;
    const watch = new Set<string>();
    const reach = this.graph.dependencies(s.resource, this.#o.maxHops, this.#o.maxNodes, watch);
    const at = reach.keys().next().value!;
    // Mostly a walk made again finds what it found before: its index entries then stay as they are.
    const before = s.reach;
    if (before && at === s.at && sameKeys(before, reach) && sameKeys(s.watch, watch)) {
      s.reach = reach;
      s.stale = false;
      return reach;
    }
    this.#unindexWalk(s);
    s.reach = reach;
    s.watch = watch;
    s.at = at;
    s.stale = false;
    for (const node of reach.keys()) index(this.#reachers, node, s);
    for (const k of watch) index(this.#watchers, k, s);
    index(this.#on, s.at, s);
    return reach;
  }

  #unindexWalk(s: Signal): void {
    if (!s.reach) return;
    for (const node of s.reach.keys()) unindex(this.#reachers, node, s);
    for (const k of s.watch) unindex(this.#watchers, k, s);
    unindex(this.#on, s.at, s);
  }

  /**
   * The rows that changed: the correlations of every signal evaluated again (a cause came that it
   * takes, the graph moved under its walk, it resolved) and of the incidents those are in, formed
   * again; nothing else is looked at.
   */
  evaluate(revisionMs: number): { correlations: Correlation[]; incidents: Incident[] } {
    for (const key of this.graph.takeTouched())
      for (const s of this.#watchers.get(key) ?? []) {
        s.stale = true;
        s.dirty = true;
      }
    for (const s of this.#signals.values()) if (s.dirty) this.#evaluate(s);
    const correlations: Correlation[] = [];
    const incidents: Incident[] = [];
    for (const g of this.#incidents()) {
      const ranked = this.#rank(g);
      const rankOf = new Map(ranked.map((r, i) => [r.cause_id, i + 1]));
      for (const s of g.signals) {
        const previous = this.#incidentOf.get(s.id);
        // A signal whose incident is gone (merged into another) leaves that said; one that split off leaves it be.
        if (previous && previous !== g.id && !this.#groups.has(previous)) incidents.push(...this.#unsent(this.#merged(previous, g.id, revisionMs)));
        if (previous !== g.id) {
          this.#incidentOf.set(s.id, g.id);
          this.#changed.add(SIGNAL + s.id);
        }
        for (const c of s.candidates) {
          const at = rankOf.get(c.cause.id) ?? 0;
          const rank = at <= this.#o.maxRank ? at : 0;
          const sent = `${g.id}\u0000${rank}`;
          if (c.sent === sent) continue; // built from the same evaluation, incident and rank: the row it was
          c.sent = sent;
          correlations.push(...this.#unsent(this.#row(s, c, g.id, rank, revisionMs)));
        }
      }
      incidents.push(...this.#unsent(this.#incidentRow(g, ranked, revisionMs)));
    }
    this.#evict();
    return { correlations, incidents };
  }

  /** Whether two signals overlap in time: onsets and resolutions at most the incident gap apart. */
  #near(a: Signal, b: Signal): boolean {
    const aEnd = a.resolvedMs || Infinity;
    const bEnd = b.resolvedMs || Infinity;
    return a.onset <= bEnd + this.#o.incidentGapMs && b.onset <= aEnd + this.#o.incidentGapMs;
  }

  /** Calls f with each signal one is connected to: one depends on the other, or both claim one cause. */
  #linked(s: Signal, f: (t: Signal) => void): void {
    if (s.reach) for (const node of s.reach.keys()) this.#on.get(node)?.forEach(f);
    this.#reachers.get(s.at)?.forEach(f);
    for (const id of s.claims) this.#claimers.get(id)?.forEach(f);
  }

  /**
   * The incidents formed again: signals that overlap in time and are connected form one, found from
   * the signals marked to regroup and the incidents they were in. An incident keeps its id while it
   * lives: the id of the incident its earliest member (by onset, then id) already in one was in
   * (so a signal joining, leaving or forgotten changes no id, and of two that merge the older
   * names the whole); of two parts of one incident that split, the part with the earlier member
   * keeps it. A new incident's id is a hash of its first signal. Every other incident is as it was.
   */
  #incidents(): { id: string; signals: Signal[] }[] {
    const start = new Set<Signal>();
    for (const s of this.#regroup) {
      if (!this.#signals.has(s.id)) continue;
      start.add(s);
      for (const t of this.#groups.get(this.#incidentOf.get(s.id) ?? '') ?? []) if (this.#signals.has(t.id)) start.add(t);
    }
    this.#regroup.clear();
    const placed = new Set<Signal>();
    const out: { id: string; signals: Signal[] }[] = [];
    for (const s of start) {
      if (placed.has(s)) continue;
      placed.add(s);
      const members = [s];
      for (let i = 0; i < members.length; i++) {
        const a = members[i]!;
        this.#linked(a, (b) => {
          if (!placed.has(b) && this.#near(a, b)) {
            placed.add(b);
            members.push(b);
          }
        });
      }
      members.sort(byOnset);
      out.push({ id: '', signals: members });
    }
    for (const s of placed) {
      const old = this.#incidentOf.get(s.id);
      if (old) this.#groups.delete(old);
    }
    out.sort((a, b) => byOnset(a.signals[0]!, b.signals[0]!));
    const taken = new Set(this.#groups.keys());
    this.stats.regrouped += placed.size;
    for (const g of out) {
      const carried = g.signals.map((s) => this.#incidentOf.get(s.id)).find((id) => id !== undefined && !taken.has(id));
      let id = carried ?? `inc-${hash(g.signals[0]!.id)}`;
      while (taken.has(id)) id = `inc-${hash(id)}`; // a part split off whose first signal named the incident the other part keeps
      g.id = id;
      taken.add(g.id);
      this.#groups.set(g.id, g.signals);
    }
    return out;
  }

  /** Causes of an incident, most probable first: noisy-or of their scores over its signals, weighted by criticality. */
  #rank(g: { signals: Signal[] }): RankedCause[] {
    const agg = new Map<string, { c: Candidate; miss: number; impacted: Set<string> }>();
    for (const s of g.signals)
      for (const c of s.candidates) {
        const a = agg.get(c.cause.id) ?? { c, miss: 1, impacted: new Set<string>() };
        a.miss *= 1 - c.score;
        a.impacted.add(this.graph.nameOf(this.graph.resolve(s.resource)));
        if (c.score > a.c.score) a.c = c;
        agg.set(c.cause.id, a);
      }
    const scored = [...agg.values()].map((a) => {
      const crit = this.#criticality(a.c.resource);
      return { a, score: 1 - a.miss, weight: (1 - a.miss) * (1 + 0.05 * Math.min(crit, CRITICAL)) };
    });
    const total = scored.reduce((t, x) => t + x.weight, 0);
    scored.sort((x, y) => y.weight - x.weight || x.a.c.cause.id.localeCompare(y.a.c.cause.id));
    return scored.map(({ a, score, weight }) => ({
      cause_id: a.c.cause.id,
      cause_kind: a.c.cause.kind,
      resource_id: a.c.resource,
      probability: round(total > 0 ? weight / total : 0),
      score: round(score),
      explanation: this.#explain(a.c, [...a.impacted].sort(), score),
    }));
  }

  /** How many services depend on a resource, as the graph is now (kept while the graph does not move). */
  #criticality(id: string): number {
    if (this.#critical.version !== this.graph.version) this.#critical = { version: this.graph.version, of: new Map() };
    let n = this.#critical.of.get(id);
    if (n === undefined) this.#critical.of.set(id, (n = this.graph.dependents(id, this.#o.maxHops, this.#o.maxNodes, CRITICAL)));
    return n;
  }

  #explain(c: Candidate, impacted: string[], score: number): string {
    const when = new Date(c.cause.ts).toISOString().slice(11, 16);
    const who = c.cause.actor ? `${shortActor(c.cause.actor)} ` : '';
    // A CloudTrail change reads best as its call on the resource's name; the others by their own summary.
    const what = c.cause.kind === 'cloudtrail' || !c.cause.summary ? `${c.cause.event} on ${this.graph.nameOf(c.resource)}` : c.cause.summary;
    const n = c.reached.hops;
    const via = n > 0 ? ` (${n} hop${n > 1 ? 's' : ''} away)` : '';
    return `${when} ${who}${what}${via} → ${impacted.join(', ')}; score ${score.toFixed(2)}`;
  }

  #row(s: Signal, c: Candidate, incident: string, rank: number, revisionMs: number): Correlation {
    // The walk went from the impact to the cause; the row reads from the cause to the impact.
    const walked: Hop[] = pathOf(c.reached);
    const hops = [...walked].reverse();
    const evidence = {
      change: {
        id: c.cause.id,
        kind: c.cause.kind,
        time: new Date(c.cause.ts).toISOString(),
        actor: c.cause.actor,
        event: c.cause.event,
        summary: c.cause.summary,
      },
      path: hops.map((h, i) => ({
        id: h.id,
        name: this.graph.nameOf(h.id),
        type: this.graph.typeOf(h.id),
        edge: i === 0 ? '' : walked[hops.length - i]!.via,
      })),
      signal: {
        rule: s.rule,
        resource: s.resource,
        onset: new Date(s.onset).toISOString(),
        status: s.status,
        reason: s.reason,
        value: s.value,
        threshold: s.threshold,
        labels: s.labels,
      },
      factors: Object.fromEntries(Object.entries(c.factors).map(([k, v]) => [k, round(v)])),
      minutes_before: round((s.onset - c.cause.ts) / 60_000),
    };
    return {
      id: hash(c.cause.id, s.id),
      ts_ms: s.onset,
      cause_id: c.cause.id,
      cause_kind: c.cause.kind,
      cause_ts_ms: c.cause.ts,
      cause_resource_id: c.resource,
      impacted_resource_id: this.graph.resolve(s.resource),
      signal: s.rule,
      signal_id: s.id,
      score: round(c.score),
      window_s: Math.round(this.#o.windowMs / 1000),
      incident_id: incident,
      rank,
      path: hops.map((h) => h.id),
      evidence: JSON.stringify(evidence),
      revision_ms: revisionMs,
    };
  }

  #incidentRow(g: { id: string; signals: Signal[] }, causes: RankedCause[], revisionMs: number): Incident {
    const resolved = g.signals.every((s) => s.resolvedMs > 0);
    return {
      id: g.id,
      opened_ms: g.signals[0]!.onset,
      resolved_ms: resolved ? Math.max(...g.signals.map((s) => s.resolvedMs)) : 0,
      status: resolved ? 'resolved' : 'open',
      merged_into: '',
      impacted: [...new Set(g.signals.map((s) => this.graph.resolve(s.resource)))].sort(),
      signals: g.signals.map((s) => s.id),
      causes: causes.slice(0, 5),
      revision_ms: revisionMs,
    };
  }

  #merged(id: string, into: string, revisionMs: number): Incident {
    return { id, opened_ms: 0, resolved_ms: 0, status: 'merged', merged_into: into, impacted: [], signals: [], causes: [], revision_ms: revisionMs };
  }

  /** The row if it differs from what was last sent under its id (revision aside), else nothing. */
  #unsent<T extends { id: string; revision_ms: number }>(row: T): T[] {
    const sig = JSON.stringify({ ...row, revision_ms: 0 });
    if (this.#emitted.get(row.id) === sig) return [];
    this.#emitted.set(row.id, sig);
    return [row];
  }

  /**
   * Forgets what can no longer change: incidents whose every signal is done (resolved, or past its
   * late window) and that nothing new can join; then causes older than any signal to come could
   * look back to and than any signal kept can take (a signal's candidates never lose a cause
   * because it was forgotten: whether a cause is forgotten depends on when batches end).
   */
  #evict(): void {
    const w = this.#watermark;
    const done = (s: Signal) => (s.resolvedMs > 0 || s.onset < w - this.#o.lateMs) && Math.max(s.onset, s.resolvedMs) < w - this.#o.incidentGapMs;
    for (const [id, signals] of this.#groups)
      if (signals.every(done)) {
        this.#groups.delete(id);
        this.#emitted.delete(id);
        for (const s of signals) {
          this.#dropSignal(s);
          for (const c of s.candidates) this.#emitted.delete(hash(c.cause.id, s.id));
        }
      }
    let oldest = Infinity;
    for (const s of this.#signals.values()) if (s.onset < oldest) oldest = s.onset;
    const before = Math.min(w - this.#o.windowMs - this.#o.lateMs, oldest - this.#o.windowMs);
    for (const [id, c] of this.#causes) if (c.ts < before) this.#dropCause(id, c);
  }

  #dropSignal(s: Signal): void {
    this.#signals.delete(s.id);
    if (this.#open.get(s.key) === s) this.#open.delete(s.key);
    this.#unindexWalk(s);
    for (const id of s.claims) unindex(this.#claimers, id, s);
    // The rest of its incident is formed again without it.
    for (const t of this.#groups.get(this.#incidentOf.get(s.id) ?? '') ?? []) if (t !== s) this.#regroup.add(t);
    this.#regroup.delete(s);
    this.#incidentOf.delete(s.id);
    this.#changed.add(SIGNAL + s.id);
  }

  #dropCause(id: string, c: Cause): void {
    this.#causes.delete(id);
    for (const k of c.keys) unindex(this.#byResource, k, c);
    this.#changed.add(CAUSE + id);
  }

  #evictOldestCause(): void {
    const oldest = this.#oldestCause.pop((id, c) => this.#causes.get(id) === c);
    if (oldest) this.#dropCause(oldest.id, oldest);
    this.stats.evictedCauses++;
  }

  #evictOldestSignal(): void {
    const oldest = this.#oldestSignal.pop((id, s) => this.#signals.get(id) === s);
    if (oldest) this.#dropSignal(oldest);
    this.stats.evictedSignals++;
  }

  /**
   * The state changed since the last call, for a changelog: [key, value] to put (a JSON-able
   * value) or to delete (null), keyed "cause\0<id>", "signal\0<id>" and "watermark".
   */
  stateChanges(): [string, StoredCause | StoredSignal | number | null][] {
    const out: [string, StoredCause | StoredSignal | number | null][] = [];
    for (const key of this.#changed) {
      if (key === WATERMARK) out.push([key, this.#watermark]);
      else if (key.startsWith(CAUSE)) {
        const c = this.#causes.get(key.slice(CAUSE.length));
        out.push([key, c ? storedCause(c) : null]);
      } else {
        const s = this.#signals.get(key.slice(SIGNAL.length));
        out.push([key, s ? storedSignal(s, this.#incidentOf.get(s.id) ?? '') : null]);
      }
    }
    this.#changed.clear();
    return out;
  }

  /** Whether a changelog key is one of the correlator's (stateChanges()). */
  static ownsKey(key: string): boolean {
    return key === WATERMARK || key.startsWith(CAUSE) || key.startsWith(SIGNAL);
  }

  /**
   * Takes back one entry of stateChanges() (the latest value of its key), after the graph is
   * restored: the cause, signal or watermark is as it was, and the next evaluate() looks at every
   * signal again (and sends its rows again, unchanged).
   */
  restoreState(key: string, value: unknown): void {
    if (key === WATERMARK) {
      if (typeof value === 'number' && value > this.#watermark) this.#watermark = value;
    } else if (key.startsWith(CAUSE)) {
      const c = value as StoredCause;
      const old = this.#causes.get(c.id);
      if (old) this.#dropCause(old.id, old);
      this.#indexCause({
        id: c.id,
        kind: c.kind,
        ts: c.ts,
        resources: c.resources,
        keys: c.keys,
        weight: c.weight,
        actor: c.actor,
        event: c.event,
        summary: c.summary,
        causeEventId: c.cause_event_id,
        arrived: c.arrived,
      });
    } else if (key.startsWith(SIGNAL)) {
      const v = value as StoredSignal;
      const s: Signal = {
        id: v.id,
        key: `${v.resource}\u0000${v.rule}`,
        resource: v.resource,
        rule: v.rule,
        status: v.status,
        onset: v.onset,
        reason: v.reason,
        value: v.value,
        threshold: v.threshold,
        labels: v.labels ?? {},
        resolvedMs: v.resolved_ms,
        arrived: v.arrived,
        ...unwalked(),
      };
      const old = this.#signals.get(s.id);
      if (old) this.#dropSignal(old);
      this.#keepSignal(s);
      if (!s.resolvedMs) this.#open.set(s.key, s);
      if (v.incident) this.#incidentOf.set(s.id, v.incident);
    }
    this.#changed.delete(key);
  }
}

/** Dependent services beyond this many add nothing to a cause's rank (and are not counted). */
const CRITICAL = 10;
const CAUSE = 'cause\u0000';
const SIGNAL = 'signal\u0000';
const WATERMARK = 'watermark';

/** A cause as the changelog keeps it. */
export interface StoredCause {
  id: string;
  kind: CauseKind;
  ts: number;
  resources: string[];
  keys: string[];
  weight: number;
  actor: string;
  event: string;
  summary: string;
  cause_event_id: string;
  arrived: number;
}

/** A signal as the changelog keeps it, with the incident it was last sent in. */
export interface StoredSignal {
  id: string;
  resource: string;
  rule: string;
  status: string;
  onset: number;
  reason: string;
  value: number;
  threshold: number;
  resolved_ms: number;
  arrived: number;
  incident: string;
  /** Absent in states stored before signals kept their labels. */
  labels?: Record<string, string>;
}

function storedCause(c: Cause): StoredCause {
  return {
    id: c.id,
    kind: c.kind,
    ts: c.ts,
    resources: c.resources,
    keys: c.keys,
    weight: c.weight,
    actor: c.actor,
    event: c.event,
    summary: c.summary,
    cause_event_id: c.causeEventId,
    arrived: c.arrived,
  };
}

function storedSignal(s: Signal, incident: string): StoredSignal {
  return {
    id: s.id,
    resource: s.resource,
    rule: s.rule,
    status: s.status,
    onset: s.onset,
    reason: s.reason,
    value: s.value,
    threshold: s.threshold,
    resolved_ms: s.resolvedMs,
    arrived: s.arrived,
    incident,
    labels: s.labels,
  };
}

const round = (x: number) => Math.round(x * 1000) / 1000;

const byOnset = (a: Signal, b: Signal) => a.onset - b.onset || a.id.localeCompare(b.id);

/** A signal's reasoning before its first evaluation. */
function unwalked(): Pick<Signal, 'candidates' | 'reach' | 'watch' | 'at' | 'claims' | 'stale' | 'dirty'> {
  return { candidates: [], reach: undefined, watch: new Set(), at: '', claims: new Set(), stale: true, dirty: true };
}

/** Whether two maps or sets hold the same keys. */
function sameKeys<K>(a: { size: number; has(k: K): boolean }, b: { size: number; keys(): IterableIterator<K> }): boolean {
  if (a.size !== b.size) return false;
  for (const k of b.keys()) if (!a.has(k)) return false;
  return true;
}

function index<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  let set = m.get(k);
  if (!set) m.set(k, (set = new Set()));
  set.add(v);
}

function unindex<K, V>(m: Map<K, Set<V>>, k: K, v: V): void {
  const set = m.get(k);
  if (set?.delete(v) && set.size === 0) m.delete(k);
}
