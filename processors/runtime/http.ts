import http from 'node:http';
import type net from 'node:net';
import type { AddressInfo } from 'node:net';
import { errorMessage } from './errors.js';

/** Splits host:port ([v6]:port too). */
export function parseHostPort(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(':');
  const host = addr.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(addr.slice(i + 1)) };
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
  constructor(readonly address: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException)?.code ?? '';
    const why = code === 'EADDRINUSE' || /EADDRINUSE/.test(String(cause)) ? 'address already in use' : code === 'EACCES' ? 'permission denied' : errorMessage(cause);
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

/** Starts an HTTP server on host:port (port 0 picks a free one) and resolves once it listens. */
export function listenHttp(addr: string, handler: http.RequestListener): Promise<Listening> {
  const server = http.createServer({ requestTimeout: 60_000, headersTimeout: 30_000 }, handler);
  return listenOn(server, addr, 'http', () => server.closeIdleConnections());
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
  constructor(readonly status: number, message: string, readonly headers: Record<string, string> = {}) {
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
