/*
 * Attribute comparison for drift: two attribute trees (Terraform state's and a scan's) are brought
 * to one canonical form first, so that known false positives are not drift:
 *   - empty string, null, [] and {} are all "unset";
 *   - numbers and booleans compare as their text ("80" = 80);
 *   - lists are sets (security group rules, tags, ids), compared in a canonical order;
 *   - protocol names in any case or by number (TCP, tcp, 6; -1 = all);
 *   - a provider default on one side matches unset on the other (description "Managed by Terraform");
 *   - computed and read-only attributes (arn, id, tags_all, timestamps, …) and arguments that only
 *     Terraform knows (force_destroy, skip_final_snapshot, …) are not compared;
 *   - only attributes both sides report are compared: a scanner that does not read an attribute
 *     says nothing about it.
 */

type Doc = Record<string, unknown>;

/** A canonical value: text, a sorted list or an object with sorted keys; undefined is unset. */
export type Canonical = string | Canonical[] | { [k: string]: Canonical };

const NOT_COMPARED = new Set([
  'id',
  'arn',
  'tags_all',
  'timeouts',
  'owner_id',
  'unique_id',
  'status',
  'state',
  'force_destroy',
  'skip_final_snapshot',
  'final_snapshot_identifier',
  'apply_immediately',
  'revoke_rules_on_delete',
  'get_password_data',
  'user_data_replace_on_change',
  'source_code_hash',
  'filename',
  'publish',
]);
const TIMESTAMP = /(_date|_time|_timestamp|_at)$/;

/** Provider defaults: an attribute unset on one side and this value on the other is not drift. */
const DEFAULTS: Record<string, Record<string, string>> = {
  aws_security_group: { description: 'Managed by Terraform' },
  aws_instance: {
    ebs_optimized: 'false',
    monitoring: 'false',
    source_dest_check: 'true',
    disable_api_termination: 'false',
    disable_api_stop: 'false',
    hibernation: 'false',
    tenancy: 'default',
  },
  aws_db_instance: {
    multi_az: 'false',
    publicly_accessible: 'false',
    deletion_protection: 'false',
    storage_encrypted: 'false',
    auto_minor_version_upgrade: 'true',
  },
  aws_vpc: { enable_dns_support: 'true', enable_dns_hostnames: 'false', instance_tenancy: 'default' },
  aws_subnet: { map_public_ip_on_launch: 'false', assign_ipv6_address_on_creation: 'false' },
  aws_lb: { internal: 'false', enable_deletion_protection: 'false', load_balancer_type: 'application', ip_address_type: 'ipv4' },
  aws_lb_target_group: { protocol_version: 'HTTP1', target_type: 'instance' },
  aws_lambda_function: { memory_size: '128', timeout: '3', package_type: 'Zip' },
  aws_ebs_volume: { encrypted: 'false', multi_attach_enabled: 'false' },
  aws_network_interface: { source_dest_check: 'true' },
};

const PROTOCOLS: Record<string, string> = { '-1': 'all', '6': 'tcp', '17': 'udp', '1': 'icmp', '58': 'icmpv6' };
const isProtocolKey = (key: string) => key === 'protocol' || key === 'ip_protocol';

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** JSON of a canonical value (objects already have sorted keys). */
export function canonicalText(v: Canonical | undefined): string {
  return v === undefined ? '' : typeof v === 'string' ? v : JSON.stringify(v);
}

/**
 * The canonical form of a value under `key`; `nested` is true inside lists and objects, where a
 * false flag (self = false, …) is a block's default and counts as unset.
 */
export function canonical(v: unknown, key: string, nested = false): Canonical | undefined {
  if (v === null || v === undefined || v === '') return undefined;
  if (typeof v === 'boolean') return nested && !v ? undefined : String(v);
  if (typeof v === 'number') return isProtocolKey(key) ? (PROTOCOLS[String(v)] ?? String(v)) : String(v);
  if (typeof v === 'string') {
    if (!isProtocolKey(key)) return v;
    const lower = v.toLowerCase();
    return PROTOCOLS[lower] ?? lower;
  }
  if (Array.isArray(v)) {
    const items: { c: Canonical; t: string }[] = [];
    for (const x of v) {
      const c = canonical(x, key, true);
      if (c !== undefined) items.push({ c, t: typeof c === 'string' ? c : JSON.stringify(c) });
    }
    if (items.length === 0) return undefined;
    items.sort((a, b) => compareText(a.t, b.t));
    return items.map((i) => i.c);
  }
  if (typeof v === 'object') {
    const out: { [k: string]: Canonical } = {};
    for (const k of Object.keys(v as Doc).sort()) {
      const c = canonical((v as Doc)[k], k, true);
      if (c !== undefined) out[k] = c;
    }
    return Object.keys(out).length ? out : undefined;
  }
  return String(v);
}

export interface AttributeDiff {
  /** Dotted path: instance_type, tags.Owner, ingress. */
  path: string;
  expected: string;
  actual: string;
}

const isMap = (v: Canonical | undefined): v is { [k: string]: Canonical } => typeof v === 'object' && !Array.isArray(v);

function diffValue(path: string, e: Canonical | undefined, a: Canonical | undefined, out: AttributeDiff[]): void {
  if (isMap(e) && isMap(a)) {
    const keys = [...new Set([...Object.keys(e), ...Object.keys(a)])].sort();
    for (const k of keys) diffValue(`${path}.${k}`, e[k], a[k], out);
    return;
  }
  const et = canonicalText(e);
  const at = canonicalText(a);
  if (et !== at) out.push({ path, expected: et, actual: at });
}

/** The attributes of a resource of Terraform type `tfType` that differ between state (expected) and cloud (actual). */
export function diffAttributes(tfType: string, expected: Doc, actual: Doc): AttributeDiff[] {
  const out: AttributeDiff[] = [];
  const defaults = DEFAULTS[tfType];
  for (const key of Object.keys(actual).sort()) {
    if (!Object.hasOwn(expected, key) || NOT_COMPARED.has(key) || TIMESTAMP.test(key)) continue;
    const e = canonical(expected[key], key);
    const a = canonical(actual[key], key);
    const d = defaults?.[key];
    if (d !== undefined && ((e === undefined && a === d) || (a === undefined && e === d))) continue;
    diffValue(key, e, a, out);
  }
  return out;
}
