/*
 * The Kubernetes API as `airdig scan k8s` reads it when a kubeconfig is present: the current
 * context's server, CA and credentials (bearer token, or client certificate and key; exec plugins
 * are not run), and the same lists kubectl would fetch, page by page (limit / continue).
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import http from 'node:http';
import { parse as parseYaml } from 'yaml';

type Doc = Record<string, any>;

/** What `kubectl get pods,nodes,services,deployments,replicasets -A` lists, and where. */
const LISTS: [kind: string, path: string][] = [
  ['Node', '/api/v1/nodes'],
  ['Pod', '/api/v1/pods'],
  ['Service', '/api/v1/services'],
  ['Deployment', '/apis/apps/v1/deployments'],
  ['ReplicaSet', '/apis/apps/v1/replicasets'],
];

export interface KubeTarget {
  server: string;
  cluster: string;
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
  token?: string;
  insecure: boolean;
}

const named = (list: unknown, name: string, what: string): Doc => {
  const hit = (Array.isArray(list) ? list : []).find((x: Doc) => x?.name === name);
  if (!hit) throw new Error(`kubeconfig: no ${what} named "${name}"`);
  return hit as Doc;
};
const b64 = (s: unknown) => (typeof s === 'string' ? Buffer.from(s, 'base64') : undefined);
const file = (p: unknown) => (typeof p === 'string' ? readFileSync(p) : undefined);

/** The current (or named) context of a kubeconfig file. */
export function readKubeconfig(path: string, contextName?: string): KubeTarget {
  const doc = parseYaml(readFileSync(path, 'utf8')) as Doc;
  const ctxName = contextName ?? doc?.['current-context'];
  if (!ctxName) throw new Error(`kubeconfig ${path}: no current-context; name one with --context`);
  const ctx = named(doc.contexts, ctxName, 'context').context ?? {};
  const cluster = named(doc.clusters, ctx.cluster, 'cluster').cluster ?? {};
  const user = ctx.user ? (named(doc.users, ctx.user, 'user').user ?? {}) : {};
  if (user.exec || user['auth-provider'])
    throw new Error(
      `kubeconfig ${path}: user "${ctx.user}" authenticates through an exec or auth-provider plugin, which airdig does not run; use a token, or kubectl get … -o json | airdig scan k8s`,
    );
  return {
    server: String(cluster.server ?? '').replace(/\/$/, ''),
    cluster: String(ctx.cluster ?? ctxName),
    ca: b64(cluster['certificate-authority-data']) ?? file(cluster['certificate-authority']),
    cert: b64(user['client-certificate-data']) ?? file(user['client-certificate']),
    key: b64(user['client-key-data']) ?? file(user['client-key']),
    token: typeof user.token === 'string' ? user.token : user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined,
    insecure: cluster['insecure-skip-tls-verify'] === true,
  };
}

function get(t: KubeTarget, path: string): Promise<Doc> {
  const url = new URL(t.server + path);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      url,
      {
        method: 'GET',
        headers: { Accept: 'application/json', ...(t.token ? { Authorization: `Bearer ${t.token}` } : {}) },
        ca: t.ca,
        cert: t.cert,
        key: t.key,
        rejectUnauthorized: !t.insecure,
        timeout: 30_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d) => (body += d));
        res.on('end', () => {
          if (res.statusCode !== 200) return reject(new Error(`GET ${path}: HTTP ${res.statusCode} ${body.slice(0, 300)}`));
          try {
            resolve(JSON.parse(body) as Doc);
          } catch (err) {
            reject(new Error(`GET ${path}: not JSON: ${(err as Error).message}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Every node, pod, service, deployment and replica set, as one kubectl-style List (JSON text). */
export async function listClusterObjects(t: KubeTarget, pageSize = 500): Promise<string> {
  const items: Doc[] = [];
  for (const [kind, path] of LISTS) {
    let cont = '';
    do {
      const page = await get(t, `${path}?limit=${pageSize}${cont ? `&continue=${encodeURIComponent(cont)}` : ''}`);
      // List items carry no kind; kubectl adds it, and so does this.
      for (const item of page.items ?? []) items.push({ kind, ...item });
      cont = page.metadata?.continue ?? '';
    } while (cont);
  }
  return JSON.stringify({ kind: 'List', apiVersion: 'v1', items });
}
