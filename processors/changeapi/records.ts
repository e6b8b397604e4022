/*
 * The bodies POST /v1/changes takes, as change records: AirDig's own change JSON, and a PagerDuty
 * Events API v2 change event as PagerDuty's /v2/change/enqueue takes it (routing_key, payload with
 * summary, timestamp, source and custom_details, links).
 */
import { MalformedInputError } from '../runtime/errors.js';
import { parseJsonBody } from '../runtime/json-body.js';
import { boundedDetails, changeId, otherChange, type ChangeEvent, type ChangeKind } from '../model/changes.js';

type Doc = Record<string, unknown>;

/** PagerDuty's limit on payload.summary, applied to every summary. */
export const MAX_SUMMARY_CHARS = 1024;
const MAX_ID_CHARS = 256;
const MAX_RESOURCES = 100;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
/** PagerDuty's own example writes the offset without a colon (2020-07-17T08:42:58.315+0000). */
const PAGERDUTY_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:?\d{2})$/;
const API_KINDS: ChangeKind[] = ['deploy', 'change_api'];

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);

export interface ChangeParseOptions {
  /** Receipt time: a PagerDuty event without payload.timestamp happened now. */
  now: number;
  maxDetailsBytes: number;
}

/**
 * The changes in a body: one change object or a list of them, each AirDig's change JSON or a
 * PagerDuty change event. Items that are neither are named in `errors` ("[2]: no \"summary\""); the
 * rest is kept. A body that is not JSON, or neither an object nor a list, throws.
 */
export function parseChangesBody(body: Buffer, o: ChangeParseOptions): { changes: ChangeEvent[]; errors: string[] } {
  const doc = parseJsonBody(body, 'change body');
  const changes: ChangeEvent[] = [];
  const errors: string[] = [];
  const take = (item: unknown, where: string) => {
    try {
      changes.push(changeOf(item, o));
    } catch (err) {
      if (!(err instanceof MalformedInputError)) throw err;
      errors.push(`${where}: ${err.message}`);
    }
  };
  if (Array.isArray(doc)) doc.forEach((item, i) => take(item, `[${i}]`));
  else if (isObject(doc)) take(doc, 'body');
  else throw new MalformedInputError('change body is neither a change object nor a list of them');
  return { changes, errors };
}

/** One item as a change: a PagerDuty change event when it has a payload, else AirDig's change JSON. */
export function changeOf(item: unknown, o: ChangeParseOptions): ChangeEvent {
  if (!isObject(item)) throw new MalformedInputError('not a JSON object');
  return 'payload' in item ? pagerDutyChange(item, o) : ownChange(item, o);
}

function summaryOf(v: unknown, where: string): string {
  if (typeof v !== 'string' || v.trim() === '') throw new MalformedInputError(`no "${where}": one line saying what changed`);
  if (v.length > MAX_SUMMARY_CHARS) throw new MalformedInputError(`"${where}" is ${v.length} characters, more than ${MAX_SUMMARY_CHARS}`);
  return v.trim().replace(/\s*\n\s*/g, ' ');
}

function resourcesOf(v: unknown, where: string): string[] {
  if (!Array.isArray(v)) throw new MalformedInputError(`"${where}" is ${v === undefined ? 'missing' : typeof v}: a list of resource ids or aliases`);
  if (v.length === 0) throw new MalformedInputError(`"${where}" is empty: name at least one resource`);
  if (v.length > MAX_RESOURCES) throw new MalformedInputError(`"${where}" names ${v.length} resources, more than ${MAX_RESOURCES}`);
  const out: string[] = [];
  v.forEach((r, i) => {
    if (typeof r !== 'string' || r.trim() === '') throw new MalformedInputError(`"${where}[${i}]" is not a resource id (a non-empty string)`);
    if (!out.includes(r.trim())) out.push(r.trim());
  });
  return out;
}

function linksOf(v: unknown): { href: string; text?: string }[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (!Array.isArray(v)) throw new MalformedInputError('"links" is not a list of {"href", "text"}');
  return v.map((l, i) => {
    if (!isObject(l) || typeof l.href !== 'string' || l.href === '') throw new MalformedInputError(`"links[${i}]" has no "href"`);
    return typeof l.text === 'string' ? { href: l.href, text: l.text } : { href: l.href };
  });
}

function optionalString(d: Doc, key: string): string {
  const v = d[key];
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw new MalformedInputError(`"${key}" is ${typeof v}, not a string`);
  return v;
}

function timeOf(v: unknown, where: string, pattern: RegExp): number {
  if (typeof v !== 'string' || !pattern.test(v) || Number.isNaN(Date.parse(v)))
    throw new MalformedInputError(`"${where}" ${v === undefined ? 'is missing' : `is ${JSON.stringify(v)}`}: an RFC 3339 time such as 2026-11-23T10:00:00Z`);
  return Date.parse(v);
}

/** The details JSON: the object as given (with the links, when there are any), bounded. */
function detailsOf(details: Doc, links: { href: string }[] | undefined, maxBytes: number): string {
  return boundedDetails(links ? { ...details, links } : details, maxBytes);
}

/** AirDig's own change JSON. */
function ownChange(d: Doc, o: ChangeParseOptions): ChangeEvent {
  const ts = timeOf(d.time, 'time', RFC3339);
  const resources = resourcesOf(d.resources, 'resources');
  const summary = summaryOf(d.summary, 'summary');
  const kind = d.kind ?? 'change_api';
  if (!API_KINDS.includes(kind as ChangeKind)) throw new MalformedInputError(`"kind" is ${JSON.stringify(kind)}; use ${API_KINDS.join(' or ')}`);
  if (d.details !== undefined && !isObject(d.details)) throw new MalformedInputError('"details" is not a JSON object');
  const id = optionalString(d, 'id');
  if (id.length > MAX_ID_CHARS) throw new MalformedInputError(`"id" is ${id.length} characters, more than ${MAX_ID_CHARS}`);
  return otherChange({
    event_id: id || changeId(ts, summary, ...resources),
    ts_ms: ts,
    kind: kind as ChangeKind,
    source: optionalString(d, 'source') || 'change_api',
    actor: optionalString(d, 'actor'),
    resource_ids: resources,
    summary,
    details: detailsOf((d.details as Doc | undefined) ?? {}, linksOf(d.links), o.maxDetailsBytes),
  });
}

/** A PagerDuty Events API v2 change event, as sent to PagerDuty. The routing_key is PagerDuty's and is not kept. */
function pagerDutyChange(d: Doc, o: ChangeParseOptions): ChangeEvent {
  const p = d.payload;
  if (!isObject(p)) throw new MalformedInputError('"payload" is not an object: a PagerDuty change event is {"routing_key", "payload": {"summary", …}}');
  if (d.routing_key !== undefined && typeof d.routing_key !== 'string') throw new MalformedInputError('"routing_key" is not a string');
  const summary = summaryOf(p.summary, 'payload.summary');
  const ts = p.timestamp === undefined || p.timestamp === null ? o.now : timeOf(p.timestamp, 'payload.timestamp', PAGERDUTY_TIME);
  if (p.custom_details !== undefined && p.custom_details !== null && !isObject(p.custom_details))
    throw new MalformedInputError('"payload.custom_details" is not a JSON object');
  const { resources: listed, ...custom } = (p.custom_details as Doc | undefined) ?? {};
  const source = optionalString(p, 'source');
  let resources: string[];
  if (listed !== undefined) resources = resourcesOf(listed, 'payload.custom_details.resources');
  else if (source.trim()) resources = [source.trim()];
  else throw new MalformedInputError('names no resource: give "payload.custom_details.resources" (a list of ids) or "payload.source" (one id)');
  return otherChange({
    event_id: changeId(ts, summary, ...resources),
    ts_ms: ts,
    kind: 'change_api',
    source: 'pagerduty',
    resource_ids: resources,
    summary,
    details: detailsOf(source && listed !== undefined ? { source, ...custom } : custom, linksOf(d.links), o.maxDetailsBytes),
  });
}
