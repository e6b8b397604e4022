import { dropAbandoned, type ScannerRecord } from '../model/inventory.js';
import type { TopologyRecord } from '../model/topology.js';
import { Holds, type HeldOffsets, type KeyedOrigin } from '../runtime/pipeline/holds.js';

/** What a scope is believed to hold: node id → type, and edge keys (src\0type\0dst). */
interface Holding {
  nodes: Map<string, string>;
  edges: Set<string>;
}

interface ScanState extends Holding {
  scope: string;
  first: KeyedOrigin;
  seen_ms: number;
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
 * What each scope holds outlives any window: it is taken out as changes (takeChanges) for the
 * processor's changelog and put back with restore(). A scan under way is bounded (one scan's
 * records) and holds its first record. A record replayed after a restart (its effects restored
 * already) only rebuilds the scan under way and makes no output.
 */
export class ScopeTracker {
  readonly #scopes = new Map<string, Holding>();
  readonly #scans = new Map<string, ScanState>();
  /** Changelog entries changed since takeChanges(): "n\0<scope>\0<node id>" → node type, "e\0<scope>\0<src\0type\0dst>" → 1; null when gone. */
  #changed = new Map<string, string | number | null>();

  /** The topology records one scanner record makes. */
  observe(r: ScannerRecord, origin: KeyedOrigin, replay = false): TopologyRecord[] {
    dropAbandoned(this.#scans, r.seen_ms);
    if (r.kind === 'resource') {
      let scan = this.#scans.get(r.scan_id);
      if (!scan) this.#scans.set(r.scan_id, (scan = { ...empty(), scope: r.scope, first: origin, seen_ms: r.seen_ms }));
      const out = resourceRecords(r);
      for (const t of out) {
        if (t.kind === 'node') scan.nodes.set(t.id, t.type);
        else scan.edges.add(`${t.id}\u0000${t.type}\u0000${t.dst}`);
      }
      return replay ? [] : out;
    }
    const scan = this.#scans.get(r.scan_id) ?? { ...empty(), scope: r.scope, first: origin, seen_ms: r.seen_ms };
    this.#scans.delete(r.scan_id);
    if (replay) return [];
    const before = this.#scopes.get(r.scope);
    const node = (id: string) => `n\u0000${r.scope}\u0000${id}`;
    const edge = (e: string) => `e\u0000${r.scope}\u0000${e}`;
    if (r.completeness !== 'complete') {
      // Adds what it saw, removes nothing.
      const holding = before ?? empty();
      for (const [id, type] of scan.nodes) {
        if (holding.nodes.get(id) !== type) this.#changed.set(node(id), type);
        holding.nodes.set(id, type);
      }
      for (const e of scan.edges) {
        if (!holding.edges.has(e)) this.#changed.set(edge(e), 1);
        holding.edges.add(e);
      }
      if (holding.nodes.size || holding.edges.size) this.#scopes.set(r.scope, holding);
      return [];
    }
    const gone: TopologyRecord[] = [];
    const base = { provider: r.provider, account: '', region: '', name: '', attributes: {}, seen_ms: r.seen_ms, source: 'scanner', gone: true };
    if (before) {
      for (const [id, type] of before.nodes) {
        if (scan.nodes.has(id)) continue;
        gone.push({ ...base, kind: 'node', id, dst: '', type, account: r.account, region: r.region });
        this.#changed.set(node(id), null);
      }
      for (const e of before.edges) {
        if (scan.edges.has(e)) continue;
        const [src, type, dst] = e.split('\u0000') as [string, string, string];
        gone.push({ ...base, kind: 'edge', id: src, dst, type });
        this.#changed.set(edge(e), null);
      }
    }
    for (const [id, type] of scan.nodes) if (before?.nodes.get(id) !== type) this.#changed.set(node(id), type);
    for (const e of scan.edges) if (!before?.edges.has(e)) this.#changed.set(edge(e), 1);
    if (scan.nodes.size || scan.edges.size) this.#scopes.set(r.scope, { nodes: scan.nodes, edges: scan.edges });
    else this.#scopes.delete(r.scope);
    return gone;
  }

  /** The changelog entries changed since the last call. */
  takeChanges(): Map<string, string | number | null> {
    const out = this.#changed;
    this.#changed = new Map();
    return out;
  }

  /** Puts back what each scope holds, read from the changelog, before any record is handled. */
  restore(entries: Iterable<[string, string | number]>): void {
    for (const [key, value] of entries) {
      const kind = key.slice(0, 2);
      const rest = key.slice(2);
      const cut = rest.indexOf('\u0000');
      const scope = rest.slice(0, cut);
      let h = this.#scopes.get(scope);
      if (!h) this.#scopes.set(scope, (h = empty()));
      if (kind === 'n\u0000') h.nodes.set(rest.slice(cut + 1), String(value));
      else if (kind === 'e\u0000') h.edges.add(rest.slice(cut + 1));
    }
  }

  /** Scopes known. */
  get scopes(): number {
    return this.#scopes.size;
  }

  /** Lowest offset still needed per partition: the first record of each scan under way. */
  heldOffsets(): HeldOffsets {
    const held = new Holds();
    for (const s of this.#scans.values()) held.hold(s.first);
    return held.offsets;
  }
}
