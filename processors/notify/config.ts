import { z } from 'zod';
import { topicName } from '../runtime/config/schema.js';
import { CORRELATIONS_TOPIC, INCIDENTS_TOPIC } from '../model/correlations.js';
import { DRIFT_TOPIC } from '../model/drift.js';
import { HEALTH_TOPIC } from '../model/health.js';

export const FORMATS = ['alertmanager', 'json', 'slack'] as const;
export type Format = (typeof FORMATS)[number];

export const EVENTS = ['incident', 'correlation', 'drift', 'health'] as const;
export type EventKind = (typeof EVENTS)[number];

/** Correlations are opt-in: an incident already tells its ranked causes, and every claim of it is a correlation. */
export const DEFAULT_EVENTS: readonly EventKind[] = ['incident', 'drift', 'health'];
/** 0.5 and more is the engine's claim; less is a weak lead. */
export const DEFAULT_MIN_SCORE = 0.5;
export const DEFAULT_HEALTH_STATUS = 'critical';
export const DEFAULT_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_ATTEMPTS = 5;
export const DEFAULT_BACKOFF_INITIAL_MS = 500;
export const DEFAULT_BACKOFF_MAX_MS = 30_000;
/** A Retry-After longer than this is waited only this long, so one answer cannot park a webhook for hours. */
export const DEFAULT_RETRY_AFTER_MAX_MS = 60_000;
/** Slack's incoming webhooks take about one message a second. */
export const DEFAULT_RATE_LIMIT_PER_MINUTE = 60;
export const DEFAULT_MAX_QUEUE = 1_000;
/** Records older than this when read are not notified (a new consumer group starts at the topic's beginning). */
export const DEFAULT_MAX_AGE_MS = 3_600_000;
export const DEFAULT_DEDUP_MAX_ENTRIES = 10_000;
export const DEFAULT_DRAIN_TIMEOUT_MS = 5_000;
export const DEFAULT_MAX_BATCH = 500;

const httpUrl = (what: string) =>
  z
    .string({ required_error: `${what} is required` })
    .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), { message: `${what} must be an http:// or https:// URL` });

const webhookSchema = z
  .object({
    name: z.string({ required_error: 'name is required' }).regex(/^[A-Za-z0-9_.-]+$/, 'must be a name of letters, digits, _ . - (it labels the metrics)'),
    url: httpUrl('url'),
    format: z.enum(FORMATS, { errorMap: () => ({ message: `format must be one of ${FORMATS.join(', ')}` }) }),
    events: z
      .array(z.enum(EVENTS, { errorMap: () => ({ message: `events: each one of ${EVENTS.join(', ')}` }) }))
      .nonempty('events: name at least one')
      .default([...DEFAULT_EVENTS] as [EventKind, ...EventKind[]]),
    min_score: z.number().min(0).max(1).default(DEFAULT_MIN_SCORE),
    health_status: z
      .enum(['warning', 'critical'], { errorMap: () => ({ message: 'health_status must be warning (warning and critical) or critical' }) })
      .default(DEFAULT_HEALTH_STATUS),
    headers: z.record(z.string()).default({}),
    bearer_token: z.string().min(1).optional(),
    basic_auth: z
      .object({ username: z.string().min(1), password: z.string() })
      .strict()
      .optional(),
    timeout_ms: z.number().int().positive().default(DEFAULT_TIMEOUT_MS),
    max_attempts: z.number().int().min(1).max(100).default(DEFAULT_MAX_ATTEMPTS),
    backoff: z
      .object({
        initial_ms: z.number().int().positive().default(DEFAULT_BACKOFF_INITIAL_MS),
        max_ms: z.number().int().positive().default(DEFAULT_BACKOFF_MAX_MS),
        retry_after_max_ms: z.number().int().nonnegative().default(DEFAULT_RETRY_AFTER_MAX_MS),
      })
      .strict()
      .default({})
      .refine((b) => b.max_ms >= b.initial_ms, { message: 'backoff.max_ms must be at least backoff.initial_ms' }),
    rate_limit_per_minute: z.number().positive().default(DEFAULT_RATE_LIMIT_PER_MINUTE),
    max_queue: z.number().int().positive().default(DEFAULT_MAX_QUEUE),
    external_url: httpUrl('external_url').optional(),
  })
  .strict()
  .refine((w) => !(w.bearer_token && w.basic_auth), { message: 'give bearer_token or basic_auth, not both', path: ['bearer_token'] })
  .refine((w) => !((w.bearer_token || w.basic_auth) && Object.keys(w.headers).some((h) => h.toLowerCase() === 'authorization')), {
    message: 'an Authorization header and bearer_token/basic_auth: give one of them',
    path: ['headers'],
  });

export type WebhookConfig = z.infer<typeof webhookSchema>;

export const notifyConfigSchema = z
  .object({
    inputs: z
      .object({
        incidents: topicName.default(INCIDENTS_TOPIC),
        correlations: topicName.default(CORRELATIONS_TOPIC),
        drift: topicName.default(DRIFT_TOPIC),
        health: topicName.default(HEALTH_TOPIC),
      })
      .strict()
      .default({}),
    webhooks: z.array(webhookSchema).default([]),
    max_age_ms: z.number().int().nonnegative().default(DEFAULT_MAX_AGE_MS),
    dedup_max_entries: z.number().int().positive().default(DEFAULT_DEDUP_MAX_ENTRIES),
    drain_timeout_ms: z.number().int().nonnegative().default(DEFAULT_DRAIN_TIMEOUT_MS),
    max_batch: z.number().int().positive().default(DEFAULT_MAX_BATCH),
  })
  .strict()
  .superRefine((c, ctx) => {
    const seen = new Set<string>();
    c.webhooks.forEach((w, i) => {
      if (seen.has(w.name)) ctx.addIssue({ code: 'custom', path: ['webhooks', i, 'name'], message: `duplicate webhook name "${w.name}"` });
      seen.add(w.name);
    });
  });

export type NotifyConfig = z.infer<typeof notifyConfigSchema>;
