/*
 * The engine's output: airdig.correlations (a change linked to a signal that followed it, Avro
 * schemas/avro/correlation.avsc, keyed by the impacted resource) and airdig.incidents (connected
 * signals with their ranked causes, schemas/avro/incident.avsc, keyed by incident id). Ids are
 * hashes of what they are about, so a replay or a revision writes the same id again.
 */
import { avroCodec } from '../runtime/avro.js';

export const CORRELATIONS_TOPIC = 'airdig.correlations';
export const INCIDENTS_TOPIC = 'airdig.incidents';

export type CauseKind = 'cloudtrail' | 'drift' | 'deploy' | 'change_api';

export interface Correlation {
  id: string;
  ts_ms: number;
  cause_id: string;
  cause_kind: CauseKind;
  cause_ts_ms: number;
  cause_resource_id: string;
  impacted_resource_id: string;
  signal: string;
  signal_id: string;
  score: number;
  window_s: number;
  incident_id: string;
  rank: number;
  path: string[];
  evidence: string;
  revision_ms: number;
}

export interface RankedCause {
  cause_id: string;
  cause_kind: CauseKind;
  resource_id: string;
  probability: number;
  score: number;
  explanation: string;
}

export interface Incident {
  id: string;
  opened_ms: number;
  resolved_ms: number;
  status: 'open' | 'resolved' | 'merged';
  merged_into: string;
  impacted: string[];
  signals: string[];
  causes: RankedCause[];
  revision_ms: number;
}

export const correlationCodec = avroCodec<Correlation>('correlation');
export const incidentCodec = avroCodec<Incident>('incident');
