import type { Registry } from 'prom-client';
import { authorized, listenHttp, unauthorized, type Credentials, type Listening } from '../http.js';
import type { ServerTls } from '../tls.js';

export interface AdminOptions {
  address: string;
  registry: Registry;
  /** What /metrics needs; none configured lets everyone in. */
  credentials?: Credentials;
  tls?: ServerTls | undefined;
  readiness: () => { ready: boolean; state: string; checks: Record<string, string> };
}

/**
 * /metrics for Prometheus (behind the configured credentials, which Prometheus's scrape config sends
 * as `authorization` or `basic_auth`), /healthz (the process answers) and /readyz (every component
 * started), left open for probes: they tell no more than up or not.
 */
export function startAdminServer(opts: AdminOptions): Promise<Listening> {
  return listenHttp(
    opts.address,
    (req, res) => {
      const url = new URL(req.url ?? '/', 'http://admin');
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
        return;
      }
      switch (url.pathname) {
        case '/metrics':
          if (opts.credentials && !authorized(req.headers.authorization, opts.credentials)) {
            const refused = unauthorized(opts.credentials);
            res.writeHead(refused.status, { ...refused.headers, 'Content-Type': 'text/plain' }).end(`${refused.message} for /metrics\n`);
            return;
          }
          opts.registry.metrics().then(
            (text) => res.writeHead(200, { 'Content-Type': opts.registry.contentType }).end(text),
            (err) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(`metrics failed: ${(err as Error).message}\n`),
          );
          return;
        case '/healthz':
          res.writeHead(200, { 'Content-Type': 'application/json' }).end('{"status":"ok"}\n');
          return;
        case '/readyz': {
          const r = opts.readiness();
          res.writeHead(r.ready ? 200 : 503, { 'Content-Type': 'application/json' }).end(JSON.stringify(r) + '\n');
          return;
        }
        default:
          res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found: try /metrics, /healthz or /readyz\n');
      }
    },
    { tls: opts.tls },
  );
}
