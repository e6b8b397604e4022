import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { StateStore } from '../runtime/pipeline/state-store.js';
import { topologyCodec } from '../model/topology.js';
import { edgeCodec } from '../model/edges.js';
import { changeCodec } from '../model/changes.js';
import { driftCodec } from '../model/drift.js';
import { healthCodec } from '../model/health.js';
import { correlationCodec, incidentCodec, type Correlation, type Incident } from '../model/correlations.js';
import { correlatorOptions, engineConfigSchema } from './config.js';
import { Correlator } from './correlator.js';

/** A call edge is written to the changelog again once it is this much newer than the stored one. */
const CALL_REFRESH_MS = 10 * 60_000;
const CALL = 'call\u0000';

/** A call edge as the changelog keeps it: last seen (to CALL_REFRESH_MS) and the server's address. */
interface StoredCall {
  seen: number;
  address: string;
}

/**
 * The AirDig engine: airdig.topology + airdig.edges (the graph), airdig.changes + airdig.drift (the
 * causes), airdig.health (the signals) → airdig.correlations and airdig.incidents.
 *
 * State: the graph is the compacted topology read to its end at every start, plus the call edges;
 * the call edges, the causes, the signals (with the incident each is in) and the watermark are
 * kept in the changelog airdig.<id>.changelog (StateStore), written after each batch's rows are
 * sent, with the input offsets they include. A restart restores exactly that state and skips what
 * it already includes, so its rows are the rows an uninterrupted run gives; no input offset is held
 * back. One instance sees every partition: run one per pipeline (see README).
 */
export const engineFactory = processorFactory({
  type: 'engine',
  configSchema: engineConfigSchema,
  topics: (c) => ({ consumes: Object.values(c.inputs), produces: [c.correlations, c.incidents] }),
  create: ({ bus, metrics, id, logger, clock }, c) => {
    const producer = bus.producer();
    const store = new StateStore(bus, id);
    const correlator = new Correlator(correlatorOptions(c));
    const calls = new Map<string, StoredCall>();
    const outbox = new Outbox<{ topic: string; key: string; value: Buffer; timestamp: number }>();
    const { inputs } = c;
    let future = { count: 0, toldAt: -Infinity };
    /** The correlator's counters as last told to the metrics, so that each batch adds what it changed. */
    const told = { unresolvedSignals: 0, unresolvedCauses: 0, evictedSignals: 0, evictedCauses: 0 };
    const tellStats = () => {
      const s = correlator.stats;
      const tell = (count: (n: number) => void, key: keyof typeof told) => {
        if (s[key] > told[key]) count(s[key] - told[key]);
        told[key] = s[key];
      };
      tell((n) => metrics.noted('unresolved_signal', n), 'unresolvedSignals');
      tell((n) => metrics.noted('unresolved_cause', n), 'unresolvedCauses');
      tell((n) => metrics.dropped('evicted_signal', n), 'evictedSignals');
      tell((n) => metrics.dropped('evicted_cause', n), 'evictedCauses');
    };
    /** Whether a record's time is not beyond max_future_ms ahead of the clock; one that is, is counted and told once a minute. */
    const inTime = (ts: number, topic: string) => {
      const now = clock.now();
      if (ts <= now + c.max_future_ms) return true;
      metrics.dropped('future_time');
      future.count++;
      if (now - future.toldAt >= 60_000) {
        logger.warn(
          { topic, ts: new Date(ts).toISOString(), ahead_ms: ts - now, dropped: future.count },
          'engine: records stamped beyond max_future_ms ahead of the clock are dropped',
        );
        future = { count: 0, toldAt: now };
      }
      return false;
    };

    /**
     * A call edge into the graph. Its last-seen time is kept to CALL_REFRESH_MS (what the changelog
     * has), so that a call expires at the same event time whether or not the engine restarted
     * meanwhile; a new or changed server address is written at once (it decides what a virtual
     * server such as a database resolves to).
     */
    const call = (client: string, server: string, ts: number, address: string) => {
      const key = `${CALL}${client}\u0000${server}`;
      const prev = calls.get(key);
      const next: StoredCall = {
        seen: !prev || prev.seen < ts - CALL_REFRESH_MS ? ts : prev.seen,
        address: address.toLowerCase() || prev?.address || '',
      };
      if (!prev || next.seen !== prev.seen || next.address !== prev.address) {
        calls.set(key, next);
        store.putJson(key, next);
      }
      correlator.call(client, server, ts, next.address, next.seen);
    };

    return {
      restore: async () => {
        await bus.readToEnd(inputs.topology, (r) => {
          if (r.value.length) correlator.topology(topologyCodec.decode(r.value));
        });
        for (const [key, value] of await store.restoreJson<unknown>()) {
          if (key.startsWith(CALL)) {
            const [, client, server] = key.split('\u0000');
            const stored = value as StoredCall;
            if (client && server) {
              calls.set(key, stored);
              correlator.graph.applyCall(client, server, stored.seen, stored.address);
            }
          } else if (Correlator.ownsKey(key)) {
            correlator.restoreState(key, value);
          }
        }
        logger.info(
          { nodes: correlator.graph.nodes, calls: calls.size, causes: correlator.causes, signals: correlator.openSignals, watermark: correlator.watermark },
          'engine state restored',
        );
      },
      handle: async (batch) => {
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          metrics.received();
          // A record whose effects the restored state has already (read again after a restart) changes nothing.
          store.handle(record, (replay) => {
            if (replay) return;
            if (record.topic === inputs.topology) {
              if (record.value.length) correlator.topology(topologyCodec.decode(record.value));
            } else if (record.topic === inputs.edges) {
              const e = edgeCodec.decode(record.value);
              if (inTime(e.ts_ms, record.topic)) call(e.client_id, e.server_id, e.ts_ms, e.server_address ?? '');
            } else if (record.topic === inputs.changes) {
              const change = changeCodec.decode(record.value);
              if (inTime(change.ts_ms, record.topic)) correlator.change(change);
            } else if (record.topic === inputs.drift) {
              const drift = driftCodec.decode(record.value);
              if (inTime(drift.ts_ms, record.topic)) correlator.drift(drift);
            } else if (record.topic === inputs.health) {
              const fact = healthCodec.decode(record.value);
              if (inTime(fact.ts_ms, record.topic)) correlator.health(fact);
            }
          });
        });
        if (dead) metrics.dlq(dead);
        for (const [client, server] of correlator.graph.expireCalls(correlator.watermark - c.call_ttl_ms)) {
          const key = `${CALL}${client}\u0000${server}`;
          calls.delete(key);
          store.delete(key);
        }
        const { correlations, incidents } = correlator.evaluate(clock.now());
        tellStats();
        store.stageJson(correlator.stateChanges());
        outbox.push(
          ...correlations.map((r: Correlation) => ({
            topic: c.correlations,
            key: r.impacted_resource_id,
            value: correlationCodec.encode(r),
            timestamp: r.ts_ms,
          })),
          ...incidents.map((r: Incident) => ({ topic: c.incidents, key: r.id, value: incidentCodec.encode(r), timestamp: r.opened_ms || r.revision_ms })),
        );
        const sent = await outbox.send(async (rows) => {
          for (const topic of [c.correlations, c.incidents]) {
            const mine = rows.filter((r) => r.topic === topic);
            if (mine.length) await producer.send(topic, mine);
          }
        });
        metrics.sent(sent.length);
        // After the rows are sent, before the bus commits the batch: a crash before this sends them again from the same state.
        await store.flush();
      },
      pending: () => correlator.openSignals,
    };
  },
});
