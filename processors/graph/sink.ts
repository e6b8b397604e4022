import type { BusRecord } from '../runtime/bus/types.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { TOPOLOGY_TOPIC, topologyCodec } from '../model/topology.js';
import { aliasesOf } from '../identity/aliases.js';

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

/** airdig.topology → resource_alias_log (read through the view resource_aliases): each other name of a node. */
export const resourceAliasesFactory = tableSinkFactory({
  type: 'resource_aliases',
  configSchema: tableSinkConfig(TOPOLOGY_TOPIC, 'resource_alias_log', 5_000),
  toRows: (r) => {
    const t = topologyCodec.decode(r.value);
    if (t.kind !== 'node' || t.gone) return [];
    const seen = new Date(t.seen_ms).toISOString();
    return aliasesOf(t).map((alias) => ({ alias, resource_id: t.id, source: t.source, seen }));
  },
});
