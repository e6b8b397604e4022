/*
 * airdig.edges: one record per call between two services, paired from their spans
 * (Avro schemas/avro/edge.avsc), keyed by both sides' canonical ids.
 */
import { avroCodec } from '../runtime/avro.js';
import { serviceId } from '../identity/ids.js';

export const EDGES_TOPIC = 'airdig.edges';

export type ConnectionType = '' | 'database' | 'messaging_system' | 'virtual_node';

/**
 * One call between two services. Its id is derived from the spans, so a replay produces the same
 * fact. A service is its namespace and name: client_id / server_id are the canonical
 * `service:<namespace>/<name>`; a virtual node (user, a database, an uninstrumented server) has
 * namespace ''.
 */
export interface EdgeFact {
  id: string;
  ts_ms: number;
  trace_id: string;
  client: string;
  server: string;
  client_namespace: string;
  server_namespace: string;
  client_id: string;
  server_id: string;
  connection_type: ConnectionType;
  failed: boolean;
  /** Server-side duration when the server reported, else the client's. */
  latency_ms: number;
  /** The client's duration, -1 when the client never reported. */
  client_latency_ms: number;
  /** A database's or an uninstrumented server's server.address, when the client span said it (decodes as '' when absent). */
  server_address?: string;
}

export const edgeCodec = avroCodec<EdgeFact>('edge');

/** The key of an edge record: both sides' canonical ids, so services of the same name in two namespaces never share one. */
export function edgeKey(e: EdgeFact): string {
  return `${e.client_id}|${e.server_id}`;
}

/** The services of an edge, each by namespace and name, with their canonical ids. */
export function edgeSides(
  client: string,
  clientNamespace: string,
  server: string,
  serverNamespace: string,
): Pick<EdgeFact, 'client' | 'server' | 'client_namespace' | 'server_namespace' | 'client_id' | 'server_id'> {
  return {
    client,
    server,
    client_namespace: clientNamespace,
    server_namespace: serverNamespace,
    client_id: serviceId(clientNamespace, client),
    server_id: serviceId(serverNamespace, server),
  };
}
