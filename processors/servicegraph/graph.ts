import type { Clock } from '../runtime/clock.js';
import { edgeSides, type EdgeFact } from '../model/edges.js';
import { EdgeStore, StoreFullError } from './store.js';
import { Holds, type HeldOffsets, type Origin } from '../runtime/pipeline/holds.js';

export const SPAN_KIND_SERVER = 2;
export const SPAN_KIND_CLIENT = 3;
export const SPAN_KIND_PRODUCER = 4;
export const SPAN_KIND_CONSUMER = 5;

/** What pairing needs of a span, and nothing more. */
export interface SpanView {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  kind: number;
  /** The resource's service.name and service.namespace ('' without one). */
  service: string;
  namespace: string;
  startMs: number;
  durationMs: number;
  failed: boolean;
  /** Attributes that name the other side of a call when it never reports itself. */
  peerService: string;
  dbName: string;
  dbSystem: string;
  serverAddress: string;
}

interface Side {
  service: string;
  namespace: string;
  spanId: string;
  kind: number;
  startMs: number;
  durationMs: number;
  failed: boolean;
  view: SpanView;
}

interface PendingEdge {
  traceId: string;
  client: Side | undefined;
  server: Side | undefined;
  origin: Origin | undefined;
}

export type DropReason = 'store_full' | 'expired_server_without_client' | 'not_a_call';

export interface ServiceGraphOptions {
  clock: Clock;
  ttlMs: number;
  maxItems: number;
  emit: (edge: EdgeFact) => void;
  /** A span half that will never become an edge, and why. */
  onDrop?: (reason: DropReason) => void;
}

/** The service a client span calls when the server never reports: the first of these attributes, else "unknown". */
export function virtualServerName(v: SpanView): string {
  return v.peerService || v.dbName || v.dbSystem || v.serverAddress || 'unknown';
}

/**
 * Pairs CLIENT/PRODUCER spans (trace id + span id) with SERVER/CONSUMER spans (trace id + parent
 * span id) into call edges. Database calls complete at once; a root SERVER span is called by the
 * virtual client "user"; a CLIENT span whose server never came is completed on expiry with a
 * virtual server.
 */
export class ServiceGraph {
  readonly #store: EdgeStore<PendingEdge>;
  readonly #emit: (edge: EdgeFact) => void;
  readonly #onDrop: (reason: DropReason) => void;

  constructor(options: ServiceGraphOptions) {
    this.#emit = options.emit;
    this.#onDrop = options.onDrop ?? (() => {});
    this.#store = new EdgeStore<PendingEdge>({
      clock: options.clock,
      ttlMs: options.ttlMs,
      maxItems: options.maxItems,
      isComplete: (e) => e.client !== undefined && e.server !== undefined,
      onComplete: (e) => this.#emit(pairedEdge(e)),
      onExpire: (e) => this.#expired(e),
    });
  }

  get pending(): number {
    return this.#store.size;
  }

  addSpan(v: SpanView, origin?: Origin): void {
    const side: Side = {
      service: v.service,
      namespace: v.namespace,
      spanId: v.spanId,
      kind: v.kind,
      startMs: v.startMs,
      durationMs: v.durationMs,
      failed: v.failed,
      view: v,
    };
    if (v.kind === SPAN_KIND_CLIENT || v.kind === SPAN_KIND_PRODUCER) {
      if (v.kind === SPAN_KIND_CLIENT && (v.dbSystem || v.dbName)) {
        this.#emit({
          id: `${v.traceId}${v.spanId}`,
          ts_ms: v.startMs,
          trace_id: v.traceId,
          // A database reports no spans of its own, so its namespace is not known.
          ...edgeSides(v.service, v.namespace, v.dbName || v.dbSystem, ''),
          connection_type: 'database',
          failed: v.failed,
          latency_ms: v.durationMs,
          client_latency_ms: v.durationMs,
          ...(v.serverAddress ? { server_address: v.serverAddress } : {}),
        });
        return;
      }
      this.#upsert(`${v.traceId}${v.spanId}`, v.traceId, origin, (e) => (e.client = side));
    } else if (v.kind === SPAN_KIND_SERVER || v.kind === SPAN_KIND_CONSUMER) {
      if (!v.parentSpanId) {
        this.#emit({
          id: `${v.traceId}${v.spanId}`,
          ts_ms: v.startMs,
          trace_id: v.traceId,
          ...edgeSides('user', '', v.service, v.namespace),
          connection_type: 'virtual_node',
          failed: v.failed,
          latency_ms: v.durationMs,
          client_latency_ms: -1,
        });
        return;
      }
      this.#upsert(`${v.traceId}${v.parentSpanId}`, v.traceId, origin, (e) => (e.server = side));
    } else {
      this.#onDrop('not_a_call');
    }
  }

  /** Completes or drops what waited past the TTL. */
  expire(): number {
    return this.#store.expire();
  }

  /** Lowest offset per partition that a pending edge still needs: where its span came from. */
  heldOffsets(): HeldOffsets {
    const held = new Holds();
    for (const e of this.#store.values()) held.hold(e.origin);
    return held.offsets;
  }

  #upsert(key: string, traceId: string, origin: Origin | undefined, update: (e: PendingEdge) => void): void {
    try {
      // Only the first half ever waits (the second completes the edge), so its record is the one to hold.
      this.#store.upsert(key, () => ({ traceId, client: undefined, server: undefined, origin }), update);
    } catch (err) {
      if (err instanceof StoreFullError) this.#onDrop('store_full');
      else throw err;
    }
  }

  #expired(e: PendingEdge): void {
    if (e.client && !e.server) {
      const c = e.client;
      this.#emit({
        id: `${e.traceId}${c.spanId}`,
        ts_ms: c.startMs,
        trace_id: e.traceId,
        ...edgeSides(c.service, c.namespace, virtualServerName(c.view), ''),
        connection_type: 'virtual_node',
        failed: c.failed,
        latency_ms: c.durationMs,
        client_latency_ms: c.durationMs,
        ...(c.view.serverAddress ? { server_address: c.view.serverAddress } : {}),
      });
    } else {
      this.#onDrop('expired_server_without_client');
    }
  }
}

function pairedEdge(e: PendingEdge): EdgeFact {
  const c = e.client!;
  const s = e.server!;
  const messaging = c.kind === SPAN_KIND_PRODUCER || s.kind === SPAN_KIND_CONSUMER;
  return {
    id: `${e.traceId}${c.spanId}`,
    ts_ms: c.startMs,
    trace_id: e.traceId,
    ...edgeSides(c.service, c.namespace, s.service, s.namespace),
    connection_type: messaging ? 'messaging_system' : '',
    failed: c.failed || s.failed,
    latency_ms: s.durationMs,
    client_latency_ms: c.durationMs,
  };
}
