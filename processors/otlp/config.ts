import { z } from 'zod';
import { MAX_CONNECTIONS_PER_LISTENER } from '../runtime/http.js';
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
    /** A gRPC connection without a call for this long is sent GOAWAY and closed (the client reconnects when it has data). */
    grpc_max_connection_idle_ms: z.number().int().positive().default(300_000),
    /** The gRPC server pings a connection quiet for this long, and closes it when the ping is not answered in grpc_keepalive_timeout_ms: a vanished peer does not hold a descriptor. */
    grpc_keepalive_time_ms: z.number().int().positive().default(120_000),
    grpc_keepalive_timeout_ms: z.number().int().positive().default(20_000),
    /** Open gRPC connections the listener takes; past it a new one is closed at once, so a flood of idle clients cannot use up the process's descriptors. */
    grpc_max_connections: z.number().int().positive().default(MAX_CONNECTIONS_PER_LISTENER),
    /**
     * Concurrent requests' records for the same partition are merged into one bus record up to this
     * many bytes (below librdkafka's message.max.bytes, 1 000 000); 0 sends each trace or resource
     * as its own record.
     */
    coalesce_max_bytes: z
      .number()
      .int()
      .min(0)
      .max(1_000_000)
      .default(512 * 1024),
  })
  .strict();

export type OtlpConfig = z.infer<typeof otlpConfigSchema>;
