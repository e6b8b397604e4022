/*
 * The canonical resource ids AirDig spells for what is not an ARN. Every source that names one of
 * these resources (scans, spans, series labels, Falco alerts) builds its id here, so the same pod,
 * node, container, host or service has one id whichever source saw it.
 */

/** A service: `service:<service.namespace>/<service.name>` (namespace may be empty: `service:/orders`). */
export function serviceId(namespace: string, name: string): string {
  return `service:${namespace}/${name}`;
}

/** A Kubernetes object: `k8s:<cluster>/<namespace>/<kind>/<name>`; cluster-scoped kinds (Node, Namespace) have an empty namespace. */
export function k8sObjectId(cluster: string, namespace: string, kind: string, name: string): string {
  return `k8s:${cluster}/${namespace}/${kind.toLowerCase()}/${name}`;
}

export const podId = (cluster: string, namespace: string, name: string): string => k8sObjectId(cluster, namespace, 'pod', name);

/** A pod known only by its uid (OTel's k8s.pod.uid without name and namespace). */
export const podUidId = (cluster: string, uid: string): string => `k8s:${cluster}/uid/${uid}`;

export const nodeId = (cluster: string, name: string): string => k8sObjectId(cluster, '', 'node', name);

/**
 * A container: `container:` and the first 12 hex digits of its id, the short form Docker and Falco
 * print, so a full 64-digit id (OTel's container.id, a runtime prefix such as containerd:// removed)
 * and Falco's 12-character one name the same resource; '' for an id that is not hex.
 */
export function containerId(id: string): string {
  const hex = id.replace(/^[a-z0-9-]+:\/\//i, '').toLowerCase();
  return /^[0-9a-f]{12,}$/.test(hex) ? `container:${hex.slice(0, 12)}` : '';
}

/** A host that is not a known cloud instance. */
export const hostId = (name: string): string => `host:${name}`;

/** A Prometheus scrape target no other label places: `target:<job>/<instance>`. */
export const targetId = (job: string, instance: string): string => `target:${job}/${instance}`;

/** An EC2 instance id (i- and 8 or 17 hex digits). */
export const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
