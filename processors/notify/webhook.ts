/*
 * One webhook: which notices it takes, what it already told (bounded), a bounded queue, a token
 * bucket, and one worker that posts in order with retries. Nothing here is awaited by the
 * consumer: offer() only queues, so a slow or dead webhook holds up neither the consumer nor the
 * other webhooks.
 */
import type { Logger } from 'pino';
import { backoffMs, sleep } from '../runtime/clock.js';
import { errorMessage } from '../runtime/errors.js';
import type { WebhookConfig } from './config.js';
import { bodyOf, changeOf } from './formats.js';
import type { Notice } from './notices.js';

/** Counters of one webhook (labelled with it by the sink). */
export interface WebhookMetrics {
  sent(): void;
  /** rejected: a 4xx other than 429, not retried; exhausted: the retry budget spent. */
  failed(reason: 'rejected' | 'exhausted'): void;
  retried(): void;
  /** queue_full: the oldest queued notice made room for a new one; shutdown: still queued when the drain time was up. */
  dropped(reason: 'queue_full' | 'shutdown', n?: number): void;
  deduplicated(): void;
  queued(depth: number): void;
}

/**
 * What was told per fact, the newest last; past maxEntries the least recently told is forgotten
 * (a Map keeps insertion order, and telling a fact again moves it to the end).
 */
export class ToldMemory {
  readonly #states = new Map<string, string>();
  /**
   * @param onChange told of every change (undefined: forgotten), to keep the memory in a changelog
   * so that a restart does not tell open incidents again.
   */
  constructor(
    readonly maxEntries: number,
    readonly onChange: (key: string, state: string | undefined) => void = () => {},
  ) {}

  get(key: string): string | undefined {
    return this.#states.get(key);
  }
  set(key: string, state: string): void {
    this.#remember(key, state);
    this.onChange(key, state);
  }
  /** What a changelog kept, oldest first: taken back without being told again. */
  restore(key: string, state: string): void {
    this.#remember(key, state);
  }
  delete(key: string): void {
    if (this.#states.delete(key)) this.onChange(key, undefined);
  }
  get size(): number {
    return this.#states.size;
  }
  #remember(key: string, state: string): void {
    this.#states.delete(key);
    this.#states.set(key, state);
    while (this.#states.size > this.maxEntries) {
      const oldest = this.#states.keys().next().value!;
      this.#states.delete(oldest);
      this.onChange(oldest, undefined);
    }
  }
}

interface Queued {
  notice: Notice;
  body: string;
  /** The state told before this one, put back if this one is never delivered. */
  previous: string | undefined;
}

/** Retry-After as seconds or an HTTP date, in ms from now; undefined when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | undefined {
  if (header === null || header.trim() === '') return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1_000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const DROP_LOG_INTERVAL_MS = 10_000;

const SEVERITY_RANK = { healthy: 0, warning: 1, critical: 2 } as const;

export class Webhook {
  readonly config: WebhookConfig;
  readonly #logger: Logger;
  readonly #metrics: WebhookMetrics;
  readonly #told: ToldMemory;
  readonly #headers: Record<string, string>;
  readonly #queue: Queued[] = [];
  readonly #abort = new AbortController();
  /** Token bucket: a second's worth of requests at most, refilled continuously. */
  readonly #capacity: number;
  readonly #perMs: number;
  #tokens: number;
  #refilledAt = performance.now();
  #inFlight = false;
  #stopped = false;
  #wake: (() => void) | undefined;
  #worker: Promise<void> | undefined;
  #dropLoggedAt = -Infinity;
  #dropsUnlogged = 0;

  constructor(config: WebhookConfig, options: { logger: Logger; metrics: WebhookMetrics; told: ToldMemory }) {
    this.config = config;
    this.#logger = options.logger.child({ webhook: config.name });
    this.#metrics = options.metrics;
    this.#told = options.told;
    this.#capacity = Math.max(1, config.rate_limit_per_minute / 60);
    this.#perMs = config.rate_limit_per_minute / 60_000;
    this.#tokens = this.#capacity;
    this.#headers = { 'content-type': 'application/json', 'user-agent': 'airdig-notifications', ...lowerKeys(config.headers) };
    if (config.bearer_token) this.#headers.authorization = `Bearer ${config.bearer_token}`;
    if (config.basic_auth) {
      const { username, password } = config.basic_auth;
      this.#headers.authorization = `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
    }
  }

  /** Notices queued or in flight. */
  pending(): number {
    return this.#queue.length + (this.#inFlight ? 1 : 0);
  }

  /** Whether this webhook wants the notice at all (its events, min_score, health_status). */
  #wants(n: Notice): boolean {
    const c = this.config;
    if (!c.events.includes(n.kind)) return false;
    if (n.kind === 'correlation') return (n.record as { score: number }).score >= c.min_score;
    if (n.kind === 'health') {
      // A resolved rule is news only where its firing was told; a firing one from the configured status up.
      if (n.status === 'resolved') return this.#told.get(n.key)?.startsWith('firing:') ?? false;
      const status = (n.record as { status: keyof typeof SEVERITY_RANK }).status;
      return (SEVERITY_RANK[status] ?? 0) >= SEVERITY_RANK[c.health_status];
    }
    return true;
  }

  /** Queues the notice unless it is not wanted or already told in this state; never waits. */
  offer(n: Notice): void {
    if (this.#stopped || !this.#wants(n)) return;
    const previous = this.#told.get(n.key);
    if (previous === n.state) {
      this.#metrics.deduplicated();
      return;
    }
    this.#told.set(n.key, n.state);
    const context = { receiver: this.config.name, externalUrl: this.config.external_url ?? '', change: changeOf(n, previous) };
    const body = JSON.stringify(bodyOf(this.config.format, n, context));
    this.#queue.push({ notice: n, body, previous });
    if (this.#queue.length > this.config.max_queue) {
      const oldest = this.#queue.shift()!;
      this.#untold(oldest);
      this.#metrics.dropped('queue_full');
      this.#dropsUnlogged++;
      // A dead webhook drops one notice per record: said once per DROP_LOG_INTERVAL_MS, with the count.
      const now = performance.now();
      if (now - this.#dropLoggedAt >= DROP_LOG_INTERVAL_MS) {
        this.#logger.warn({ dropped: this.#dropsUnlogged, max_queue: this.config.max_queue }, 'notification queue full: the oldest notices were dropped');
        this.#dropLoggedAt = now;
        this.#dropsUnlogged = 0;
      }
    }
    this.#metrics.queued(this.#queue.length);
    this.#worker ??= this.#run();
    this.#wake?.();
  }

  /** A notice never delivered is not told: the next revision of its fact may try again. */
  #untold(q: Queued): void {
    if (this.#told.get(q.notice.key) !== q.notice.state) return;
    if (q.previous === undefined) this.#told.delete(q.notice.key);
    else this.#told.set(q.notice.key, q.previous);
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      const next = this.#queue.shift();
      if (!next) {
        await new Promise<void>((resolve) => (this.#wake = resolve));
        this.#wake = undefined;
        continue;
      }
      this.#inFlight = true;
      this.#metrics.queued(this.#queue.length);
      try {
        if (!(await this.#deliver(next))) this.#untold(next);
      } finally {
        this.#inFlight = false;
      }
    }
  }

  /** Waits for a token of the bucket (what exceeds the rate waits in the queue). */
  async #token(): Promise<void> {
    for (;;) {
      const now = performance.now();
      this.#tokens = Math.min(this.#capacity, this.#tokens + (now - this.#refilledAt) * this.#perMs);
      this.#refilledAt = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await sleep(Math.ceil((1 - this.#tokens) / this.#perMs), this.#abort.signal);
      if (this.#stopped) return;
    }
  }

  /** Posts with retries; true once delivered, false when rejected, out of attempts or stopped. */
  async #deliver(q: Queued): Promise<boolean> {
    const c = this.config;
    for (let attempt = 1; ; attempt++) {
      await this.#token();
      if (this.#stopped) return false;
      let why: string;
      let wait: number | undefined;
      try {
        const res = await fetch(c.url, {
          method: 'POST',
          headers: this.#headers,
          body: q.body,
          signal: AbortSignal.any([this.#abort.signal, AbortSignal.timeout(c.timeout_ms)]),
        });
        const text = await res.text().catch(() => '');
        if (res.ok) {
          this.#metrics.sent();
          return true;
        }
        if (res.status !== 429 && res.status < 500) {
          this.#metrics.failed('rejected');
          this.#logger.warn({ key: q.notice.key, status: res.status, body: text.slice(0, 500) }, 'webhook refused the notification; not retried');
          return false;
        }
        why = `HTTP ${res.status}`;
        wait = retryAfterMs(res.headers.get('retry-after'));
      } catch (err) {
        if (this.#stopped) return false;
        why = (err as Error)?.name === 'TimeoutError' ? `no answer within ${c.timeout_ms} ms` : errorMessage((err as Error)?.cause ?? err);
      }
      if (attempt >= c.max_attempts) {
        this.#metrics.failed('exhausted');
        this.#logger.warn({ key: q.notice.key, attempts: attempt, err: why }, 'notification not delivered: out of attempts');
        return false;
      }
      this.#metrics.retried();
      const delay = wait !== undefined ? Math.min(wait, c.backoff.retry_after_max_ms) : backoffMs(attempt - 1, c.backoff.initial_ms, c.backoff.max_ms);
      this.#logger.debug({ key: q.notice.key, attempt, err: why, delay_ms: delay }, 'notification failed; retrying');
      await sleep(delay, this.#abort.signal);
      if (this.#stopped) return false;
    }
  }

  /** Lets the queue drain for up to drainMs, then stops: what is left is counted as dropped. */
  async close(drainMs: number): Promise<void> {
    if (this.#stopped) return;
    const until = performance.now() + drainMs;
    while (this.pending() > 0 && performance.now() < until) await sleep(Math.min(20, until - performance.now()));
    const left = this.pending();
    this.#stopped = true;
    this.#abort.abort();
    this.#wake?.();
    await this.#worker;
    if (left) {
      this.#metrics.dropped('shutdown', left);
      this.#logger.warn({ notices: left }, 'notifications still queued at shutdown were dropped');
    }
    this.#queue.length = 0;
    this.#metrics.queued(0);
  }
}

function lowerKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
}
