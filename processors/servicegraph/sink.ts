import type { z } from 'zod';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { EDGES_TOPIC, edgeCodec, edgeSides, type EdgeFact } from '../model/edges.js';

export const serviceEdgesConfigSchema = tableSinkConfig(EDGES_TOPIC, 'edge_facts', 5_000);
export type ServiceEdgesConfig = z.infer<typeof serviceEdgesConfigSchema>;

/** An edge_facts row: the fact, with its time as ISO 8601 and failed as 0/1. */
export type EdgeRow = Omit<EdgeFact, 'ts_ms' | 'failed' | 'connection_type'> & { ts: string; failed: number; connection_type: string };

/** An edge_facts row. A record written before edges had namespaces decodes with namespaces and ids ''; its ids are made here. */
export function edgeRow(e: EdgeFact): EdgeRow {
  return {
    id: e.id,
    ts: new Date(e.ts_ms).toISOString(),
    trace_id: e.trace_id,
    ...edgeSides(e.client, e.client_namespace, e.server, e.server_namespace),
    connection_type: e.connection_type,
    failed: e.failed ? 1 : 0,
    latency_ms: e.latency_ms,
    client_latency_ms: e.client_latency_ms,
  };
}

/** airdig.edges → edge_facts, which the service_edges materialized view aggregates per minute. */
export const serviceEdgesFactory = tableSinkFactory({
  type: 'service_edges',
  configSchema: serviceEdgesConfigSchema,
  toRows: (r) => [edgeRow(edgeCodec.decode(r.value))],
});
