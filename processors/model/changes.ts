/*
 * airdig.changes: changes to resources, each once (Avro schemas/avro/change.avsc), keyed by the
 * first resource it touched.
 */
import { avroCodec } from '../runtime/avro.js';

export const CHANGES_TOPIC = 'airdig.changes';
/** Raw CloudTrail records (one record's JSON each), as the intake and the LookupEvents poller write them. */
export const CLOUDTRAIL_TOPIC = 'cloudtrail_events';

/** A CloudTrail record as AirDig keeps it (Avro schemas/avro/change.avsc, table change_events). */
export interface ChangeEvent {
  event_id: string;
  ts_ms: number;
  source: string;
  event_source: string;
  event_name: string;
  actor: string;
  actor_type: string;
  account: string;
  region: string;
  resource_ids: string[];
  read_only: boolean;
  error_code: string;
  error_message: string;
  source_ip: string;
  user_agent: string;
}

export const changeCodec = avroCodec<ChangeEvent>('change');
