/*
 * Resource inventories as AirDig's topics carry them: what a scanner saw (scanner_resources, Avro
 * schemas/avro/scanner.avsc, keyed by scope) and what Terraform state says should exist
 * (terraform_state, schemas/avro/tfstate.avsc, keyed by lineage). Each scan or state snapshot is
 * its resources followed by an end marker.
 */
import { avroCodec } from '../runtime/avro.js';

export const SCANNER_TOPIC = 'scanner_resources';
export const TERRAFORM_TOPIC = 'terraform_state';

export interface Relationship {
  type: string;
  target: string;
}

export interface ScannedResource {
  id: string;
  type: string;
  account: string;
  region: string;
  name: string;
  /** JSON object. */
  attributes: string;
  tags: Record<string, string>;
  aliases: string[];
  relationships: Relationship[];
}

export type Completeness = 'complete' | 'partial' | 'failed';

export interface ScannerRecord {
  kind: 'resource' | 'scan_end';
  scan_id: string;
  scope: string;
  provider: string;
  account: string;
  region: string;
  seen_ms: number;
  resource: ScannedResource | null;
  completeness: Completeness;
  types: string[];
  errors: string[];
  resource_count: number;
}

export interface ManagedResource {
  id: string;
  tf_type: string;
  address: string;
  provider: string;
  native_id: string;
  account: string;
  region: string;
  /** JSON object. */
  attributes: string;
}

export interface TerraformRecord {
  kind: 'resource' | 'state_end';
  lineage: string;
  serial: number;
  terraform_version: string;
  seen_ms: number;
  resource: ManagedResource | null;
  resource_count: number;
}

export const scannerCodec = avroCodec<ScannerRecord>('scanner');
export const terraformCodec = avroCodec<TerraformRecord>('tfstate');

/** A scan (or state snapshot) whose end has not come this long after it began is given up. */
export const ABANDONED_AFTER_MS = 24 * 3600_000;

/**
 * Forgets the unfinished scans begun more than ABANDONED_AFTER_MS before `now` (record time): an
 * end marker that never comes must not hold their partition's commits back for ever. Returns how
 * many it forgot.
 */
export function dropAbandoned(pending: Map<string, { seen_ms: number }>, now: number): number {
  let n = 0;
  for (const [k, v] of pending) {
    if (v.seen_ms < now - ABANDONED_AFTER_MS) {
      pending.delete(k);
      n++;
    }
  }
  return n;
}
