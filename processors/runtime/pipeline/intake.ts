import type http from 'node:http';
import { z } from 'zod';
import { BusFullError, errorMessage } from '../errors.js';
import { authorized, gunzipBounded, HttpError, isGzip, readRequestBody, statusOf, unauthorized, type RouteHandle } from '../http.js';
import type { OutMessage } from '../bus/types.js';
import { listenAddress, topicName, type ServiceConfig } from '../config/schema.js';
import type { Component, ComponentSettings, Factory, ListenerInfo } from './component.js';

/** JSON documents as files hold them: plain, or gzip (told by the magic bytes, whatever the type says). */
export const JSON_FILE_TYPES = ['application/json', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];

export const DEFAULT_INTAKE_MAX_REQUEST_BYTES = 20 * 1024 * 1024;

/** The settings every intake has, with its own path and topic as defaults. */
export function intakeConfig<E extends z.ZodRawShape>(path: string, output: string, extra: E) {
  return z
    .object({
      /** Listen address; unset shares the service's --otlp-http port, "" switches it off. */
      listen: listenAddress.optional(),
      path: z.string().startsWith('/').default(path),
      output: topicName.default(output),
      /** Largest body, compressed and decompressed (413 past it). */
      max_request_bytes: z.number().int().positive().default(DEFAULT_INTAKE_MAX_REQUEST_BYTES),
      /** When set, requests must carry "Authorization: Bearer <token>". */
      bearer_token: z.string().default(''),
      /** Seconds a client is told to wait when the bus is full. */
      retry_after_s: z.number().int().positive().default(5),
      ...extra,
    })
    .strict();
}

/** What every intake config has (intakeConfig's own keys). */
interface IntakeBase {
  listen?: string | undefined;
  path: string;
  output: string;
  max_request_bytes: number;
  bearer_token: string;
  retry_after_s: number;
}

/** What a parse may need besides the body: the receipt time and the service settings (cluster_name). */
export interface IntakeContext {
  now: number;
  service: Readonly<ServiceConfig>;
}

export interface IntakeSpec<C extends IntakeBase> {
  /** Receiver type. */
  type: string;
  /** Its name in the start-up summary (default: the type). */
  summaryName?: string;
  /** What a body holds, for messages ("Falco alerts"). */
  what: string;
  configSchema: z.ZodType<C, z.ZodTypeDef, unknown>;
  contentTypes: string[];
  /** Records from a body; `accepted`: items taken, when messages also carry markers (a scan's or a state's end). */
  parse(body: Buffer, config: C, at: IntakeContext): { messages: OutMessage[]; errors: string[]; accepted?: number };
}

/**
 * A receiver for JSON documents POSTed to one path (Falco alerts, CloudTrail files, scans,
 * Terraform state): checked, each valid item its own record, answered once the bus has them with
 * {accepted, rejected, errors}; on the OTLP HTTP port unless configured elsewhere.
 */
class IntakeReceiver<C extends IntakeBase> implements Component {
  #route: RouteHandle | undefined;
  constructor(
    readonly s: ComponentSettings,
    readonly cfg: C,
    readonly spec: IntakeSpec<C>,
  ) {}

  listening(): ListenerInfo[] {
    const open = !this.cfg.bearer_token && !this.s.ports.mutualTls;
    return this.#route ? [{ name: this.spec.summaryName ?? this.spec.type, url: `${this.#route.url}${this.cfg.path}`, open }] : [];
  }

  async start(): Promise<void> {
    const addr = this.cfg.listen ?? this.s.service.otlp_http;
    if (!addr) return;
    this.#route = await this.s.ports.add(addr, { path: this.cfg.path, describe: `POST ${this.cfg.path}`, handle: (req, res) => this.#handle(req, res) });
  }

  async shutdown(): Promise<void> {
    await this.#route?.remove();
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { metrics } = this.s;
    const { spec, cfg } = this;
    try {
      if (req.method !== 'POST') throw new HttpError(405, `POST ${spec.what} to ${cfg.path}`, { Allow: 'POST' });
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!spec.contentTypes.includes(type))
        throw new HttpError(415, `unsupported Content-Type "${req.headers['content-type'] ?? ''}"; ${cfg.path} takes ${spec.contentTypes.join(', ')}`);
      if (!authorized(req.headers.authorization, cfg)) throw unauthorized(cfg);
      let body = await readRequestBody(req, cfg.max_request_bytes);
      // A .gz file sent as it is stored (whatever its Content-Type): unpacked here, bounded like Content-Encoding.
      if (isGzip(body)) body = await gunzipBounded(body, cfg.max_request_bytes);
      // One layer (a .gz file, with Content-Encoding or without) is what senders send; a gzip inside that is a bomb's shape.
      if (isGzip(body)) throw new HttpError(400, 'a gzip body inside gzip is not taken: send the JSON, or one .gz of it');
      const { messages, errors, accepted = messages.length } = spec.parse(body, cfg, { now: this.s.clock.now(), service: this.s.service });
      metrics.received(accepted + errors.length);
      if (errors.length) metrics.dropped(`invalid_${spec.type}`, errors.length);
      if (messages.length === 0) throw new HttpError(400, errors.length ? errors.slice(0, 20).join('; ') : `no ${spec.what} in the body`);
      try {
        await this.s.bus.producer().send(cfg.output, messages);
        metrics.sent(accepted);
      } catch (err) {
        metrics.failed(err instanceof BusFullError ? 'bus_full' : 'bus_error', accepted);
        throw err;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ accepted, rejected: errors.length, errors: errors.slice(0, 100) }));
    } catch (err) {
      req.resume();
      const { status, headers } = statusOf(err, cfg.retry_after_s);
      if (status >= 500) metrics.failed('unavailable');
      if (status === 500) this.s.logger.error({ err: errorMessage(err) }, `${spec.type} request failed`);
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify({ code: status, message: errorMessage(err) }));
    }
  }
}

export function intakeFactory<C extends IntakeBase>(spec: IntakeSpec<C>): Factory<C> {
  return {
    kind: 'receiver',
    type: spec.type,
    configSchema: spec.configSchema,
    topics: (c) => ({ consumes: [], produces: [c.output] }),
    usesStore: false,
    create: (settings, config) => new IntakeReceiver(settings, config, spec),
  };
}
