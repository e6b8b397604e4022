import { createHash } from 'node:crypto';
import type http from 'node:http';
import { uncompressSync } from 'snappy';
import { BusFullError, errorMessage } from '../runtime/errors.js';
import { authorized, HttpError, readLimitedBody, statusOf, unauthorized, type RouteHandle } from '../runtime/http.js';
import type { OutMessage } from '../runtime/bus/types.js';
import { encodeRanges } from '../wire/protobuf.js';
import type { Component, ComponentSettings, Factory, ListenerInfo } from '../runtime/pipeline/component.js';
import { remoteWriteConfigSchema, type RemoteWriteConfig } from './config.js';
import { RW_PROTO_HEADER, PROTO_V1, PROTO_V2, walkRemoteWrite, type RemoteWriteVersion, type SeriesView, type WalkResult } from '../model/remote-write.js';

/** The remote write version a Content-Type names (1.0 without a proto parameter, as the 1.0 spec sends it). */
export function versionOf(contentType: string | undefined): RemoteWriteVersion {
  const [type, ...params] = (contentType ?? '').split(';').map((p) => p.trim());
  if (type?.toLowerCase() !== 'application/x-protobuf') {
    throw new HttpError(415, `unsupported Content-Type "${contentType ?? ''}"; remote write takes application/x-protobuf`);
  }
  const proto = params
    .find((p) => p.toLowerCase().startsWith('proto='))
    ?.slice(6)
    .replace(/^"|"$/g, '');
  if (proto === undefined || proto === PROTO_V1) return '1.0';
  if (proto === PROTO_V2) return '2.0';
  throw new HttpError(415, `unsupported proto "${proto}"; accepted: ${PROTO_V1}, ${PROTO_V2}`);
}

const FRAMED_SNAPPY_MAGIC = Buffer.from([0xff, 0x06, 0x00, 0x00, 0x73, 0x4e, 0x61, 0x50, 0x70, 0x59]);

/** Snappy block format (not framed), with the decompressed size checked from its header first. */
export function decompress(body: Buffer, maxDecompressed: number): Buffer {
  if (body.length === 0) throw new HttpError(400, 'empty body: a remote write request is a snappy-compressed protobuf');
  if (body.subarray(0, FRAMED_SNAPPY_MAGIC.length).equals(FRAMED_SNAPPY_MAGIC)) {
    throw new HttpError(400, 'body is in the snappy framed (stream) format; remote write uses the snappy block format');
  }
  let declared = 0;
  let mul = 1;
  for (let i = 0; i < 5 && i < body.length; i++) {
    declared += (body[i]! & 0x7f) * mul;
    if (body[i]! < 0x80) break;
    mul *= 128;
  }
  if (declared > maxDecompressed) throw new HttpError(413, `body decompresses to ${declared} bytes, over the limit of ${maxDecompressed}`);
  try {
    return uncompressSync(body, { asBuffer: true }) as Buffer;
  } catch (err) {
    throw new HttpError(400, `broken snappy body: ${errorMessage(err)}`);
  }
}

/**
 * The series of a request grouped by the partition of their target (job, instance), each group a
 * smaller request of the same version made of byte slices of the original: one target's samples
 * stay on one partition, so the health processor sees them in one consumer. 2.0 groups carry the
 * whole symbols table. 1.0 metadata (per metric family, sent by Prometheus mostly in requests of its
 * own) goes to every partition, as a metadata-only request where no series go, so every consumer
 * of the topic has it.
 */
export function splitByTarget(body: Buffer, version: RemoteWriteVersion, series: SeriesView[], walk: WalkResult, partitions: number): OutMessage[] {
  const groups: number[][] = Array.from({ length: partitions }, () => []);
  for (const s of series) groups[partitions > 1 ? s.target % partitions : 0]!.push(s.start, s.end);
  const header = { [RW_PROTO_HEADER]: version === '1.0' ? PROTO_V1 : PROTO_V2 };
  const seriesField = version === '1.0' ? 1 : 5;
  const messages: OutMessage[] = [];
  // 2.0: every piece needs the symbols table; 1.0: every partition gets the metadata, alone where it has no series.
  const extra = version === '2.0' ? { field: 4, ranges: walk.symbolFields.flat() } : { field: 3, ranges: walk.metadataFields.flat() };
  for (let partition = 0; partition < partitions; partition++) {
    const ranges = groups[partition]!;
    if (ranges.length === 0 && (version === '2.0' || extra.ranges.length === 0)) continue;
    messages.push({ value: encodeRanges(body, [extra, { field: seriesField, ranges }]), headers: header, ...(partitions > 1 ? { partition } : {}) });
  }
  return messages;
}

type Counts = { samples: number; histograms: number; exemplars: number };

/**
 * Bodies accepted in the last windowMs, by SHA-1 of (version, compressed body), with what they held:
 * a sender's retry of a request that did land is answered without publishing it again. Bounded:
 * the oldest go first.
 */
export class RecentBodies {
  readonly #seen = new Map<string, Counts & { at: number }>();
  constructor(
    readonly windowMs: number,
    readonly max: number,
  ) {}

  static key(version: RemoteWriteVersion, body: Buffer): string {
    return createHash('sha1').update(version).update(body).digest('base64');
  }

  get(key: string, now = Date.now()): Counts | undefined {
    const e = this.#seen.get(key);
    return e && now - e.at < this.windowMs ? e : undefined;
  }

  add(key: string, counts: Counts, now = Date.now()): void {
    this.#seen.delete(key);
    for (const [k, e] of this.#seen) {
      if (this.#seen.size < this.max && now - e.at < this.windowMs) break;
      this.#seen.delete(k);
    }
    this.#seen.set(key, { ...counts, at: now });
  }
}

/** Prometheus remote write 1.0 and 2.0 receiver: validates, splits by target, answers once the bus has it. */
class RemoteWriteReceiver implements Component {
  readonly #s: ComponentSettings;
  readonly #cfg: RemoteWriteConfig;
  readonly #recent: RecentBodies;
  #route: RouteHandle | undefined;

  constructor(settings: ComponentSettings, config: RemoteWriteConfig) {
    this.#s = settings;
    this.#cfg = config;
    this.#recent = new RecentBodies(config.replay_window_ms, config.replay_cache);
  }

  listening(): ListenerInfo[] {
    const open = !this.#cfg.bearer_token && !this.#cfg.basic_auth && !this.#s.ports.mutualTls;
    return this.#route ? [{ name: 'remote write', url: `${this.#route.url}${this.#cfg.path}`, open }] : [];
  }

  async start(): Promise<void> {
    const addr = this.#cfg.listen ?? this.#s.service.remote_write;
    if (addr)
      this.#route = await this.#s.ports.add(addr, {
        path: this.#cfg.path,
        describe: `POST ${this.#cfg.path} (Prometheus remote write)`,
        handle: (req, res) => this.#handle(req, res),
      });
  }

  async shutdown(): Promise<void> {
    await this.#route?.remove();
  }

  async #handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const { metrics } = this.#s;
    try {
      if (req.method !== 'POST') throw new HttpError(405, 'remote write takes POST', { Allow: 'POST' });
      if (!authorized(req.headers.authorization, this.#cfg)) throw unauthorized(this.#cfg);
      const version = versionOf(req.headers['content-type']);
      const encoding = (req.headers['content-encoding'] ?? '').toLowerCase().trim();
      if (encoding !== 'snappy')
        throw new HttpError(415, `unsupported Content-Encoding "${encoding}"; remote write bodies are snappy-compressed (block format)`);
      const compressed = await readLimitedBody(req, this.#cfg.max_request_bytes);
      const replayKey = this.#cfg.replay_window_ms > 0 ? RecentBodies.key(version, compressed) : '';
      const replayed = replayKey ? this.#recent.get(replayKey) : undefined;
      if (replayed) {
        metrics.dropped('replayed_request', replayed.samples + replayed.histograms);
        this.#written(res, replayed);
        return;
      }
      const body = decompress(compressed, this.#cfg.max_decompressed_bytes);
      const series: SeriesView[] = [];
      const walk = walkRemoteWrite(body, version, false, (s) => series.push(s));
      metrics.received(walk.samples + walk.histograms);
      const partitions = this.#s.topics[this.#cfg.output]?.partitions ?? 1;
      const messages = splitByTarget(body, version, series, walk, partitions);
      if (messages.length) {
        try {
          await this.#s.bus.producer().send(this.#cfg.output, messages);
        } catch (err) {
          metrics.failed(err instanceof BusFullError ? 'bus_full' : 'bus_error', walk.samples + walk.histograms);
          throw err;
        }
      }
      metrics.sent(walk.samples + walk.histograms);
      if (replayKey) this.#recent.add(replayKey, { samples: walk.samples, histograms: walk.histograms, exemplars: walk.exemplars });
      this.#written(res, walk);
    } catch (err) {
      this.#fail(res, err);
    }
  }

  #written(res: http.ServerResponse, c: Counts): void {
    res.writeHead(204, {
      'X-Prometheus-Remote-Write-Samples-Written': String(c.samples),
      'X-Prometheus-Remote-Write-Histograms-Written': String(c.histograms),
      'X-Prometheus-Remote-Write-Exemplars-Written': String(c.exemplars),
    });
    res.end();
  }

  #fail(res: http.ServerResponse, err: unknown): void {
    // Prometheus retries 5xx with backoff and drops 4xx, so only what a retry can fix is a 5xx.
    const { status, headers } = statusOf(err, this.#cfg.retry_after_s);
    if (status === 500) this.#s.logger.error({ err: errorMessage(err) }, 'remote write request failed');
    if (status === 400) this.#s.metrics.dropped('invalid_request');
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }).end(`${errorMessage(err)}\n`);
  }
}

export const remoteWriteFactory: Factory<RemoteWriteConfig> = {
  kind: 'receiver',
  type: 'remote_write',
  configSchema: remoteWriteConfigSchema,
  topics: (c) => ({ consumes: [], produces: [c.output] }),
  usesStore: false,
  create: (settings, config) => new RemoteWriteReceiver(settings, config),
};
