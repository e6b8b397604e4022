/*
 * The resource a record is about, from what each kind of source says: series labels (Prometheus'
 * and OpenTelemetry's names), a Falco alert's fields. `cluster` is the service's cluster_name: the
 * Kubernetes cluster for sources that do not name one.
 */
import { containerId, hostId, nodeId, podId, targetId } from './ids.js';

/**
 * A resource from series labels, Prometheus' (pod, namespace, node, instance) or OpenTelemetry's
 * (cloud.resource_id, k8s.*, container.id), in the ids the placement processor gives the same
 * resources: pod, then container, then node, then the scrape target itself; '' when none applies.
 */
export function resourceOf(labels: Readonly<Record<string, string>>, cluster = ''): string {
  if (labels['cloud.resource_id']) return labels['cloud.resource_id'];
  const k8sCluster = labels.cluster ?? labels['k8s.cluster.name'] ?? cluster;
  const pod = labels.pod ?? labels['k8s.pod.name'];
  const namespace = labels.namespace ?? labels['k8s.namespace.name'];
  if (pod && namespace) return podId(k8sCluster, namespace, pod);
  const container = labels['container.id'] ? containerId(labels['container.id']) : '';
  if (container) return container;
  const node = labels.node ?? labels['k8s.node.name'];
  if (node) return nodeId(k8sCluster, node);
  if (labels.instance) return targetId(labels.job ?? '', labels.instance);
  return '';
}

/** Where a Falco alert happened, most specific known resource first: the pod, else the container, else the host. */
export function falcoResource(fields: Readonly<Record<string, string>>, hostname: string, cluster = ''): string {
  const ns = fields['k8s.ns.name'];
  const pod = fields['k8s.pod.name'];
  if (ns && pod && ns !== '<NA>' && pod !== '<NA>') return podId(cluster, ns, pod);
  const cid = fields['container.id'];
  if (cid && cid !== 'host') {
    const c = containerId(cid);
    if (c) return c;
  }
  return hostname ? hostId(hostname) : '';
}
