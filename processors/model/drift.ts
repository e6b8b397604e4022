/*
 * airdig.drift: a difference between what Terraform state says and what a scan saw
 * (Avro schemas/avro/drift.avsc), with the change that probably caused it.
 */
import { avroCodec } from '../runtime/avro.js';

export const DRIFT_TOPIC = 'airdig.drift';

export type DriftKind = 'modified' | 'missing' | 'unmanaged';

/** One drift (Avro schemas/avro/drift.avsc, table drift_events). */
export interface DriftEvent {
  id: string;
  ts_ms: number;
  resource_id: string;
  resource_type: string;
  address: string;
  drift: DriftKind;
  attribute: string;
  expected: string;
  actual: string;
  lineage: string;
  serial: number;
  scan_id: string;
  cause_event_id: string;
  cause_ts_ms: number;
  cause_actor: string;
  cause_event_name: string;
}

export const driftCodec = avroCodec<DriftEvent>('drift');
