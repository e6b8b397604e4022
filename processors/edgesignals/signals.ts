import { createHash } from 'node:crypto';
import { Holds, originOf, partitionKey, type HeldOffsets, type Origin, type PartitionKey } from '../runtime/pipeline/holds.js';
import type { HealthFact } from '../model/health.js';
import { edgeSides, type EdgeFact } from '../model/edges.js';
import { EwmaDetector, type EwmaOptions, type EwmaState } from '../detectors/ewma.js';
import type { EdgeSignalsConfig } from './config.js';
import { LatencySketch } from './sketch.js';

/** Edges are judged per minute of event time (EdgeFact.ts_ms). */
export const MINUTE_MS = 60_000;

export type SignalRule = 'edge_error_ratio' | 'edge_latency_p95';
type Severity = 'warning' | 'critical';
const RANK = { healthy: 0, warning: 1, critical: 2 } as const;
const METRIC: Record<SignalRule, string> = { edge_error_ratio: 'error_ratio', edge_latency_p95: 'latency_p95_ms' };

/** Changelog keys: an edge's state, a partition's watermark. */
export const EDGE_PREFIX = 'edge\u0000';
export const WATERMARK_PREFIX = 'watermark\u0000';

interface EdgeNames {
  client: string;
  server: string;
  client_id: string;
  server_id: string;
  connection_type: string;
}

/** One edge in one minute of one partition. */
interface MinuteAgg extends EdgeNames {
  calls: number;
  errors: number;
  latency: LatencySketch;
}

/** A minute still open in a partition: the record that opened it (held uncommitted) and its edges. */
interface OpenMinute {
  start: number;
  first: Origin;
  aggs: Map<string, MinuteAgg>;
}

interface PartitionState {
  /** The latest edge time seen; the watermark is this minus the allowed lateness. */
  maxTs: number;
  minutes: Map<number, OpenMinute>;
}

/** A firing signal of one edge: since when, how bad, and the good minutes counted toward its resolution. */
export interface SignalState {
  severity: Severity;
  /** Start of its first bad minute. */
  onset: number;
  /** Consecutive good judged minutes, and the start of the first of them. */
  good: number;
  recovery: number;
}

/** An edge as the changelog keeps it (key EDGE_PREFIX + edge key): names, both baselines, its firing signals. */
export interface StoredEdge extends EdgeNames {
  err: EwmaState;
  lat: EwmaState;
  signals: Partial<Record<SignalRule, SignalState>>;
}

/** A partition's latest edge time (key WATERMARK_PREFIX + partition). */
export interface StoredWatermark {
  max_ts: number;
}

export type StoredEntry = StoredEdge | StoredWatermark;

interface EdgeState extends EdgeNames {
  err: EwmaDetector;
  lat: EwmaDetector;
  signals: Partial<Record<SignalRule, SignalState>>;
}

/** What one judged minute of an edge says for one rule. */
interface Verdict {
  rule: SignalRule;
  bad: boolean;
  severity: Severity;
  value: number;
  threshold: number;
  /** The reason for the server's fact; the client's says it is the caller. */
  reason: string;
  /** The edge's baseline of the value before this minute, once it has one: what the explanations compare with. */
  baseline?: number;
}

export interface EdgeSignalsOptions {
  config: EdgeSignalsConfig;
  emit(f: HealthFact): void;
  /** A record after its minute closed (not counted anywhere). */
  onLate?(): void;
  /** An edge's state evicted past max_edges. */
  onEvict?(): void;
  /** A record dropped because max_edges edge-minutes are open already. */
  onFull?(): void;
}

/**
 * Call-edge signals: per edge (client, server, connection type) and minute of event time, calls,
 * errors and p95 latency; each closed minute is judged by the absolute error-ratio rule and by the
 * edge's baselines of error ratio and p95 (EWMA); a signal fires on the edge's server and client at
 * its first bad minute and resolves after resolve_after_minutes good ones.
 *
 * Minutes are cut per input partition (an edge's records share one, by key): a minute closes once
 * the partition's watermark (latest edge time minus allowed_lateness_ms) reaches its end. Open
 * minutes hold the record that opened them (heldOffsets); edge states and watermarks outlive
 * minutes: they are taken out as changes (takeChanges) for the changelog and put back by restore().
 * A record replayed after a restart (replay) rebuilds the minute it belongs to if that minute is
 * still open under the restored watermark, and is skipped otherwise: its effects are in the state.
 */
export class EdgeSignals {
  readonly #cfg: EdgeSignalsConfig;
  readonly #o: EdgeSignalsOptions;
  readonly #errOptions: EwmaOptions;
  readonly #latOptions: EwmaOptions;
  readonly #parts = new Map<PartitionKey, PartitionState>();
  /** Edge states, least recently judged first. */
  readonly #edges = new Map<string, EdgeState>();
  /** Firing signals per resource (rule and edge → severity), for the status a fact carries. */
  readonly #active = new Map<string, Map<string, Severity>>();
  readonly #dirtyEdges = new Set<string>();
  readonly #dirtyParts = new Set<PartitionKey>();
  #openAggs = 0;
  readonly #maxOpenAggs: number;

  constructor(options: EdgeSignalsOptions) {
    const c = (this.#cfg = options.config);
    this.#o = options;
    const a = c.anomaly;
    const base = { alpha: a.alpha, warmup: a.warmup, enter_z: a.enter_z, exit_z: a.exit_z, upward_only: true };
    this.#errOptions = { ...base, min_sd: a.error_ratio_min_sd };
    this.#latOptions = { ...base, min_sd: a.latency_min_sd_ms, min_sd_ratio: a.latency_min_sd_ratio };
    // Every edge may be open in each minute a partition keeps open: the current one and those within the lateness.
    this.#maxOpenAggs = c.max_edges * (1 + Math.ceil(c.allowed_lateness_ms / MINUTE_MS));
  }

  /** One edge record of a partition. */
  observe(e: EdgeFact, origin: Origin, replay = false): void {
    const part = partitionKey(origin.topic, origin.partition);
    let p = this.#parts.get(part);
    if (!p) this.#parts.set(part, (p = { maxTs: -Infinity, minutes: new Map() }));
    const start = Math.floor(e.ts_ms / MINUTE_MS) * MINUTE_MS;
    if (start + MINUTE_MS <= p.maxTs - this.#cfg.allowed_lateness_ms) {
      if (!replay) this.#o.onLate?.(); // on replay: a minute closed before the restart, counted then
      return;
    }
    let m = p.minutes.get(start);
    if (!m) p.minutes.set(start, (m = { start, first: originOf(origin), aggs: new Map() }));
    const key = e.client_id && e.server_id ? edgeKeyOf(e) : edgeKeyOf(namesOf(e));
    let a = m.aggs.get(key);
    if (!a) {
      if (this.#openAggs >= this.#maxOpenAggs) {
        this.#o.onFull?.();
        return;
      }
      m.aggs.set(key, (a = { ...namesOf(e), calls: 0, errors: 0, latency: new LatencySketch() }));
      this.#openAggs++;
    }
    a.calls++;
    if (e.failed) a.errors++;
    a.latency.add(e.latency_ms);
    if (e.ts_ms > p.maxTs) {
      p.maxTs = e.ts_ms;
      this.#dirtyParts.add(part);
      this.#closeDue(p);
    }
  }

  /** Lowest offset per partition of a record an open minute still needs: the one that opened the oldest. */
  heldOffsets(): HeldOffsets {
    const held = new Holds();
    for (const p of this.#parts.values()) for (const m of p.minutes.values()) if (m.aggs.size) held.hold(m.first);
    return held.offsets;
  }

  /** Changelog changes since the last call, by key: the entry to store, or null when it is gone. */
  takeChanges(): Map<string, StoredEntry | null> {
    const out = new Map<string, StoredEntry | null>();
    for (const key of this.#dirtyEdges) {
      const e = this.#edges.get(key);
      out.set(
        EDGE_PREFIX + key,
        e
          ? {
              client: e.client,
              server: e.server,
              client_id: e.client_id,
              server_id: e.server_id,
              connection_type: e.connection_type,
              err: e.err.state(),
              lat: e.lat.state(),
              signals: structuredClone(e.signals),
            }
          : null,
      );
    }
    for (const part of this.#dirtyParts) out.set(WATERMARK_PREFIX + part, { max_ts: this.#parts.get(part)!.maxTs });
    this.#dirtyEdges.clear();
    this.#dirtyParts.clear();
    return out;
  }

  /** Puts back what the changelog holds, before any record is handled. */
  restore(entries: Iterable<[string, StoredEntry]>): void {
    for (const [key, v] of entries) {
      if (key.startsWith(WATERMARK_PREFIX)) {
        this.#parts.set(key.slice(WATERMARK_PREFIX.length), { maxTs: (v as StoredWatermark).max_ts, minutes: new Map() });
      } else if (key.startsWith(EDGE_PREFIX)) {
        const s = v as StoredEdge;
        const edgeKey = key.slice(EDGE_PREFIX.length);
        const e: EdgeState = {
          client: s.client,
          server: s.server,
          client_id: s.client_id,
          server_id: s.server_id,
          connection_type: s.connection_type,
          err: EwmaDetector.from(this.#errOptions, s.err),
          lat: EwmaDetector.from(this.#latOptions, s.lat),
          signals: s.signals,
        };
        this.#edges.delete(edgeKey);
        this.#edges.set(edgeKey, e);
        for (const [rule, sig] of Object.entries(e.signals) as [SignalRule, SignalState][]) this.#activate(e, edgeKey, rule, sig.severity);
      }
    }
  }

  /** Edges with state, and signals firing (each counted once per edge, not per side). */
  get edges(): number {
    return this.#edges.size;
  }
  get firing(): number {
    let n = 0;
    for (const e of this.#edges.values()) n += Object.keys(e.signals).length;
    return n;
  }
  /** Edge-minutes open. */
  get open(): number {
    return this.#openAggs;
  }

  #closeDue(p: PartitionState): void {
    const watermark = p.maxTs - this.#cfg.allowed_lateness_ms;
    let due: OpenMinute[] | undefined;
    for (const m of p.minutes.values()) if (m.start + MINUTE_MS <= watermark) (due ??= []).push(m);
    if (!due) return;
    due.sort((a, b) => a.start - b.start);
    for (const m of due) {
      p.minutes.delete(m.start);
      this.#openAggs -= m.aggs.size;
      for (const [key, a] of m.aggs) this.#judge(m.start, key, a);
    }
  }

  /** One closed minute of one edge. Below min_calls it is not judged: no baseline moves, no signal changes. */
  #judge(start: number, key: string, a: MinuteAgg): void {
    const c = this.#cfg;
    if (a.calls < c.min_calls) return;
    const edge = this.#edge(key, a, start);
    this.#dirtyEdges.add(key);
    const an = c.anomaly;
    const ratio = a.errors / a.calls;
    const p95 = a.latency.quantile(0.95);
    const route = `${a.client} → ${a.server}`;

    const err = edge.err;
    // The baseline as it was before this minute (observe() below may move it).
    const errBefore = err.n > 0 ? err.mean : undefined;
    const errBaseline = errBefore !== undefined ? `, baseline ${percent(errBefore)}` : '';
    const errBound = err.mean + an.enter_z * err.sd;
    const absolute = ratio > c.max_error_ratio;
    // A minute the absolute rule finds bad does not move the baseline (nor does an anomalous one: the detector's rule).
    if (an.error_ratio && !absolute) err.observe(ratio);
    const errAnomalous = an.error_ratio && err.anomalous;
    const errVerdict: Verdict = {
      rule: 'edge_error_ratio',
      bad: absolute || errAnomalous,
      severity: absolute ? c.error_severity : an.severity,
      value: ratio,
      threshold: absolute || !errAnomalous ? c.max_error_ratio : errBound,
      reason: `${route} errors ${percent(ratio)} (${a.errors} of ${a.calls} calls)${errBaseline}`,
      baseline: errBefore,
    };

    const lat = edge.lat;
    const latBefore = lat.n > 0 ? lat.mean : undefined;
    const latBaseline = latBefore !== undefined ? `, baseline ${millis(latBefore)}` : '';
    const latBound = lat.mean + an.enter_z * lat.sd;
    if (an.latency_p95) lat.observe(p95);
    const latVerdict: Verdict = {
      rule: 'edge_latency_p95',
      bad: an.latency_p95 && lat.anomalous,
      severity: an.severity,
      value: p95,
      threshold: latBound,
      reason: `${route} p95 latency ${millis(p95)} (${a.calls} calls)${latBaseline}`,
      baseline: latBefore,
    };

    for (const v of [errVerdict, latVerdict]) this.#step(edge, key, start, v, a);
  }

  /** A verdict on a signal: fires it (or raises its severity) on a bad minute, counts good minutes toward its resolution. */
  #step(edge: EdgeState, key: string, start: number, v: Verdict, a: MinuteAgg): void {
    const s = edge.signals[v.rule];
    const counts: Record<string, string> = { calls: String(a.calls), errors: String(a.errors) };
    if (v.baseline !== undefined) counts.baseline = String(Number(v.baseline.toPrecision(4)));
    if (v.bad) {
      if (!s) {
        const sig: SignalState = { severity: v.severity, onset: start, good: 0, recovery: 0 };
        edge.signals[v.rule] = sig;
        this.#activate(edge, key, v.rule, v.severity);
        this.#emitBoth(edge, key, v.rule, 'firing', start, sig.onset, v.value, v.threshold, v.reason, counts);
      } else {
        s.good = 0;
        if (RANK[v.severity] > RANK[s.severity]) {
          s.severity = v.severity;
          this.#activate(edge, key, v.rule, v.severity);
          this.#emitBoth(edge, key, v.rule, 'firing', start, s.onset, v.value, v.threshold, v.reason, counts);
        }
      }
      return;
    }
    if (!s) return;
    if (s.good++ === 0) s.recovery = start;
    if (s.good < this.#cfg.resolve_after_minutes) return;
    delete edge.signals[v.rule];
    this.#deactivate(edge, key, v.rule);
    const back =
      v.rule === 'edge_error_ratio' ? `errors back to ${percent(v.value)} (${a.errors} of ${a.calls} calls)` : `p95 latency back to ${millis(v.value)}`;
    this.#emitBoth(
      edge,
      key,
      v.rule,
      'resolved',
      s.recovery,
      s.onset,
      v.value,
      v.threshold,
      `${edge.client} → ${edge.server} ${back}, ${s.good} good minutes`,
      counts,
    );
  }

  /** The state of an edge, most recently judged now; a new one past max_edges evicts the least recently judged. */
  #edge(key: string, names: EdgeNames, now: number): EdgeState {
    const known = this.#edges.get(key);
    if (known) {
      this.#edges.delete(key);
      this.#edges.set(key, known);
      return known;
    }
    if (this.#edges.size >= this.#cfg.max_edges) {
      const [oldKey, old] = this.#edges.entries().next().value as [string, EdgeState];
      this.#edges.delete(oldKey);
      this.#dirtyEdges.add(oldKey);
      this.#o.onEvict?.();
      // A firing signal of an evicted edge would never resolve: say that it is no longer watched.
      for (const [rule, s] of Object.entries(old.signals) as [SignalRule, SignalState][]) {
        this.#deactivate(old, oldKey, rule);
        this.#emitBoth(old, oldKey, rule, 'resolved', now, s.onset, 0, 0, `${old.client} → ${old.server} no longer tracked (max_edges reached)`, {});
      }
    }
    const e: EdgeState = {
      client: names.client,
      server: names.server,
      client_id: names.client_id,
      server_id: names.server_id,
      connection_type: names.connection_type,
      err: new EwmaDetector(this.#errOptions),
      lat: new EwmaDetector(this.#latOptions),
      signals: {},
    };
    this.#edges.set(key, e);
    return e;
  }

  #activate(e: EdgeNames, key: string, rule: SignalRule, severity: Severity): void {
    for (const resource of sidesOf(e)) {
      let m = this.#active.get(resource);
      if (!m) this.#active.set(resource, (m = new Map()));
      m.set(`${rule}\u0000${key}`, severity);
    }
  }

  #deactivate(e: EdgeNames, key: string, rule: SignalRule): void {
    for (const resource of sidesOf(e)) {
      const m = this.#active.get(resource);
      m?.delete(`${rule}\u0000${key}`);
      if (m?.size === 0) this.#active.delete(resource);
    }
  }

  /** The resource's worst status over the signals firing on it (as server or client of any edge). */
  #status(resource: string): HealthFact['status'] {
    let status: HealthFact['status'] = 'healthy';
    for (const s of this.#active.get(resource)?.values() ?? []) if (RANK[s] > RANK[status]) status = s;
    return status;
  }

  /** The fact on the server, then the one on the client (once, for an edge from a service to itself). */
  #emitBoth(
    e: EdgeNames,
    key: string,
    rule: SignalRule,
    state: HealthFact['state'],
    ts: number,
    onset: number,
    value: number,
    threshold: number,
    reason: string,
    extra: Record<string, string>,
  ): void {
    for (const role of ['server', 'client'] as const) {
      const resource = role === 'server' ? e.server_id : e.client_id;
      if (role === 'client' && resource === e.server_id) continue;
      const id = createHash('sha256').update(`${resource}\u0000${rule}\u0000${key}\u0000${ts}\u0000${state}`).digest('hex').slice(0, 32);
      this.#o.emit({
        id,
        ts_ms: ts,
        resource_id: resource,
        status: this.#status(resource),
        state,
        rule,
        reason: role === 'client' ? `as the caller: ${reason}` : reason,
        metric: METRIC[rule],
        value,
        threshold,
        labels: {
          client_id: e.client_id,
          server_id: e.server_id,
          connection_type: e.connection_type,
          minute: new Date(ts).toISOString(),
          onset: new Date(onset).toISOString(),
          role,
          ...extra,
        },
      });
    }
  }
}

/** An edge's names and ids; records written before namespaces carry no ids, which are made here as the service_edges sink makes them. */
function namesOf(e: EdgeFact): EdgeNames {
  if (e.client_id && e.server_id)
    return { client: e.client, server: e.server, client_id: e.client_id, server_id: e.server_id, connection_type: e.connection_type };
  const s = edgeSides(e.client, e.client_namespace ?? '', e.server, e.server_namespace ?? '');
  return { client: s.client, server: s.server, client_id: s.client_id, server_id: s.server_id, connection_type: e.connection_type };
}

/** An edge: client, server and connection type. */
export function edgeKeyOf(e: Pick<EdgeNames, 'client_id' | 'server_id' | 'connection_type'>): string {
  return `${e.client_id}\u0000${e.server_id}\u0000${e.connection_type}`;
}

function sidesOf(e: EdgeNames): string[] {
  return e.client_id === e.server_id ? [e.server_id] : [e.server_id, e.client_id];
}

/** 0.31 → "31 %", 0.004 → "0.4 %". */
export function percent(ratio: number): string {
  const p = ratio * 100;
  return `${p >= 10 ? p.toFixed(0) : Number(p.toPrecision(2))} %`;
}

function millis(ms: number): string {
  return `${ms >= 100 ? ms.toFixed(0) : Number(ms.toPrecision(3))} ms`;
}
