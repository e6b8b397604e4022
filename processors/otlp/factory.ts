import http from 'node:http';
import { gunzip } from 'node:zlib';
import { promisify } from 'node:util';
import * as grpc from '@grpc/grpc-js';
import { BusFullError, MalformedInputError, errorMessage, isRetryable } from '../runtime/errors.js';
import { HttpError, ListenError, listenHttp, parseHostPort, readLimitedBody, type Listening } from '../runtime/http.js';
import type { Component, ComponentSettings, Factory } from '../runtime/pipeline/component.js';
import { otlpConfigSchema, type OtlpConfig } from './config.js';
import { parseFalcoBody } from '../falco/events.js';
import { cloudTrailMessage, parseCloudTrailBody } from '../cloudtrail/records.js';
import { parseScanBody, parseTerraformState, scannerCodec, terraformCodec } from '../inventory/records.js';
import type { OutMessage } from '../runtime/bus/types.js';
import { SIGNALS, type Prepared, type Signal } from './signals.js';
import { encodeRetryStatus, encodeRpcStatus, GrpcCode } from './status.js';

const gunzipAsync = promisify(gunzip);

type BodyKind = 'protobuf' | 'json';

/** A non-OTLP intake the HTTP port also serves: each valid item of a body becomes one record. */
interface Intake {
  name: string;
  what: string;
  path: string;
  contentTypes: string[];
  topic(config: OtlpConfig): string;
  /** `accepted`: items taken, when messages also carry markers (a scan's or a state's end). */
  parse(body: Buffer, config: OtlpConfig, now: number): { messages: OutMessage[]; errors: string[]; accepted?: number };
}

/** JSON documents as files hold them: plain, or gzip (told by the magic bytes, whatever the type says). */
const JSON_FILE_TYPES = ['application/json', 'application/gzip', 'application/x-gzip', 'application/octet-stream'];

/** Every record of a scan or a state snapshot under one key, so its end marker follows its resources. */
function inventoryIntake<R extends { kind: string; seen_ms: number }>(codec: { encode(r: R): Buffer }, key: (r: R) => string, parsed: { records: R[]; errors: string[] }) {
  const { records, errors } = parsed;
  return {
    messages: records.map((r) => ({ key: key(r), value: codec.encode(r), timestamp: r.seen_ms })),
    errors,
    accepted: records.filter((r) => r.kind === 'resource').length,
  };
}

const INTAKES: Intake[] = [
  {
    name: 'falco',
    what: 'Falco alerts',
    path: '/v1/falco',
    contentTypes: ['application/json'],
    topic: (c) => c.falco_topic,
    parse(body, c) {
      const { events, errors } = parseFalcoBody(body.toString('utf8'), c.cluster_name);
      return { messages: events.map((e) => ({ key: e.row.resource_id || null, value: Buffer.from(e.json) })), errors };
    },
  },
  {
    name: 'cloudtrail',
    what: 'CloudTrail records',
    path: '/v1/cloudtrail',
    // S3 log files as stored (.json.gz) or unpacked, EventBridge events, records.
    contentTypes: JSON_FILE_TYPES,
    topic: (c) => c.cloudtrail_topic,
    parse(body) {
      const { records, errors } = parseCloudTrailBody(body);
      return { messages: records.map((r) => cloudTrailMessage(r)), errors };
    },
  },
  {
    name: 'resources',
    what: 'scans (resource inventories)',
    path: '/v1/resources',
    contentTypes: JSON_FILE_TYPES,
    topic: (c) => c.scanner_topic,
    parse: (body, _c, now) => inventoryIntake(scannerCodec, (r) => r.scope, parseScanBody(body, now)),
  },
  {
    name: 'terraform',
    what: 'Terraform state files',
    path: '/v1/terraform-state',
    contentTypes: JSON_FILE_TYPES,
    topic: (c) => c.terraform_topic,
    parse: (body, _c, now) => inventoryIntake(terraformCodec, (r) => r.lineage, parseTerraformState(body, now)),
  },
];

/** OTLP over HTTP and gRPC: validates, splits by trace id and answers only once the bus has the data. */
class OtlpReceiver implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: OtlpConfig;
  #http: Listening | undefined;
  #grpc: grpc.Server | undefined;
  #grpcUrl: string | undefined;
  #stopped = false;

  constructor(settings: ComponentSettings, config: OtlpConfig) {
    this.#s = settings;
    this.#cfg = config;
  }

  listening(): { name: string; url: string }[] {
    const out = [];
    if (this.#grpcUrl) out.push({ name: 'otlp grpc', url: this.#grpcUrl });
    if (this.#http) {
      out.push({ name: 'otlp http', url: `${this.#http.url}/v1/traces` });
      out.push({ name: 'otlp metrics', url: `${this.#http.url}/v1/metrics` });
      out.push({ name: 'otlp logs', url: `${this.#http.url}/v1/logs` });
      for (const i of INTAKES) out.push({ name: i.name, url: `${this.#http.url}${i.path}` });
    }
    return out;
  }

  async start(): Promise<void> {
    const httpAddr = this.#cfg.http ?? this.#s.service.otlp_http;
    const grpcAddr = this.#cfg.grpc ?? this.#s.service.otlp_grpc;
    if (httpAddr) this.#http = await listenHttp(httpAddr, (req, res) => void this.#handleHttp(req, res));
    if (grpcAddr) await this.#startGrpc(grpcAddr);
  }

  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#http?.close();
    const g = this.#grpc;
    if (g) await new Promise<void>((resolve) => g.tryShutdown(() => resolve()));
  }

  /** Sends what a request holds to the bus; resolves once the bus has it. */
  async #publish(signal: Signal, prepared: Prepared): Promise<void> {
    const { metrics } = this.#s;
    metrics.received(prepared.items);
    if (prepared.rejected) metrics.dropped(`invalid_${signal.name}`, prepared.rejected);
    if (prepared.messages.length === 0) return;
    try {
      await this.#s.bus.producer().send(signal.topic(this.#cfg), prepared.messages);
      metrics.sent(prepared.items - prepared.rejected);
    } catch (err) {
      metrics.failed(err instanceof BusFullError ? 'bus_full' : 'bus_error', prepared.items - prepared.rejected);
      throw err;
    }
  }

  #authorized(header: string | undefined): boolean {
    return !this.#cfg.bearer_token || header === `Bearer ${this.#cfg.bearer_token}`;
  }

  #cors(req: http.IncomingMessage, res: http.ServerResponse): void {
    const origin = req.headers.origin;
    const allowed = this.#cfg.cors_allowed_origins;
    if (!origin || allowed.length === 0) return;
    if (allowed.includes('*') || allowed.includes(origin)) {
      res.setHeader('Access-Control-Allow-Origin', allowed.includes('*') ? '*' : origin);
      res.setHeader('Vary', 'Origin');
    }
  }

  async #handleHttp(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.#cors(req, res);
    const path = (req.url ?? '/').split('?')[0];
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Content-Type, Content-Encoding, Authorization');
      res.setHeader('Access-Control-Max-Age', '7200');
      res.writeHead(204).end();
      return;
    }
    const intake = INTAKES.find((i) => i.path === path);
    if (intake) {
      await this.#handleIntake(intake, req, res);
      return;
    }
    let kind: BodyKind = 'protobuf';
    try {
      const signal = SIGNALS.find((s) => s.httpPath === path);
      if (!signal) throw new HttpError(404, `no OTLP endpoint at ${path}; use POST /v1/traces, /v1/metrics, /v1/logs (or /v1/falco, /v1/cloudtrail, /v1/resources, /v1/terraform-state)`);
      if (req.method !== 'POST') throw new HttpError(405, 'OTLP/HTTP takes POST', { Allow: 'POST, OPTIONS' });
      kind = bodyKind(req.headers['content-type']);
      if (!this.#authorized(req.headers.authorization)) throw new HttpError(401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer' });
      const body = await this.#readBody(req);
      const prepared = signal.prepare(kind === 'json' ? signal.fromJson(body.toString('utf8')) : body);
      await this.#publish(signal, prepared);
      res.writeHead(200, { 'Content-Type': kind === 'json' ? 'application/json' : 'application/x-protobuf' }).end(signal.response(prepared, kind));
    } catch (err) {
      this.#respondError(res, kind, err);
    }
  }

  /** A JSON intake on the OTLP HTTP port (Falco alerts, CloudTrail): checked, each item its own record. */
  async #handleIntake(intake: Intake, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { metrics } = this.#s;
    try {
      if (req.method !== 'POST') throw new HttpError(405, `POST ${intake.what} to ${intake.path}`, { Allow: 'POST, OPTIONS' });
      const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
      if (!intake.contentTypes.includes(type)) throw new HttpError(415, `unsupported Content-Type "${req.headers['content-type'] ?? ''}"; ${intake.path} takes ${intake.contentTypes.join(', ')}`);
      if (!this.#authorized(req.headers.authorization)) throw new HttpError(401, 'missing or wrong bearer token', { 'WWW-Authenticate': 'Bearer' });
      const body = await this.#readBody(req);
      const { messages, errors, accepted = messages.length } = intake.parse(body, this.#cfg, this.#s.clock.now());
      metrics.received(accepted + errors.length);
      if (errors.length) metrics.dropped(`invalid_${intake.name}`, errors.length);
      if (messages.length === 0) throw new HttpError(400, errors.length ? errors.slice(0, 20).join('; ') : `no ${intake.what} in the body`);
      try {
        await this.#s.bus.producer().send(intake.topic(this.#cfg), messages);
        metrics.sent(accepted);
      } catch (err) {
        metrics.failed(err instanceof BusFullError ? 'bus_full' : 'bus_error', accepted);
        throw err;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ accepted, rejected: errors.length, errors: errors.slice(0, 100) }));
    } catch (err) {
      this.#respondError(res, 'json', err);
    }
  }

  async #readBody(req: http.IncomingMessage): Promise<Buffer> {
    const limit = this.#cfg.max_request_bytes;
    const raw = await readLimitedBody(req, limit);
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
    if (encoding === 'identity' || encoding === '') return raw;
    if (encoding !== 'gzip') throw new HttpError(415, `unsupported Content-Encoding "${encoding}"; use gzip or none`);
    try {
      const out = await gunzipAsync(raw, { maxOutputLength: limit });
      return out;
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new HttpError(413, `decompressed body is over the limit of ${limit} bytes`);
      throw new HttpError(400, `broken gzip body: ${errorMessage(err)}`);
    }
  }

  #respondError(res: http.ServerResponse, kind: BodyKind, err: unknown): void {
    let status: number;
    const headers: Record<string, string> = {};
    if (err instanceof HttpError) {
      status = err.status;
      Object.assign(headers, err.headers);
    } else if (err instanceof MalformedInputError) {
      status = 400;
    } else if (err instanceof BusFullError) {
      status = 503;
      headers['Retry-After'] = String(this.#cfg.retry_after_s);
    } else if (isRetryable(err)) {
      status = 503;
      headers['Retry-After'] = String(this.#cfg.retry_after_s);
    } else {
      status = 500;
      this.#s.logger.error({ err: errorMessage(err) }, 'OTLP request failed');
    }
    if (status >= 500) this.#s.metrics.failed('unavailable');
    const grpcCode = status === 400 ? GrpcCode.INVALID_ARGUMENT : status === 503 ? GrpcCode.UNAVAILABLE : status === 413 ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.INTERNAL;
    const message = errorMessage(err);
    if (kind === 'json') {
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify({ code: grpcCode, message }));
    } else {
      res.writeHead(status, { ...headers, 'Content-Type': 'application/x-protobuf' }).end(encodeRpcStatus(grpcCode, message));
    }
  }

  async #startGrpc(addr: string): Promise<void> {
    const server = new grpc.Server({ 'grpc.max_receive_message_length': this.#cfg.max_request_bytes });
    const identity = (b: Buffer) => b;
    // Requests stay bytes: the gateway walks the wire format itself.
    for (const signal of SIGNALS) {
      const definition: grpc.ServiceDefinition = {
        Export: {
          path: signal.grpcPath,
          requestStream: false,
          responseStream: false,
          requestSerialize: identity,
          requestDeserialize: identity,
          responseSerialize: identity,
          responseDeserialize: identity,
        },
      };
      server.addService(definition, {
        Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
          void this.#handleGrpc(signal, call, callback);
        },
      });
    }
    const { host, port } = parseHostPort(addr);
    const bound = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(new ListenError(addr, err)) : resolve(p))),
    );
    this.#grpc = server;
    this.#grpcUrl = `http://${host.includes(':') ? `[${host}]` : host}:${bound}`;
  }

  async #handleGrpc(signal: Signal, call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>): Promise<void> {
    const auth = call.metadata.get('authorization')[0];
    if (!this.#authorized(typeof auth === 'string' ? auth : auth?.toString())) {
      callback({ code: grpc.status.UNAUTHENTICATED, details: 'missing or wrong bearer token' });
      return;
    }
    try {
      const prepared = signal.prepare(call.request);
      await this.#publish(signal, prepared);
      callback(null, Buffer.from(signal.response(prepared, 'protobuf')));
    } catch (err) {
      if (err instanceof MalformedInputError) {
        callback({ code: grpc.status.INVALID_ARGUMENT, details: err.message });
      } else if (isRetryable(err)) {
        // RetryInfo (google.rpc.RetryInfo, retry_delay = Duration{seconds}) tells the exporter when to try again.
        const md = new grpc.Metadata();
        md.set('grpc-status-details-bin', encodeRetryStatus(err instanceof BusFullError ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.UNAVAILABLE, errorMessage(err), this.#cfg.retry_after_s));
        callback({ code: err instanceof BusFullError ? grpc.status.RESOURCE_EXHAUSTED : grpc.status.UNAVAILABLE, details: errorMessage(err), metadata: md });
      } else {
        this.#s.logger.error({ err: errorMessage(err) }, 'OTLP gRPC export failed');
        callback({ code: grpc.status.INTERNAL, details: errorMessage(err) });
      }
    }
  }
}

function bodyKind(contentType: string | undefined): BodyKind {
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  if (type === 'application/x-protobuf' || type === 'application/protobuf') return 'protobuf';
  if (type === 'application/json') return 'json';
  throw new HttpError(415, `unsupported Content-Type "${contentType ?? ''}"; OTLP/HTTP takes application/x-protobuf or application/json`);
}

export const otlpFactory: Factory<OtlpConfig> = {
  kind: 'receiver',
  type: 'otlp',
  configSchema: otlpConfigSchema,
  topics: (c) => ({ consumes: [], produces: [c.spans_topic, c.metrics_topic, c.logs_topic, c.falco_topic, c.cloudtrail_topic, c.scanner_topic, c.terraform_topic] }),
  create: (settings, config) => new OtlpReceiver(settings, config),
};
