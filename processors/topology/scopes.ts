import type { ScannerRecord } from '../inventory/records.js';
import type { TopologyRecord } from '../graph/factory.js';

/** Where a record sits: "topic\0partition" and its offset. */
export interface Origin {
  at: string;
  offset: number;
}

/** What a scope is believed to hold: node id → type, and edge keys (src\0type\0dst). */
interface Holding {
  nodes: Map<string, string>;
  edges: Set<string>;
}

interface ScopeState extends Holding {
  /** First record of the oldest scan this belief rests on: replaying from it rebuilds the belief. */
  from: Origin | undefined;
}

interface ScanState extends Holding {
  scope: string;
  first: Origin;
  seen_ms: number;
}

/** A scan (or state snapshot) whose end has not come this long after it began is given up. */
export const ABANDONED_AFTER_MS = 24 * 3600_000;

/**
 * Forgets the unfinished scans begun more than ABANDONED_AFTER_MS before `now` (record time): an
 * end marker that never comes must not hold their partition's commits back for ever. Returns how
 * many it forgot.
 */
export function dropAbandoned(pending: Map<string, { seen_ms: number }>, now: number): number {
  let n = 0;
  for (const [k, v] of pending) {
    if (v.seen_ms < now - ABANDONED_AFTER_MS) {
      pending.delete(k);
      n++;
    }
  }
  return n;
}

const empty = (): Holding => ({ nodes: new Map(), edges: new Set() });

/** A node or edge of the graph as the scanner saw it. */
function resourceRecords(r: ScannerRecord): TopologyRecord[] {
  const res = r.resource!;
  const attributes: Record<string, string> = {};
  for (const [k, v] of Object.entries(JSON.parse(res.attributes) as Record<string, unknown>)) {
    if (v === null || v === undefined) continue;
    attributes[k] = typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  for (const [k, v] of Object.entries(res.tags)) attributes[`tags.${k}`] = v;
  if (res.aliases.length) attributes.aliases = res.aliases.join(',');
  attributes.scope = r.scope;
  const base = { provider: r.provider, account: res.account, region: res.region, seen_ms: r.seen_ms, source: 'scanner', gone: false };
  const out: TopologyRecord[] = [{ ...base, kind: 'node', id: res.id, dst: '', type: res.type, name: res.name, attributes }];
  for (const rel of res.relationships) out.push({ ...base, kind: 'edge', id: res.id, dst: rel.target, type: rel.type, name: '', attributes: {} });
  return out;
}

/**
 * The scanner side of the graph: every resource a scan saw is a node (and its relationships edges);
 * when a complete scan of a scope ends, what the scope held before and the scan did not see is gone,
 * in that scope only. Partial and failed scans add what they saw and remove nothing.
 *
 * State is rebuilt from Kafka: each scope holds the offset of the first record of the oldest scan
 * its belief rests on (the last complete scan, or the partial ones since), and a scan under way
 * holds its first record.
 */
export class ScopeTracker {
  readonly #scopes = new Map<string, ScopeState>();
  readonly #scans = new Map<string, ScanState>();
  /** What the scan ends of the batch in hand replaced, to put back if its output is not written. */
  #undo: { scope: string; before: ScopeState | undefined; scanId: string; scan: ScanState }[] = [];

  /** Starts a batch: from here, rollback() undoes the scan ends observed. */
  begin(): void {
    this.#undo = [];
  }

  /** Puts back the beliefs of the batch's scan ends (their output was not written; the batch comes again). */
  rollback(): void {
    for (const u of this.#undo.reverse()) {
      if (u.before) this.#scopes.set(u.scope, u.before);
      else this.#scopes.delete(u.scope);
      this.#scans.set(u.scanId, u.scan);
    }
    this.#undo = [];
  }

  /** The topology records one scanner record makes. */
  observe(r: ScannerRecord, origin: Origin): TopologyRecord[] {
    dropAbandoned(this.#scans, r.seen_ms);
    if (r.kind === 'resource') {
      let scan = this.#scans.get(r.scan_id);
      if (!scan) this.#scans.set(r.scan_id, (scan = { ...empty(), scope: r.scope, first: origin, seen_ms: r.seen_ms }));
      const out = resourceRecords(r);
      for (const t of out) {
        if (t.kind === 'node') scan.nodes.set(t.id, t.type);
        else scan.edges.add(`${t.id}\u0000${t.type}\u0000${t.dst}`);
      }
      return out;
    }
    const scan = this.#scans.get(r.scan_id) ?? { ...empty(), scope: r.scope, first: origin, seen_ms: r.seen_ms };
    this.#scans.delete(r.scan_id);
    const before = this.#scopes.get(r.scope);
    this.#undo.push({ scope: r.scope, before, scanId: r.scan_id, scan });
    if (r.completeness !== 'complete') {
      // Adds what it saw, removes nothing; a new belief object, so rollback() can put the old one back.
      const nodes = new Map(before?.nodes);
      for (const [id, type] of scan.nodes) nodes.set(id, type);
      const edges = new Set(before?.edges);
      for (const e of scan.edges) edges.add(e);
      this.#scopes.set(r.scope, { nodes, edges, from: before?.from ?? scan.first });
      return [];
    }
    const gone: TopologyRecord[] = [];
    const base = { provider: r.provider, account: '', region: '', name: '', attributes: {}, seen_ms: r.seen_ms, source: 'scanner', gone: true };
    if (before) {
      for (const [id, type] of before.nodes) if (!scan.nodes.has(id)) gone.push({ ...base, kind: 'node', id, dst: '', type, account: r.account, region: r.region });
      for (const e of before.edges) {
        if (scan.edges.has(e)) continue;
        const [src, type, dst] = e.split('\u0000') as [string, string, string];
        gone.push({ ...base, kind: 'edge', id: src, dst, type });
      }
    }
    this.#scopes.set(r.scope, { nodes: scan.nodes, edges: scan.edges, from: scan.nodes.size || scan.edges.size ? scan.first : undefined });
    return gone;
  }

  /** Lowest offset still needed per "topic\0partition". */
  heldOffsets(): Map<string, number> {
    const held = new Map<string, number>();
    const hold = (o: Origin | undefined) => {
      if (!o) return;
      const h = held.get(o.at);
      if (h === undefined || o.offset < h) held.set(o.at, o.offset);
    };
    for (const s of this.#scopes.values()) hold(s.from);
    for (const s of this.#scans.values()) hold(s.first);
    return held;
  }
}
