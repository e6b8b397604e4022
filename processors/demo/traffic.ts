/*
 * The demo's traffic: users' requests through four services, as the services' OpenTelemetry SDKs
 * would export them. Every request is a SERVER span on frontend that calls catalog; half of them
 * check out too: frontend → checkout → payments, and payments writes to the orders database. When
 * payments cannot reach the database, that request fails on every hop up to frontend (which shows
 * the user an error page, so its own span is fine).
 */
import { ACCOUNT, DATABASE, NAMESPACE, REGION } from './estate.js';
import { idSequence, otlpAttributes, serviceResource, tracesRequest, unixNanos } from './sources.js';

/** Where each service runs (host.id is the EC2 instance id, as the SDK's EC2 detector sets it). */
export const SERVICES: { name: string; hosts: string[] }[] = [
  { name: 'frontend', hosts: ['i-0web1'] },
  { name: 'catalog', hosts: ['i-0cat1'] },
  { name: 'checkout', hosts: ['i-0chk1', 'i-0chk2'] },
  { name: 'payments', hosts: ['i-0pay1', 'i-0pay2'] },
];

/** The call edges, as the service graph will name them. */
export const EDGES = ['frontend → catalog', 'frontend → checkout', 'checkout → payments', `payments → ${DATABASE.name}`] as const;
export type Edge = (typeof EDGES)[number];

const CHECKOUT_SHARE = 0.5;
const SERVER = 2;
const CLIENT = 3;
const ERROR = 2;

/** A small seeded generator (mulberry32): the same story draws the same numbers. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Span {
  traceId: Buffer;
  spanId: Buffer;
  parentSpanId?: Buffer;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: ReturnType<typeof otlpAttributes>;
  status?: { code: number; message: string };
}

/** What was sent in one minute of event time: spans, and calls and failed calls per edge. */
export interface MinuteCounts {
  spans: number;
  edges: Map<Edge, { calls: number; errors: number }>;
}

export class Traffic {
  readonly #rate: number;
  readonly #random: () => number;
  readonly #id: (bytes: number) => Buffer;
  #carry = 0;
  #requests = 0;
  readonly #minutes = new Map<number, MinuteCounts>();

  /** `rate` requests per second of event time; `idPrefix` (hex) keeps two runs' trace ids apart. */
  constructor(rate: number, idPrefix: string, random: () => number) {
    this.#rate = rate;
    this.#random = random;
    this.#id = idSequence(idPrefix);
  }

  /**
   * The spans of the requests that start in [from, to) (event time, ms), as one OTLP request;
   * `dbFailure(ts)` is the chance that payments' database call at ts fails.
   */
  batch(from: number, to: number, dbFailure: (ts: number) => number): { body: Uint8Array; spans: number } {
    const exact = (this.#rate * (to - from)) / 1000 + this.#carry;
    const n = Math.floor(exact);
    this.#carry = exact - n;
    const byOrigin = new Map<string, { resource: object; spans: Span[] }>();
    const emit = (service: string, host: string, span: Span) => {
      const key = `${service}\u0000${host}`;
      let entry = byOrigin.get(key);
      if (!entry)
        byOrigin.set(key, (entry = { resource: serviceResource({ service, namespace: NAMESPACE, host, account: ACCOUNT, region: REGION }), spans: [] }));
      entry.spans.push(span);
    };
    let spans = 0;
    for (let i = 0; i < n; i++) {
      const ts = from + ((i + this.#random()) * (to - from)) / n;
      const count = this.#request(ts, dbFailure, emit);
      this.minute(ts).spans += count;
      spans += count;
    }
    const resourceSpans = [...byOrigin.values()].map((e) => ({ resource: e.resource, scopeSpans: [{ scope: { name: 'airdig-demo' }, spans: e.spans }] }));
    return { body: tracesRequest(resourceSpans), spans };
  }

  /** One user request at ts: its spans, emitted per service and host; returns how many. */
  #request(ts: number, dbFailure: (ts: number) => number, emit: (service: string, host: string, s: Span) => void): number {
    const r = this.#random;
    const seq = this.#requests++;
    const traceId = this.#id(16);
    const host = (service: string) => {
      const hosts = SERVICES.find((s) => s.name === service)!.hosts;
      return hosts[seq % hosts.length]!;
    };
    let count = 0;
    const span = (service: string, s: Omit<Span, 'traceId' | 'spanId' | 'startTimeUnixNano' | 'endTimeUnixNano'>, start: number, ms: number): Buffer => {
      const spanId = this.#id(8);
      emit(service, host(service), { traceId, spanId, startTimeUnixNano: unixNanos(start), endTimeUnixNano: unixNanos(start + ms), ...s });
      count++;
      return spanId;
    };
    const call = (edge: Edge, failed: boolean) => this.#count(edge, ts, failed);

    const root = span('frontend', { name: 'GET /', kind: SERVER }, ts, 40 + r() * 20);
    const catalog = span('frontend', { name: 'GET /products', kind: CLIENT, parentSpanId: root }, ts + 1, 8 + r() * 4);
    span('catalog', { name: 'GET /products', kind: SERVER, parentSpanId: catalog }, ts + 2, 6 + r() * 4);
    call('frontend → catalog', false);
    if (r() >= CHECKOUT_SHARE) return count;

    // A payment: it fails wherever payments' database call fails (a lost connection), else rarely (a deadlock).
    const failed = r() < dbFailure(ts);
    const db = failed ? 3_000 : 2 + r() * 4;
    const status = (message: string) => (failed ? { status: { code: ERROR, message } } : {});
    const toCheckout = span('frontend', { name: 'POST /checkout', kind: CLIENT, parentSpanId: root, ...status('502 Bad Gateway') }, ts + 10, db + 25);
    const checkout = span('checkout', { name: 'POST /checkout', kind: SERVER, parentSpanId: toCheckout, ...status('payment failed') }, ts + 11, db + 22);
    const toPayments = span('checkout', { name: 'POST /charge', kind: CLIENT, parentSpanId: checkout, ...status('502 Bad Gateway') }, ts + 13, db + 12);
    const payments = span('payments', { name: 'POST /charge', kind: SERVER, parentSpanId: toPayments, ...status('database unavailable') }, ts + 14, db + 10);
    span(
      'payments',
      {
        name: 'INSERT payments',
        kind: CLIENT,
        parentSpanId: payments,
        attributes: otlpAttributes({
          'db.system': 'postgresql',
          'db.name': DATABASE.name,
          'server.address': DATABASE.endpoint,
          'server.port': '5432',
        }),
        ...(failed ? { status: { code: ERROR, message: `connect ETIMEDOUT ${DATABASE.endpoint}:5432` } } : {}),
      },
      ts + 16,
      db,
    );
    for (const edge of ['frontend → checkout', 'checkout → payments', `payments → ${DATABASE.name}`] as const) call(edge, failed);
    return count;
  }

  /** The counts of the minute (event time) that ts is in. */
  minute(ts: number): MinuteCounts {
    const start = Math.floor(ts / 60_000) * 60_000;
    let m = this.#minutes.get(start);
    if (!m) {
      this.#minutes.set(start, (m = { spans: 0, edges: new Map() }));
      // Only the last few minutes are ever reported.
      for (const k of this.#minutes.keys()) if (k < start - 10 * 60_000) this.#minutes.delete(k);
    }
    return m;
  }

  #count(edge: Edge, ts: number, failed: boolean): void {
    const edges = this.minute(ts).edges;
    const c = edges.get(edge) ?? { calls: 0, errors: 0 };
    c.calls++;
    if (failed) c.errors++;
    edges.set(edge, c);
  }
}
