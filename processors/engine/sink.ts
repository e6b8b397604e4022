import { tableSinkConfig, tableSinkFactory } from '../runtime/pipeline/table-sink.js';
import { CORRELATIONS_TOPIC, INCIDENTS_TOPIC, correlationCodec, incidentCodec } from '../model/correlations.js';

const iso = (ms: number) => new Date(ms).toISOString();

/** airdig.correlations → correlation_log; the view correlations shows each id's latest revision. */
export const correlationsFactory = tableSinkFactory({
  type: 'correlations',
  configSchema: tableSinkConfig(CORRELATIONS_TOPIC, 'correlation_log', 2_000),
  toRows: (r) => {
    const { ts_ms, cause_ts_ms, revision_ms, ...c } = correlationCodec.decode(r.value);
    return [{ ...c, ts: iso(ts_ms), cause_ts: iso(cause_ts_ms), revision: iso(revision_ms) }];
  },
});

/** airdig.incidents → incident_log; the view incidents shows each incident's latest revision (merged ones left out). */
export const incidentsFactory = tableSinkFactory({
  type: 'incidents',
  configSchema: tableSinkConfig(INCIDENTS_TOPIC, 'incident_log', 1_000),
  toRows: (r) => {
    const { opened_ms, resolved_ms, revision_ms, ...i } = incidentCodec.decode(r.value);
    return [{ ...i, opened: iso(opened_ms || revision_ms), resolved: resolved_ms ? iso(resolved_ms) : null, revision: iso(revision_ms) }];
  },
});
