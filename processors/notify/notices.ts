/*
 * What the engine's, the drift processor's and the health rules' records say, as notices: one fact
 * (its identity, stable from firing to resolved), the state it is in (what makes it worth telling
 * again), its words, and the record itself. The sentences come from `airdig explain`'s own
 * functions, so a webhook reads like the CLI.
 */
import { chainSentence, shortId, type Evidence } from '../explanations/sentences.js';
import { shortActor } from '../identity/aws.js';
import type { Correlation, Incident } from '../model/correlations.js';
import type { DriftEvent } from '../model/drift.js';
import type { HealthFact } from '../model/health.js';
import type { EventKind } from './config.js';

export interface Notice {
  kind: EventKind;
  /** The fact: the same for its firing and its resolved notice ("incident:inc-…"). */
  key: string;
  /** What is new about it: a notice whose state was already told for its key is not sent again. */
  state: string;
  status: 'firing' | 'resolved';
  /** The record's own id. */
  id: string;
  /** The record's version time (incidents, correlations) or event time (drift, health), Unix ms. */
  revision: number;
  /** Event time the fact began, and (resolved) ended, Unix ms. */
  startsMs: number;
  endsMs: number;
  severity: 'critical' | 'warning' | 'info';
  /** Identity labels, the same from firing to resolved (Alertmanager's fingerprint is made of them). */
  labels: Record<string, string>;
  /** One line that says it all. */
  summary: string;
  /** Further lines (causes, the diff, the reason). */
  details: string[];
  /** The record as decoded. */
  record: Incident | Correlation | DriftEvent | HealthFact;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const U64 = 0xffffffffffffffffn;
const SEPARATOR = Uint8Array.of(255);
const utf8 = new TextEncoder();

/** FNV-1a, 64 bits, continued from h over bytes. */
export function fnv1a64(bytes: Uint8Array, h = FNV_OFFSET): bigint {
  for (const b of bytes) h = ((h ^ BigInt(b)) * FNV_PRIME) & U64;
  return h;
}

/**
 * A label set's fingerprint as Alertmanager computes an alert's (Prometheus' LabelSet.Fingerprint):
 * FNV-1a 64 over each name and value in name order, each followed by the byte 255; 16 hex digits.
 */
export function fingerprint(labels: Record<string, string>): string {
  let h = FNV_OFFSET;
  for (const k of Object.keys(labels).sort()) h = fnv1a64(SEPARATOR, fnv1a64(utf8.encode(labels[k]), fnv1a64(SEPARATOR, fnv1a64(utf8.encode(k), h))));
  return h.toString(16).padStart(16, '0');
}

const names = (ids: string[], max = 5) =>
  ids.length > max
    ? `${ids
        .slice(0, max)
        .map((id) => shortId(id))
        .join(', ')} and ${ids.length - max} more`
    : ids.map((id) => shortId(id)).join(', ');

export function incidentNotice(i: Incident): Notice {
  const top = i.causes[0];
  const firing = i.status === 'open';
  // Opened, its top cause changed, resolved or merged: each a state worth a notice; a revision with new scores is not.
  const state = firing ? `open:${top?.cause_id ?? ''}` : i.status;
  const impacted = names(i.impacted);
  const summary = firing
    ? `Incident ${i.id}: ${impacted} impacted${top ? `; most probable cause: ${top.explanation}` : '; no cause found yet'}`
    : i.status === 'merged'
      ? `Incident ${i.id} merged into ${i.merged_into}`
      : `Incident ${i.id} resolved: ${impacted}`;
  const details = i.causes.map(
    (c, n) => `${n + 1}. ${c.cause_kind} ${c.cause_id} on ${shortId(c.resource_id)}: probability ${c.probability.toFixed(2)}, score ${c.score.toFixed(2)}`,
  );
  return {
    kind: 'incident',
    key: `incident:${i.id}`,
    state,
    status: firing ? 'firing' : 'resolved',
    id: i.id,
    revision: i.revision_ms,
    startsMs: i.opened_ms || i.revision_ms,
    endsMs: firing ? 0 : i.resolved_ms || i.revision_ms,
    severity: 'critical',
    labels: { alertname: 'AirDigIncident', incident_id: i.id, severity: 'critical' },
    summary,
    details,
    record: i,
  };
}

/** The evidence's chain in words; a correlation whose evidence is not the engine's JSON is told by its ids. */
function correlationSentence(c: Correlation): string {
  try {
    const e = JSON.parse(c.evidence) as Evidence;
    if (e?.change && Array.isArray(e.path) && e.signal) return chainSentence(e, c.score);
  } catch {
    // Told by its ids below.
  }
  return `${c.cause_kind} ${c.cause_id} on ${shortId(c.cause_resource_id)} → ${c.signal} on ${shortId(c.impacted_resource_id)}; score ${c.score.toFixed(2)}`;
}

export function correlationNotice(c: Correlation): Notice {
  const claim = c.score >= 0.5;
  return {
    kind: 'correlation',
    key: `correlation:${c.id}`,
    // A weak lead that becomes a claim is news; a score revised within the same class is not.
    state: claim ? 'claim' : 'lead',
    status: 'firing',
    id: c.id,
    revision: c.revision_ms,
    startsMs: c.ts_ms,
    endsMs: 0,
    severity: claim ? 'warning' : 'info',
    labels: { alertname: 'AirDigCorrelation', correlation_id: c.id, incident_id: c.incident_id, resource: c.impacted_resource_id },
    summary: correlationSentence(c),
    details: [`${claim ? 'claimed' : 'weak lead'} · ${c.cause_kind} ${c.cause_id} · incident ${c.incident_id} · rank ${c.rank}`],
    record: c,
  };
}

export function driftNotice(d: DriftEvent): Notice {
  const what = d.drift === 'modified' ? `${d.attribute} changed: expected ${d.expected}, actual ${d.actual}` : d.drift === 'missing' ? 'missing' : 'unmanaged';
  const cause = d.cause_event_id
    ? ` (last change: ${new Date(d.cause_ts_ms).toISOString().slice(11, 19)} ${d.cause_actor ? `${shortActor(d.cause_actor)} ` : ''}${d.cause_event_name})`
    : '';
  return {
    kind: 'drift',
    key: `drift:${d.id}`,
    // The id is a hash of what drifted: the same drift seen again is the same fact, told once.
    state: 'seen',
    status: 'firing',
    id: d.id,
    revision: d.ts_ms,
    startsMs: d.ts_ms,
    endsMs: 0,
    severity: d.drift === 'unmanaged' ? 'info' : 'warning',
    labels: { alertname: 'AirDigDrift', drift_id: d.id, resource: d.resource_id, drift: d.drift },
    summary: `Drift on ${d.resource_type} ${d.address || shortId(d.resource_id)}: ${what}${cause}`,
    details: [`${d.drift} · ${d.resource_id}${d.scan_id ? ` · scan ${d.scan_id}` : ''}`],
    record: d,
  };
}

/** A health rule on a resource (and, for edge signals, on one edge): its firing and resolved facts share it. */
export function healthNotice(f: HealthFact): Notice {
  const labels: Record<string, string> = { alertname: 'AirDigHealth', resource: f.resource_id, rule: f.rule };
  for (const k of ['client_id', 'server_id', 'role']) if (f.labels[k]) labels[k] = f.labels[k]!;
  const firing = f.state === 'firing';
  return {
    kind: 'health',
    key: `health:${fingerprint(labels)}`,
    state: firing ? `firing:${f.status}` : 'resolved',
    status: firing ? 'firing' : 'resolved',
    id: f.id,
    revision: f.ts_ms,
    startsMs: f.labels.onset ? Date.parse(f.labels.onset) || f.ts_ms : f.ts_ms,
    endsMs: firing ? 0 : f.ts_ms,
    severity: f.status === 'critical' ? 'critical' : f.status === 'warning' ? 'warning' : 'info',
    labels,
    summary: firing ? `${shortId(f.resource_id)} ${f.status}: ${f.reason || f.rule}` : `${shortId(f.resource_id)} ${f.rule} resolved (now ${f.status})`,
    details: [`${f.rule}${f.metric ? ` · ${f.metric}` : ''} · value ${f.value} · threshold ${f.threshold}`],
    record: f,
  };
}
