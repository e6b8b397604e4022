import { createHash } from 'node:crypto';
import { MalformedInputError } from '../runtime/errors.js';
import { nanosToIso } from '../otlp/values.js';

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

/**
 * The canonical id of a container: `container:` and the first 12 hex digits of its id, the short
 * form Docker and Falco print, so a full 64-digit id (OTel's container.id, a runtime prefix such as
 * containerd:// removed) and Falco's 12-character one name the same resource.
 */
export function containerResource(id: string): string {
  const hex = id.replace(/^[a-z0-9-]+:\/\//i, '').toLowerCase();
  return /^[0-9a-f]{12,}$/.test(hex) ? `container:${hex.slice(0, 12)}` : '';
}

const text = (v: unknown) => (v === null || v === undefined ? '' : typeof v === 'string' ? v : typeof v === 'object' ? JSON.stringify(v) : String(v));

/**
 * Where an alert happened, most specific known resource first: the Kubernetes pod
 * (`k8s:<cluster>/<ns>/pod/<name>`), else the container, else the host.
 */
export function falcoResource(fields: Record<string, string>, hostname: string, cluster = ''): string {
  const ns = fields['k8s.ns.name'];
  const pod = fields['k8s.pod.name'];
  if (ns && pod && ns !== '<NA>' && pod !== '<NA>') return `k8s:${cluster}/${ns}/pod/${pod}`;
  const cid = fields['container.id'];
  if (cid && cid !== 'host') {
    const c = containerResource(cid);
    if (c) return c;
  }
  return hostname ? `host:${hostname}` : '';
}

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

/**
 * A POST body of Falco alerts: one event or a list. Returns the events that are valid and a message
 * per invalid one; a body that is not JSON at all, or neither an object nor a list, is an error.
 */
export function parseFalcoBody(body: string, cluster = ''): { events: { row: RuntimeEventRow; json: string }[]; errors: string[] } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    throw new MalformedInputError(`Falco body is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null) throw new MalformedInputError('Falco body is neither an event object nor a list of events');
  const list = Array.isArray(parsed) ? parsed : [parsed];
  const events: { row: RuntimeEventRow; json: string }[] = [];
  const errors: string[] = [];
  list.forEach((o, i) => {
    try {
      events.push({ row: normalizeFalcoEvent(o, cluster), json: JSON.stringify(o) });
    } catch (err) {
      errors.push(Array.isArray(parsed) ? `event ${i}: ${(err as Error).message}` : (err as Error).message);
    }
  });
  return { events, errors };
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
