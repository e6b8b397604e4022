import { z } from 'zod';
import { listenAddress, topicName } from '../runtime/config/schema.js';
import { HEALTH_TOPIC } from '../model/health.js';
import { CORRELATIONS_TOPIC, INCIDENTS_TOPIC } from '../model/correlations.js';
import { DRIFT_TOPIC } from '../model/drift.js';
import { CHANGES_TOPIC } from '../model/changes.js';

/** Deepest selection a query may have (introspection fields are not counted). */
export const DEFAULT_MAX_DEPTH = 12;
/**
 * Largest estimated cost: every field counts 1, times the `first` / `limit` of the lists it is in.
 * The default graph (2 000 nodes with every field) costs about 50 000.
 */
export const DEFAULT_MAX_COST = 200_000;
/** Pushes a subscriber may have waiting; past it the oldest is dropped (and counted). */
export const DEFAULT_SUBSCRIBER_QUEUE = 1_000;
export const DEFAULT_MAX_REQUEST_BYTES = 1024 * 1024;
/** A query's time limit in ClickHouse. */
export const DEFAULT_QUERY_TIMEOUT_S = 30;

export const apiConfigSchema = z
  .object({
    /** Listen address; unset takes the service's --api, "" switches it off. */
    listen: listenAddress.optional(),
    /** When set, /graphql needs "Authorization: Bearer <token>" (over WebSocket: in connection_init's payload). */
    bearer_token: z.string().default(''),
    basic_auth: z.object({ username: z.string(), password: z.string() }).strict().optional(),
    /** Browser origins besides the API's own that may use it (exact, e.g. "http://localhost:3000", or "*"). */
    allowed_origins: z.array(z.string().min(1)).default([]),
    max_depth: z.number().int().positive().default(DEFAULT_MAX_DEPTH),
    max_cost: z.number().int().positive().default(DEFAULT_MAX_COST),
    max_request_bytes: z.number().int().positive().default(DEFAULT_MAX_REQUEST_BYTES),
    query_timeout_s: z.number().int().positive().default(DEFAULT_QUERY_TIMEOUT_S),
    subscriber_queue: z.number().int().positive().default(DEFAULT_SUBSCRIBER_QUEUE),
    /** The web view's files; relative paths are from the package root. */
    web_dir: z.string().min(1).default('dist/web'),
    health_topic: topicName.default(HEALTH_TOPIC),
    correlations_topic: topicName.default(CORRELATIONS_TOPIC),
    incidents_topic: topicName.default(INCIDENTS_TOPIC),
    drift_topic: topicName.default(DRIFT_TOPIC),
    changes_topic: topicName.default(CHANGES_TOPIC),
    max_batch: z.number().int().positive().default(1_000),
  })
  .strict();
export type ApiConfig = z.infer<typeof apiConfigSchema>;
