import { z } from 'zod';
import type { CorrelatorOptions } from './correlator.js';
import { topicName } from '../runtime/config/schema.js';
import { TOPOLOGY_TOPIC } from '../model/topology.js';
import { EDGES_TOPIC } from '../model/edges.js';
import { CHANGES_TOPIC } from '../model/changes.js';
import { DRIFT_TOPIC } from '../model/drift.js';
import { HEALTH_TOPIC } from '../model/health.js';
import { CORRELATIONS_TOPIC, INCIDENTS_TOPIC } from '../model/correlations.js';

export const engineConfigSchema = z
  .object({
    inputs: z
      .object({
        topology: topicName.default(TOPOLOGY_TOPIC),
        edges: topicName.default(EDGES_TOPIC),
        changes: topicName.default(CHANGES_TOPIC),
        drift: topicName.default(DRIFT_TOPIC),
        health: topicName.default(HEALTH_TOPIC),
      })
      .strict()
      .default({}),
    correlations: topicName.default(CORRELATIONS_TOPIC),
    incidents: topicName.default(INCIDENTS_TOPIC),
    /** A change is a candidate cause of a signal whose onset is at most this much after it (never before it). */
    window_ms: z
      .number()
      .int()
      .positive()
      .default(30 * 60_000),
    /** A signal takes late changes (CloudTrail is minutes behind) until the event time is this far past its onset. */
    late_ms: z
      .number()
      .int()
      .min(0)
      .default(15 * 60_000),
    /** Time decay of a candidate's score: e^(-Δt / decay_ms). */
    decay_ms: z
      .number()
      .int()
      .positive()
      .default(30 * 60_000),
    /** Edges walked from an impacted resource to what it depends on. */
    max_hops: z.number().int().min(0).max(10).default(4),
    /** Nodes one walk visits at most. */
    max_nodes: z.number().int().positive().default(5_000),
    /** Signals whose onsets and resolutions are further apart than this are never one incident. */
    incident_gap_ms: z
      .number()
      .int()
      .min(0)
      .default(10 * 60_000),
    max_signals: z.number().int().positive().default(10_000),
    max_causes: z.number().int().positive().default(100_000),
    /** A correlation row carries its cause's rank in its incident up to this (the incident's top causes); further down, 0. */
    max_rank: z.number().int().min(1).default(10),
    /**
     * A record stamped further than this ahead of the clock (a host whose clock is wrong, a bad
     * timestamp) is dropped and counted: taken, it would move event time on past every signal and
     * cause there is, and the engine would forget them all.
     */
    max_future_ms: z
      .number()
      .int()
      .positive()
      .default(10 * 60_000),
    /** A call edge not seen for this long leaves the graph. */
    call_ttl_ms: z
      .number()
      .int()
      .positive()
      .default(24 * 3_600_000),
    max_batch: z.number().int().positive().default(1_000),
  })
  .strict();
export type EngineConfig = z.infer<typeof engineConfigSchema>;

/** The correlator's options from a validated config. */
export function correlatorOptions(c: EngineConfig): CorrelatorOptions {
  return {
    windowMs: c.window_ms,
    lateMs: c.late_ms,
    decayMs: c.decay_ms,
    maxHops: c.max_hops,
    maxNodes: c.max_nodes,
    incidentGapMs: c.incident_gap_ms,
    maxSignals: c.max_signals,
    maxCauses: c.max_causes,
    maxRank: c.max_rank,
  };
}
