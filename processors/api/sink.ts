/*
 * The graph API: GraphQL over HTTP (GraphQL Yoga: POST and GET at /graphql, subscriptions as SSE)
 * and over WebSocket (graphql-ws, subprotocol graphql-transport-ws, same port and path), the web
 * view's files at /, and the live updates it consumes from the bus (health, correlations,
 * incidents, drift, changes) pushed to subscribers. Read-only: the schema has no mutation, and
 * every statement runs with readonly=2.
 */
import { readFileSync } from 'node:fs';
import type http from 'node:http';
import type { Duplex } from 'node:stream';
import path from 'node:path';
import { GraphQLError, specifiedRules, validate, type ExecutionResult, type GraphQLSchema, type ValidationRule } from 'graphql';
import { useServer } from 'graphql-ws/use/ws';
import { WebSocketServer } from 'ws';
import { Counter, Gauge, type Registry } from 'prom-client';
import { authorized, foreignBrowserRequest, HttpError, listenHttp, originPolicy, readLimitedBody, unauthorized, type Listening } from '../runtime/http.js';
import type { Component, ComponentSettings, Factory, ListenerInfo } from '../runtime/pipeline/component.js';
import type { BusRecord, Consumer } from '../runtime/bus/types.js';
import { consumeTopics, stopConsuming } from '../runtime/pipeline/consume.js';
import { errorMessage, StoreError } from '../runtime/errors.js';
import { PACKAGE_ROOT } from '../runtime/paths.js';
import { healthCodec } from '../model/health.js';
import { correlationCodec, incidentCodec } from '../model/correlations.js';
import { driftCodec } from '../model/drift.js';
import { changeCodec } from '../model/changes.js';
import { apiConfigSchema, type ApiConfig } from './config.js';
import { costLimit, depthLimit } from './limits.js';
import { LiveHub, type LiveKind } from './live.js';
import { Loaders } from './loaders.js';
import { Sql } from './read.js';
import { resolvers, type ApiContext } from './resolvers.js';
import { executableSchema } from './schema.js';
import { serveStatic } from './static.js';

export const SCHEMA_FILE = path.join(PACKAGE_ROOT, 'processors/api/schema.graphql');
export const GRAPHQL_PATH = '/graphql';

/*
 * graphql-yoga is loaded by name: its type declarations pull in lib "dom" (through
 * @whatwg-node/fetch), which would change fetch's body types for the whole program. These are the
 * few parts of its API used here.
 */
const YOGA_MODULE = 'graphql-yoga';
interface YogaPlugin {
  onValidate?(p: { addValidationRule(rule: ValidationRule): void }): void;
  onExecute?(): { onExecuteDone?(p: { result: unknown }): void };
}
interface Yoga {
  fetch(url: string, init: RequestInit, serverContext: object): Promise<Response>;
}
type CreateYoga = (options: Record<string, unknown>) => Yoga;

/** Decoders of the consumed records, by the kind of push they become; null: nothing to push (a merged incident, a read-only call). */
const DECODERS: Record<LiveKind, (value: Buffer) => unknown> = {
  health: (v) => healthCodec.decode(v),
  correlation: (v) => correlationCodec.decode(v),
  incident: (v) => {
    const i = incidentCodec.decode(v);
    return i.status === 'merged' ? null : i;
  },
  drift: (v) => driftCodec.decode(v),
  change: (v) => {
    const c = changeCodec.decode(v);
    return c.read_only || c.error_code ? null : c;
  },
};

/** The API's own series. */
class ApiMetrics {
  readonly requests: Counter<'component' | 'transport'>;
  readonly errors: Counter<'component' | 'reason'>;
  readonly subscriptions: Gauge<'component'>;
  readonly dropped: Counter<'component'>;

  constructor(
    registry: Registry,
    readonly component: string,
  ) {
    // One series per registry: several api components share it, by their component label.
    const made = <M>(
      name: string,
      make: (o: { name: string; help: string; labelNames: string[]; registers: Registry[] }) => M,
      help: string,
      labelNames: string[],
    ): M => (registry.getSingleMetric(name) as M | undefined) ?? make({ name, help, labelNames, registers: [registry] });
    const counter = (o: ConstructorParameters<typeof Counter>[0]) => new Counter(o);
    this.requests = made('airdig_api_requests_total', counter, 'GraphQL requests (HTTP) and subscriptions (WebSocket) the API received.', [
      'component',
      'transport',
    ]);
    this.errors = made('airdig_api_errors_total', counter, 'API requests refused (by HTTP status) or answered with GraphQL errors (execution).', [
      'component',
      'reason',
    ]);
    this.subscriptions = made('airdig_api_subscriptions', (o) => new Gauge(o), 'Subscriptions open now.', ['component']);
    this.dropped = made('airdig_api_dropped_pushes_total', counter, "Pushes dropped because a subscriber's queue was full (the oldest goes).", ['component']);
    const labels = { component };
    this.requests.inc({ ...labels, transport: 'http' }, 0);
    this.requests.inc({ ...labels, transport: 'ws' }, 0);
    this.subscriptions.set(labels, 0);
    this.dropped.inc(labels, 0);
  }

  error(reason: string): void {
    this.errors.inc({ component: this.component, reason });
  }
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '::1', '[::1]']);

/**
 * Who may talk to the API from a browser: its own origin (the address it listens on; on a
 * loopback address also as localhost, 127.0.0.1 and [::1]), and the configured allowed_origins.
 * On a loopback address the Host header must name it too: a page whose name was re-pointed at
 * 127.0.0.1 (DNS rebinding) sends its own name as Host and its own origin, and is refused.
 */
class Origins {
  readonly #allowed: (origin: string) => boolean;
  readonly #own = new Set<string>();
  readonly #loopback: boolean;
  readonly #scheme: string;

  constructor(allowed: readonly string[], listenHost: string, port: number, scheme: 'http' | 'https') {
    this.#allowed = originPolicy(allowed);
    this.#scheme = scheme;
    this.#loopback = LOOPBACK.has(listenHost) || listenHost.startsWith('127.');
    const hosts = this.#loopback ? ['127.0.0.1', 'localhost', '[::1]', listenHost.includes(':') ? `[${listenHost}]` : listenHost] : [];
    for (const h of hosts) this.#own.add(`${h}:${port}`);
  }

  /** Why a request is refused (403), or undefined. */
  refusal(req: http.IncomingMessage): string | undefined {
    const host = (req.headers.host ?? '').toLowerCase();
    if (this.#loopback && !this.#own.has(host)) return `Host ${JSON.stringify(host)} is not this server (it listens on a loopback address)`;
    const foreign = foreignBrowserRequest(req, (origin) => this.isOwn(origin, host) || this.#allowed(origin));
    return foreign ? `requests from ${foreign} are refused: the origin is not this server's and not in allowed_origins` : undefined;
  }

  isOwn(origin: string, host: string): boolean {
    return origin.toLowerCase() === `${this.#scheme}://${host}`;
  }

  /** CORS headers for an allowed foreign origin. */
  cors(req: http.IncomingMessage): Record<string, string> {
    const origin = req.headers.origin;
    if (!origin || this.isOwn(origin, (req.headers.host ?? '').toLowerCase())) return {};
    return {
      'Access-Control-Allow-Origin': origin,
      'Access-Control-Allow-Credentials': 'true',
      'Access-Control-Allow-Headers': 'Authorization, Content-Type, Accept',
      'Access-Control-Allow-Methods': 'GET, POST, OPTIONS',
      Vary: 'Origin',
    };
  }
}

const json = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(text), ...headers }).end(text);
};

class ApiServer implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: ApiConfig;
  readonly #metrics: ApiMetrics;
  readonly #live: LiveHub;
  readonly #sql: Sql;
  readonly #webDir: string;
  #listening: Listening | undefined;
  #consumer: Consumer | undefined;
  #wss: WebSocketServer | undefined;
  #disposeWs: (() => void | Promise<void>) | undefined;
  #origins: Origins | undefined;
  #stopping = false;

  constructor(settings: ComponentSettings, config: ApiConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#metrics = new ApiMetrics(settings.registry, settings.id);
    this.#sql = new Sql(settings.store, config.query_timeout_s);
    this.#webDir = path.resolve(PACKAGE_ROOT, config.web_dir);
    const labels = { component: settings.id };
    this.#live = new LiveHub({
      queueSize: config.subscriber_queue,
      onDrop: () => this.#metrics.dropped.inc(labels),
      onCount: (n) => this.#metrics.subscriptions.set(labels, n),
    });
  }

  listening(): ListenerInfo[] {
    if (!this.#listening) return [];
    const base = this.#listening.url;
    const open = !this.#cfg.bearer_token && !this.#cfg.basic_auth && !this.#s.tls?.mutual;
    return [
      { name: 'api', url: `${base}${GRAPHQL_PATH}`, open },
      { name: 'web view', url: `${base}/` },
    ];
  }

  #context = (): ApiContext => ({ sql: this.#sql, loaders: new Loaders(this.#sql), live: this.#live });

  async start(): Promise<void> {
    const addr = this.#cfg.listen ?? this.#s.service.api;
    if (!addr) return;
    const schema = executableSchema(readFileSync(SCHEMA_FILE, 'utf8'), resolvers);
    const rules = [depthLimit(this.#cfg.max_depth), costLimit(this.#cfg.max_cost)];
    const { createYoga } = (await import(YOGA_MODULE)) as { createYoga: CreateYoga };
    const yoga = this.#yoga(createYoga, schema, rules);
    const listening = await listenHttp(addr, (req, res) => void this.#handle(yoga, req, res), { tls: this.#s.tls });
    this.#listening = listening;
    const address = listening.server.address() as { address: string };
    const origins = new Origins(this.#cfg.allowed_origins, address.address, listening.port, this.#s.tls ? 'https' : 'http');
    this.#origins = origins;

    const wss = new WebSocketServer({ noServer: true, maxPayload: this.#cfg.max_request_bytes });
    this.#wss = wss;
    const server = useServer(
      {
        schema,
        context: () => this.#context(),
        validate: (s, document) => validate(s, document, [...specifiedRules, ...rules]),
        onConnect: (ctx) => {
          const given = ctx.connectionParams?.authorization ?? ctx.extra.request.headers.authorization;
          if (authorized(typeof given === 'string' ? given : undefined, this.#cfg)) return true;
          this.#metrics.error('401');
          return false;
        },
        onSubscribe: () => {
          this.#metrics.requests.inc({ component: this.#s.id, transport: 'ws' });
        },
        onError: () => this.#metrics.error('execution'),
      },
      wss,
    );
    this.#disposeWs = () => server.dispose();
    listening.server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => this.#upgrade(wss, req, socket, head));

    const kinds = new Map<string, LiveKind>([
      [this.#cfg.health_topic, 'health'],
      [this.#cfg.correlations_topic, 'correlation'],
      [this.#cfg.incidents_topic, 'incident'],
      [this.#cfg.drift_topic, 'drift'],
      [this.#cfg.changes_topic, 'change'],
    ]);
    try {
      this.#consumer = await consumeTopics(this.#s, {
        what: 'live updates batch',
        topics: [...kinds.keys()],
        maxBatch: this.#cfg.max_batch,
        handler: async (batch) => this.#push(batch, kinds),
      });
    } catch (err) {
      // Without its input the API does not serve half: what it opened closes again.
      await this.shutdown();
      throw err;
    }
  }

  /** Offers each record to the subscribers of its kind; decoded only when someone listens. */
  #push(batch: readonly BusRecord[], kinds: ReadonlyMap<string, LiveKind>): void {
    this.#s.metrics.received(batch.length);
    for (const r of batch) {
      const kind = kinds.get(r.topic);
      if (!kind || !this.#live.wants(kind)) continue;
      let payload: unknown;
      try {
        payload = DECODERS[kind](r.value);
      } catch (err) {
        // The table sinks send an undecodable record to the DLQ; the API only has nothing to push.
        this.#s.metrics.noted('undecodable');
        this.#s.logger.debug({ topic: r.topic, offset: r.offset, err: errorMessage(err) }, 'record not pushed: undecodable');
        continue;
      }
      if (payload !== null) this.#live.publish(kind, payload);
    }
  }

  #yoga(createYoga: CreateYoga, schema: GraphQLSchema, rules: ValidationRule[]): Yoga {
    const { logger } = this.#s;
    const metrics = this.#metrics;
    const limits: YogaPlugin = {
      onValidate({ addValidationRule }: { addValidationRule(rule: ValidationRule): void }) {
        for (const rule of rules) addValidationRule(rule);
      },
      onExecute() {
        return {
          onExecuteDone({ result }: { result: unknown }) {
            if ('errors' in (result as ExecutionResult) && (result as ExecutionResult).errors?.length) metrics.error('execution');
          },
        };
      },
    };
    return createYoga({
      schema,
      graphqlEndpoint: GRAPHQL_PATH,
      context: ({ ended }: { ended?: AbortSignal }) => ({ ...this.#context(), ...(ended ? { ended } : {}) }),
      plugins: [limits],
      // GraphiQL would load from a CDN; the web view is AirDig's own UI.
      graphiql: false,
      landingPage: false,
      cors: false,
      logging: {
        debug: (...a: unknown[]) => logger.debug({ args: a.map(String) }, 'graphql'),
        info: (...a: unknown[]) => logger.debug({ args: a.map(String) }, 'graphql'),
        warn: (...a: unknown[]) => logger.warn({ args: a.map(String) }, 'graphql'),
        error: (...a: unknown[]) => logger.error({ args: a.map((x) => errorMessage(x)) }, 'graphql'),
      },
      maskedErrors: {
        maskError: (error: unknown, message: string) => {
          const original = error instanceof GraphQLError ? error.originalError : error;
          if (original instanceof GraphQLError) return original;
          if (error instanceof GraphQLError && !error.originalError) return error;
          logger.warn({ err: errorMessage(original) }, 'graph API resolver failed');
          const text =
            original instanceof StoreError ? (original.retryable ? 'ClickHouse is unavailable; try again' : 'ClickHouse refused the query') : message;
          return new GraphQLError(text, { extensions: { code: 'INTERNAL_SERVER_ERROR' }, ...(error instanceof GraphQLError ? { path: error.path } : {}) });
        },
      },
    });
  }

  async #handle(yoga: Yoga, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0]!;
    try {
      const refused = this.#origins?.refusal(req);
      if (refused) throw new HttpError(403, refused, { Vary: 'Origin' });
      if (path !== GRAPHQL_PATH) return await serveStatic(this.#webDir, req, res);
      this.#metrics.requests.inc({ component: this.#s.id, transport: 'http' });
      const cors = this.#origins!.cors(req);
      if (req.method === 'OPTIONS') {
        req.resume();
        res.writeHead(204, { ...cors, 'Access-Control-Max-Age': '600' }).end();
        return;
      }
      if (!authorized(req.headers.authorization, this.#cfg)) throw unauthorized(this.#cfg);
      await this.#graphql(yoga, req, res, cors);
    } catch (err) {
      if (!(err instanceof HttpError)) this.#s.logger.warn({ err: errorMessage(err) }, 'graph API request failed');
      const status = err instanceof HttpError ? err.status : 500;
      this.#metrics.error(String(status));
      if (res.headersSent) {
        res.destroy();
        return;
      }
      req.resume();
      json(
        res,
        status,
        { errors: [{ message: err instanceof HttpError ? err.message : 'internal error', extensions: { code: status } }] },
        err instanceof HttpError ? err.headers : {},
      );
    }
  }

  /** Hands /graphql to Yoga with the body read within max_request_bytes; streams its answer (SSE too) until the client goes. */
  async #graphql(yoga: Yoga, req: http.IncomingMessage, res: http.ServerResponse, cors: Record<string, string>) {
    const body = req.method === 'GET' || req.method === 'HEAD' ? undefined : await readLimitedBody(req, this.#cfg.max_request_bytes);
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) headers.append(name, v);
    }
    // Ends this request's subscriptions when the client goes (Yoga's own cancel does not always reach them).
    const ended = new AbortController();
    const response = await yoga.fetch(
      `http://${req.headers.host ?? 'localhost'}${req.url ?? GRAPHQL_PATH}`,
      { method: req.method ?? 'GET', headers, ...(body ? { body } : {}) },
      { ended: ended.signal },
    );
    if (response.status >= 400) this.#metrics.error(String(response.status));
    const out: Record<string, string> = { ...cors };
    response.headers.forEach((value, name) => (out[name] = value));
    res.writeHead(response.status, out);
    if (res.req.method === 'HEAD' || !response.body) {
      res.end();
      return;
    }
    const reader = response.body.getReader();
    // A client that goes ends its stream: cancelling it ends the subscription (an aborted request signal would only error the stream).
    const cancel = () => void reader.cancel().catch(() => {});
    if (res.destroyed) cancel();
    else res.once('close', cancel);
    res.once('close', () => ended.abort());
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        // An SSE stream is written as it comes: each event must reach the client at once.
        res.write(value);
      }
    } catch {
      // The client went away (the stream was cancelled).
    }
    res.end();
  }

  #upgrade(wss: WebSocketServer, req: http.IncomingMessage, socket: Duplex, head: Buffer): void {
    const refuse = (status: number, message: string) => {
      this.#metrics.error(String(status));
      socket.end(`HTTP/1.1 ${status} ${statusText(status)}\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n${message}\n`);
    };
    const path = (req.url ?? '/').split('?')[0]!;
    if (this.#stopping) return refuse(503, 'the API is stopping');
    if (path !== GRAPHQL_PATH) return refuse(404, `WebSocket subscriptions are at ${GRAPHQL_PATH}`);
    const refused = this.#origins?.refusal(req);
    if (refused) return refuse(403, refused);
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  }

  async shutdown(): Promise<void> {
    this.#stopping = true;
    await stopConsuming(this.#s, this.#consumer);
    this.#consumer = undefined;
    this.#live.closeAll();
    await this.#disposeWs?.();
    this.#disposeWs = undefined;
    for (const ws of this.#wss?.clients ?? []) ws.terminate();
    await new Promise<void>((resolve) => (this.#wss ? this.#wss.close(() => resolve()) : resolve()));
    this.#wss = undefined;
    // Streams still open (SSE) end with their connections.
    this.#listening?.server.closeAllConnections();
    await this.#listening?.close();
  }
}

function statusText(status: number): string {
  return { 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' }[status] ?? 'Error';
}

/** The graph API as a sink: it consumes the live topics and serves GraphQL and the web view on service.api. */
export const apiFactory: Factory<ApiConfig> = {
  kind: 'sink',
  type: 'api',
  configSchema: apiConfigSchema,
  topics: (c) => ({ consumes: [c.health_topic, c.correlations_topic, c.incidents_topic, c.drift_topic, c.changes_topic], produces: [] }),
  create: (settings, config) => new ApiServer(settings, config),
};
