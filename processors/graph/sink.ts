import type { BusRecord } from '../runtime/bus/types.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { TOPOLOGY_TOPIC, topologyCodec } from '../model/topology.js';

function nodeRows(r: BusRecord) {
  const t = topologyCodec.decode(r.value);
  if (t.kind !== 'node') return [];
  return [
    {
      id: t.id,
      type: t.type,
      provider: t.provider,
      account: t.account,
      region: t.region,
      name: t.name,
      attributes: t.attributes,
      seen: new Date(t.seen_ms).toISOString(),
      source: t.source,
      gone: t.gone,
    },
  ];
}

function edgeRows(r: BusRecord) {
  const t = topologyCodec.decode(r.value);
  if (t.kind !== 'edge') return [];
  return [{ src: t.id, dst: t.dst, type: t.type, seen: new Date(t.seen_ms).toISOString(), source: t.source, gone: t.gone }];
}

/** airdig.topology → graph_node_versions (read through the view graph_nodes). */
export const graphNodesFactory = tableSinkFactory({
  type: 'graph_nodes',
  configSchema: tableSinkConfig(TOPOLOGY_TOPIC, 'graph_node_versions', 5_000),
  toRows: nodeRows,
});

/** airdig.topology → graph_edge_versions (read through the view graph_edges). */
export const graphEdgesFactory = tableSinkFactory({
  type: 'graph_edges',
  configSchema: tableSinkConfig(TOPOLOGY_TOPIC, 'graph_edge_versions', 5_000),
  toRows: edgeRows,
});
