/*
 * The other names of a resource: what a Prometheus label, a span's server.address or a CloudTrail
 * short id may call it. Read from the graph's node records (a scan's aliases: instance and volume
 * ids, private IPs and DNS names, RDS endpoints, load balancer DNS names; a pod's uid; the short id
 * inside an ARN; an instance's host name from traces), lower-cased, never the id itself.
 */
import { arnParts } from './aws.js';

export interface NodeNames {
  id: string;
  type: string;
  name: string;
  attributes: Readonly<Record<string, string>>;
}

export function aliasesOf(n: NodeNames): string[] {
  const out = new Set<string>();
  if (n.attributes.aliases) for (const a of n.attributes.aliases.split(',')) if (a.trim()) out.add(a.trim().toLowerCase());
  if (n.id.startsWith('arn:')) {
    const { resource } = arnParts(n.id);
    if (resource) out.add(resource.toLowerCase());
  }
  if (n.attributes.uid) out.add(n.attributes.uid.toLowerCase());
  if (n.type === 'ec2:instance' && n.name) out.add(n.name.toLowerCase());
  out.delete(n.id.toLowerCase());
  return [...out];
}

/** The host of a `host:port` or `[v6]:port` (a Prometheus instance label), lower-cased. */
export function hostOf(instance: string): string {
  const m = /^\[(.*)\](?::\d+)?$/.exec(instance) ?? /^([^:]+)(?::\d+)?$/.exec(instance);
  return (m ? m[1]! : instance).toLowerCase();
}
