/*
 * `airdig scan k8s`: the output of `kubectl get pods,nodes,services,deployments,replicasets -A -o json`
 * as a scan of one cluster. Ids follow the identity model: k8s:<cluster>/<namespace>/<kind>/<name>
 * (cluster-scoped objects have an empty namespace), the uid as an alias.
 *   pod → node (runs_on, spec.nodeName), pod/replicaset → owner (owned_by, ownerReferences),
 *   service → pods its selector matches (routes_to), node → EC2 instance (runs_on, spec.providerID
 *   aws:///eu-west-1a/i-0123…, when the AWS account is known).
 */
import { awsArn } from '../identity/aws.js';
import { k8sObjectId } from '../identity/ids.js';
import { MalformedInputError } from '../runtime/errors.js';
import type { ScanBody, ScanResource } from './aws.js';

type Doc = Record<string, any>;

const KINDS = new Set(['Pod', 'Node', 'Service', 'Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet', 'Job', 'Namespace']);

/** Kinds whose pod template names the images they run (the deploys processor compares them between scans). */
const WORKLOADS = new Set(['Deployment', 'ReplicaSet', 'StatefulSet', 'DaemonSet']);

/** A pod spec's images by container name ({"app": "ghcr.io/acme/orders:1.5.0"}). */
function imagesOf(podSpec: Doc | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const c of podSpec?.containers ?? []) if (c?.name && typeof c.image === 'string') out[c.name] = c.image;
  return out;
}

export interface K8sScanOptions {
  cluster: string;
  /** The AWS account of the nodes' EC2 instances: links nodes to instances by providerID. */
  awsAccount?: string;
  now?: number;
}

/** Node → EC2 instance from providerID aws:///eu-west-1a/i-0123 (or aws:///i-0123 with no zone). */
export function instanceOfProviderId(providerId: string, account: string): string | undefined {
  const m = /^aws:\/\/\/(?:([a-z]{2}(?:-[a-z]+)+-\d+)[a-z]?\/)?(i-[0-9a-f]+)$/.exec(providerId);
  if (!m || !m[1] || !account) return undefined;
  return awsArn(m[2]!, 'ec2', m[1], account);
}

/** A scan of one cluster from kubectl's JSON (a List, or one object). Items of other kinds are named in `skipped`. */
export function scanK8sJson(text: string, o: K8sScanOptions): { body: ScanBody; skipped: string[] } {
  let doc: Doc;
  try {
    doc = JSON.parse(text) as Doc;
  } catch (err) {
    throw new MalformedInputError(`kubectl output is not JSON: ${(err as Error).message} (use kubectl get … -o json)`);
  }
  const items: Doc[] = Array.isArray(doc?.items) ? doc.items : doc?.kind ? [doc] : [];
  if (!Array.isArray(doc?.items) && !doc?.kind) throw new MalformedInputError('kubectl output has neither "items" nor "kind"');
  const c = o.cluster;
  const skipped: string[] = [];
  const resources: ScanResource[] = [];
  const pods: { res: ScanResource; ns: string; labels: Record<string, string> }[] = [];
  const services: { res: ScanResource; ns: string; selector: Record<string, string> }[] = [];
  const kinds = new Set<string>();
  for (const item of items) {
    const kind = String(item?.kind ?? '');
    const meta: Doc = item?.metadata ?? {};
    if (!KINDS.has(kind) || !meta.name) {
      skipped.push(`${kind || '?'} ${meta.namespace ? `${meta.namespace}/` : ''}${meta.name ?? '?'}`);
      continue;
    }
    kinds.add(kind);
    const ns = kind === 'Node' || kind === 'Namespace' ? '' : String(meta.namespace ?? 'default');
    const labels: Record<string, string> = meta.labels ?? {};
    const res: ScanResource = {
      id: k8sObjectId(c, ns, kind, meta.name),
      type: `k8s:${kind.toLowerCase()}`,
      name: meta.name,
      attributes: { namespace: ns },
      tags: labels,
      aliases: meta.uid ? [meta.uid] : [],
      relationships: [],
    };
    for (const owner of meta.ownerReferences ?? [])
      if (owner?.kind && owner?.name) res.relationships.push({ type: 'owned_by', target: k8sObjectId(c, ns, owner.kind, owner.name) });
    const spec: Doc = item.spec ?? {};
    const status: Doc = item.status ?? {};
    switch (kind) {
      case 'Pod':
        Object.assign(res.attributes, { phase: status.phase, node_name: spec.nodeName, pod_ip: status.podIP, service_account: spec.serviceAccountName });
        if (status.podIP) res.aliases.push(status.podIP);
        if (spec.nodeName) res.relationships.push({ type: 'runs_on', target: k8sObjectId(c, '', 'Node', spec.nodeName) });
        pods.push({ res, ns, labels });
        break;
      case 'Node': {
        const providerId = String(spec.providerID ?? '');
        Object.assign(res.attributes, {
          provider_id: providerId,
          kubelet_version: status.nodeInfo?.kubeletVersion,
          instance_type: labels['node.kubernetes.io/instance-type'],
          zone: labels['topology.kubernetes.io/zone'],
        });
        for (const a of status.addresses ?? []) if (a?.address) res.aliases.push(a.address);
        const instance = instanceOfProviderId(providerId, o.awsAccount ?? '');
        if (instance) res.relationships.push({ type: 'runs_on', target: instance });
        else if (providerId.startsWith('aws:///')) res.aliases.push(providerId.split('/').at(-1)!);
        break;
      }
      case 'Service':
        Object.assign(res.attributes, {
          type: spec.type,
          cluster_ip: spec.clusterIP,
          selector: spec.selector ?? {},
          ports: (spec.ports ?? []).map((p: Doc) => `${p.port}/${p.protocol ?? 'TCP'}`),
        });
        if (spec.clusterIP && spec.clusterIP !== 'None') res.aliases.push(spec.clusterIP);
        if (spec.selector && Object.keys(spec.selector).length) services.push({ res, ns, selector: spec.selector });
        break;
      default:
        Object.assign(res.attributes, { replicas: spec.replicas, ready_replicas: status.readyReplicas });
        if (WORKLOADS.has(kind)) res.attributes.images = imagesOf(spec.template?.spec);
    }
    resources.push(res);
  }
  for (const s of services) {
    for (const p of pods) {
      if (p.ns === s.ns && Object.entries(s.selector).every(([k, v]) => p.labels[k] === v)) s.res.relationships.push({ type: 'routes_to', target: p.res.id });
    }
  }
  // Every cluster has nodes, pods and services (kube-system, default/kubernetes): without all three
  // the input was a subset, and a subset must not mark the rest gone.
  const complete = kinds.has('Node') && kinds.has('Pod') && kinds.has('Service');
  const time = new Date(o.now ?? Date.now()).toISOString();
  return {
    body: {
      scan: {
        id: `k8s/${c}/${time}`,
        provider: 'kubernetes',
        cluster: c,
        completeness: complete ? 'complete' : 'partial',
        types: [...kinds].map((k) => `k8s:${k.toLowerCase()}`),
        errors: complete ? [] : ['not a whole cluster: use kubectl get pods,nodes,services,deployments,replicasets -A -o json'],
        time,
      },
      resources,
    },
    skipped,
  };
}
