import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { errorMessage } from '../runtime/errors.js';
import { originOf } from '../runtime/pipeline/holds.js';
import { Outbox, processorFactory } from '../runtime/pipeline/processor.js';
import { serviceGraphConfigSchema } from './config.js';
import { ServiceGraph } from './graph.js';
import { edgeCodec, edgeKey, type EdgeFact } from '../model/edges.js';
import { forEachSpanView } from './spans.js';

/** otlp_spans → airdig.edges: pairs spans into call edges in a window, holding commits while a half waits. */
export const serviceGraphFactory = processorFactory({
  type: 'servicegraph',
  configSchema: serviceGraphConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  what: 'span batch',
  create: ({ bus, metrics, logger, id, clock }, c) => {
    const producer = bus.producer();
    const outbox = new Outbox<EdgeFact>();
    const graph = new ServiceGraph({
      clock,
      ttlMs: c.store_ttl_ms,
      maxItems: c.store_max_items,
      emit: (e) => outbox.push(e),
      onDrop: (reason) => metrics.dropped(reason),
    });
    const flush = async () =>
      metrics.sent(
        (
          await outbox.send((edges) =>
            producer.send(
              c.output,
              edges.map((e) => ({ key: edgeKey(e), value: edgeCodec.encode(e), timestamp: e.ts_ms })),
            ),
          )
        ).length,
      );
    return {
      handle: async (batch) => {
        let spans = 0;
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          const origin = originOf(record);
          forEachSpanView(record.value, (v) => {
            spans++;
            graph.addSpan(v, origin);
          });
        });
        if (dead) metrics.dlq(dead);
        metrics.received(spans);
        graph.expire();
        await flush();
      },
      // Commit no further than the oldest record a pending half edge came from: after a crash it is read again.
      holds: () => graph.heldOffsets(),
      pending: () => graph.pending,
      // A quiet input: halves past their TTL become edges, sent before the holds that covered them go
      // (in the consumer's loop, so never beside handle(): a commit never passes an edge still unsent).
      idle: async () => {
        graph.expire();
        try {
          await flush();
        } catch (err) {
          logger.warn({ err: errorMessage(err) }, 'sending expired edges failed; they are kept and sent with the next batch');
          throw err;
        }
      },
      idleMs: c.expire_interval_ms,
      stop: async () => {
        // What is still pending is not lost: its records were not committed and are read again on restart.
        await flush().catch(() => {});
      },
    };
  },
});
