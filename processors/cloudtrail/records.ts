import { MalformedInputError } from '../runtime/errors.js';
import { parseJsonBody } from '../runtime/json-body.js';
import { resolveResources } from './resources.js';
import { boundedDetails, type ChangeEvent } from '../model/changes.js';

type Doc = Record<string, unknown>;

const EVENTBRIDGE_DETAIL_TYPE = 'AWS API Call via CloudTrail';
const str = (v: unknown) => (typeof v === 'string' ? v : '');

/**
 * The records in a body as AWS delivers CloudTrail: an S3 log file (`{"Records": [...]}`, gzip or
 * not), an EventBridge event (`detail-type: "AWS API Call via CloudTrail"`, the record in
 * `detail`), a list of either, or a single record. Records that are not records are named in
 * `errors`; the rest is kept.
 */
export function parseCloudTrailBody(body: Buffer): { records: Doc[]; errors: string[] } {
  const doc = parseJsonBody(body, 'CloudTrail body');
  const records: Doc[] = [];
  const errors: string[] = [];
  const take = (o: unknown, where: string) => {
    if (typeof o !== 'object' || o === null || Array.isArray(o)) {
      errors.push(`${where}: not a JSON object`);
      return;
    }
    const d = o as Doc;
    if ('detail-type' in d) {
      if (d['detail-type'] !== EVENTBRIDGE_DETAIL_TYPE) {
        errors.push(
          `${where}: EventBridge event of detail-type ${JSON.stringify(d['detail-type'])}; only "${EVENTBRIDGE_DETAIL_TYPE}" carries a CloudTrail record`,
        );
        return;
      }
      return take(d.detail, `${where}.detail`);
    }
    const problem = recordProblem(d);
    if (problem) errors.push(`${where}: ${problem}`);
    else records.push(d);
  };
  if (typeof doc === 'object' && doc !== null && !Array.isArray(doc) && 'Records' in doc) {
    const list = (doc as Doc).Records;
    if (!Array.isArray(list))
      throw new MalformedInputError(`"Records" is ${list === null ? 'null' : typeof list}, not an array: a CloudTrail log file is {"Records": [...]}`);
    list.forEach((r, i) => take(r, `Records[${i}]`));
  } else if (Array.isArray(doc)) {
    doc.forEach((r, i) => take(r, `[${i}]`));
  } else if (typeof doc === 'object' && doc !== null) {
    take(doc, 'body');
  } else {
    throw new MalformedInputError('CloudTrail body is neither a log file ({"Records": [...]}), an EventBridge event, a record nor a list of them');
  }
  return { records, errors };
}

/** What keeps an object from being a CloudTrail record; undefined when it is one. */
export function recordProblem(d: Doc): string | undefined {
  for (const k of ['eventID', 'eventTime', 'eventSource', 'eventName'])
    if (typeof d[k] !== 'string' || d[k] === '') return `not a CloudTrail record: no "${k}"`;
  if (Number.isNaN(Date.parse(d.eventTime as string))) return `eventTime ${JSON.stringify(d.eventTime)} is not a time`;
  return undefined;
}

/** Who made the call: the principal's ARN, else the AWS service that called on its behalf, else its principal id. */
function actorOf(u: Doc | undefined): string {
  if (!u) return '';
  return str(u.arn) || str(u.invokedBy) || str(u.principalId) || str(u.userName);
}

/** Longest details JSON a CloudTrail change carries (its request parameters). */
export const CLOUDTRAIL_DETAILS_BYTES = 2048;

/** The short name a person knows an actor or a resource by: alice of …:user/alice, sg-0abc of …:security-group/sg-0abc. */
export function shortName(id: string): string {
  if (!id.startsWith('arn:')) return id;
  const resource = id.split(':').slice(5).join(':');
  const parts = resource.split('/');
  // assumed-role/Role/session: the session names who it was; user/path/alice: the last part.
  return parts.at(-1) || resource;
}

/** One line: who did what to which resource ("alice RevokeSecurityGroupIngress sg-0abc"), and whether it failed. */
export function cloudTrailSummary(e: Pick<ChangeEvent, 'actor' | 'event_name' | 'resource_ids' | 'error_code'>): string {
  const words = [e.actor ? shortName(e.actor) : 'someone', e.event_name];
  if (e.resource_ids[0]) words.push(shortName(e.resource_ids[0]) + (e.resource_ids.length > 1 ? ` (+${e.resource_ids.length - 1})` : ''));
  return words.join(' ') + (e.error_code ? ` (failed: ${e.error_code})` : '');
}

/** The request parameters that say something (no null or empty values), at most CLOUDTRAIL_DETAILS_BYTES. */
function cloudTrailDetails(d: Doc): string {
  const p = d.requestParameters;
  if (typeof p !== 'object' || p === null || Array.isArray(p)) return '{}';
  const kept = Object.entries(p as Doc).filter(([, v]) => v !== null && v !== '' && !(typeof v === 'object' && Object.keys(v as object).length === 0));
  return boundedDetails(Object.fromEntries(kept), CLOUDTRAIL_DETAILS_BYTES);
}

/** A checked record as a change event, with the resources it touched. */
export function changeEvent(d: Doc): ChangeEvent {
  const problem = recordProblem(d);
  if (problem) throw new MalformedInputError(problem);
  const u = (typeof d.userIdentity === 'object' && d.userIdentity !== null ? d.userIdentity : undefined) as Doc | undefined;
  const name = d.eventName as string;
  const readOnly = d.readOnly === true || d.readOnly === 'true' || (d.readOnly === undefined && /^(Describe|List|Get|Lookup|Head)/.test(name));
  const e: Omit<ChangeEvent, 'summary'> = {
    event_id: d.eventID as string,
    ts_ms: Date.parse(d.eventTime as string),
    source: 'cloudtrail',
    event_source: d.eventSource as string,
    event_name: name,
    actor: actorOf(u),
    actor_type: str(u?.type),
    account: str(d.recipientAccountId) || str(u?.accountId),
    region: str(d.awsRegion),
    resource_ids: resolveResources(d),
    read_only: readOnly,
    error_code: str(d.errorCode),
    error_message: str(d.errorMessage),
    source_ip: str(d.sourceIPAddress),
    user_agent: str(d.userAgent),
    kind: 'cloudtrail',
    details: cloudTrailDetails(d),
  };
  return { ...e, summary: cloudTrailSummary(e) };
}

/** A cloudtrail_events record (one CloudTrail record's JSON) back into a change event. */
export function decodeCloudTrailRecord(value: Buffer): ChangeEvent {
  let d: unknown;
  try {
    d = JSON.parse(value.toString('utf8'));
  } catch (err) {
    throw new MalformedInputError(`cloudtrail_events record is not JSON: ${(err as Error).message}`);
  }
  if (typeof d !== 'object' || d === null || Array.isArray(d)) throw new MalformedInputError('cloudtrail_events record is not a JSON object');
  return changeEvent(d as Doc);
}

/** A record as the cloudtrail_events topic carries it: the record's JSON, keyed by its first resource (else its eventID). */
export function cloudTrailMessage(record: Doc, json = JSON.stringify(record)): { key: string; value: Buffer } {
  return { key: resolveResources(record)[0] ?? (record.eventID as string), value: Buffer.from(json) };
}
