/*
 * airdig.topology: the nodes and edges of the unified graph, as scans and sightings report them
 * (Avro schemas/avro/topology.avsc), on a compacted topic.
 */
import { avroCodec } from '../runtime/avro.js';

export const TOPOLOGY_TOPIC = 'airdig.topology';

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
