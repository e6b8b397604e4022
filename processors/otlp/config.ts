import { z } from 'zod';
import { listenAddress, topicName } from '../runtime/config/schema.js';
import { LOGS_TOPIC, METRICS_TOPIC, SPANS_TOPIC } from '../model/otlp.js';

export const DEFAULT_OTLP_MAX_REQUEST_BYTES = 20 * 1024 * 1024;
export const DEFAULT_RETRY_AFTER_S = 5;

export const otlpConfigSchema = z
  .object({
    /** Listen addresses; unset takes the service's --otlp-grpc / --otlp-http, "" switches one off. */
    grpc: listenAddress.optional(),
    http: listenAddress.optional(),
    /** Largest request body, compressed and decompressed (HTTP 413, gRPC RESOURCE_EXHAUSTED past it). */
    max_request_bytes: z.number().int().positive().default(DEFAULT_OTLP_MAX_REQUEST_BYTES),
    spans_topic: topicName.default(SPANS_TOPIC),
    metrics_topic: topicName.default(METRICS_TOPIC),
    logs_topic: topicName.default(LOGS_TOPIC),
    /** Origins allowed to POST from a browser (CORS); "*" allows any. Empty: no CORS headers. */
    cors_allowed_origins: z.array(z.string()).default([]),
    /** When set, requests must carry "Authorization: Bearer <token>". */
    bearer_token: z.string().default(''),
    /** Seconds a client is told to wait when the bus is full. */
    retry_after_s: z.number().int().positive().default(DEFAULT_RETRY_AFTER_S),
  })
  .strict();

export type OtlpConfig = z.infer<typeof otlpConfigSchema>;
