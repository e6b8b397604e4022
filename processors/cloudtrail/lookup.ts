/*
 * The CloudTrail LookupEvents poller: per account and region, pages of 50 events (NextToken), at
 * most 2 requests a second (the API's limit per account and region), every record parsed from
 * `CloudTrailEvent` and published to cloudtrail_events like the other intakes.
 *
 * Position: LookupEvents answers newest first and an event can appear minutes after its
 * eventTime, so each poll asks from `watermark - overlap` and skips the event ids it already
 * published in that overlap. The checkpoint ({watermark, seen ids}) is written after the bus accepted
 * the events: a restart neither misses an event nor publishes one again, unless it stopped between
 * the two (then a repeat, which the changes processor drops by eventID).
 */
import { CloudTrailClient, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { z } from 'zod';
import { errorMessage } from '../runtime/errors.js';
import { topicName } from '../runtime/config/schema.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import type { Store } from '../runtime/store/store.js';
import { cloudTrailMessage, recordProblem } from './records.js';
import { CLOUDTRAIL_TOPIC } from '../model/changes.js';

type Doc = Record<string, unknown>;

export const LOOKUP_PAGE_SIZE = 50;

/** One page of LookupEvents: the part of the API the poller uses. */
export type LookupPage = (q: { start: Date; end: Date; nextToken?: string }) => Promise<{ events: { id: string; json: string }[]; nextToken?: string }>;

export interface Position {
  /** Newest eventTime published, Unix ms. */
  watermark: number;
  /** Event ids published with an eventTime inside the overlap before the watermark, and that time. */
  seen: Record<string, number>;
}

/** Spaces calls at least `intervalMs` apart (2 requests/s: 500 ms). */
export class Pacer {
  #next = 0;
  constructor(
    readonly intervalMs: number,
    readonly now: () => number = Date.now,
    readonly sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms)),
  ) {}
  async wait(): Promise<void> {
    const t = this.now();
    const at = Math.max(t, this.#next);
    this.#next = at + this.intervalMs;
    if (at > t) await this.sleep(at - t);
  }
}

/**
 * One poll: every event since `from.watermark - overlapMs` up to `now` that `from.ids` does not
 * hold, oldest first, and the position after them.
 */
export async function pollOnce(
  lookup: LookupPage,
  from: Position,
  now: number,
  overlapMs: number,
): Promise<{ records: { record: Doc; json: string }[]; errors: string[]; position: Position }> {
  const start = new Date(Math.max(0, from.watermark - overlapMs));
  const end = new Date(now);
  const known = new Set(Object.keys(from.seen));
  const records: { record: Doc; json: string; t: number }[] = [];
  const errors: string[] = [];
  let nextToken: string | undefined;
  do {
    const page = await lookup({ start, end, nextToken });
    for (const e of page.events) {
      if (known.has(e.id)) continue;
      known.add(e.id);
      let record: Doc;
      try {
        record = JSON.parse(e.json) as Doc;
      } catch (err) {
        errors.push(`event ${e.id}: CloudTrailEvent is not JSON: ${errorMessage(err)}`);
        continue;
      }
      const problem = recordProblem(record);
      if (problem) errors.push(`event ${e.id}: ${problem}`);
      else records.push({ record, json: e.json, t: Date.parse(record.eventTime as string) });
    }
    nextToken = page.nextToken;
  } while (nextToken);
  records.sort((a, b) => a.t - b.t);
  let watermark = from.watermark;
  for (const r of records) if (r.t > watermark) watermark = r.t;
  // Remember the ids the next poll's overlap will return again.
  const seen: Record<string, number> = {};
  for (const [id, t] of Object.entries(from.seen)) if (t >= watermark - overlapMs) seen[id] = t;
  for (const r of records) if (r.t >= watermark - overlapMs) seen[r.record.eventID as string] = r.t;
  return { records, errors, position: { watermark, seen } };
}

const sourceSchema = z
  .object({
    region: z.string().min(1),
    /** Names the checkpoint; the credentials decide which account is read. */
    account: z.string().min(1),
    /** An endpoint other than AWS's (a local emulator). */
    endpoint: z.string().url().optional(),
  })
  .strict();

const lookupConfigSchema = z
  .object({
    sources: z.array(sourceSchema).default([]),
    output: topicName.default(CLOUDTRAIL_TOPIC),
    interval_ms: z.number().int().positive().default(60_000),
    /** Requests per second per account and region (the API allows 2). */
    requests_per_second: z.number().positive().max(2).default(2),
    /** How far back the first poll of a source reaches. */
    initial_lookback_ms: z.number().int().nonnegative().default(3_600_000),
    /** Events appear in LookupEvents up to ~15 minutes late; each poll looks back this far. */
    overlap_ms: z
      .number()
      .int()
      .nonnegative()
      .default(20 * 60_000),
  })
  .strict();
type LookupConfig = z.infer<typeof lookupConfigSchema>;

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

async function loadPosition(store: Store, source: string): Promise<Position | undefined> {
  const rows = await (
    await store.client.query({ query: `SELECT position FROM ingest_checkpoints FINAL WHERE source = ${quote(source)}`, format: 'JSONEachRow' })
  ).json<{ position: string }>();
  return rows[0] ? (JSON.parse(rows[0].position) as Position) : undefined;
}

async function savePosition(store: Store, source: string, p: Position, now: number): Promise<void> {
  await store.client.insert({
    table: 'ingest_checkpoints',
    values: [{ source, position: JSON.stringify(p), updated: new Date(now).toISOString() }],
    format: 'JSONEachRow',
  });
}

/**
 * The SDK's HTTP handler with every request paced, retries included: a throttled call retried by
 * the SDK is a request to the API too.
 */
class PacedHandler {
  constructor(
    readonly inner: NodeHttpHandler,
    readonly pacer: Pacer,
  ) {}
  async handle(...args: Parameters<NodeHttpHandler['handle']>): ReturnType<NodeHttpHandler['handle']> {
    await this.pacer.wait();
    return this.inner.handle(...args);
  }
  updateHttpClientConfig(...args: Parameters<NodeHttpHandler['updateHttpClientConfig']>): void {
    this.inner.updateHttpClientConfig(...args);
  }
  httpHandlerConfigs(): ReturnType<NodeHttpHandler['httpHandlerConfigs']> {
    return this.inner.httpHandlerConfigs();
  }
  destroy(): void {
    this.inner.destroy();
  }
}

/** The SDK's LookupEvents as a LookupPage. */
function sdkLookup(client: CloudTrailClient): LookupPage {
  return async ({ start, end, nextToken }) => {
    const r = await client.send(new LookupEventsCommand({ StartTime: start, EndTime: end, MaxResults: LOOKUP_PAGE_SIZE, NextToken: nextToken }));
    return {
      events: (r.Events ?? []).filter((e) => e.EventId && e.CloudTrailEvent).map((e) => ({ id: e.EventId!, json: e.CloudTrailEvent! })),
      nextToken: r.NextToken,
    };
  };
}

class CloudTrailLookup implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: LookupConfig;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  #clients: CloudTrailClient[] = [];

  constructor(settings: ComponentSettings, config: LookupConfig) {
    this.#s = settings;
    this.#cfg = config;
  }

  async start(): Promise<void> {
    const sources = this.#cfg.sources.map((src) => {
      const pacer = new Pacer(1000 / this.#cfg.requests_per_second);
      const requestHandler = new PacedHandler(new NodeHttpHandler(), pacer);
      const client = new CloudTrailClient({
        region: src.region,
        maxAttempts: 8,
        retryMode: 'adaptive',
        requestHandler,
        ...(src.endpoint ? { endpoint: src.endpoint } : {}),
      });
      return { name: `cloudtrail:${src.account}/${src.region}`, lookup: sdkLookup(client), client };
    });
    this.#clients = sources.map((s) => s.client);
    const tick = () => {
      this.#running = Promise.all(sources.map((src) => this.#poll(src))).then(() => {
        if (!this.#stopped) this.#timer = setTimeout(tick, this.#cfg.interval_ms);
      });
    };
    tick();
  }

  async #poll(src: { name: string; lookup: LookupPage }): Promise<void> {
    const { store, bus, metrics, logger, clock } = this.#s;
    try {
      const now = clock.now();
      const from = (await loadPosition(store, src.name)) ?? { watermark: now - this.#cfg.initial_lookback_ms, seen: {} };
      const { records, errors, position } = await pollOnce(src.lookup, from, now, this.#cfg.overlap_ms);
      metrics.received(records.length + errors.length);
      if (errors.length) {
        metrics.dropped('invalid_cloudtrail', errors.length);
        logger.warn({ source: src.name, errors: errors.slice(0, 20) }, 'LookupEvents returned events that are not CloudTrail records');
      }
      if (records.length)
        await bus.producer().send(
          this.#cfg.output,
          records.map((r) => ({ ...cloudTrailMessage(r.record, r.json), timestamp: Date.parse(r.record.eventTime as string) })),
        );
      metrics.sent(records.length);
      await savePosition(store, src.name, position, now);
    } catch (err) {
      metrics.failed('lookup');
      logger.warn({ source: src.name, err: errorMessage(err) }, 'LookupEvents poll failed; the next poll goes on from the last checkpoint');
    }
  }

  async shutdown(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
    for (const c of this.#clients) c.destroy();
  }
}

export const cloudtrailLookupFactory: Factory<LookupConfig> = {
  kind: 'receiver',
  type: 'cloudtrail_lookup',
  configSchema: lookupConfigSchema,
  topics: (c) => ({ consumes: [], produces: [c.output] }),
  create: (settings, config) => new CloudTrailLookup(settings, config),
};
