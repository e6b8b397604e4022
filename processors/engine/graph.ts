import type { TopologyRecord } from '../model/topology.js';
import { aliasesOf, hostOf } from '../identity/aliases.js';

/*
 * The unified graph as the engine walks it: nodes and typed edges from airdig.topology (scans and
 * placement), call edges from airdig.edges, and an alias table (every other name of a node → its
 * canonical id). Walking goes from an impacted resource to what it depends on.
 */

/** How each edge type carries dependency: 'forward' (src depends on dst), 'reverse' (dst depends on src). */
const DEPENDENCY: Record<string, 'forward' | 'reverse'> = {
  runs_on: 'forward', // a service on its instance / pod / node / container, a pod on its node, a node on its instance
  member_of: 'forward', // an instance in its subnet and security groups, a subnet in its VPC, a target group of its load balancer
  owned_by: 'forward', // a pod of its ReplicaSet, a ReplicaSet of its Deployment
  calls: 'forward', // a client on the server it calls
  attached_to: 'reverse', // an instance on its volumes and network interfaces
  routes_to: 'reverse', // a target on the load balancer, target group or Kubernetes service routing to it
};

/** The key under which a host's runs_on edges are touched (a scrape target resolves by them). */
const RUNS_ON = 'runs_on\u0000';

export interface Hop {
  /** The node reached, and the edge type that led there from the previous one. */
  id: string;
  via: string;
}

/** A node a walk reached: how far, by which edge type, from which node (undefined at the start). */
export interface Reached extends Hop {
  hops: number;
  prev: Reached | undefined;
}

/** The walk's path to a node: from the impacted node (first) to this one (last). */
export function pathOf(r: Reached): Hop[] {
  const out: Hop[] = [];
  for (let x: Reached | undefined = r; x; x = x.prev) out.push({ id: x.id, via: x.via });
  return out.reverse();
}

interface NodeInfo {
  type: string;
  name: string;
  /** Which sources reported it (scanner, traces): a node lives while one of them has it. */
  sources: Set<string>;
}

export class Graph {
  readonly #nodes = new Map<string, NodeInfo>();
  /** src → edge key (type\0dst) → sources. */
  readonly #out = new Map<string, Map<string, Set<string>>>();
  /** dst → edge key (type\0src) → sources. */
  readonly #in = new Map<string, Map<string, Set<string>>>();
  /** client → server → last seen (ms). */
  readonly #calls = new Map<string, Map<string, number>>();
  readonly #callers = new Map<string, Set<string>>();
  readonly #aliases = new Map<string, string>();
  /** A virtual server's address (server.address of the calls to it). */
  readonly #addresses = new Map<string, string>();
  #version = 0;
  /** Keys (node ids, aliases, server ids) whose meaning changed since takeTouched(): the walks that looked them up are stale. */
  #touched = new Set<string>();
  #callersCache: { version: number; byServer: Map<string, Set<string>> } | undefined;
  /**
   * Per node, its topology edges in the direction of dependence, flat [node, edge type, …]: what it
   * depends on (`ahead`) and what depends on it (`behind`), made on first use and dropped when an
   * edge of the node comes or goes (walks run far more often than edges change).
   */
  readonly #ahead = new Map<string, string[]>();
  readonly #behind = new Map<string, string[]>();

  /** Changes whenever the graph does: evaluations made on an older version are stale. */
  get version(): number {
    return this.#version;
  }

  /**
   * The keys touched since the last call: a node's id when it comes, goes or changes name or type,
   * an alias that names another node than before, the dependent end of an edge that came or went
   * (and a host whose runs_on edges did), a client whose calls changed, a server whose address did.
   * A walk that looked none of them up (dependencies() tells which it did) is as it would be now.
   */
  takeTouched(): Set<string> {
    const out = this.#touched;
    this.#touched = new Set();
    return out;
  }

  get nodes(): number {
    return this.#nodes.size;
  }

  /** How much it holds, for metrics and the benchmark. */
  sizes(): Record<string, number> {
    let calls = 0;
    for (const m of this.#calls.values()) calls += m.size;
    return {
      nodes: this.#nodes.size,
      aliases: this.#aliases.size,
      outIndex: this.#out.size,
      inIndex: this.#in.size,
      callClients: this.#calls.size,
      calls,
      callServers: this.#callers.size,
    };
  }

  has(id: string): boolean {
    return this.#nodes.has(id);
  }

  typeOf(id: string): string {
    return this.#nodes.get(id)?.type ?? (id.startsWith('service:') ? 'service' : '');
  }

  nameOf(id: string): string {
    return this.#nodes.get(id)?.name || id;
  }

  applyTopology(r: TopologyRecord): void {
    this.#version++;
    // Only what changes what a walk finds is touched (a scan reporting the same node again touches nothing).
    if (r.kind === 'node') {
      let n = this.#nodes.get(r.id);
      if (r.gone) {
        n?.sources.delete(r.source);
        if (n && n.sources.size === 0) {
          this.#nodes.delete(r.id);
          this.#touched.add(r.id);
        }
        return;
      }
      if (!n) {
        this.#nodes.set(r.id, (n = { type: r.type, name: r.name, sources: new Set() }));
        this.#touched.add(r.id);
      }
      n.sources.add(r.source);
      const type = r.source === 'scanner' || !n.type ? r.type : n.type;
      const name = r.name && (r.source === 'scanner' || !n.name) ? r.name : n.name;
      if (type !== n.type || name !== n.name) this.#touched.add(r.id);
      n.type = type;
      n.name = name;
      for (const a of aliasesOf(r))
        if (this.#aliases.get(a) !== r.id) {
          this.#aliases.set(a, r.id);
          this.#touched.add(a);
        }
      return;
    }
    const out = link(this.#out, r.id, `${r.type}\u0000${r.dst}`, r.source, r.gone);
    link(this.#in, r.dst, `${r.type}\u0000${r.id}`, r.source, r.gone);
    if (!out) return;
    for (const id of [r.id, r.dst]) {
      this.#ahead.delete(id);
      this.#behind.delete(id);
    }
    // A walk reads an edge from the side that depends on the other (and a scrape target's host, its runs_on edges).
    if (DEPENDENCY[r.type] === 'reverse') this.#touched.add(r.dst);
    else this.#touched.add(r.id);
    if (r.type === 'runs_on') this.#touched.add(`${RUNS_ON}${r.dst}`);
  }

  applyCall(client: string, server: string, seenMs: number, address = ''): void {
    let m = this.#calls.get(client);
    if (!m) this.#calls.set(client, (m = new Map()));
    if (!m.has(server)) {
      this.#version++;
      this.#touched.add(client);
    }
    m.set(server, Math.max(m.get(server) ?? 0, seenMs));
    let c = this.#callers.get(server);
    if (!c) this.#callers.set(server, (c = new Set()));
    c.add(client);
    if (address && this.#addresses.get(server) !== address.toLowerCase()) {
      this.#addresses.set(server, address.toLowerCase());
      this.#version++;
      this.#touched.add(server);
    }
  }

  /** Forgets calls not seen since `beforeMs`; returns the pairs forgotten (for the changelog). */
  expireCalls(beforeMs: number): [string, string][] {
    const gone: [string, string][] = [];
    for (const [client, servers] of this.#calls)
      for (const [server, seen] of servers)
        if (seen < beforeMs) {
          servers.delete(server);
          this.#callers.get(server)?.delete(client);
          this.#touched.add(client);
          gone.push([client, server]);
        }
    if (gone.length) this.#version++;
    return gone;
  }

  addAlias(alias: string, id: string): void {
    if (alias && alias !== id) {
      this.#aliases.set(alias.toLowerCase(), id);
      this.#touched.add(alias.toLowerCase());
    }
  }

  /**
   * The canonical id a record's resource name stands for: the id itself when the graph knows it; a
   * scrape target `target:<job>/<host>:<port>` by its host (a private IP or DNS name of a scanned
   * resource); a host `host:<name>` by its name; a virtual server (`service:/<name>`, a database or an uninstrumented peer) by its
   * name or address; any other alias. Unknown names stay as they are.
   */
  resolve(id: string, watch?: Set<string>): string {
    watch?.add(id);
    if (this.#nodes.has(id)) return id;
    const lower = id.toLowerCase();
    watch?.add(lower);
    const direct = this.#aliases.get(lower);
    if (direct) return direct;
    const target = /^target:(.*?)\/([^/]+)$/.exec(id);
    if (target) {
      const name = hostOf(target[2]!);
      watch?.add(name);
      const host = this.#aliases.get(name);
      if (!host) return id;
      watch?.add(`${RUNS_ON}${host}`);
      return this.#serviceOn(host, target[1]!);
    }
    // A host id is host:<host.id or hostname>: a scanned instance known by that name (its id, private DNS name or IP) is that host.
    const host = /^host:(.+)$/.exec(id);
    if (host) {
      const name = host[1]!.toLowerCase();
      watch?.add(name);
      return this.#aliases.get(name) ?? id;
    }
    const virtual = /^service:\/(.+)$/.exec(id);
    if (virtual) {
      const address = this.#addresses.get(id);
      const name = virtual[1]!.toLowerCase();
      if (address) watch?.add(address);
      watch?.add(name);
      return (address && this.#aliases.get(address)) || this.#aliases.get(name) || id;
    }
    return id;
  }

  /**
   * A scrape target's job names what answers on that host: the service of that name (or
   * namespace/name, as OTLP metrics spell the job) running on it, when one does; else the host.
   */
  #serviceOn(host: string, job: string): string {
    if (!job) return host;
    for (const [key, sources] of this.#in.get(host) ?? []) {
      if (sources.size === 0) continue;
      const [type, src] = split(key);
      if (type !== 'runs_on' || !src.startsWith('service:')) continue;
      const [ns, name] = src.slice('service:'.length).split('/') as [string, string];
      if (job === name || job === `${ns}/${name}`) return src;
    }
    return host;
  }

  /**
   * What `from` depends on, up to maxHops edges away, each once by its shortest path (breadth first,
   * at most maxNodes). `watch` receives every key the walk looked up: when none of them is touched
   * (takeTouched()), the same walk gives the same answer.
   */
  dependencies(from: string, maxHops: number, maxNodes: number, watch?: Set<string>): Map<string, Reached> {
    const start = this.resolve(from, watch);
    const out = new Map<string, Reached>([[start, { id: start, via: '', hops: 0, prev: undefined }]]);
    let frontier = [start];
    for (let hop = 1; hop <= maxHops && frontier.length && out.size < maxNodes; hop++) {
      const next: string[] = [];
      for (const id of frontier) {
        const base = out.get(id)!;
        watch?.add(id);
        const ahead = this.#adjacent(this.#ahead, id, 'forward', 'reverse');
        for (let i = 0; i < ahead.length && out.size < maxNodes; i += 2) {
          const dst = ahead[i]!;
          if (out.has(dst)) continue;
          out.set(dst, { id: dst, via: ahead[i + 1]!, hops: hop, prev: base });
          next.push(dst);
        }
        for (const server of this.#calls.get(id)?.keys() ?? []) {
          const dst = this.resolve(server, watch);
          if (out.has(dst) || out.size >= maxNodes) continue;
          out.set(dst, { id: dst, via: 'calls', hops: hop, prev: base });
          next.push(dst);
        }
      }
      frontier = next;
    }
    return out;
  }

  /** How many services depend on `id` (within maxHops, counted up to `enough`): its criticality. */
  dependents(id: string, maxHops: number, maxNodes: number, enough = Infinity): number {
    const seen = new Set([id]);
    let frontier = [id];
    let services = 0;
    for (let hop = 1; hop <= maxHops && frontier.length && seen.size < maxNodes; hop++) {
      const next: string[] = [];
      for (const n of frontier)
        for (const src of this.#dependentsOf(n)) {
          if (seen.has(src)) continue;
          seen.add(src);
          next.push(src);
          if (this.typeOf(src) === 'service' && ++services >= enough) return services;
        }
      frontier = next;
    }
    return services;
  }

  /** What depends on id: topology edges read backwards, then the clients calling it. */
  *#dependentsOf(id: string): Iterable<string> {
    const behind = this.#adjacent(this.#behind, id, 'reverse', 'forward');
    for (let i = 0; i < behind.length; i += 2) yield behind[i]!;
    yield* this.#resolvedCallers().get(id) ?? [];
  }

  /**
   * id's neighbours by topology edges, flat [node, edge type, …]: the destinations of its out-edges
   * whose dependence runs `outward`, then the sources of its in-edges whose dependence runs `inward`.
   */
  #adjacent(cache: Map<string, string[]>, id: string, outward: 'forward' | 'reverse', inward: 'forward' | 'reverse'): string[] {
    let flat = cache.get(id);
    if (flat) return flat;
    flat = [];
    for (const [key, sources] of this.#out.get(id) ?? []) {
      if (sources.size === 0) continue;
      const [type, dst] = split(key);
      if (DEPENDENCY[type] === outward) flat.push(dst, type);
    }
    for (const [key, sources] of this.#in.get(id) ?? []) {
      if (sources.size === 0) continue;
      const [type, src] = split(key);
      if (DEPENDENCY[type] === inward) flat.push(src, type);
    }
    cache.set(id, flat);
    return flat;
  }

  /** Clients by the canonical id of the server they call (a virtual server resolved to a scanned one). */
  #resolvedCallers(): Map<string, Set<string>> {
    if (this.#callersCache?.version === this.#version) return this.#callersCache.byServer;
    const byServer = new Map<string, Set<string>>();
    for (const [server, clients] of this.#callers) {
      const id = this.resolve(server);
      let set = byServer.get(id);
      if (!set) byServer.set(id, (set = new Set()));
      for (const c of clients) set.add(c);
    }
    this.#callersCache = { version: this.#version, byServer };
    return byServer;
  }
}

function split(key: string): [string, string] {
  const i = key.indexOf('\u0000');
  return [key.slice(0, i), key.slice(i + 1)];
}

/** Adds or removes one source of an edge; whether the edge came or went by it. */
function link(index: Map<string, Map<string, Set<string>>>, from: string, key: string, source: string, gone: boolean): boolean {
  let m = index.get(from);
  if (!m) index.set(from, (m = new Map()));
  let sources = m.get(key);
  const had = sources !== undefined;
  if (!sources) m.set(key, (sources = new Set()));
  if (gone) sources.delete(source);
  else sources.add(source);
  if (sources.size === 0) m.delete(key);
  return had !== sources.size > 0;
}
