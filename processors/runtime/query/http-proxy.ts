import http from 'node:http';
import type { Logger } from 'pino';
import { credentialsMatch, listenHttp, type Listening, foreignBrowserRequest } from '../http.js';
import type { ServerTls } from '../tls.js';
import { READER_USER } from '../clickhouse/config.js';
import { type QueryAccess, type Upstream } from './access.js';

/** ClickHouse's own framing for an error, so clients parse ours as they parse the engine's. */
function sendException(res: http.ServerResponse, status: number, code: number, name: string, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=UTF-8', 'X-ClickHouse-Exception-Code': String(code), ...headers });
  res.end(`Code: ${code}. DB::Exception: ${message}. (${name})\n`);
}

/** Hop-by-hop headers (RFC 9110 §7.6.1) are not forwarded. */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'host']);

interface Given {
  user: string | undefined;
  password: string;
}

/** The credentials a request carries, in any of the ways ClickHouse's HTTP interface takes them. */
function givenCredentials(req: http.IncomingMessage, url: URL): Given {
  const basic = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (basic) {
    const text = Buffer.from(basic[1]!, 'base64').toString('utf8');
    const i = text.indexOf(':');
    return i < 0 ? { user: text, password: '' } : { user: text.slice(0, i), password: text.slice(i + 1) };
  }
  const headerUser = req.headers['x-clickhouse-user'];
  if (typeof headerUser === 'string') return { user: headerUser, password: String(req.headers['x-clickhouse-key'] ?? '') };
  const paramUser = url.searchParams.get('user');
  if (paramUser !== null) return { user: paramUser, password: url.searchParams.get('password') ?? '' };
  return { user: undefined, password: url.searchParams.get('password') ?? '' };
}

export interface HttpQueryProxyOptions {
  address: string;
  access: QueryAccess;
  upstream: () => Upstream | undefined;
  logger: Logger;
  tls?: ServerTls | undefined;
}

/**
 * AirDig's query endpoint over HTTP: ClickHouse's own HTTP interface, passed through byte for byte
 * (parameters, compression, sessions, progress headers), except that
 * - a browser request from an Origin that is not allowed is refused before it reaches the engine
 *   (a web page the SRE opens cannot use the local endpoint), and
 * - a request as "default" (or with no user) runs as the read-only reader.
 */
export function startHttpQueryProxy(opts: HttpQueryProxyOptions): Promise<Listening> {
  const { access } = opts;
  return listenHttp(
    opts.address,
    (req, res) => {
      const url = new URL(req.url ?? '/', 'http://query');
      const foreign = foreignBrowserRequest(req, access.allowsOrigin);
      if (foreign) {
        req.resume();
        sendException(res, 403, 497, 'ACCESS_DENIED', `requests from ${foreign} are refused: the origin is not in service.query_allowed_origins`);
        return;
      }
      const upstream = opts.upstream();
      if (!upstream) {
        req.resume();
        sendException(res, 503, 210, 'NETWORK_ERROR', 'the ClickHouse engine is restarting; retry shortly', { 'Retry-After': '1' });
        return;
      }
      const headers: http.OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) headers[k] = v;
      const given = givenCredentials(req, url);
      if (given.user === undefined || given.user === '' || given.user === 'default') {
        if (!credentialsMatch(given.password, access.password)) {
          req.resume();
          sendException(res, 401, 516, 'AUTHENTICATION_FAILED', 'default: Authentication failed: password is incorrect, or there is no user with such name');
          return;
        }
        delete headers.authorization;
        delete headers['x-clickhouse-user'];
        delete headers['x-clickhouse-key'];
        url.searchParams.delete('user');
        url.searchParams.delete('password');
        headers.authorization = `Basic ${Buffer.from(`${READER_USER}:${access.readerPassword}`).toString('base64')}`;
      }
      headers.host = `${upstream.host}:${upstream.port}`;
      const forward = http.request(
        { host: upstream.host, port: upstream.port, method: req.method, path: `${url.pathname}${url.search}`, headers, agent: upstream.agent },
        (up) => {
          const out: http.OutgoingHttpHeaders = {};
          for (const [k, v] of Object.entries(up.headers)) if (!HOP_BY_HOP.has(k) && v !== undefined) out[k] = v;
          res.writeHead(up.statusCode ?? 502, up.statusMessage, out);
          up.pipe(res);
          up.once('error', () => res.destroy());
        },
      );
      forward.once('error', (err) => {
        if (res.headersSent) {
          res.destroy();
          return;
        }
        opts.logger.debug({ err: err.message }, 'query endpoint: engine unreachable');
        sendException(res, 503, 210, 'NETWORK_ERROR', `the ClickHouse engine is unreachable (${err.message}); retry shortly`, { 'Retry-After': '1' });
      });
      // A client that goes away cancels its query in the engine: the engine sees its connection close.
      res.once('close', () => {
        if (!res.writableFinished) forward.destroy();
      });
      req.pipe(forward);
    },
    { tls: opts.tls },
  );
}
