/*
 * airdig.health: a resource's health as the rules see it, one fact per change of a rule's state
 * (Avro schemas/avro/health.avsc), keyed by resource id.
 */
import { avroCodec } from '../runtime/avro.js';

export const HEALTH_TOPIC = 'airdig.health';

export interface HealthFact {
  id: string;
  ts_ms: number;
  resource_id: string;
  status: 'healthy' | 'warning' | 'critical';
  state: 'firing' | 'resolved';
  rule: string;
  reason: string;
  metric: string;
  value: number;
  threshold: number;
  labels: Record<string, string>;
}

export const healthCodec = avroCodec<HealthFact>('health');
