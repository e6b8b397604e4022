/*
 * falco_events: Falco alerts, one event's JSON per record as Falco sent it, keyed by resource;
 * normalised here (priority, time, the resource it happened on) for every reader.
 */
import { createHash } from 'node:crypto';
import { MalformedInputError } from '../runtime/errors.js';
import { nanosToIso } from './otlp.js';
import { falcoResource } from '../identity/resources.js';

export const FALCO_TOPIC = 'falco_events';

/** Falco's priorities, lower-cased, with the health status each raises (none below Warning). */
const PRIORITIES: Record<string, 'critical' | 'warning' | undefined> = {
  emergency: 'critical',
  alert: 'critical',
  critical: 'critical',
  error: 'warning',
  warning: 'warning',
  notice: undefined,
  informational: undefined,
  info: undefined,
  debug: undefined,
};

/** One Falco alert as AirDig keeps it (table runtime_events). */
export interface RuntimeEventRow {
  id: string;
  /** RFC 3339 UTC with nine fraction digits. */
  ts: string;
  ts_ms: number;
  rule: string;
  priority: string;
  severity: 'critical' | 'warning' | undefined;
  source: string;
  hostname: string;
  resource_id: string;
  container_id: string;
  k8s_namespace: string;
  k8s_pod: string;
  output: string;
  tags: string[];
  output_fields: Record<string, string>;
}

const RFC3339 = /^(\d{4}-\d\d-\d\d)[Tt ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|z|[+-]\d\d:\d\d)$/;

/** RFC 3339 time with up to nine fraction digits (Falco writes nanoseconds) as Unix nanoseconds. */
export function rfc3339Nanos(s: string): bigint | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1]}T${m[2]}${m[4]!.toUpperCase()}`);
  if (Number.isNaN(ms)) return undefined;
  return BigInt(ms) * 1_000_000n + BigInt((m[3] ?? '').padEnd(9, '0'));
}

const text = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));

/** One event of Falco's JSON output (http_output, falcosidekick's webhook), checked and normalised. */
export function normalizeFalcoEvent(o: unknown, cluster = ''): RuntimeEventRow {
  if (typeof o !== 'object' || o === null || Array.isArray(o)) throw new MalformedInputError('a Falco event is a JSON object');
  const e = o as Record<string, unknown>;
  const rule = e.rule;
  if (typeof rule !== 'string' || rule === '') throw new MalformedInputError('Falco event without "rule"');
  if (typeof e.priority !== 'string') throw new MalformedInputError(`Falco event "${rule}" without "priority"`);
  const priorityKey = e.priority.toLowerCase();
  if (!(priorityKey in PRIORITIES))
    throw new MalformedInputError(
      `Falco event "${rule}": unknown priority "${e.priority}" (Emergency, Alert, Critical, Error, Warning, Notice, Informational, Debug)`,
    );
  if (typeof e.time !== 'string') throw new MalformedInputError(`Falco event "${rule}" without "time"`);
  const nanos = rfc3339Nanos(e.time);
  if (nanos === undefined) throw new MalformedInputError(`Falco event "${rule}": "time" is not an RFC 3339 time: ${JSON.stringify(e.time).slice(0, 60)}`);
  const raw = e.output_fields ?? {};
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new MalformedInputError(`Falco event "${rule}": "output_fields" is not an object`);
  const fields: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) fields[k] = text(v);
  const hostname = text(e.hostname) || fields['evt.hostname'] || '';
  const output = text(e.output);
  const ts = nanosToIso(nanos);
  const id =
    typeof e.uuid === 'string' && e.uuid
      ? e.uuid
      : createHash('sha256').update(`${ts}\u0000${rule}\u0000${hostname}\u0000${output}`).digest('hex').slice(0, 32);
  const tags = Array.isArray(e.tags) ? e.tags.map(text) : [];
  const cid = fields['container.id'] ?? '';
  return {
    id,
    ts,
    ts_ms: Number(nanos / 1_000_000n),
    rule,
    priority: priorityKey === 'info' ? 'Informational' : priorityKey[0]!.toUpperCase() + priorityKey.slice(1),
    severity: PRIORITIES[priorityKey],
    source: text(e.source) || 'syscall',
    hostname,
    resource_id: falcoResource(fields, hostname, cluster),
    container_id: cid === 'host' ? '' : cid,
    k8s_namespace: fields['k8s.ns.name'] ?? '',
    k8s_pod: fields['k8s.pod.name'] ?? '',
    output,
    tags,
    output_fields: fields,
  };
}

/** A falco_events record (one event's JSON) back into its row. */
export function decodeFalcoRecord(value: Buffer, cluster = ''): RuntimeEventRow {
  let o: unknown;
  try {
    o = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new MalformedInputError(`falco_events record is not JSON: ${(err as Error).message}`);
  }
  return normalizeFalcoEvent(o, cluster);
}
