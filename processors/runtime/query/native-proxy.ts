import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import { credentialsMatch, listenOn, type ListeningServer } from '../http.js';
import type { ServerTls } from '../tls.js';
import { READER_USER } from '../clickhouse/config.js';
import { type QueryAccess, type Upstream } from './access.js';

/** Client packet 0 of ClickHouse's native protocol; the first thing a client sends. */
const CLIENT_HELLO = 0;
/** Server packet 2. */
const SERVER_EXCEPTION = 2;
const MAX_HELLO_BYTES = 64 * 1024;
const HELLO_TIMEOUT_MS = 10_000;

function readVarUint(buf: Buffer, at: number): { value: number; next: number } | undefined {
  let value = 0;
  let shift = 0;
  for (let i = at; i < buf.length && i < at + 10; i++) {
    const b = buf[i]!;
    value += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return { value, next: i + 1 };
    shift += 7;
  }
  return undefined;
}

function readString(buf: Buffer, at: number): { value: Buffer; next: number } | undefined {
  const len = readVarUint(buf, at);
  if (!len || len.next + len.value > buf.length) return undefined;
  return { value: buf.subarray(len.next, len.next + len.value), next: len.next + len.value };
}

function varUint(n: number): Buffer {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return Buffer.from(out);
}

const stringBytes = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([varUint(b.length), b]);
};

export interface ParsedHello {
  /** Bytes up to the user field (packet type, client name, versions, database). */
  head: Buffer;
  user: string;
  password: string;
  /** Bytes after the hello (a client may send more before the server answers). */
  rest: Buffer;
}

/** The client Hello at the start of buf: undefined while incomplete; throws if it is not one. */
export function parseClientHello(buf: Buffer): ParsedHello | undefined {
  const type = readVarUint(buf, 0);
  if (!type) return undefined;
  if (type.value !== CLIENT_HELLO) throw new Error(`expected the native protocol's client Hello (packet 0), got packet ${type.value}`);
  let at = type.next;
  const name = readString(buf, at);
  if (!name) return undefined;
  at = name.next;
  for (let i = 0; i < 3; i++) {
    const v = readVarUint(buf, at);
    if (!v) return undefined;
    at = v.next;
  }
  const database = readString(buf, at);
  if (!database) return undefined;
  const head = buf.subarray(0, database.next);
  const user = readString(buf, database.next);
  if (!user) return undefined;
  const password = readString(buf, user.next);
  if (!password) return undefined;
  return { head, user: user.value.toString('utf8'), password: password.value.toString('utf8'), rest: buf.subarray(password.next) };
}

/** An Exception packet as the server sends it, so the client reports our reason as it would the engine's. */
export function exceptionPacket(code: number, name: string, message: string): Buffer {
  const codeBytes = Buffer.alloc(4);
  codeBytes.writeInt32LE(code);
  return Buffer.concat([varUint(SERVER_EXCEPTION), codeBytes, stringBytes(name), stringBytes(message), stringBytes(''), Buffer.from([0])]);
}

/** The hello to send on: "default" (or no user) becomes the reader; anyone else goes as they came. */
export function rewriteHello(hello: ParsedHello, access: QueryAccess): Buffer | { refused: string } {
  if (hello.user !== '' && hello.user !== 'default') return Buffer.concat([hello.head, stringBytes(hello.user), stringBytes(hello.password), hello.rest]);
  if (!credentialsMatch(hello.password, access.password))
    return { refused: 'default: Authentication failed: password is incorrect, or there is no user with such name' };
  return Buffer.concat([hello.head, stringBytes(READER_USER), stringBytes(access.readerPassword), hello.rest]);
}

export interface NativeQueryProxyOptions {
  address: string;
  access: QueryAccess;
  upstream: () => Upstream | undefined;
  logger: Logger;
  tls?: ServerTls | undefined;
}

export type NativeListening = ListeningServer<net.Server>;

/**
 * AirDig's native-protocol query endpoint: ClickHouse's own TCP interface, passed through byte for
 * byte once the client's Hello is read — a client logging in as "default" (or with no user) is
 * logged in as the read-only reader instead. Browsers cannot speak this protocol, so no origin check.
 */
export async function startNativeQueryProxy(opts: NativeQueryProxyOptions): Promise<NativeListening> {
  const sockets = new Set<net.Socket>();
  const onClient = (client: net.Socket) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => client.destroy(), HELLO_TIMEOUT_MS);
    const refuse = (code: number, name: string, message: string) => {
      clearTimeout(timer);
      client.end(exceptionPacket(code, name, message));
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      let hello: ParsedHello | undefined;
      try {
        hello = parseClientHello(buf);
      } catch (err) {
        client.off('data', onData);
        refuse(101, 'UNEXPECTED_PACKET_FROM_CLIENT', (err as Error).message);
        return;
      }
      if (!hello) {
        if (buf.length > MAX_HELLO_BYTES) {
          client.off('data', onData);
          refuse(101, 'UNEXPECTED_PACKET_FROM_CLIENT', `the client Hello is over ${MAX_HELLO_BYTES} bytes`);
        }
        return;
      }
      client.off('data', onData);
      client.pause();
      const first = rewriteHello(hello, opts.access);
      if (!Buffer.isBuffer(first)) {
        refuse(516, 'AUTHENTICATION_FAILED', first.refused);
        return;
      }
      const upstream = opts.upstream();
      if (!upstream) {
        refuse(210, 'NETWORK_ERROR', 'the ClickHouse engine is restarting; retry shortly');
        return;
      }
      const engine = net.connect(upstream.port, upstream.host);
      sockets.add(engine);
      engine.once('close', () => sockets.delete(engine));
      engine.once('connect', () => {
        clearTimeout(timer);
        engine.write(first);
        client.pipe(engine);
        engine.pipe(client);
        client.resume();
      });
      engine.once('error', (err) => {
        if (engine.bytesRead === 0 && !client.destroyed) refuse(210, 'NETWORK_ERROR', `the ClickHouse engine is unreachable (${err.message}); retry shortly`);
        else client.destroy();
      });
      client.once('close', () => engine.destroy());
      engine.once('close', () => client.end());
    };
    client.on('data', onData);
  };
  // With TLS, as ClickHouse's own secure native port (clickhouse-client --secure): TLS from the first byte.
  const server = opts.tls ? tls.createServer(opts.tls.serverOptions(), onClient) : net.createServer(onClient);
  if (opts.tls && server instanceof tls.Server) opts.tls.watch(server);
  return listenOn(server, opts.address, opts.tls ? 'tcps' : 'tcp', () => {
    for (const s of sockets) s.destroy();
  });
}
