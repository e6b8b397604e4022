import type { TopologyRecord } from '../model/topology.js';
import { arnParts, awsArn } from '../identity/aws.js';
import { containerId, hostId, INSTANCE_ID, nodeId, podId, podUidId, serviceId } from '../identity/ids.js';

/** Node ids of the design's identity model, built from OpenTelemetry resource attributes. */
export interface Placement {
  service: TopologyRecord;
  /** Nodes the service runs on (instance, pod, node, container, or the resource named by cloud.resource_id). */
  targets: TopologyRecord[];
  /** runs_on edges: service → each target, pod → node, container → pod or host. */
  edges: TopologyRecord[];
}

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

/** Where a service runs, from its resource attributes; undefined without service.name. `cluster`: for pods and nodes without k8s.cluster.name. */
export function placementOf(attrs: Record<string, string>, seen: number, cluster = ''): Placement | undefined {
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
  const host = attrs['host.id'];
  if (host) {
    if ((provider === 'aws' || INSTANCE_ID.test(host)) && host.startsWith('i-') && region && account) {
      targets.push(node(awsArn(host, 'ec2', region, account), 'ec2:instance', seen, { provider: 'aws', region, account, name: attrs['host.name'] ?? '' }));
    } else {
      targets.push(node(hostId(host), 'host', seen, { provider, region, account, name: attrs['host.name'] ?? '' }));
    }
  }
  const k8sCluster = attrs['k8s.cluster.name'] ?? cluster;
  let pod: TopologyRecord | undefined;
  const podName = attrs['k8s.pod.name'];
  const podNs = attrs['k8s.namespace.name'];
  const podUid = attrs['k8s.pod.uid'];
  if (podName && podNs)
    pod = node(podId(k8sCluster, podNs, podName), 'k8s:pod', seen, { provider: 'kubernetes', name: podName, attributes: podUid ? { uid: podUid } : {} });
  else if (podUid) pod = node(podUidId(k8sCluster, podUid), 'k8s:pod', seen, { provider: 'kubernetes', attributes: { uid: podUid } });
  if (pod) targets.push(pod);
  const nodeName = attrs['k8s.node.name'];
  const k8sNode = nodeName ? node(nodeId(k8sCluster, nodeName), 'k8s:node', seen, { provider: 'kubernetes', name: nodeName }) : undefined;
  if (k8sNode) targets.push(k8sNode);

  const container = attrs['container.id'] ? containerId(attrs['container.id']) : '';
  const containerNode = container
    ? node(container, 'container', seen, { name: attrs['container.name'] ?? '', attributes: { 'container.id': attrs['container.id']! } })
    : undefined;
  if (containerNode) targets.push(containerNode);

  const seenIds = new Set<string>();
  const unique = targets.filter((t) => !seenIds.has(t.id) && seenIds.add(t.id));
  for (const t of unique) edges.push(edge(service.id, t.id, 'runs_on', seen));
  if (pod && k8sNode) edges.push(edge(pod.id, k8sNode.id, 'runs_on', seen));
  // A container runs in its pod, else on its host.
  const onHost = unique.find((t) => t.type === 'ec2:instance' || t.type === 'host');
  if (containerNode && (pod ?? onHost)) edges.push(edge(containerNode.id, (pod ?? onHost)!.id, 'runs_on', seen));
  return { service, targets: unique, edges };
}
