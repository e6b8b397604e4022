/*
 * Resource inventories as AirDig's topics carry them: what a scanner saw (scanner_resources) and
 * what Terraform state says should exist (terraform_state), each parsed from the JSON users POST or
 * `airdig ingest` sends, checked, and turned into Avro records that end with a marker.
 */
import { MalformedInputError } from '../runtime/errors.js';
import { parseJsonBody } from '../runtime/json-body.js';
import { arnParts, awsArn, awsTypeOfTf, awsTypeOfNode, nodeTypeOf } from '../identity/aws.js';
import type { Completeness, Relationship, ScannerRecord, TerraformRecord } from '../model/inventory.js';

type Doc = Record<string, unknown>;

const isObject = (v: unknown): v is Doc => typeof v === 'object' && v !== null && !Array.isArray(v);
const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'boolean' ? String(v) : '');

/** The latest time a JavaScript Date (and so AirDig) can hold, in Unix ms. */
const MAX_TIME_MS = 8.64e15;

function timeOf(v: unknown, fallback: number): number {
  if (typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_TIME_MS) return Math.round(v);
  const t = typeof v === 'string' ? Date.parse(v) : NaN;
  return Number.isFinite(t) ? t : fallback;
}

/** The canonical id of a resource a source names by ARN or short id. */
function canonicalId(id: string, nodeType: string, region: string, account: string): string {
  if (id.startsWith('arn:') || id.includes(':')) return id;
  const kind = awsTypeOfNode(nodeType)?.kind;
  return (kind && awsArn(id, kind, region, account)) || awsArn(id, 'ec2', region, account) || id;
}

const COMPLETENESS: readonly Completeness[] = ['complete', 'partial', 'failed'];

/**
 * A scan as POST /v1/resources takes it:
 * `{"scan": {id, provider, account, region | cluster, completeness, types, errors, time, final}, "resources": [...]}`.
 * Resources that are not valid (no id, a type AirDig does not know) are named in `errors` and the
 * rest kept; a scan that lost any resource that way is downgraded to partial, so it removes nothing.
 * A body with `"final": false` is one part of a longer scan: no end marker yet.
 */
export function parseScanBody(body: Buffer, now: number): { records: ScannerRecord[]; errors: string[] } {
  const doc = parseJsonBody(body, 'scan');
  if (!isObject(doc)) throw new MalformedInputError('a scan is a JSON object {"scan": {...}, "resources": [...]}');
  const scan = doc.scan;
  if (!isObject(scan)) throw new MalformedInputError('"scan" is missing: it names the scan (id) and its scope (provider and account/region, or cluster)');
  const scanId = str(scan.id);
  if (!scanId) throw new MalformedInputError('"scan.id" is missing');
  const provider = str(scan.provider) || (scan.cluster ? 'kubernetes' : '');
  if (!provider) throw new MalformedInputError('"scan.provider" is missing (aws, k8s, …)');
  const account = str(scan.account);
  const region = str(scan.region);
  const scope = str(scan.scope) || (scan.cluster !== undefined ? `k8s/${str(scan.cluster)}` : `${provider}/${account}/${region}`);
  if (provider === 'aws' && !account && !str(scan.scope))
    throw new MalformedInputError('"scan.account" is missing: an AWS scan covers one account (and region)');
  const completeness = (scan.completeness ?? (scan.complete === true ? 'complete' : 'partial')) as Completeness;
  if (!COMPLETENESS.includes(completeness))
    throw new MalformedInputError(`"scan.completeness" is ${JSON.stringify(scan.completeness)}; use complete, partial or failed`);
  const list = doc.resources ?? [];
  if (!Array.isArray(list)) throw new MalformedInputError(`"resources" is ${typeof list}, not an array`);
  const seen = timeOf(scan.time, now);
  const types: string[] = [];
  const errors: string[] = [];
  if (Array.isArray(scan.types)) {
    for (const t of scan.types) {
      const n = nodeTypeOf(str(t));
      if (n) types.push(n);
      else errors.push(`scan.types: unknown resource type ${JSON.stringify(t)}`);
    }
  }
  const envelope = { scan_id: scanId, scope, provider, account, region, seen_ms: seen };
  const records: ScannerRecord[] = [];
  list.forEach((r, i) => {
    const where = `resources[${i}]`;
    if (!isObject(r)) return errors.push(`${where}: not a JSON object`);
    const type = nodeTypeOf(str(r.type));
    if (!type) return errors.push(`${where}: unknown resource type ${JSON.stringify(r.type ?? null)}`);
    const rawId = str(r.id);
    if (!rawId) return errors.push(`${where}: "id" is missing`);
    if (r.attributes !== undefined && !isObject(r.attributes)) return errors.push(`${where}: "attributes" is not an object`);
    if (r.tags !== undefined && !isObject(r.tags)) return errors.push(`${where}: "tags" is not an object`);
    if (r.relationships !== undefined && !Array.isArray(r.relationships)) return errors.push(`${where}: "relationships" is not an array`);
    const rRegion = r.region === undefined ? region : str(r.region);
    const rAccount = r.account === undefined ? account : str(r.account);
    const id = canonicalId(rawId, type, rRegion, rAccount);
    const relationships: Relationship[] = [];
    for (const rel of (r.relationships as unknown[] | undefined) ?? []) {
      if (!isObject(rel) || !str(rel.type) || !str(rel.target)) return errors.push(`${where}: a relationship needs "type" and "target"`);
      relationships.push({ type: str(rel.type), target: canonicalId(str(rel.target), '', rRegion, rAccount) });
    }
    const tags: Record<string, string> = {};
    for (const [k, v] of Object.entries((r.tags as Doc | undefined) ?? {})) tags[k] = str(v);
    const aliases = Array.isArray(r.aliases) ? r.aliases.map(str).filter(Boolean) : [];
    if (rawId !== id) aliases.unshift(rawId);
    records.push({
      ...envelope,
      kind: 'resource',
      resource: {
        id,
        type,
        account: rAccount,
        region: rRegion,
        name: str(r.name),
        attributes: JSON.stringify(r.attributes ?? {}),
        tags,
        aliases,
        relationships,
      },
      completeness: 'complete',
      types: [],
      errors: [],
      resource_count: 0,
    });
  });
  if (scan.final !== false) {
    const scanErrors = Array.isArray(scan.errors) ? scan.errors.map(str) : [];
    records.push({
      ...envelope,
      kind: 'scan_end',
      resource: null,
      completeness: completeness === 'complete' && errors.length > 0 ? 'partial' : completeness,
      types,
      errors: [...scanErrors, ...errors].slice(0, 100),
      resource_count: records.length,
    });
  }
  return { records, errors };
}

/** Address of an instance: module.net.aws_security_group.web["a"]. */
function addressOf(r: Doc, indexKey: unknown): string {
  const base = `${r.module ? `${str(r.module)}.` : ''}${str(r.type)}.${str(r.name)}`;
  return indexKey === undefined || indexKey === null ? base : `${base}[${JSON.stringify(indexKey)}]`;
}

/** The region and account most ARNs in a state name: what id-only resources are taken to live in. */
function stateDefaults(resources: unknown[]): { region: string; account: string } {
  const regions = new Map<string, number>();
  const accounts = new Map<string, number>();
  for (const r of resources) {
    if (!isObject(r) || !Array.isArray(r.instances)) continue;
    for (const i of r.instances) {
      const arn = isObject(i) && isObject(i.attributes) ? str(i.attributes.arn) : '';
      if (!arn.startsWith('arn:')) continue;
      const p = arnParts(arn);
      if (p.region) regions.set(p.region, (regions.get(p.region) ?? 0) + 1);
      if (p.account) accounts.set(p.account, (accounts.get(p.account) ?? 0) + 1);
    }
  }
  const top = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0]?.[0] ?? '';
  return { region: top(regions), account: top(accounts) };
}

/**
 * A Terraform state file (format v4: version, terraform_version, serial, lineage, resources[] with
 * mode, type, name, module, provider, instances[] with index_key and attributes) as records:
 * one per managed resource instance (data sources skipped) and a state_end. Other versions are
 * refused. Identity: attribute arn, else the id made an ARN with the resource's region (attribute
 * region or availability_zone) and account (owner_id), else the state's most common ones.
 */
export function parseTerraformState(
  body: Buffer,
  now: number,
  defaults: { region?: string; account?: string } = {},
): { records: TerraformRecord[]; errors: string[] } {
  const doc = parseJsonBody(body, 'Terraform state');
  if (!isObject(doc)) throw new MalformedInputError('a Terraform state is a JSON object');
  if (doc.version !== 4) {
    throw new MalformedInputError(
      doc.version === undefined
        ? 'not a Terraform state: no top-level "version"'
        : `Terraform state version ${JSON.stringify(doc.version)} is not supported: AirDig reads state format version 4 (Terraform 0.12 and later); upgrade the state with a current Terraform (terraform state pull)`,
    );
  }
  const lineage = str(doc.lineage);
  if (!lineage) throw new MalformedInputError('Terraform state has no "lineage"');
  if (typeof doc.serial !== 'number' || !Number.isInteger(doc.serial)) throw new MalformedInputError('Terraform state has no integer "serial"');
  if (doc.serial < 0 || !Number.isSafeInteger(doc.serial))
    throw new MalformedInputError(`Terraform state "serial" ${doc.serial} is out of range: a serial counts writes from 0 (at most 2^53 - 1 here)`);
  if (!Array.isArray(doc.resources)) throw new MalformedInputError('Terraform state "resources" is not an array');
  const found = stateDefaults(doc.resources);
  const dRegion = defaults.region || found.region;
  const dAccount = defaults.account || found.account;
  const envelope = { lineage, serial: doc.serial, terraform_version: str(doc.terraform_version), seen_ms: now, resource_count: 0 };
  const records: TerraformRecord[] = [];
  const errors: string[] = [];
  doc.resources.forEach((r, i) => {
    const where = `resources[${i}]`;
    if (!isObject(r)) return errors.push(`${where}: not a JSON object`);
    if (r.mode === 'data') return;
    if (r.mode !== 'managed') return errors.push(`${where}: mode ${JSON.stringify(r.mode ?? null)}; expected managed or data`);
    const tfType = str(r.type);
    if (!tfType || !str(r.name)) return errors.push(`${where}: "type" and "name" are required`);
    if (!Array.isArray(r.instances)) return errors.push(`${where} (${tfType}.${str(r.name)}): "instances" is not an array`);
    r.instances.forEach((inst, j) => {
      if (!isObject(inst) || !isObject(inst.attributes)) return errors.push(`${where}.instances[${j}] (${tfType}.${str(r.name)}): no "attributes" object`);
      const a = inst.attributes;
      const nativeId = str(a.id);
      const az = str(a.availability_zone);
      const region = str(a.region) || (/^[a-z]{2}(-[a-z]+)+-\d+[a-z]$/.test(az) ? az.slice(0, -1) : '') || dRegion;
      const account = str(a.owner_id) || dAccount;
      const aws = awsTypeOfTf(tfType);
      const arn = str(a.arn).startsWith('arn:') ? str(a.arn) : '';
      const id = arn || (aws && nativeId ? awsArn(nativeId, aws.kind, region, account) : '') || `${tfType}:${nativeId || addressOf(r, inst.index_key)}`;
      const p = arn ? arnParts(arn) : undefined;
      records.push({
        ...envelope,
        kind: 'resource',
        resource: {
          id,
          tf_type: tfType,
          address: addressOf(r, inst.index_key),
          provider: str(r.provider),
          native_id: nativeId,
          account: p?.account || account,
          region: p ? p.region : region,
          attributes: JSON.stringify(a),
        },
      });
    });
  });
  records.push({ ...envelope, kind: 'state_end', resource: null, resource_count: records.length });
  return { records, errors };
}
