/*
 * airdig.changes: changes to resources, each once (Avro schemas/avro/change.avsc), keyed by the
 * first resource it touched. One record shape for every kind: CloudTrail calls, deploys (seen in
 * spans and scans) and changes posted to /v1/changes.
 */
import { createHash } from 'node:crypto';
import { avroCodec } from '../runtime/avro.js';

export const CHANGES_TOPIC = 'airdig.changes';
/** Raw CloudTrail records (one record's JSON each), as the intake and the LookupEvents poller write them. */
export const CLOUDTRAIL_TOPIC = 'cloudtrail_events';

export const CHANGE_KINDS = ['cloudtrail', 'deploy', 'change_api'] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

/** A change as AirDig keeps it (Avro schemas/avro/change.avsc, table change_events). */
export interface ChangeEvent {
  /** CloudTrail's eventID, else the change id (given, or changeId() of what makes the change). */
  event_id: string;
  ts_ms: number;
  source: string;
  event_source: string;
  event_name: string;
  actor: string;
  actor_type: string;
  account: string;
  region: string;
  resource_ids: string[];
  read_only: boolean;
  error_code: string;
  error_message: string;
  source_ip: string;
  user_agent: string;
  /** Added with defaults: a record written before has kind cloudtrail, summary '' and details '{}'. */
  kind: ChangeKind;
  /** One line a person reads ("orders 1.4.2 → 1.5.0"). */
  summary: string;
  /** A JSON object: what changed. */
  details: string;
}

export const changeCodec = avroCodec<ChangeEvent>('change');

/** The message of a change on airdig.changes: keyed by its first resource, else its id. */
export function changeMessage(e: ChangeEvent): { key: string; value: Buffer; timestamp: number } {
  return { key: e.resource_ids[0] ?? e.event_id, value: changeCodec.encode(e), timestamp: e.ts_ms };
}

/** A change that is not a CloudTrail call: the CloudTrail-only fields empty. */
export function otherChange(
  c: Pick<ChangeEvent, 'event_id' | 'ts_ms' | 'source' | 'resource_ids' | 'kind' | 'summary' | 'details'> & Partial<ChangeEvent>,
): ChangeEvent {
  return {
    event_source: '',
    event_name: '',
    actor: '',
    actor_type: '',
    account: '',
    region: '',
    read_only: false,
    error_code: '',
    error_message: '',
    source_ip: '',
    user_agent: '',
    ...c,
  };
}

/** A deterministic change id: the same parts give the same id, so a resend or a replay is the same change. */
export function changeId(...parts: (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 32);
}

/**
 * An object as the details JSON, at most maxBytes long: past it, top-level keys are kept in order
 * while they fit and "_truncated": true says some were left out (a value that alone is too long
 * is left out too).
 */
export function boundedDetails(details: Record<string, unknown>, maxBytes: number): string {
  const whole = JSON.stringify(details);
  if (Buffer.byteLength(whole) <= maxBytes) return whole;
  const marker = '"_truncated":true';
  let out = '{';
  let used = Buffer.byteLength(out) + Buffer.byteLength(marker) + 1;
  for (const [k, v] of Object.entries(details)) {
    if (v === undefined) continue;
    const part = `${JSON.stringify(k)}:${JSON.stringify(v)},`;
    const n = Buffer.byteLength(part);
    if (used + n > maxBytes) continue;
    out += part;
    used += n;
  }
  return `${out}${marker}}`;
}
