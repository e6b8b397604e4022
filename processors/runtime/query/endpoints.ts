import type { Logger } from 'pino';
import type { ServiceConfig } from '../config/schema.js';
import type { ManagedClickHouse } from '../clickhouse/engine.js';
import { type QueryAccess, type Upstream } from './access.js';
import { originPolicy } from '../http.js';
import { startHttpQueryProxy } from './http-proxy.js';
import { startNativeQueryProxy } from './native-proxy.js';
import http from 'node:http';
import type { ServerTls } from '../tls.js';

export interface QueryEndpoint {
  name: 'query' | 'query-native';
  url: string;
}

export interface QueryEndpoints {
  endpoints: QueryEndpoint[];
  close(): Promise<void>;
}

/**
 * The embedded engine's query endpoints: ClickHouse's HTTP interface on service.query and its native
 * protocol on service.query_native, both as the read-only reader for "default".
 */
export async function startQueryEndpoints(service: ServiceConfig, engine: ManagedClickHouse, logger: Logger, tls?: ServerTls): Promise<QueryEndpoints> {
  const access: QueryAccess = {
    password: service.query_password,
    readerPassword: engine.credentials.reader.password,
    allowsOrigin: originPolicy(service.query_allowed_origins),
  };
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const upstream = (port: 'httpPort' | 'tcpPort') => (): Upstream | undefined => {
    const e = engine.endpoints();
    return e ? { host: e.host, port: e[port], agent } : undefined;
  };
  const started: { name: QueryEndpoint['name']; url: string; close(): Promise<void> }[] = [];
  const close = async () => {
    for (const e of started.reverse()) await e.close();
    agent.destroy();
  };
  try {
    if (service.query)
      started.push({ name: 'query', ...(await startHttpQueryProxy({ address: service.query, access, upstream: upstream('httpPort'), logger, tls })) });
    if (service.query_native) {
      started.push({
        name: 'query-native',
        ...(await startNativeQueryProxy({ address: service.query_native, access, upstream: upstream('tcpPort'), logger, tls })),
      });
    }
  } catch (err) {
    await close();
    throw err;
  }
  return { endpoints: started.map(({ name, url }) => ({ name, url })), close };
}
