import { eachRecordOrDlq } from '../runtime/bus/dlq.js';
import { processorFactory } from '../runtime/pipeline/processor.js';
import { forEachField, Wire } from '../wire/protobuf.js';
import { Resource, attributesToMap, ResourceSpansField, TracesDataField } from '../model/otlp.js';
import { topologyCodec, topologyKey, type TopologyRecord } from '../model/topology.js';
import { placementConfigSchema } from './config.js';
import { placementOf } from './placement.js';

/** Calls fn with the attributes of each resource in an ExportTraceServiceRequest, reading nothing else. */
export function forEachResource(value: Uint8Array, fn: (attrs: Record<string, string>) => void): void {
  forEachField(value, 0, value.length, (field, wire, start, end) => {
    if (field !== TracesDataField.ResourceSpans || wire !== Wire.Len) return;
    forEachField(value, start, end, (f, w, s, e) => {
      if (f === ResourceSpansField.Resource && w === Wire.Len) fn(attributesToMap(Resource.decode(value.subarray(s, e)).attributes));
    });
  });
}

/** otlp_spans → airdig.topology: where each service runs (runs_on edges), from its resource attributes. */
export const placementFactory = processorFactory({
  type: 'placement',
  configSchema: placementConfigSchema,
  topics: (c) => ({ consumes: [c.input], produces: [c.output] }),
  create: ({ bus, metrics, id, clock, service }, c) => {
    const producer = bus.producer();
    /** When each placement (service and targets) was last reported. */
    const reported = new Map<string, number>();
    return {
      handle: async (batch) => {
        const out: TopologyRecord[] = [];
        const reportedNow: string[] = [];
        const now = clock.now();
        const dead = await eachRecordOrDlq(batch, producer, id, (record) => {
          forEachResource(record.value, (attrs) => {
            metrics.received();
            const p = placementOf(attrs, now, service.cluster_name);
            if (!p || p.targets.length === 0) return;
            const key = [p.service.id, ...p.targets.map((t) => t.id)].join('|');
            const last = reported.get(key);
            if (last !== undefined && now - last < c.refresh_ms) return;
            if (reported.size >= c.max_remembered) reported.clear();
            reported.set(key, now);
            reportedNow.push(key);
            out.push(p.service, ...p.targets, ...p.edges);
          });
        });
        if (dead) metrics.dlq(dead);
        if (out.length === 0) return;
        try {
          await producer.send(
            c.output,
            out.map((r) => ({ key: topologyKey(r), value: topologyCodec.encode(r), timestamp: r.seen_ms })),
          );
        } catch (err) {
          // Not reported after all: forget them, so the retry of this batch reports them.
          for (const k of reportedNow) reported.delete(k);
          throw err;
        }
        metrics.sent(out.length);
      },
    };
  },
});
