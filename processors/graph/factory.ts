import { z } from 'zod';
import { avroCodec } from '../runtime/avro.js';
import type { BusRecord } from '../runtime/bus/types.js';
import { topicName } from '../runtime/config/schema.js';
import type { Factory } from '../runtime/pipeline/component.js';
import { TableSink } from '../runtime/pipeline/table-sink.js';

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
}

export const topologyCodec = avroCodec<TopologyRecord>('topology');

export function topologyKey(r: TopologyRecord): string {
  return r.kind === 'node' ? r.id : `${r.id}|${r.type}|${r.dst}`;
}

const graphSinkConfig = (table: string) =>
  z
    .object({
      input: topicName.default('airdig.topology'),
      table: z.string().regex(/^[A-Za-z_][A-Za-z0-9_.]*$/).default(table),
      max_batch: z.number().int().positive().default(5_000),
    })
    .strict();
const nodesConfig = graphSinkConfig('graph_node_versions');
const edgesConfig = graphSinkConfig('graph_edge_versions');
type GraphSinkConfig = z.infer<typeof nodesConfig>;

function nodeRows(r: BusRecord) {
  const t = topologyCodec.decode(r.value);
  if (t.kind !== 'node') return [];
  return [{ id: t.id, type: t.type, provider: t.provider, account: t.account, region: t.region, name: t.name, attributes: t.attributes, seen: new Date(t.seen_ms).toISOString(), source: t.source }];
}

function edgeRows(r: BusRecord) {
  const t = topologyCodec.decode(r.value);
  if (t.kind !== 'edge') return [];
  return [{ src: t.id, dst: t.dst, type: t.type, seen: new Date(t.seen_ms).toISOString(), source: t.source }];
}

/** airdig.topology → graph_node_versions (read through the view graph_nodes). */
export const graphNodesFactory: Factory<GraphSinkConfig> = {
  kind: 'sink',
  type: 'graph_nodes',
  configSchema: nodesConfig,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) => new TableSink(settings, { input: c.input, table: c.table, maxBatch: c.max_batch, toRows: nodeRows, onRefused: 'dlq' }),
};

/** airdig.topology → graph_edge_versions (read through the view graph_edges). */
export const graphEdgesFactory: Factory<GraphSinkConfig> = {
  kind: 'sink',
  type: 'graph_edges',
  configSchema: edgesConfig,
  topics: (c) => ({ consumes: [c.input], produces: [] }),
  create: (settings, c) => new TableSink(settings, { input: c.input, table: c.table, maxBatch: c.max_batch, toRows: edgeRows, onRefused: 'dlq' }),
};
