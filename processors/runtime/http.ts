import { createHash, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { gunzip } from 'node:zlib';
import { BusFullError, MalformedInputError, errorMessage, isRetryable } from './errors.js';
import { parseAddress } from './config/schema.js';
import type { ServerTls } from './tls.js';

const gunzipAsync = promisify(gunzip);

/** A validated listen address ([v6]:port too) as host and port. */
export function parseHostPort(addr: string): { host: string; port: number } {
  const a = parseAddress(addr);
  if ('error' in a) throw new Error(`listen address ${JSON.stringify(addr)}: ${a.error}`);
  return a;
}

export type Listening = ListeningServer<http.Server>;

/** A server listening on host:port, with its URL, and a close() that may be called more than once. */
export interface ListeningServer<S extends net.Server> {
  server: S;
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * Puts server on host:port (port 0 picks a free one) and resolves once it listens. close() stops
 * accepting and calls dropConnections for the ones still open.
 */
/** A listener that could not bind its address; the CLI adds the flag that moves it. */
export class ListenError extends Error {
  constructor(
    readonly address: string,
    cause: unknown,
  ) {
    const code = (cause as NodeJS.ErrnoException)?.code ?? '';
    const why =
      code === 'EADDRINUSE' || /EADDRINUSE/.test(String(cause)) ? 'address already in use' : code === 'EACCES' ? 'permission denied' : errorMessage(cause);
    super(`cannot listen on ${address}: ${why}`, { cause });
  }
}

export async function listenOn<S extends net.Server>(server: S, addr: string, scheme: string, dropConnections: () => void): Promise<ListeningServer<S>> {
  const { host, port } = parseHostPort(addr);
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err) => reject(new ListenError(addr, err)));
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const a = server.address() as AddressInfo;
  const shown = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  let closing: Promise<void> | undefined;
  return {
    server,
    port: a.port,
    url: `${scheme}://${shown}:${a.port}`,
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        dropConnections();
      });
      return closing;
    },
  };
}

/**
 * How long an idle keep-alive connection stays open: longer than the clients' own idle timeout
 * (Go's net/http, so Prometheus and the Collector: 90 s), so that the client is the one that closes
 * it. A server closing first races a client reusing the connection at that moment: the request
 * meets a reset (Node's default, 5 s, is shorter than a Prometheus shard's usual gap between sends).
 */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;

/**
 * Open connections one HTTP listener takes; past it a new connection is closed at once. A flood of
 * idle clients on one port then runs out of this, not of the process's file descriptors, so the
 * other listeners (the admin port's /healthz, the query endpoint) keep answering.
 */
export const MAX_CONNECTIONS_PER_LISTENER = 4_096;

export interface HttpListenOptions {
  maxConnections?: number;
  /** Serve HTTPS with the service's certificate (reloaded as it is renewed). */
  tls?: ServerTls | undefined;
}

/** Starts an HTTP (or HTTPS) server on host:port (port 0 picks a free one) and resolves once it listens. */
export function listenHttp(addr: string, handler: http.RequestListener, o: HttpListenOptions = {}): Promise<Listening> {
  const timeouts = { requestTimeout: 60_000, headersTimeout: 30_000 };
  const server = o.tls ? https.createServer({ ...timeouts, ...o.tls.serverOptions() }, handler) : http.createServer(timeouts, handler);
  server.keepAliveTimeout = KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = o.maxConnections ?? MAX_CONNECTIONS_PER_LISTENER;
  if (o.tls && server instanceof https.Server) o.tls.watch(server);
  return listenOn(server, addr, o.tls ? 'https' : 'http', () => server.closeIdleConnections());
}

/** Reads a request body up to limit bytes; undefined when it is larger. */
export async function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** An answer with a status, for request handlers to throw. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** Reads a request body, refusing with 413 past limit bytes (from Content-Length when it says so, else while reading). */
export async function readLimitedBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    req.resume();
    throw new HttpError(413, `request body of ${declared} bytes is over the limit of ${limit} bytes`);
  }
  const body = await readBody(req, limit);
  if (body === undefined) {
    req.resume();
    throw new HttpError(413, `request body is over the limit of ${limit} bytes`);
  }
  return body;
}

/** Exact origins ("https://grafana.example.com"), or "*" for any; none allowed by default. */
export function originPolicy(allowed: readonly string[]): (origin: string) => boolean {
  if (allowed.includes('*')) return () => true;
  const set = new Set(allowed.map((o) => o.replace(/\/+$/, '').toLowerCase()));
  return (origin) => set.has(origin.toLowerCase());
}

/**
 * Who sent a request from a web page whose origin is not allowed (its Origin, or the browser's
 * Sec-Fetch-Site when it sent none), or undefined for anything else. Senders that are not browsers
 * (Prometheus, the Collector, SDKs, curl) send neither, so refusing these costs them nothing, and
 * no page the SRE opens can post to a local AirDig, not even a "simple" text/plain request.
 */
export function foreignBrowserRequest(req: http.IncomingMessage, allowsOrigin: (origin: string) => boolean): string | undefined {
  const origin = req.headers.origin;
  if (origin !== undefined) return allowsOrigin(origin) ? undefined : origin;
  const site = req.headers['sec-fetch-site'];
  return site === 'cross-site' || site === 'same-site' ? `a ${site} browser request` : undefined;
}

/** A path on a shared HTTP port and the receiver that answers it (every method, OPTIONS too). */
export interface Route {
  path: string;
  /** What the path takes, for the 404 that lists a port's routes ("POST /v1/traces"). */
  describe: string;
  /** Origins whose pages may use the path (CORS); none by default: a foreign browser request is 403 before the route sees it. */
  allowsOrigin?: (origin: string) => boolean;
  handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> | void;
}

export interface RouteHandle {
  /** The port's base URL (http://host:port). */
  url: string;
  /** Takes the route off its port; the port closes with its last route. */
  remove(): Promise<void>;
}

interface Port {
  listening: Promise<Listening>;
  routes: Map<string, Route>;
}

/**
 * The HTTP listeners of one runtime, by configured address: receivers that name the same address
 * ("127.0.0.1:4318", or the same "127.0.0.1:0") share one port, each answering its own paths, as
 * the OTLP, Falco, CloudTrail, scanner and Terraform receivers do on the OTLP HTTP port by default.
 */
export class HttpPorts {
  readonly #ports = new Map<string, Port>();
  readonly #tls: ServerTls | undefined;

  constructor(tls?: ServerTls) {
    this.#tls = tls;
  }

  /** Whether clients must present a certificate (mutual TLS): they are authenticated by it. */
  get mutualTls(): boolean {
    return this.#tls?.mutual ?? false;
  }

  async add(address: string, route: Route): Promise<RouteHandle> {
    let port = this.#ports.get(address);
    if (!port) {
      const routes = new Map<string, Route>();
      const listening = listenHttp(address, (req, res) => void serveRoute(routes, req, res), { tls: this.#tls });
      port = { listening, routes };
      this.#ports.set(address, port);
      listening.catch(() => this.#ports.delete(address));
    }
    if (port.routes.has(route.path)) throw new Error(`two receivers serve ${route.path} on ${address}`);
    port.routes.set(route.path, route);
    let listening: Listening;
    try {
      listening = await port.listening;
    } catch (err) {
      port.routes.delete(route.path);
      throw err;
    }
    let removed = false;
    return {
      url: listening.url,
      remove: async () => {
        if (removed) return;
        removed = true;
        port.routes.delete(route.path);
        if (port.routes.size > 0) return;
        this.#ports.delete(address);
        await listening.close();
      },
    };
  }
}

async function serveRoute(routes: Map<string, Route>, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? '/').split('?')[0]!;
  const route = routes.get(path);
  if (route) {
    const foreign = foreignBrowserRequest(req, route.allowsOrigin ?? (() => false));
    if (foreign) {
      req.resume();
      res
        .writeHead(403, { 'Content-Type': 'application/json', Vary: 'Origin' })
        .end(JSON.stringify({ code: 403, message: `requests from ${foreign} are refused: the origin is not allowed on ${path}` }));
      return;
    }
    try {
      await route.handle(req, res);
    } catch (err) {
      // A route answers its own errors; this is the last resort.
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${errorMessage(err)}\n`);
    }
    return;
  }
  req.resume();
  const known = [...routes.values()].map((r) => r.describe).sort();
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`nothing at ${path} on this port; it serves ${known.join(', ')}\n`);
}

/** Bearer token and/or basic credentials as a receiver's config names them; none configured lets everyone in. */
export interface Credentials {
  bearer_token?: string;
  basic_auth?: { username: string; password: string } | undefined;
}

/** Compares secrets in constant time (hashing first, so their lengths do not show either). */
export function credentialsMatch(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Whether an Authorization header carries the configured credentials (compared in constant time). */
export function authorized(header: string | undefined, c: Credentials): boolean {
  if (!c.bearer_token && !c.basic_auth) return true;
  const given = header ?? '';
  // Both are compared whatever the first gives, so the time does not tell which scheme is configured.
  const bearer = c.bearer_token ? credentialsMatch(given, `Bearer ${c.bearer_token}`) : false;
  const basic = c.basic_auth ? credentialsMatch(given, `Basic ${Buffer.from(`${c.basic_auth.username}:${c.basic_auth.password}`).toString('base64')}`) : false;
  return bearer || basic;
}

/** The 401 for a request without the right credentials, naming the schemes accepted. */
export function unauthorized(c: Credentials): HttpError {
  const schemes = [c.bearer_token ? 'Bearer' : '', c.basic_auth ? 'Basic' : ''].filter(Boolean).join(', ');
  return new HttpError(401, c.basic_auth ? 'missing or wrong credentials' : 'missing or wrong bearer token', { 'WWW-Authenticate': schemes });
}

/**
 * The status (and headers) for an error while serving a request: HttpError as it says, bad input
 * 400, a full or unreachable bus 503 with Retry-After (what a sender's retry can fix), anything
 * else 500.
 */
export function statusOf(err: unknown, retryAfterS: number): { status: number; headers: Record<string, string> } {
  if (err instanceof HttpError) return { status: err.status, headers: { ...err.headers } };
  if (err instanceof MalformedInputError) return { status: 400, headers: {} };
  if (err instanceof BusFullError || isRetryable(err)) return { status: 503, headers: { 'Retry-After': String(retryAfterS) } };
  return { status: 500, headers: {} };
}

/**
 * A request body, decompressed by its Content-Encoding (gzip, or none), both sizes bounded by
 * limit: 413 past it, 415 for other encodings, 400 for a broken gzip stream.
 */
export async function readRequestBody(req: http.IncomingMessage, limit: number): Promise<Buffer> {
  const raw = await readLimitedBody(req, limit);
  const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase().trim();
  if (encoding === 'identity' || encoding === '') return raw;
  if (encoding !== 'gzip') throw new HttpError(415, `unsupported Content-Encoding "${encoding}"; use gzip or none`);
  return gunzipBounded(raw, limit);
}

/** Whether a body starts with gzip's magic bytes (a .gz file sent as it is stored). */
export const isGzip = (b: Buffer) => b.length >= 2 && b[0] === 0x1f && b[1] === 0x8b;

/**
 * Gunzips a request body off the event loop, stopping as soon as the output passes `limit` (413):
 * a small bomb never grows into its full size. A broken stream is 400.
 */
export async function gunzipBounded(raw: Buffer, limit: number): Promise<Buffer> {
  try {
    return await gunzipAsync(raw, { maxOutputLength: limit });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new HttpError(413, `decompressed body is over the limit of ${limit} bytes`);
    throw new HttpError(400, `broken gzip body: ${errorMessage(err)}`);
  }
}
