import { z } from 'zod';
import { listenAddress, topicName } from '../runtime/config/schema.js';
import { REMOTE_WRITE_TOPIC } from '../model/remote-write.js';

export const DEFAULT_RW_MAX_REQUEST_BYTES = 32 * 1024 * 1024;
export const DEFAULT_RW_MAX_DECOMPRESSED_BYTES = 128 * 1024 * 1024;

export const remoteWriteConfigSchema = z
  .object({
    /** Listen address; unset takes the service's --remote-write, "" switches it off. */
    listen: listenAddress.optional(),
    path: z.string().startsWith('/').default('/api/v1/write'),
    /** Largest compressed body (413 past it). */
    max_request_bytes: z.number().int().positive().default(DEFAULT_RW_MAX_REQUEST_BYTES),
    /** Largest body once decompressed, checked from snappy's length header before decompressing. */
    max_decompressed_bytes: z.number().int().positive().default(DEFAULT_RW_MAX_DECOMPRESSED_BYTES),
    output: topicName.default(REMOTE_WRITE_TOPIC),
    bearer_token: z.string().default(''),
    basic_auth: z.object({ username: z.string(), password: z.string() }).strict().optional(),
    retry_after_s: z.number().int().positive().default(5),
    /**
     * A body identical to one accepted this recently is answered as before and not published again:
     * Prometheus resends the same bytes when a request timed out after it had landed. 0 switches it off.
     */
    replay_window_ms: z.number().int().min(0).default(300_000),
    /** Accepted bodies remembered for that (their SHA-1 and counts, ~100 bytes each). */
    replay_cache: z.number().int().positive().default(20_000),
  })
  .strict();
export type RemoteWriteConfig = z.infer<typeof remoteWriteConfigSchema>;
