/*
 * TLS for every listener AirDig opens (admin, query over HTTP and native, OTLP HTTP, remote write,
 * the intakes, the API), from one `service.tls` section: a certificate and key, optionally a CA whose
 * clients must present a certificate (mutual TLS). The files are read again when they change, as
 * certificate managers renew them: new connections get the new certificate, open ones keep theirs.
 * (OTLP over gRPC takes the same files through grpc-js's own file watcher: see processors/otlp.)
 */
import { readFileSync, statSync } from 'node:fs';
import { createSecureContext } from 'node:tls';
import type tls from 'node:tls';
import type { Logger } from 'pino';
import type { TlsConfig } from './config/schema.js';
import { ConfigError, errorMessage } from './errors.js';

/** The files of a TLS config, read; a clear error naming the file that cannot be. */
function readFiles(c: TlsConfig): tls.SecureContextOptions {
  const read = (key: keyof TlsConfig, file: string) => {
    try {
      return readFileSync(file);
    } catch (err) {
      throw new Error(`service.tls.${key}: cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? errorMessage(err)}`);
    }
  };
  return {
    cert: read('cert_file', c.cert_file),
    key: read('key_file', c.key_file),
    ...(c.client_ca_file ? { ca: read('client_ca_file', c.client_ca_file) } : {}),
  };
}

/** What a secure server is built with, and reloaded with. */
interface Reloadable {
  setSecureContext(options: tls.SecureContextOptions): void;
  once(event: 'close', listener: () => void): unknown;
}

export class ServerTls {
  readonly config: TlsConfig;
  readonly #logger: Logger | undefined;
  #current: tls.SecureContextOptions;
  #stamp: string;
  readonly #servers = new Set<Reloadable>();
  #timer: NodeJS.Timeout | undefined;

  /** Reads the files now: a config whose files cannot be read or parsed fails at start, not at the first connection. */
  constructor(config: TlsConfig, logger?: Logger) {
    this.config = config;
    this.#logger = logger;
    this.#current = readFiles(config);
    // A certificate that does not parse, or a key that is not its own, fails here with OpenSSL's reason.
    try {
      createSecureContext(this.#current);
    } catch (err) {
      throw new Error(`service.tls: ${config.cert_file} with ${config.key_file}: ${errorMessage(err)}`);
    }
    this.#stamp = this.#stampNow();
  }

  /** Clients must present a certificate signed by client_ca_file: they are authenticated by it. */
  get mutual(): boolean {
    return this.config.client_ca_file !== '';
  }

  /** Options for https.createServer / tls.createServer. */
  serverOptions(): tls.TlsOptions {
    return { ...this.#current, requestCert: this.mutual, rejectUnauthorized: this.mutual, minVersion: 'TLSv1.2' };
  }

  /** Keeps server's certificate current until it closes. */
  watch(server: Reloadable): void {
    this.#servers.add(server);
    server.once('close', () => {
      this.#servers.delete(server);
      if (this.#servers.size === 0) this.#stop();
    });
    if (!this.#timer && this.config.reload_interval_ms > 0) {
      this.#timer = setInterval(() => this.reload(), this.config.reload_interval_ms);
      this.#timer.unref();
    }
  }

  /**
   * Reads the files again if any changed since they were last read, and hands them to every watched
   * server. A half-written or broken renewal keeps the old certificate (logged) and is tried again.
   * true when a new certificate was taken.
   */
  reload(): boolean {
    const stamp = this.#stampNow();
    if (stamp === this.#stamp) return false;
    let next: tls.SecureContextOptions;
    try {
      next = readFiles(this.config);
      for (const s of this.#servers) s.setSecureContext({ ...next, minVersion: 'TLSv1.2' });
    } catch (err) {
      this.#logger?.error({ err: errorMessage(err) }, 'TLS certificate reload failed; the listeners keep the previous certificate');
      return false;
    }
    this.#current = next;
    this.#stamp = stamp;
    this.#logger?.info({ cert_file: this.config.cert_file, listeners: this.#servers.size }, 'TLS certificate reloaded');
    return true;
  }

  #stampNow(): string {
    return [this.config.cert_file, this.config.key_file, this.config.client_ca_file]
      .filter(Boolean)
      .map((f) => {
        try {
          const s = statSync(f);
          return `${s.mtimeMs}:${s.size}`;
        } catch {
          return 'missing';
        }
      })
      .join('|');
  }

  #stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

/** The service's TLS, when it has one; files that cannot be read are a configuration error. */
export function serviceTls(config: TlsConfig | undefined, logger?: Logger): ServerTls | undefined {
  if (!config) return undefined;
  try {
    return new ServerTls(config, logger);
  } catch (err) {
    throw new ConfigError([errorMessage(err)]);
  }
}
