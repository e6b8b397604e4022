/*
 * The demo's story, sent through AirDig's intakes over HTTP as the real sources would: a scan and a
 * Terraform state of the estate, traffic through four services (OTLP spans), `up` and memory
 * series (remote write), then an unrelated tag, a security-group change that cuts payments off
 * its database, errors that follow on every hop, CloudTrail's log files a little late, and the next
 * scan, which the Terraform state contradicts.
 *
 * Time: every record carries its own event time, and the story's clock runs `speed` times faster
 * than the wall clock, placed so that it ends at the present (it never runs ahead of it; once it
 * catches up, the traffic goes on in real time). Every component judges by those times (edge
 * signals each minute of the calls' own time, `up` thresholds the samples' time); 6× is a pace a
 * person can follow.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { ACCOUNT, DB_EGRESS, GROUPS, INSTANCES, REGION, estateSummary, ruleText, scanItems, terraformResources, type EstateState } from './estate.js';
import { percent } from '../edgesignals/signals.js';
import { EDGES, SERVICES, Traffic, seeded, type Edge } from './traffic.js';
import {
  JSON_HEADERS,
  PROTOBUF_HEADERS,
  REMOTE_WRITE_HEADERS,
  cloudTrailFile,
  remoteWriteBody,
  scanBody,
  terraformState,
  type CloudTrailCall,
  type Series,
} from './sources.js';

const SECOND = 1_000;
const MINUTE = 60_000;

/** Story minutes and seconds: 3:50 → ms from the story's start. */
const at = (minutes: number, seconds = 0) => minutes * MINUTE + seconds * SECOND;

/** How long the script runs in story time; the traffic goes on after it. */
export const STORY_MS = at(6);
/** How much faster than the wall clock the story's clock runs until it catches up with the present. */
export const SPEED = 6;
/** Requests per second (story time) that users send to frontend. */
const RATE = 16;
/** A metrics scrape every this much story time. */
const SCRAPE_MS = 15 * SECOND;
/** How often (wall time) the story sends what happened since the last time. */
const TICK_MS = 250;
/** A send the intake has not answered after this long has failed (the story stops on it). */
const POST_TIMEOUT_MS = 30_000;
/** payments' database connections live this long: after the rule is gone, each one that is recycled cannot be opened again. */
const POOL_LIFETIME_MS = 2 * MINUTE;
/** The rare database error of a normal day (a deadlock now and then). */
const BASELINE_FAILURE = 0.004;

/**
 * The story's clock: `speed` times the wall clock from `start`, placed at the minute boundary so
 * that the story's end comes no later than the present when it is reached, and never ahead of the
 * wall clock (the minutes of the story are whole minutes of event time, as edge signals cut them).
 */
export class StoryClock {
  readonly start: number;
  readonly #wallStart: number;
  readonly #speed: number;
  readonly #wall: () => number;

  constructor(speed: number, lengthMs: number, wall: () => number = Date.now) {
    this.#wall = wall;
    this.#wallStart = wall();
    this.#speed = speed;
    this.start = Math.floor((this.#wallStart - lengthMs * (1 - 1 / speed)) / MINUTE) * MINUTE;
  }

  now(): number {
    const w = this.#wall();
    return Math.min(w, this.start + (w - this.#wallStart) * this.#speed);
  }
}

/** The intakes the story sends to (the URLs `airdig run` prints). */
export interface Intakes {
  traces: string;
  remoteWrite: string;
  cloudtrail: string;
  resources: string;
  terraform: string;
}

/** A line of the story: its story time, a topic (scan, change, errors…) and the text. */
export type Say = (storyMs: number, topic: string, text: string) => void;

/** The change that breaks payments, as the demo's output and its test name it. */
export interface BadChange {
  eventId: string;
  event: string;
  actor: string;
  group: string;
}

interface Step {
  at: number;
  run: (ts: number) => Promise<void>;
}

export class Story {
  readonly clock = new StoryClock(SPEED, STORY_MS);
  readonly badChange: BadChange = { eventId: randomUUID(), event: 'RevokeSecurityGroupEgress', actor: 'bob', group: 'sg-0pay' };
  readonly #intakes: Intakes;
  readonly #say: Say;
  readonly #traffic = new Traffic(RATE, randomBytes(2).toString('hex'), seeded(20261202));
  // Ten seconds before a minute: an edge signal's onset is the start of its first bad minute, and a
  // change inside that minute would come after the onset, which the engine never takes as a cause.
  readonly #revokedAt = this.clock.start + at(3, 50);
  #state: EstateState = {};
  #sent = 0;
  #scraped = 0;
  /** Ends the sends in flight when the demo stops (a stopping intake may not answer them). */
  #stopped: AbortSignal | undefined;

  constructor(intakes: Intakes, say: Say) {
    this.#intakes = intakes;
    this.#say = say;
  }

  /** The chance that payments' database call at ts fails: rare, until the rule is gone and the pool's connections are recycled one by one. */
  #dbFailure = (ts: number): number =>
    ts < this.#revokedAt ? BASELINE_FAILURE : BASELINE_FAILURE + (1 - BASELINE_FAILURE) * Math.min(1, (ts - this.#revokedAt) / POOL_LIFETIME_MS);

  /** Plays the script, then keeps the traffic going until `signal` aborts. Sends that fail after the abort are not errors. */
  async run(signal: AbortSignal): Promise<void> {
    const t0 = this.clock.start;
    const steps = this.#script();
    this.#stopped = signal;
    try {
      await this.#scan(t0, 'the estate');
      const tf = terraformResources();
      await this.#post(this.#intakes.terraform, terraformState(randomUUID(), 12, tf), JSON_HEADERS);
      this.#say(t0, 'terraform', `a state managing the same ${tf.length} resources → /v1/terraform-state`);
      this.#say(
        t0,
        'traffic',
        `${SERVICES.length} services (${SERVICES.map((s) => s.name).join(', ')}): spans → /v1/traces; up and memory every ${SCRAPE_MS / SECOND} s → remote write`,
      );
      this.#sent = t0;
      this.#scraped = t0 - SCRAPE_MS;
      while (!signal.aborted) {
        const now = this.clock.now();
        await this.#sendTraffic(now);
        while (steps.length && t0 + steps[0]!.at <= now) {
          const step = steps.shift()!;
          await step.run(t0 + step.at);
        }
        await new Promise((r) => setTimeout(r, TICK_MS));
      }
    } catch (err) {
      if (!signal.aborted) throw err;
    }
  }

  /** The script: what happens when, in story time from the start. */
  #script(): Step[] {
    const tag: CloudTrailCall = {
      id: randomUUID(),
      timeMs: 0,
      source: 'ec2',
      event: 'CreateTags',
      actor: 'carol',
      request: { resourcesSet: { items: [{ resourceId: 'i-0pay1' }] }, tagSet: { items: [{ key: 'Patch', value: '2026-12' }] } },
      response: { requestId: randomUUID(), _return: true },
    };
    const revoke: CloudTrailCall = {
      id: this.badChange.eventId,
      timeMs: 0,
      source: 'ec2',
      event: this.badChange.event,
      actor: this.badChange.actor,
      request: {
        groupId: this.badChange.group,
        ipPermissions: {
          items: [
            { ipProtocol: 'tcp', fromPort: DB_EGRESS.port, toPort: DB_EGRESS.port, groups: { items: DB_EGRESS.groups!.map((groupId) => ({ groupId })) } },
          ],
        },
      },
      response: { requestId: randomUUID(), _return: true },
    };
    const group = (id: string) => GROUPS.find((g) => g.id === id)!;
    return [
      { at: at(1), run: async (ts) => this.#say(ts, 'baseline', this.#minuteText(ts - MINUTE)) },
      {
        at: at(2),
        run: async (ts) => {
          tag.timeMs = ts;
          this.#state = { ...this.#state, tags: { 'i-0pay1': { Patch: '2026-12' } } };
          this.#say(ts, 'change', `carol CreateTags on i-0pay1 (payments-1): Patch=2026-12 — routine, unrelated`);
        },
      },
      { at: at(2, 40), run: async (ts) => this.#cloudTrail(ts, tag) },
      {
        at: at(3, 50),
        run: async (ts) => {
          revoke.timeMs = ts;
          this.#state = { ...this.#state, revoked: [{ group: this.badChange.group, rule: DB_EGRESS }] };
          const g = group(this.badChange.group);
          this.#say(
            ts,
            'change',
            `bob RevokeSecurityGroupEgress on ${g.id} (${g.name}): ${ruleText(DB_EGRESS)} (${group(DB_EGRESS.groups![0]!).name}) — payments can no longer reach its database`,
          );
        },
      },
      {
        at: at(4),
        run: async (ts) =>
          this.#say(
            ts,
            'errors',
            `payments' connections to orders-db are recycled and cannot be opened again: ${percent(this.#dbFailure(ts))} of payments fail now`,
          ),
      },
      { at: at(4, 30), run: async (ts) => this.#cloudTrail(ts, revoke) },
      { at: at(4, 30), run: async (ts) => this.#scan(ts, 'the next scheduled scan') },
      { at: at(5), run: async (ts) => this.#say(ts, 'errors', this.#minuteText(ts - MINUTE)) },
      { at: at(6), run: async (ts) => this.#say(ts, 'errors', this.#minuteText(ts - MINUTE)) },
    ];
  }

  /** A minute of traffic in words: spans per second, and the errors of the calls that matter. */
  #minuteText(minute: number): string {
    const m = this.#traffic.minute(minute);
    const edge = (e: Edge) => {
      const c = m.edges.get(e) ?? { calls: 0, errors: 0 };
      return `${e} errors ${percent(c.calls ? c.errors / c.calls : 0)} (${c.errors} of ${c.calls} calls)`;
    };
    return `${SERVICES.length} services, ${Math.round(m.spans / 60)} spans/s; ${edge('checkout → payments')}, ${edge(EDGES[3])}`;
  }

  /** The traffic and the scrapes from the last send up to `now`. */
  async #sendTraffic(now: number): Promise<void> {
    if (now <= this.#sent) return;
    // Cut at minute boundaries, so that a minute's spans are counted in it.
    for (let from = this.#sent; from < now;) {
      const to = Math.min(now, Math.floor(from / MINUTE) * MINUTE + MINUTE);
      const { body } = this.#traffic.batch(from, to, this.#dbFailure);
      await this.#post(this.#intakes.traces, body, PROTOBUF_HEADERS);
      from = to;
    }
    this.#sent = now;
    const series: Series[] = [];
    for (let ts = this.#scraped + SCRAPE_MS; ts <= now; ts += SCRAPE_MS) {
      series.push(...this.#scrape(ts));
      this.#scraped = ts;
    }
    if (series.length) await this.#post(this.#intakes.remoteWrite, remoteWriteBody(series), REMOTE_WRITE_HEADERS);
  }

  /** One scrape at ts: every host's node exporter and every service's own endpoint are up; the services' memory. */
  #scrape(ts: number): Series[] {
    const ip = (host: string) => INSTANCES.find((i) => i.id === host)!.ip;
    const out: Series[] = INSTANCES.map((i) => ({ labels: { __name__: 'up', job: 'node', instance: `${i.ip}:9100` }, samples: [[ts, 1]] }));
    for (const s of SERVICES)
      for (const h of s.hosts) {
        const instance = `${ip(h)}:${s.name === 'payments' ? 8443 : 8080}`;
        out.push({ labels: { __name__: 'up', job: s.name, instance }, samples: [[ts, 1]] });
        out.push({ labels: { __name__: 'process_resident_memory_bytes', job: s.name, instance }, samples: [[ts, 180e6 + ((ts / SCRAPE_MS) % 7) * 1e6]] });
      }
    return out;
  }

  async #scan(ts: number, what: string): Promise<void> {
    const items = scanItems(this.#state);
    await this.#post(
      this.#intakes.resources,
      scanBody({ id: `scan-${new Date(ts).toISOString()}`, account: ACCOUNT, region: REGION, timeMs: ts }, items),
      JSON_HEADERS,
    );
    this.#say(ts, 'scan', `${what}: ${estateSummary()} → /v1/resources`);
  }

  async #cloudTrail(ts: number, call: CloudTrailCall): Promise<void> {
    await this.#post(this.#intakes.cloudtrail, cloudTrailFile([call], ACCOUNT, REGION), JSON_HEADERS);
    const late = Math.round((ts - call.timeMs) / SECOND);
    this.#say(ts, 'cloudtrail', `log file delivered ${late} s after the call: ${call.actor} ${call.event}, eventID ${call.id} → /v1/cloudtrail`);
  }

  /** POSTs a body; a full bus (503) is waited out as a sender would, anything else is an error. */
  async #post(url: string, body: string | Uint8Array | Buffer, headers: Record<string, string>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      const timeout = AbortSignal.timeout(POST_TIMEOUT_MS);
      const res = await fetch(url, { method: 'POST', headers, body, signal: this.#stopped ? AbortSignal.any([this.#stopped, timeout]) : timeout });
      const text = await res.text();
      if (res.ok) return;
      if (res.status !== 503 || attempt >= 10) throw new Error(`POST ${url}: HTTP ${res.status} ${text.trim()}`);
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}
