import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { backoffMs, sleep } from '../clock.js';
import { errorMessage } from '../errors.js';
import {
  KEEPALIVE_QUERY_ID,
  KEEPALIVE_SQL,
  LOCAL_USER,
  configXml,
  engineLayout,
  loadCredentials,
  usersXml,
  type Credentials,
  type ReaderLimits,
} from './config.js';

export const DEFAULT_ENGINE_START_TIMEOUT_MS = 60_000;
/** How long the keep-alive statement may take to end after KILL QUERY before the engine is sent SIGTERM. */
const STATEMENT_END_MS = 1_500;

/** The launcher program built from launcher.c by `npm run build` (dist/airdig-clickhouse). */
const HERE = path.dirname(fileURLToPath(import.meta.url));
export const DEFAULT_LAUNCHER = path.resolve(HERE, '../../../airdig-clickhouse');

const PLATFORM_PACKAGES: Record<string, string> = {
  'linux-x64': '@chdb/lib-linux-x64-gnu',
  'linux-arm64': '@chdb/lib-linux-arm64-gnu',
  'darwin-x64': '@chdb/lib-darwin-x64',
  'darwin-arm64': '@chdb/lib-darwin-arm64',
};

/** Where the chDB library of the installed chdb package is. */
export function findLibchdb(): string {
  const pkg = PLATFORM_PACKAGES[`${process.platform}-${process.arch}`];
  if (!pkg) throw new Error(`chDB has no library for ${process.platform}-${process.arch}; run ClickHouse yourself and pass --clickhouse URL`);
  const require = createRequire(import.meta.url);
  const chdbDir = path.dirname(require.resolve('chdb/package.json'));
  const dir = path.dirname(createRequire(path.join(chdbDir, 'index.js')).resolve(`${pkg}/package.json`));
  const lib = path.join(dir, process.platform === 'darwin' ? 'libchdb.dylib' : 'libchdb.so');
  if (!existsSync(lib)) throw new Error(`${lib} is missing: reinstall the chdb package (npm install)`);
  return lib;
}

/** A free TCP port on host (it may be taken again before it is used: callers retry on a bind failure). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve, reject) => s.once('error', reject).listen(0, host, () => resolve()));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** The engine cannot be started at all on this install; retrying will not help. */
export class EngineSetupError extends Error {}

export interface EngineOptions {
  dataDir: string;
  logger: Logger;
  limits: ReaderLimits;
  /** Internal ports of the engine's own listeners; 0 (default) picks free ones at each start. */
  httpPort?: number;
  tcpPort?: number;
  launcher?: string;
  libchdb?: string;
  startTimeoutMs?: number;
  /** Called when the engine went down or came back (for /readyz and the receivers' pushback). */
  onState?: (state: EngineState, detail: string) => void;
}

export type EngineState = 'starting' | 'up' | 'down' | 'stopped';

/** Where the running engine listens, and who may log in. */
export interface EngineEndpoints {
  host: string;
  httpPort: number;
  tcpPort: number;
  credentials: Credentials;
}

/**
 * A real ClickHouse server out of the chDB library, run as a supervised child process that owns
 * the data directory: started on demand, ready once /ping answers and the writer can log in,
 * restarted with backoff when it dies, stopped by killing its keep-alive statement.
 */
export class ManagedClickHouse {
  readonly #o: EngineOptions;
  readonly #limits: ReaderLimits;
  readonly #layout;
  readonly #credentials: Credentials;
  #auth: { server: http.Server; url: string; armed: boolean } | undefined;
  #child: ChildProcess | undefined;
  #endpoints: EngineEndpoints | undefined;
  #state: EngineState = 'stopped';
  #stopping = false;
  #supervisor: Promise<void> | undefined;
  #ready: { promise: Promise<void>; resolve: () => void; reject: (e: Error) => void } | undefined;
  #restarts = 0;
  #stopSignal = new AbortController();

  constructor(options: EngineOptions) {
    this.#o = options;
    this.#limits = options.limits;
    this.#layout = engineLayout(options.dataDir);
    this.#credentials = loadCredentials(this.#layout.configDir);
  }

  get state(): EngineState {
    return this.#state;
  }

  get restarts(): number {
    return this.#restarts;
  }

  /** The engine child's process id while it runs (for CPU accounting and fault tests). */
  get pid(): number | undefined {
    return this.#child?.exitCode === null ? this.#child.pid : undefined;
  }

  get credentials(): Credentials {
    return this.#credentials;
  }

  /** Where the engine listens now (ports may change across restarts), or undefined while it is down. */
  endpoints(): EngineEndpoints | undefined {
    return this.#state === 'up' ? this.#endpoints : undefined;
  }

  /** The writer's URL for @clickhouse/client. */
  writerUrl(): string {
    const e = this.#endpoints;
    if (!e) throw new Error('the ClickHouse engine has not started');
    const { user, password } = this.#credentials.writer;
    return `http://${encodeURIComponent(user)}:${encodeURIComponent(password)}@${e.host}:${e.httpPort}`;
  }

  /** Starts the engine and resolves once it serves; it is then kept up until stop(). */
  async start(): Promise<void> {
    if (this.#supervisor) return this.#ready!.promise;
    this.#stopping = false;
    this.#stopSignal = new AbortController();
    let resolve!: () => void;
    let reject!: (e: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {});
    this.#ready = { promise, resolve, reject };
    await this.#startAuthServer();
    this.#supervisor = this.#supervise();
    return promise;
  }

  async #supervise(): Promise<void> {
    let attempt = 0;
    while (!this.#stopping) {
      const startedAt = Date.now();
      let detail: string;
      try {
        detail = await this.#runOnce();
      } catch (err) {
        if (err instanceof EngineSetupError) {
          // Nothing a restart can fix (a missing launcher or library): say so and give up.
          this.#ready?.reject(err);
          break;
        }
        detail = errorMessage(err);
      }
      if (this.#stopping) break;
      this.#setState('down', detail);
      if (Date.now() - startedAt > 60_000) attempt = 0;
      const wait = backoffMs(attempt++, 500, 15_000);
      this.#o.logger.error({ detail, restartInMs: Math.round(wait) }, 'the ClickHouse engine stopped; restarting it');
      this.#restarts++;
      await sleep(wait, this.#stopSignal.signal);
    }
    this.#setState('stopped', 'stopped');
  }

  /** One life of the child: resolves with why it ended. */
  async #runOnce(): Promise<string> {
    const host = '127.0.0.1';
    // Ports are kept across restarts, so the writer's URL stays valid; picked anew only if one was taken.
    let { httpPort, tcpPort } = this.#endpoints ?? { httpPort: this.#o.httpPort ?? 0, tcpPort: this.#o.tcpPort ?? 0 };
    if (!httpPort) httpPort = await freePort(host);
    while (!tcpPort || tcpPort === httpPort) tcpPort = await freePort(host);
    this.#endpoints = { host, httpPort, tcpPort, credentials: this.#credentials };
    const { dataPath, configDir } = this.#layout;
    mkdirSync(dataPath, { recursive: true });
    const usersPath = path.join(configDir, 'users.xml');
    const configPath = path.join(configDir, 'config.xml');
    writeFileSync(usersPath, usersXml(this.#credentials, this.#limits), { mode: 0o600 });
    writeFileSync(configPath, configXml(usersPath, this.#auth!.url), { mode: 0o600 });
    const launcher = this.#o.launcher ?? DEFAULT_LAUNCHER;
    if (!existsSync(launcher)) throw new EngineSetupError(`${launcher} is missing: run npm run build (it compiles processors/runtime/clickhouse/launcher.c)`);
    const args = [
      this.#libchdb(),
      `--config-file=${configPath}`,
      `--path=${dataPath}`,
      `--listen_host=${host}`,
      `--http_port=${httpPort}`,
      `--tcp_port=${tcpPort}`,
      `--query_id=${KEEPALIVE_QUERY_ID}`,
      // clickhouse-local takes its log level from the command line, not from config.xml.
      `--log-level=${this.#o.logger.isLevelEnabled('debug') ? 'information' : 'warning'}`,
      `--query=${KEEPALIVE_SQL}`,
    ];
    this.#setState('starting', `starting on ${host}:${httpPort} (HTTP) and ${host}:${tcpPort} (native)`);
    this.#auth!.armed = true;
    // Its own process group: a Ctrl-C in the terminal goes to AirDig, which stops the engine after
    // the sinks have drained, instead of killing it under them. It still dies with AirDig: the
    // launcher asks for SIGKILL when its parent dies (PR_SET_PDEATHSIG).
    const child = spawn(launcher, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dataPath, detached: true });
    this.#child = child;
    let lastError = '';
    const log = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) {
        const text = line.trim();
        if (!text || /^\d+\. /.test(text)) continue; // stack frames
        // ClickHouse's own log lines carry a level tag; an untagged line is the engine's final word.
        const level = /<(Fatal|Error|Warning|Information|Debug|Trace|Test)>/.exec(text)?.[1];
        // The keep-alive's "Query was cancelled" is how a requested stop ends: not worth a warning.
        if (this.#stopping && /QUERY_WAS_CANCELLED/.test(text)) continue;
        if (level === undefined || level === 'Fatal' || level === 'Error') {
          lastError = text.replace(/^.*?<(Error|Fatal)> /, '').slice(0, 500);
          this.#o.logger.warn({ engine: lastError }, 'ClickHouse engine');
        } else this.#o.logger.debug({ engine: text.slice(0, 500) }, 'ClickHouse engine');
      }
    };
    child.stdout!.on('data', log);
    child.stderr!.on('data', log);
    const exited = new Promise<string>((resolve) => {
      child.once('error', (err) => resolve(`cannot start ${launcher}: ${err.message}`));
      child.once('exit', (code, signal) => resolve(`exited with ${signal ?? `code ${code}`}${lastError ? `: ${lastError}` : ''}`));
    });
    const ready = this.#waitReady(httpPort, exited);
    const outcome = await Promise.race([ready.then(() => 'ready'), exited]);
    this.#auth!.armed = false;
    if (outcome !== 'ready') {
      if (/Address already in use/i.test(outcome) && !this.#o.httpPort && !this.#o.tcpPort) this.#endpoints = undefined;
      return `did not start: ${outcome}`;
    }
    this.#setState('up', `serving on ${host}:${httpPort} (HTTP) and ${host}:${tcpPort} (native)`);
    this.#ready?.resolve();
    return exited;
  }

  async #waitReady(httpPort: number, exited: Promise<string>): Promise<void> {
    let gone = false;
    void exited.then(() => (gone = true));
    const deadline = Date.now() + (this.#o.startTimeoutMs ?? DEFAULT_ENGINE_START_TIMEOUT_MS);
    const { user, password } = this.#credentials.writer;
    const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
    while (!gone && !this.#stopping) {
      try {
        const r = await fetch(`http://127.0.0.1:${httpPort}/?query=SELECT%201`, { headers: { Authorization: auth }, signal: AbortSignal.timeout(2_000) });
        if (r.ok) return;
        throw new Error(`the engine answered ${r.status}: ${(await r.text()).slice(0, 300)}`);
      } catch (err) {
        if (Date.now() > deadline) {
          this.#child?.kill('SIGKILL');
          throw new Error(`the ClickHouse engine did not answer within ${this.#o.startTimeoutMs ?? DEFAULT_ENGINE_START_TIMEOUT_MS} ms: ${errorMessage(err)}`);
        }
      }
      await sleep(100);
    }
    await new Promise(() => {}); // exited wins the race
  }

  #libchdb(): string {
    try {
      return this.#o.libchdb ?? findLibchdb();
    } catch (err) {
      throw new EngineSetupError(errorMessage(err));
    }
  }

  /** A one-shot authenticator for the engine's local session (see users.xml in config.ts). */
  async #startAuthServer(): Promise<void> {
    if (this.#auth) return;
    const expected = `Basic ${Buffer.from(`${LOCAL_USER}:`).toString('base64')}`;
    const auth = { server: http.createServer(), url: '', armed: false };
    auth.server.on('request', (req, res) => {
      const ok = auth.armed && req.headers.authorization === expected;
      if (ok) auth.armed = false;
      res.writeHead(ok ? 200 : 401).end();
    });
    await new Promise<void>((resolve, reject) => auth.server.once('error', reject).listen(0, '127.0.0.1', () => resolve()));
    auth.url = `http://127.0.0.1:${(auth.server.address() as net.AddressInfo).port}/`;
    auth.server.unref();
    this.#auth = auth;
  }

  #setState(state: EngineState, detail: string): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#o.onState?.(state, detail);
  }

  /** Kills the engine abruptly (for fault tests): the supervisor restarts it. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    this.#child?.kill(signal);
  }

  /** Stops the keep-alive statement as the writer, then the engine with SIGTERM (SIGKILL after timeoutMs). */
  async stop(timeoutMs = 15_000): Promise<void> {
    if (!this.#supervisor) return;
    this.#stopping = true;
    this.#stopSignal.abort();
    this.#ready?.reject(new EngineSetupError('the ClickHouse engine was stopped before it started'));
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      const e = this.#endpoints;
      if (e && this.#state === 'up') {
        const { user, password } = this.#credentials.writer;
        await fetch(`http://${e.host}:${e.httpPort}/`, {
          method: 'POST',
          body: `KILL QUERY WHERE query_id = '${KEEPALIVE_QUERY_ID}' ASYNC`,
          headers: { Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` },
          signal: AbortSignal.timeout(5_000),
        }).catch(() => {});
      }
      const timer = (ms: number) => new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), ms).unref());
      // Once its statement has ended, the engine still waits ~5 s before it exits; SIGTERM ends that
      // wait (every writer is done by now: the sinks were closed before).
      if ((await Promise.race([exited.then(() => 'exited'), timer(STATEMENT_END_MS)])) === 'timeout') {
        child.kill('SIGTERM');
        if ((await Promise.race([exited.then(() => 'exited'), timer(timeoutMs)])) === 'timeout') child.kill('SIGKILL');
        await exited;
      }
    }
    await this.#supervisor;
    this.#supervisor = undefined;
    this.#child = undefined;
    if (this.#auth) {
      await new Promise<void>((resolve) => this.#auth!.server.close(() => resolve()));
      this.#auth = undefined;
    }
  }
}
