/*
 * What the deploys processor remembers and decides: per service its last version and environment
 * (from span resources), per Kubernetes workload its last images (from scans). A first sighting
 * is the baseline; a later difference is a deploy. The entries are the processor's changelog state.
 */
import { serviceId } from '../identity/ids.js';
import { changeId, otherChange, type ChangeEvent } from '../model/changes.js';
import type { ScannerRecord } from '../model/inventory.js';

/** A service as its span resources name it. */
export interface ServiceSighting {
  id: string;
  namespace: string;
  name: string;
  version: string;
  environment: string;
}

/** Stored per service: version, environment, since when (span time), and what it replaced. */
interface ServiceState {
  v: string;
  e: string;
  since: number;
  pv?: string;
  pe?: string;
}

/** Stored per workload: its images by container, since when (scan time). */
interface WorkloadState {
  images: Record<string, string>;
  since: number;
}

export type StoredDeployValue = ServiceState | WorkloadState;

const SERVICE = 'service\u0000';
const WORKLOAD = 'workload\u0000';
/** Scanned types whose images are compared (scanners/k8s.ts puts `images` into their attributes). */
export const WORKLOAD_TYPES = new Set(['k8s:deployment', 'k8s:replicaset', 'k8s:statefulset', 'k8s:daemonset']);

/** The service a span resource names, with the version and environment it runs; undefined without service.name or either of them. */
export function serviceSighting(attrs: Record<string, string>): ServiceSighting | undefined {
  const name = attrs['service.name'];
  if (!name) return undefined;
  const version = attrs['service.version'] ?? '';
  const environment = attrs['deployment.environment.name'] || attrs['deployment.environment'] || '';
  if (!version && !environment) return undefined;
  const namespace = attrs['service.namespace'] ?? '';
  return { id: serviceId(namespace, name), namespace, name, version, environment };
}

/** Images as one comparable string: container names in order. */
const imagesKey = (images: Record<string, string>) => JSON.stringify(Object.entries(images).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));

export class DeployTracker {
  /** Least recently seen first (a Map keeps insertion order; a sighting moves its entry to the end). */
  readonly #entries = new Map<string, StoredDeployValue>();
  readonly #changes = new Map<string, StoredDeployValue | null>();
  constructor(readonly o: { maxRemembered: number; rolloutOverlapMs: number }) {}

  get size(): number {
    return this.#entries.size;
  }

  restore(state: Map<string, StoredDeployValue>): void {
    this.#entries.clear();
    this.#changes.clear();
    for (const [k, v] of state) this.#entries.set(k, v);
    this.#evict();
  }

  /** Changes to store since the last call: a value to put, null to delete. */
  takeChanges(): [string, StoredDeployValue | null][] {
    const out = [...this.#changes];
    this.#changes.clear();
    return out;
  }

  /** Whether a sighting differs from what is remembered (the caller then reads its spans' start times for observeService). */
  differs(s: ServiceSighting): boolean {
    const cur = this.#entries.get(SERVICE + s.id) as ServiceState | undefined;
    if (!cur) return true;
    this.#touch(SERVICE + s.id, cur);
    return (s.version || cur.v) !== cur.v || (s.environment || cur.e) !== cur.e;
  }

  /**
   * A service seen running a version and environment from span time `at`: the baseline at its
   * first sighting, a deploy when either differs from what it ran. An attribute a resource leaves
   * out keeps its value; a span older than the current version's first one, and spans of the
   * version it replaced within the rollout overlap, are instances not yet replaced, not a deploy.
   */
  observeService(s: ServiceSighting, at: number): ChangeEvent | undefined {
    const key = SERVICE + s.id;
    const cur = this.#entries.get(key) as ServiceState | undefined;
    if (!cur) {
      this.#remember(key, { v: s.version, e: s.environment, since: at });
      return undefined;
    }
    const v = s.version || cur.v;
    const e = s.environment || cur.e;
    if (v === cur.v && e === cur.e) return undefined;
    if (at < cur.since) return undefined;
    if (cur.pv === v && cur.pe === e && at <= cur.since + this.o.rolloutOverlapMs) return undefined;
    this.#remember(key, { v, e, since: at, pv: cur.v, pe: cur.e });
    const details: Record<string, { from: string; to: string }> = {};
    const said: string[] = [];
    const label = s.namespace ? `${s.namespace}/${s.name}` : s.name;
    if (v !== cur.v) {
      details['service.version'] = { from: cur.v, to: v };
      said.push(`${cur.v || '(no version)'} → ${v}`);
    }
    if (e !== cur.e) {
      details['deployment.environment'] = { from: cur.e, to: e };
      said.push(`environment ${cur.e || '(none)'} → ${e}`);
    }
    return otherChange({
      // What it was (and since when) and what it became: a replay onto the same state gives the same id.
      event_id: changeId('deploy', s.id, cur.v, cur.e, cur.since, v, e),
      ts_ms: at,
      kind: 'deploy',
      source: 'otlp',
      event_name: Object.keys(details).join(','),
      resource_ids: [s.id],
      summary: `${label} ${said.join(', ')}`,
      details: JSON.stringify(details),
    });
  }

  /** A scanned resource: for a workload with images, the baseline at its first scan, a deploy when they differ from the last scan's. */
  observeScan(r: ScannerRecord): ChangeEvent | undefined {
    const res = r.resource;
    if (r.kind !== 'resource' || !res || !WORKLOAD_TYPES.has(res.type)) return undefined;
    let attrs: unknown;
    try {
      attrs = JSON.parse(res.attributes);
    } catch {
      return undefined;
    }
    const images = (attrs as { images?: unknown } | null)?.images;
    if (typeof images !== 'object' || images === null || Array.isArray(images)) return undefined;
    const now = images as Record<string, string>;
    const key = WORKLOAD + res.id;
    const cur = this.#entries.get(key) as WorkloadState | undefined;
    if (!cur) {
      this.#remember(key, { images: now, since: r.seen_ms });
      return undefined;
    }
    this.#touch(key, cur);
    if (imagesKey(now) === imagesKey(cur.images) || r.seen_ms < cur.since) return undefined;
    this.#remember(key, { images: now, since: r.seen_ms });
    const said: string[] = [];
    for (const c of [...new Set([...Object.keys(cur.images), ...Object.keys(now)])].sort()) {
      const from = cur.images[c];
      const to = now[c];
      if (from !== to) said.push(`${c} ${from ?? '(none)'} → ${to ?? '(removed)'}`);
    }
    const kind = res.type.slice('k8s:'.length);
    const ns = (attrs as { namespace?: unknown }).namespace;
    return otherChange({
      event_id: changeId('deploy', res.id, imagesKey(cur.images), cur.since, imagesKey(now)),
      ts_ms: r.seen_ms,
      kind: 'deploy',
      source: 'scan',
      event_name: 'images',
      account: r.account,
      region: r.region,
      resource_ids: [res.id],
      summary: `${kind} ${typeof ns === 'string' && ns ? `${ns}/` : ''}${res.name}: ${said.join('; ')}`,
      details: JSON.stringify({ images: { from: cur.images, to: now } }),
    });
  }

  #touch(key: string, value: StoredDeployValue): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
  }

  #remember(key: string, value: StoredDeployValue): void {
    this.#touch(key, value);
    this.#changes.set(key, value);
    this.#evict();
  }

  #evict(): void {
    while (this.#entries.size > this.o.maxRemembered) {
      const oldest = this.#entries.keys().next().value!;
      this.#entries.delete(oldest);
      this.#changes.set(oldest, null);
    }
  }
}
