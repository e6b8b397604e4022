import type { TopologyRecord } from '../graph/factory.js';
import { containerResource } from '../falco/events.js';
import { arnParts } from '../inventory/aws.js';

/** Node ids of the design's identity model, built from OpenTelemetry resource attributes. */
export interface Placement {
  service: TopologyRecord;
  /** Nodes the service runs on (instance, pod, node, container, or the resource named by cloud.resource_id). */
  targets: TopologyRecord[];
  /** runs_on edges: service → each target, pod → node, container → pod or host. */
  edges: TopologyRecord[];
}

/** A service's canonical node id: `service:<service.namespace>/<service.name>` (namespace may be empty: `service:/orders`). */
export function serviceId(namespace: string, name: string): string {
  return `service:${namespace}/${name}`;
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

function node(id: string, type: string, seen: number, extra: Partial<TopologyRecord> = {}): TopologyRecord {
  return {
    kind: 'node',
    id,
    dst: '',
    type,
    provider: '',
    account: '',
    region: '',
    name: '',
    attributes: {},
    seen_ms: seen,
    source: 'traces',
    gone: false,
    ...extra,
  };
}

function edge(src: string, dst: string, type: string, seen: number): TopologyRecord {
  return { kind: 'edge', id: src, dst, type, provider: '', account: '', region: '', name: '', attributes: {}, seen_ms: seen, source: 'traces', gone: false };
}

/** Where a service runs, from its resource attributes; undefined without service.name. */
export function placementOf(attrs: Record<string, string>, seen: number): Placement | undefined {
  const name = attrs['service.name'];
  if (!name) return undefined;
  const namespace = attrs['service.namespace'] ?? '';
  const service = node(serviceId(namespace, name), 'service', seen, { name, attributes: namespace ? { 'service.namespace': namespace } : {} });
  const targets: TopologyRecord[] = [];
  const edges: TopologyRecord[] = [];
  const region = attrs['cloud.region'] ?? '';
  const account = attrs['cloud.account.id'] ?? '';
  const provider = attrs['cloud.provider'] ?? '';

  const resourceId = attrs['cloud.resource_id'];
  if (resourceId) {
    const t = resourceId.startsWith('arn:') ? arnParts(resourceId) : { type: 'resource', region, account };
    targets.push(
      node(resourceId, t.type, seen, {
        provider: provider || (resourceId.startsWith('arn:aws') ? 'aws' : ''),
        region: t.region || region,
        account: t.account || account,
      }),
    );
  }
  const hostId = attrs['host.id'];
  if (hostId) {
    if ((provider === 'aws' || INSTANCE_ID.test(hostId)) && region && account) {
      targets.push(
        node(`arn:aws:ec2:${region}:${account}:instance/${hostId}`, 'ec2:instance', seen, { provider: 'aws', region, account, name: attrs['host.name'] ?? '' }),
      );
    } else {
      targets.push(node(`host:${hostId}`, 'host', seen, { provider, region, account, name: attrs['host.name'] ?? '' }));
    }
  }
  const cluster = attrs['k8s.cluster.name'] ?? '';
  let pod: TopologyRecord | undefined;
  const podName = attrs['k8s.pod.name'];
  const podNs = attrs['k8s.namespace.name'];
  const podUid = attrs['k8s.pod.uid'];
  if (podName && podNs)
    pod = node(`k8s:${cluster}/${podNs}/pod/${podName}`, 'k8s:pod', seen, { provider: 'kubernetes', name: podName, attributes: podUid ? { uid: podUid } : {} });
  else if (podUid) pod = node(`k8s:${cluster}/uid/${podUid}`, 'k8s:pod', seen, { provider: 'kubernetes', attributes: { uid: podUid } });
  if (pod) targets.push(pod);
  const nodeName = attrs['k8s.node.name'];
  const k8sNode = nodeName ? node(`k8s:${cluster}//node/${nodeName}`, 'k8s:node', seen, { provider: 'kubernetes', name: nodeName }) : undefined;
  if (k8sNode) targets.push(k8sNode);

  const container = attrs['container.id'] ? containerResource(attrs['container.id']) : '';
  const containerNode = container
    ? node(container, 'container', seen, { name: attrs['container.name'] ?? '', attributes: { 'container.id': attrs['container.id']! } })
    : undefined;
  if (containerNode) targets.push(containerNode);

  const seenIds = new Set<string>();
  const unique = targets.filter((t) => !seenIds.has(t.id) && seenIds.add(t.id));
  for (const t of unique) edges.push(edge(service.id, t.id, 'runs_on', seen));
  if (pod && k8sNode) edges.push(edge(pod.id, k8sNode.id, 'runs_on', seen));
  // A container runs in its pod, else on its host.
  const host = unique.find((t) => t.type === 'ec2:instance' || t.type === 'host');
  if (containerNode && (pod ?? host)) edges.push(edge(containerNode.id, (pod ?? host)!.id, 'runs_on', seen));
  return { service, targets: unique, edges };
}
