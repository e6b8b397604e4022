import { avroCodec } from '../runtime/avro.js';
import type { BusRecord } from '../runtime/bus/types.js';
import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';

export interface TopologyRecord {
  kind: 'node' | 'edge';
  id: string;
  dst: string;
  type: string;
  provider: string;
  account: string;
  region: string;
  name: string;
  attributes: Record<string, string>;
  seen_ms: number;
  source: string;
  /** A complete scan of its scope no longer saw it. */
  gone: boolean;
}

export const topologyCodec = avroCodec<TopologyRecord>('topology');

/**
 * The record's key on the compacted airdig.topology: compaction keeps the latest version per node
 * or edge and per source, so a sighting from traces never compacts away the scanner's version
 * (scanner keys are the bare id / src|type|dst, as before; other sources add `|<source>`).
 */
export function topologyKey(r: TopologyRecord): string {
  const key = r.kind === 'node' ? r.id : `${r.id}|${r.type}|${r.dst}`;
  return r.source === 'scanner' ? key : `${key}|${r.source}`;
}

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
  configSchema: tableSinkConfig('airdig.topology', 'graph_node_versions', 5_000),
  toRows: nodeRows,
});

/** airdig.topology → graph_edge_versions (read through the view graph_edges). */
export const graphEdgesFactory = tableSinkFactory({
  type: 'graph_edges',
  configSchema: tableSinkConfig('airdig.topology', 'graph_edge_versions', 5_000),
  toRows: edgeRows,
});
