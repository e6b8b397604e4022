import type http from 'node:http';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BusFullError, MalformedInputError, errorMessage, isRetryable } from '../runtime/errors.js';
import {
  authorized,
  HttpError,
  listenOn,
  readRequestBody,
  statusOf,
  unauthorized,
  type RouteHandle,
  type ListeningServer,
  originPolicy,
} from '../runtime/http.js';
import type { Component, ComponentSettings, Factory, ListenerInfo } from '../runtime/pipeline/component.js';
import type { TlsConfig } from '../runtime/config/schema.js';
import { otlpConfigSchema, type OtlpConfig } from './config.js';
import { SIGNALS, type Prepared, type Signal } from './signals.js';
import { coalescingProducer } from '../runtime/bus/coalesce.js';
import type { Producer } from '../runtime/bus/types.js';
import { encodeRetryStatus, encodeRpcStatus, GrpcCode } from './status.js';

type BodyKind = 'protobuf' | 'json';

/**
 * OTLP over HTTP and gRPC: validates, splits by trace id (metrics and logs by resource), merges what
 * concurrent requests put on the same partition, and answers only once the bus has the data.
 */
class OtlpReceiver implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: OtlpConfig;
  #routes: RouteHandle[] = [];
  #grpc: { server: grpc.Server; listening: ListeningServer<net.Server> } | undefined;
  #grpcUrl: string | undefined;
  #stopped = false;
  readonly #producer: Producer;

  constructor(settings: ComponentSettings, config: OtlpConfig) {
    this.#s = settings;
    this.#cfg = config;
    const producer = settings.bus.producer();
    this.#producer =
      config.coalesce_max_bytes > 0
        ? coalescingProducer(producer, { partitions: (topic) => settings.topics[topic]?.partitions, maxBytes: config.coalesce_max_bytes })
        : producer;
  }

  listening(): ListenerInfo[] {
    const out: ListenerInfo[] = [];
    const open = !this.#cfg.bearer_token;
    if (this.#grpcUrl) out.push({ name: 'otlp grpc', url: this.#grpcUrl, open: open && !this.#s.service.tls?.client_ca_file });
    const names: Record<string, string> = { traces: 'otlp http', metrics: 'otlp metrics', logs: 'otlp logs' };
    this.#routes.forEach((r, i) =>
      out.push({ name: names[SIGNALS[i]!.name] ?? `otlp ${SIGNALS[i]!.name}`, url: `${r.url}${SIGNALS[i]!.httpPath}`, open: open && !this.#s.ports.mutualTls }),
    );
    return out;
  }

  async start(): Promise<void> {
    const httpAddr = this.#cfg.http ?? this.#s.service.otlp_http;
    const grpcAddr = this.#cfg.grpc ?? this.#s.service.otlp_grpc;
    if (httpAddr) {
      for (const signal of SIGNALS) {
        this.#routes.push(
          await this.#s.ports.add(httpAddr, {
            path: signal.httpPath,
            describe: `POST ${signal.httpPath}`,
            allowsOrigin: originPolicy(this.#cfg.cors_allowed_origins),
            handle: (req, res) => this.#handleHttp(signal, req, res),
          }),
        );
      }
    }
    if (grpcAddr) await this.#startGrpc(grpcAddr);
  }

  async shutdown(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const r of this.#routes) await r.remove();
    const g = this.#grpc;
    if (g) {
      // Calls under way finish (tryShutdown), then the listener closes and drops what is left.
      await new Promise<void>((resolve) => g.server.tryShutdown(() => resolve()));
      await g.listening.close();
    }
  }

  /** Sends what a request holds to the bus; resolves once the bus has it. */
  async #publish(signal: Signal, prepared: Prepared): Promise<void> {
    const { metrics } = this.#s;
    metrics.received(prepared.items);
    if (prepared.rejected) metrics.dropped(`invalid_${signal.name}`, prepared.rejected);
    if (prepared.messages.length === 0) return;
    try {
      await this.#producer.send(signal.topic(this.#cfg), prepared.messages);
      metrics.sent(prepared.items - prepared.rejected);
    } catch (err) {
      metrics.failed(err instanceof BusFullError ? 'bus_full' : 'bus_error', prepared.items - prepared.rejected);
      throw err;
    }
  }

  #authorized(header: string | undefined): boolean {
    return authorized(header, this.#cfg);
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

  async #handleHttp(signal: Signal, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    this.#cors(req, res);
    if (req.method === 'OPTIONS') {
      res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
      res.setHeader('Access-Control-Allow-Headers', req.headers['access-control-request-headers'] ?? 'Content-Type, Content-Encoding, Authorization');
      res.setHeader('Access-Control-Max-Age', '7200');
      res.writeHead(204).end();
      return;
    }
    let kind: BodyKind = 'protobuf';
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'OTLP/HTTP takes POST', { Allow: 'POST, OPTIONS' });
      kind = bodyKind(req.headers['content-type']);
      if (!this.#authorized(req.headers.authorization)) throw unauthorized(this.#cfg);
      const body = await readRequestBody(req, this.#cfg.max_request_bytes);
      const prepared = signal.prepare(kind === 'json' ? signal.fromJson(body.toString('utf8')) : body);
      await this.#publish(signal, prepared);
      res.writeHead(200, { 'Content-Type': kind === 'json' ? 'application/json' : 'application/x-protobuf' }).end(signal.response(prepared, kind));
    } catch (err) {
      req.resume();
      this.#respondError(res, kind, err);
    }
  }

  #respondError(res: http.ServerResponse, kind: BodyKind, err: unknown): void {
    const { status, headers } = statusOf(err, this.#cfg.retry_after_s);
    if (status === 500) this.#s.logger.error({ err: errorMessage(err) }, 'OTLP request failed');
    if (status >= 500) this.#s.metrics.failed('unavailable');
    const grpcCode =
      status === 400 ? GrpcCode.INVALID_ARGUMENT : status === 503 ? GrpcCode.UNAVAILABLE : status === 413 ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.INTERNAL;
    const message = errorMessage(err);
    if (kind === 'json') {
      res.writeHead(status, { ...headers, 'Content-Type': 'application/json' }).end(JSON.stringify({ code: grpcCode, message }));
    } else {
      res.writeHead(status, { ...headers, 'Content-Type': 'application/x-protobuf' }).end(encodeRpcStatus(grpcCode, message));
    }
  }

  async #startGrpc(addr: string): Promise<void> {
    const server = new grpc.Server({
      'grpc.max_receive_message_length': this.#cfg.max_request_bytes,
      'grpc.max_connection_idle_ms': this.#cfg.grpc_max_connection_idle_ms,
      'grpc.keepalive_time_ms': this.#cfg.grpc_keepalive_time_ms,
      'grpc.keepalive_timeout_ms': this.#cfg.grpc_keepalive_timeout_ms,
    });
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
    // grpc-js takes no connection limit: AirDig accepts the connections itself, on a listener that
    // has one (as its HTTP listeners do), and hands each to the gRPC server.
    const tls = this.#s.service.tls;
    const injector = server.createConnectionInjector(tls ? grpcTls(tls) : grpc.ServerCredentials.createInsecure());
    const listener = net.createServer((socket) => injector.injectConnection(socket));
    listener.maxConnections = this.#cfg.grpc_max_connections;
    const listening = await listenOn(listener, addr, tls ? 'https' : 'http', () => injector.destroy());
    this.#grpc = { server, listening };
    this.#grpcUrl = listening.url;
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
        md.set(
          'grpc-status-details-bin',
          encodeRetryStatus(err instanceof BusFullError ? GrpcCode.RESOURCE_EXHAUSTED : GrpcCode.UNAVAILABLE, errorMessage(err), this.#cfg.retry_after_s),
        );
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
  topics: (c) => ({ consumes: [], produces: [c.spans_topic, c.metrics_topic, c.logs_topic] }),
  usesStore: false,
  create: (settings, config) => new OtlpReceiver(settings, config),
};

/**
 * gRPC's TLS from service.tls: grpc-js reads the files itself and again every reload interval, so
 * a renewed certificate is taken as on the HTTP listeners; with client_ca_file, a client certificate
 * signed by it is required.
 */
function grpcTls(tls: TlsConfig): grpc.ServerCredentials {
  const refreshIntervalMs = tls.reload_interval_ms || 2 ** 31 - 1;
  const identity = new grpc.experimental.FileWatcherCertificateProvider({ certificateFile: tls.cert_file, privateKeyFile: tls.key_file, refreshIntervalMs });
  const clients = tls.client_ca_file
    ? new grpc.experimental.FileWatcherCertificateProvider({ caCertificateFile: tls.client_ca_file, refreshIntervalMs })
    : null;
  // The declaration names the first parameter the CA provider; grpc-js takes it as the identity's.
  return grpc.experimental.createCertificateProviderServerCredentials(identity, clients, clients !== null);
}
