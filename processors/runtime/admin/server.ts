import type { Registry } from 'prom-client';
import { listenHttp, type Listening } from '../http.js';

export interface AdminOptions {
  address: string;
  registry: Registry;
  readiness: () => { ready: boolean; state: string; checks: Record<string, string> };
}

/** /metrics for Prometheus, /healthz (the process answers), /readyz (every component started). */
export function startAdminServer(opts: AdminOptions): Promise<Listening> {
  return listenHttp(opts.address, (req, res) => {
    const url = new URL(req.url ?? '/', 'http://admin');
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    switch (url.pathname) {
      case '/metrics':
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
  });
}
