import { createHash } from 'node:crypto';
import { awsTypeOfNode, awsTypeOfTf, arnParts } from '../identity/aws.js';
import { dropAbandoned, type ManagedResource, type ScannedResource, type ScannerRecord, type TerraformRecord } from '../model/inventory.js';
import type { ChangeEvent } from '../model/changes.js';
import type { DriftEvent, DriftKind } from '../model/drift.js';
import { Holds, type HeldOffsets, type KeyedOrigin } from '../runtime/pipeline/holds.js';
import { diffAttributes } from './normalize.js';
import type { DriftIgnore } from './ignore.js';

type Doc = Record<string, unknown>;

interface Snapshot {
  lineage: string;
  serial: number;
  seen_ms: number;
  resources: Map<string, ManagedResource>;
}

interface Scan {
  scan_id: string;
  provider: string;
  account: string;
  region: string;
  seen_ms: number;
  /** Node types covered; empty: all. */
  types: Set<string>;
  resources: Map<string, ScannedResource>;
}

/** A snapshot or scan whose end has not come yet holds its first record (a bounded window: one state file or scan). */
type Pending<T> = T & { first: KeyedOrigin };

/**
 * The changelog's keys: "state\0<lineage>" (serial, seen_ms) and "state\0<lineage>\0<resource id>"
 * (the resource); "scan\0<scope>" (scan_id, provider, account, region, seen_ms, types) and
 * "scan\0<scope>\0<resource id>".
 */
export type StoredDriftValue =
  | { serial: number; seen_ms: number }
  | ManagedResource
  | { scan_id: string; provider: string; account: string; region: string; seen_ms: number; types: string[] }
  | ScannedResource;

interface Change {
  event: ChangeEvent;
  origin: KeyedOrigin;
}

export interface DriftOptions {
  /** How long before a drift was seen a change to the resource still counts as its cause. */
  causeWindowMs: number;
  ignore: DriftIgnore;
}

function driftId(resource: string, drift: DriftKind, attribute: string, expected: string, actual: string): string {
  return createHash('sha256').update(`${resource}\u0000${drift}\u0000${attribute}\u0000${expected}\u0000${actual}`).digest('hex').slice(0, 32);
}

/** The id a resource's .driftignore rules match besides its canonical id: sg-0abc from the ARN. */
function nativeId(id: string): string {
  return id.startsWith('arn:') ? arnParts(id).resource : id;
}

/**
 * DeepDrift: compares the latest Terraform state (per lineage) with the latest complete scan (per
 * scope) and reports what differs, naming the CloudTrail change that most likely caused it.
 *   missing: in state, not in a complete scan that covers its account, region and type, and that
 *            ran after the state was received (a scan older than the state says nothing about new
 *            resources);
 *   unmanaged: in a complete scan, in no state, of a type Terraform has a resource for (judged
 *              once some state is known);
 *   modified: both, an attribute differs after normalisation (normalize.ts).
 * Judged when a state snapshot or a complete scan ends. The latest state per lineage and the latest
 * complete scan per scope outlive any window: they are taken out as changes (takeChanges) for the
 * processor's changelog and put back with restore(). Snapshots and scans under way, and the changes
 * within the cause window, are bounded: they hold the first record they were built from.
 */
export class DriftTracker {
  readonly #o: DriftOptions;
  readonly #states = new Map<string, Snapshot>();
  readonly #pendingStates = new Map<string, Pending<Snapshot>>();
  readonly #scans = new Map<string, Scan>();
  readonly #pendingScans = new Map<string, Pending<Scan> & { scope: string }>();
  /** Changelog entries changed since takeChanges(): the value, or null when deleted. */
  #changed = new Map<string, StoredDriftValue | null>();
  /** Changes by resource id, and all of them in arrival order (for pruning and holds). */
  readonly #changesByResource = new Map<string, Change[]>();
  #changes: Change[] = [];
  #latestChangeMs = 0;
  /** Drifts reported and still present, by id. */
  #reported = new Map<string, DriftEvent>();
  readonly #reportedByResource = new Map<string, Set<string>>();
  /** Attributes parsed once per resource record, for every judgement that compares it. */
  readonly #parsed = new WeakMap<object, Doc>();

  constructor(options: DriftOptions) {
    this.#o = options;
  }

  /**
   * A Terraform state record; drifts when it ended a snapshot. A replayed record (read again after
   * a restart, its effects already restored) only rebuilds the snapshot under way.
   */
  observeState(r: TerraformRecord, origin: KeyedOrigin, replay = false): DriftEvent[] {
    dropAbandoned(this.#pendingStates, r.seen_ms);
    const key = `${r.lineage}\u0000${r.serial}`;
    let snap = this.#pendingStates.get(key);
    if (!snap) this.#pendingStates.set(key, (snap = { lineage: r.lineage, serial: r.serial, seen_ms: r.seen_ms, resources: new Map(), first: origin }));
    if (r.kind === 'resource') {
      snap.resources.set(r.resource!.id, r.resource!);
      return [];
    }
    this.#pendingStates.delete(key);
    if (replay) return [];
    const current = this.#states.get(r.lineage);
    // An older serial arriving late does not replace a newer one; the same serial again is a refresh.
    if (current && current.serial > r.serial) return [];
    const { first: _, ...state } = snap;
    state.seen_ms = r.seen_ms;
    this.#states.set(r.lineage, state);
    this.#stage(`state\u0000${r.lineage}`, { serial: state.serial, seen_ms: state.seen_ms }, current?.resources, state.resources);
    return this.#judge();
  }

  /** A scanner record; drifts when it ended a complete scan. A replayed record only rebuilds the scan under way. */
  observeScan(r: ScannerRecord, origin: KeyedOrigin, replay = false): DriftEvent[] {
    dropAbandoned(this.#pendingScans, r.seen_ms);
    let scan = this.#pendingScans.get(r.scan_id);
    if (!scan) {
      scan = {
        scan_id: r.scan_id,
        scope: r.scope,
        provider: r.provider,
        account: r.account,
        region: r.region,
        seen_ms: r.seen_ms,
        types: new Set(),
        resources: new Map(),
        first: origin,
      };
      this.#pendingScans.set(r.scan_id, scan);
    }
    if (r.kind === 'resource') {
      scan.resources.set(r.resource!.id, r.resource!);
      return [];
    }
    this.#pendingScans.delete(r.scan_id);
    if (r.completeness !== 'complete' || replay) return [];
    const { first: _, scope: __, ...complete } = scan;
    complete.seen_ms = r.seen_ms;
    complete.types = new Set(r.types);
    const before = this.#scans.get(r.scope);
    this.#scans.set(r.scope, complete);
    const { scan_id, provider, account, region, seen_ms } = complete;
    this.#stage(`scan\u0000${r.scope}`, { scan_id, provider, account, region, seen_ms, types: [...complete.types] }, before?.resources, complete.resources);
    return this.#judge();
  }

  /** A change; drifts already reported get it as their cause when it fits better than what they had. */
  observeChange(e: ChangeEvent, origin: KeyedOrigin): DriftEvent[] {
    if (e.read_only || e.error_code || e.resource_ids.length === 0) return [];
    const c: Change = { event: e, origin };
    this.#changes.push(c);
    if (e.ts_ms > this.#latestChangeMs) this.#latestChangeMs = e.ts_ms;
    const out: DriftEvent[] = [];
    for (const id of e.resource_ids) {
      let list = this.#changesByResource.get(id);
      if (!list) this.#changesByResource.set(id, (list = []));
      list.push(c);
      for (const driftKey of this.#reportedByResource.get(id) ?? []) {
        const d = this.#reported.get(driftKey)!;
        if (e.ts_ms <= d.ts_ms && d.ts_ms - e.ts_ms <= this.#o.causeWindowMs && e.ts_ms > d.cause_ts_ms) {
          const updated = { ...d, ...causeFields(e) };
          this.#reported.set(driftKey, updated);
          out.push(updated);
        }
      }
    }
    this.#prune();
    return out;
  }

  /** The changelog entries changed since the last call. */
  takeChanges(): Map<string, StoredDriftValue | null> {
    const out = this.#changed;
    this.#changed = new Map();
    return out;
  }

  /**
   * Puts back the latest states and scans read from the changelog, before any record is handled,
   * and judges them without reporting: what they show was reported before they were stored.
   */
  restore(entries: Iterable<[string, StoredDriftValue]>): void {
    const resources: [string, string, string, StoredDriftValue][] = [];
    for (const [key, value] of entries) {
      const [kind, name, id] = key.split('\u0000') as [string, string, string | undefined];
      if (id !== undefined) {
        resources.push([kind, name, id, value]);
      } else if (kind === 'state') {
        const v = value as { serial: number; seen_ms: number };
        this.#states.set(name, { lineage: name, serial: v.serial, seen_ms: v.seen_ms, resources: new Map() });
      } else if (kind === 'scan') {
        const v = value as { scan_id: string; provider: string; account: string; region: string; seen_ms: number; types: string[] };
        this.#scans.set(name, { ...v, types: new Set(v.types), resources: new Map() });
      }
    }
    for (const [kind, name, id, value] of resources) {
      if (kind === 'state') this.#states.get(name)?.resources.set(id, value as ManagedResource);
      else if (kind === 'scan') this.#scans.get(name)?.resources.set(id, value as ScannedResource);
    }
    this.#judge();
  }

  /** Lineages and scopes known. */
  get size(): { states: number; scans: number } {
    return { states: this.#states.size, scans: this.#scans.size };
  }

  /** Lowest offset still needed per partition. */
  heldOffsets(): HeldOffsets {
    const held = new Holds();
    for (const s of this.#pendingStates.values()) held.hold(s.first);
    for (const s of this.#pendingScans.values()) held.hold(s.first);
    for (const c of this.#changes) held.hold(c.origin);
    return held.offsets;
  }

  /** Stages a new head and the resources that differ from before (JSON-equal ones are not written again). */
  #stage<R>(head: string, value: StoredDriftValue, before: Map<string, R> | undefined, after: Map<string, R>): void {
    this.#changed.set(head, value);
    for (const [id, r] of after) {
      const old = before?.get(id);
      if (old === undefined || JSON.stringify(old) !== JSON.stringify(r)) this.#changed.set(`${head}\u0000${id}`, r as StoredDriftValue);
    }
    if (before) for (const id of before.keys()) if (!after.has(id)) this.#changed.set(`${head}\u0000${id}`, null);
  }

  /** A resource's attributes as a document; a scanned resource's tags count as its `tags` attribute. */
  #attributes(r: ManagedResource | ScannedResource): Doc {
    let doc = this.#parsed.get(r);
    if (!doc) {
      doc = JSON.parse(r.attributes) as Doc;
      if ('tags' in r && typeof r.tags === 'object' && Object.keys(r.tags).length && !Object.hasOwn(doc, 'tags')) doc.tags = r.tags;
      this.#parsed.set(r, doc);
    }
    return doc;
  }

  /** Forgets changes older than the cause window before the newest one. */
  #prune(): void {
    const horizon = this.#latestChangeMs - this.#o.causeWindowMs;
    if (this.#changes.length === 0 || this.#changes[0]!.event.ts_ms >= horizon) return;
    const kept: Change[] = [];
    const dropped = new Set<Change>();
    const touched = new Set<string>();
    for (const c of this.#changes) {
      if (c.event.ts_ms >= horizon) kept.push(c);
      else {
        dropped.add(c);
        for (const id of c.event.resource_ids) touched.add(id);
      }
    }
    this.#changes = kept;
    for (const id of touched) {
      const list = this.#changesByResource.get(id)?.filter((x) => !dropped.has(x));
      if (list?.length) this.#changesByResource.set(id, list);
      else this.#changesByResource.delete(id);
    }
  }

  /** The latest change to a resource at or before ts, within the window. */
  #cause(resource: string, ts: number): ChangeEvent | undefined {
    let best: ChangeEvent | undefined;
    for (const c of this.#changesByResource.get(resource) ?? []) {
      const e = c.event;
      if (e.ts_ms <= ts && ts - e.ts_ms <= this.#o.causeWindowMs && (!best || e.ts_ms > best.ts_ms)) best = e;
    }
    return best;
  }

  /** Whether a complete scan that ran after `since` covers this resource's account, region and type. */
  #covering(r: ManagedResource, since: number): Scan | undefined {
    const nodeType = awsTypeOfTf(r.tf_type)?.node;
    if (!nodeType) return undefined;
    for (const s of this.#scans.values()) {
      if (s.provider === 'aws' && s.account === r.account && s.region === r.region && (s.types.size === 0 || s.types.has(nodeType)) && s.seen_ms >= since)
        return s;
    }
    return undefined;
  }

  /** All drifts as the latest states and scans show them; returns those not reported before. */
  #judge(): DriftEvent[] {
    if (this.#states.size === 0) return [];
    const actual = new Map<string, { res: ScannedResource; scan: Scan }>();
    for (const scan of this.#scans.values()) for (const [id, res] of scan.resources) if (!actual.has(id)) actual.set(id, { res, scan });
    const found = new Map<string, DriftEvent>();
    const managed = new Set<string>();
    const ignore = this.#o.ignore;
    const add = (d: Omit<DriftEvent, 'id' | 'cause_event_id' | 'cause_ts_ms' | 'cause_actor' | 'cause_event_name'>) => {
      const id = driftId(d.resource_id, d.drift, d.attribute, d.expected, d.actual);
      const known = this.#reported.get(id);
      if (known) return found.set(id, known);
      const cause = this.#cause(d.resource_id, d.ts_ms);
      found.set(id, { ...d, id, ...causeFields(cause) });
    };
    for (const snap of this.#states.values()) {
      for (const [id, m] of snap.resources) {
        if (managed.has(id)) continue;
        managed.add(id);
        const ids = [m.native_id || nativeId(id), id];
        if (ignore.ignores(m.tf_type, ids, '')) continue;
        const base = { resource_id: id, resource_type: m.tf_type, address: m.address, lineage: snap.lineage, serial: snap.serial };
        const a = actual.get(id);
        if (!a) {
          const scan = this.#covering(m, snap.seen_ms);
          if (scan) add({ ...base, ts_ms: scan.seen_ms, drift: 'missing', attribute: '', expected: '', actual: '', scan_id: scan.scan_id });
          continue;
        }
        for (const diff of diffAttributes(m.tf_type, this.#attributes(m), this.#attributes(a.res))) {
          if (ignore.ignores(m.tf_type, ids, diff.path)) continue;
          add({
            ...base,
            ts_ms: a.scan.seen_ms,
            drift: 'modified',
            attribute: diff.path,
            expected: diff.expected,
            actual: diff.actual,
            scan_id: a.scan.scan_id,
          });
        }
      }
    }
    for (const [id, { res, scan }] of actual) {
      if (managed.has(id)) continue;
      // Unmanaged only where Terraform could manage it: types with a Terraform resource (not pods).
      const type = awsTypeOfNode(res.type)?.tf;
      if (!type || ignore.ignores(type, [nativeId(id), id], '')) continue;
      add({
        resource_id: id,
        resource_type: type,
        address: '',
        ts_ms: scan.seen_ms,
        drift: 'unmanaged',
        attribute: '',
        expected: '',
        actual: '',
        lineage: '',
        serial: 0,
        scan_id: scan.scan_id,
      });
    }
    const fresh = [...found.values()].filter((d) => !this.#reported.has(d.id));
    this.#reported = found;
    this.#reportedByResource.clear();
    for (const d of found.values()) {
      let set = this.#reportedByResource.get(d.resource_id);
      if (!set) this.#reportedByResource.set(d.resource_id, (set = new Set()));
      set.add(d.id);
    }
    return fresh;
  }
}

function causeFields(e: ChangeEvent | undefined): Pick<DriftEvent, 'cause_event_id' | 'cause_ts_ms' | 'cause_actor' | 'cause_event_name'> {
  return e
    ? { cause_event_id: e.event_id, cause_ts_ms: e.ts_ms, cause_actor: e.actor, cause_event_name: e.event_name }
    : { cause_event_id: '', cause_ts_ms: 0, cause_actor: '', cause_event_name: '' };
}
