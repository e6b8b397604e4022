/**
 * AirDig's Grafana dashboards, built with @grafana/grafana-foundation-sdk over the ClickHouse
 * query contract (the DESIGN's tables and views). Each panel's SQL is declared here with the
 * columns its panel needs; the tests run every one of them against the demo's data.
 */
import {
  AnnotationQueryBuilder,
  DashboardBuilder,
  DashboardLinkBuilder,
  DashboardLinkType,
  DatasourceVariableBuilder,
  PanelBuilder as GenericPanelBuilder,
  QueryVariableBuilder,
  RowBuilder,
  VariableRefresh,
  type Dashboard,
} from '@grafana/grafana-foundation-sdk/dashboard';
import { PanelBuilder as LogsPanelBuilder } from '@grafana/grafana-foundation-sdk/logs';
import { ArcOptionBuilder, NodeOptionsBuilder, PanelBuilder as NodeGraphPanelBuilder } from '@grafana/grafana-foundation-sdk/nodegraph';
import { PanelBuilder as StatPanelBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TablePanelBuilder } from '@grafana/grafana-foundation-sdk/table';
import { PanelBuilder as TimeSeriesPanelBuilder } from '@grafana/grafana-foundation-sdk/timeseries';
import { ClickHouseQueryBuilder, DATASOURCE, PLUGIN_ID, sqlText, type Format, type ResultShape } from './clickhouse.js';
import { expandMacros } from './macros.js';

/** The uid of the provisioned native-protocol data source (docker/grafana/provisioning/datasources/airdig.yaml). */
export const DEFAULT_DATASOURCE_UID = 'airdig';

/** One query of a dashboard as the tests run it: where it is, its SQL, what its result must hold. */
export interface DashboardQuery {
  dashboard: string;
  /** The panel's title, or "annotation <name>", or "variable <name>". */
  where: string;
  /** The panel type ("nodeGraph", "table", …), "annotation" or "variable". */
  kind: string;
  refId: string;
  sql: string;
  shape: ResultShape;
}

export interface GeneratedDashboard {
  /** File name under docker/grafana/dashboards/. */
  file: string;
  json: Dashboard;
  queries: DashboardQuery[];
  /** Template variables a query uses, each with the SQL that gives its values. */
  variables: Record<string, string>;
}

/** A panel's height and width in grid units (24 across), and for a time series its unit and range. */
interface Size {
  h: number;
  w: number;
  unit?: string;
  min?: number;
  max?: number;
}

type AnyPanelBuilder = {
  id(id: number): unknown;
  title(t: string): unknown;
  datasource(d: typeof DATASOURCE): unknown;
  withTarget(q: ClickHouseQueryBuilder): unknown;
};

/** A dashboard being put together: its builder and the list of its queries. */
class Draft {
  readonly builder: DashboardBuilder;
  readonly queries: DashboardQuery[] = [];
  readonly variables: Record<string, string> = {};
  /** Panel ids, stable from one generation to the next (panel links and "view panel" use them). */
  #nextId = 1;

  constructor(
    readonly uid: string,
    title: string,
    description: string,
  ) {
    this.builder = new DashboardBuilder(title)
      .uid(uid)
      .description(description)
      .tags(['airdig'])
      .editable()
      .time({ from: 'now-1h', to: 'now' })
      .refresh('30s')
      .timezone('utc')
      .withVariable(
        new DatasourceVariableBuilder('datasource')
          .label('Data source')
          .type(PLUGIN_ID)
          .current({ selected: true, text: 'AirDig', value: DEFAULT_DATASOURCE_UID }),
      )
      // Grafana's own annotations (alerts, those drawn by hand), as Grafana itself saves a dashboard.
      .annotation(
        new AnnotationQueryBuilder()
          .name('Annotations & Alerts')
          .datasource({ type: 'grafana', uid: '-- Grafana --' })
          .builtIn(1)
          .type('dashboard')
          .enable(true)
          .hide(true)
          .iconColor('rgba(0, 211, 255, 1)'),
      )
      .link(new DashboardLinkBuilder('AirDig').type(DashboardLinkType.Dashboards).tags(['airdig']).asDropdown(true).includeVars(false).keepTime(true));
  }

  row(title: string): this {
    this.builder.withRow(new RowBuilder(title).id(this.#nextId++));
    return this;
  }

  /** Adds a panel reading its queries from the dashboard's data source. */
  panel<P extends AnyPanelBuilder>(kind: string, panel: P, title: string, queries: ClickHouseQueryBuilder[]): P {
    panel.id(this.#nextId++);
    panel.title(title);
    panel.datasource(DATASOURCE);
    for (const q of queries) {
      panel.withTarget(q);
      this.#record(title, kind, q);
    }
    this.builder.withPanel(panel as never);
    return panel;
  }

  /** A table of one query's columns. */
  table(title: string, size: Size, sql: string, columns: readonly string[]): void {
    this.panel('table', new TablePanelBuilder().height(size.h).span(size.w), title, [table(sql, columns)]);
  }

  /** One row of numbers, each shown big. */
  stat(title: string, size: Size, sql: string, columns: readonly string[]): void {
    this.panel('stat', new StatPanelBuilder().height(size.h).span(size.w), title, [table(sql, columns)]);
  }

  /** A time series: a time column, then numbers (and strings, which name the series). */
  series(title: string, size: Size, sql: string, columns: readonly string[]): void {
    const panel = new TimeSeriesPanelBuilder().height(size.h).span(size.w);
    if (size.unit) panel.unit(size.unit);
    if (size.min !== undefined) panel.min(size.min);
    if (size.max !== undefined) panel.max(size.max);
    this.panel('timeseries', panel, title, [query('A', 'timeSeries', sql, columns, true)]);
  }

  annotation(name: string, color: string, query: ClickHouseQueryBuilder): this {
    this.builder.annotation(new AnnotationQueryBuilder().name(name).datasource(DATASOURCE).enable(true).iconColor(color).target(query));
    this.#record(`annotation ${name}`, 'annotation', query);
    return this;
  }

  /** A variable whose values are the first column of sql (refreshed with the time range). */
  queryVariable(name: string, label: string, sql: string): this {
    const text = sqlText(sql);
    this.builder.withVariable(
      new QueryVariableBuilder(name)
        .label(label)
        .datasource(DATASOURCE)
        .query({ editorType: 'sql', rawSql: text })
        .definition(text)
        .refresh(VariableRefresh.OnTimeRangeChanged),
    );
    this.variables[name] = text;
    this.queries.push({ dashboard: this.uid, where: `variable ${name}`, kind: 'variable', refId: name, sql: text, shape: { columns: [] } });
    return this;
  }

  #record(where: string, kind: string, q: ClickHouseQueryBuilder): void {
    const { refId, rawSql } = q.build();
    // A misspelt macro fails here, when the dashboards are generated, not in a user's panel.
    expandMacros(rawSql, { from: new Date(0), to: new Date(0), intervalMs: 60_000 });
    this.queries.push({ dashboard: this.uid, where, kind, refId, sql: rawSql, shape: q.shape });
  }

  done(file: string): GeneratedDashboard {
    return { file, json: this.builder.build(), queries: this.queries, variables: this.variables };
  }
}

const query = (refId: string, format: Format, sql: string, columns: readonly string[], timeSeries = false) =>
  new ClickHouseQueryBuilder(refId, format, sql, { columns, timeSeries });
const table = (sql: string, columns: readonly string[]) => query('A', 'table', sql, columns);
/** An annotation query: Grafana places a row at `time` and shows `text`; `tags` become its tags. */
const annotation = (sql: string) => query('A', 'table', sql, ['time', 'text', 'tags']);

/** A link from a table's column to another dashboard, carrying the cell's value and the time range. */
const linkTo = (title: string, dashboard: string, variable: string) => [
  { id: 'links', value: [{ title, url: `/d/${dashboard}?var-${variable}=\${__value.raw}&\${__url_time_range}` }] },
];

/** Server spans as AirDig writes them (SPAN_KIND_SERVER) and as the collector's exporter does (Server). */
const SERVER_SPANS = "SpanKind IN ('Server', 'SPAN_KIND_SERVER')";
const ERROR_SPANS = "StatusCode IN ('Error', 'STATUS_CODE_ERROR')";

function serviceMap(): GeneratedDashboard {
  const d = new Draft(
    'airdig-service-map',
    'AirDig / Service map',
    'Services and the calls between them (service_edges), nodes coloured by error share and health.',
  );
  d.panel(
    'nodeGraph',
    new NodeGraphPanelBuilder()
      .height(16)
      .span(24)
      .nodes(new NodeOptionsBuilder().arcs([new ArcOptionBuilder().field('arc__errors').color('red'), new ArcOptionBuilder().field('arc__ok').color('green')])),
    'Service map',
    [
      // Grafana's Node Graph takes the frame named (refId) "nodes" as its nodes and "edges" as its edges.
      query(
        'nodes',
        'table',
        `
        SELECT
          n.id AS id,
          n.title AS title,
          n.namespace AS subtitle,
          if(n.received > 0, concat(toString(n.received), ' calls in'), concat(toString(n.sent), ' calls out')) AS mainstat,
          concat(toString(round(100 * arc__errors, 2)), ' % errors, p95 ', toString(round(if(n.received > 0, n.p95_in, n.p95_out))), ' ms') AS secondarystat,
          if(n.received > 0, n.failed_in / n.received, n.failed_out / greatest(n.sent, 1)) AS arc__errors,
          1 - arc__errors AS arc__ok,
          multiIf(h.status = 'critical' OR arc__errors >= 0.05, 'red', h.status = 'warning' OR arc__errors >= 0.01, 'orange', 'green') AS color,
          if(h.status = '', 'unknown', h.status) AS detail__health,
          h.reason AS detail__reason
        FROM
        (
          SELECT
            id,
            any(name) AS title,
            any(namespace) AS namespace,
            sumIf(calls, served) AS received,
            sumIf(errors, served) AS failed_in,
            maxIf(p95_ms, served) AS p95_in,
            sumIf(calls, NOT served) AS sent,
            sumIf(errors, NOT served) AS failed_out,
            maxIf(p95_ms, NOT served) AS p95_out
          FROM
          (
            SELECT server_id AS id, server AS name, server_namespace AS namespace, calls, errors, p95_ms, true AS served FROM service_edges WHERE $__timeFilter(ts)
            UNION ALL
            SELECT client_id, client, client_namespace, calls, errors, p95_ms, false FROM service_edges WHERE $__timeFilter(ts)
          )
          GROUP BY id
        ) AS n
        LEFT JOIN resource_health AS h ON h.resource_id = n.id
        ORDER BY id`,
        ['id', 'title', 'subtitle', 'mainstat', 'secondarystat', 'arc__errors', 'arc__ok', 'color', 'detail__health'],
      ),
      query(
        'edges',
        'table',
        `
        SELECT
          concat(client_id, ' → ', server_id) AS id,
          client_id AS source,
          server_id AS target,
          concat(toString(sum(calls)), ' calls') AS mainstat,
          concat(toString(round(100 * sum(errors) / sum(calls), 2)), ' % errors, p95 ', toString(round(max(p95_ms))), ' ms') AS secondarystat,
          if(sum(errors) / sum(calls) >= 0.05, 'red', 'green') AS color,
          any(connection_type) AS detail__connection_type
        FROM service_edges
        WHERE $__timeFilter(ts) AND calls > 0
        GROUP BY client_id, server_id
        ORDER BY id`,
        ['id', 'source', 'target', 'mainstat', 'secondarystat', 'color'],
      ),
    ],
  );
  d.series(
    'Error ratio per edge',
    { h: 8, w: 12, unit: 'percentunit' },
    `
        SELECT $__timeInterval(ts) AS time, concat(client, ' → ', server) AS edge, sum(errors) / sum(calls) AS error_ratio
        FROM service_edges
        WHERE $__timeFilter(ts) AND calls > 0
        GROUP BY time, edge
        ORDER BY time`,
    ['time', 'edge', 'error_ratio'],
  );
  // service_edges holds one row per minute: a bucket shorter than a minute holds one minute's calls.
  d.series(
    'Calls per minute per edge',
    { h: 8, w: 12, unit: 'reqpm' },
    `
      SELECT $__timeInterval(ts) AS time, concat(client, ' → ', server) AS edge, sum(calls) / greatest($__interval_s / 60, 1) AS calls_per_minute
      FROM service_edges
      WHERE $__timeFilter(ts)
      GROUP BY time, edge
      ORDER BY time`,
    ['time', 'edge', 'calls_per_minute'],
  );
  d.table(
    'Edges',
    { h: 9, w: 24 },
    `
      SELECT
        client_id AS client,
        server_id AS server,
        any(connection_type) AS connection_type,
        sum(calls) AS call_count,
        sum(errors) AS error_count,
        round(error_count / greatest(call_count, 1), 4) AS error_ratio,
        max(p50_ms) AS worst_p50_ms,
        max(p95_ms) AS worst_p95_ms,
        max(p99_ms) AS worst_p99_ms
      FROM service_edges
      WHERE $__timeFilter(ts)
      GROUP BY client_id, server_id
      ORDER BY error_ratio DESC, call_count DESC`,
    ['client', 'server', 'connection_type', 'call_count', 'error_count', 'error_ratio', 'worst_p95_ms'],
  );
  return d.done('service-map.json');
}

function health(): GeneratedDashboard {
  const d = new Draft('airdig-health', 'AirDig / Health', 'Health now per resource (resource_health) and the rules that fired (health_facts).');
  d.annotation(
    'Critical',
    'red',
    annotation(`
      SELECT ts AS time, concat(resource_id, ' ', status, ': ', reason) AS text, concat(status, ',', rule) AS tags
      FROM health_facts FINAL
      WHERE $__timeFilter(ts) AND state = 'firing' AND status = 'critical'
      ORDER BY ts`),
  );
  d.stat(
    'Resources by health',
    { h: 5, w: 24 },
    `
      SELECT countIf(status = 'critical') AS critical, countIf(status = 'warning') AS warning, countIf(status = 'healthy') AS healthy
      FROM resource_health`,
    ['critical', 'warning', 'healthy'],
  );
  d.table(
    'Health now',
    { h: 10, w: 12 },
    `
      SELECT resource_id, status, reason, ts AS since
      FROM resource_health
      ORDER BY multiIf(status = 'critical', 0, status = 'warning', 1, 2), resource_id`,
    ['resource_id', 'status', 'reason', 'since'],
  );
  d.series(
    'Firing health facts',
    { h: 10, w: 12 },
    `
      SELECT $__timeInterval(ts) AS time, status, count() AS facts
      FROM health_facts FINAL
      WHERE $__timeFilter(ts) AND state = 'firing'
      GROUP BY time, status
      ORDER BY time`,
    ['time', 'status', 'facts'],
  );
  d.table(
    'Health facts',
    { h: 10, w: 24 },
    `
      SELECT ts, resource_id, status, state, rule, reason, metric, value, threshold
      FROM health_facts FINAL
      WHERE $__timeFilter(ts)
      ORDER BY ts DESC
      LIMIT 500`,
    ['ts', 'resource_id', 'status', 'state', 'rule', 'reason', 'metric', 'value', 'threshold'],
  );
  return d.done('health.json');
}

function changes(): GeneratedDashboard {
  const d = new Draft(
    'airdig-changes',
    'AirDig / Change timeline',
    'Every change to the estate (change_events): CloudTrail calls, deploys, changes posted to AirDig.',
  );
  d.annotation(
    'Changes',
    'orange',
    annotation(`
      SELECT
        ts AS time,
        concat(if(summary != '', summary, concat(actor, ' ', event_name)), if(error_code != '', concat(' (failed: ', error_code, ')'), '')) AS text,
        concat(kind, ',', event_name) AS tags
      FROM change_events
      WHERE $__timeFilter(ts) AND NOT read_only
      ORDER BY ts`),
  );
  d.series(
    'Changes per interval',
    { h: 8, w: 24 },
    `
      SELECT $__timeInterval(ts) AS time, kind, count() AS changes
      FROM change_events
      WHERE $__timeFilter(ts) AND NOT read_only
      GROUP BY time, kind
      ORDER BY time`,
    ['time', 'kind', 'changes'],
  );
  d.table(
    'Changes',
    { h: 10, w: 24 },
    `
      SELECT ts, kind, source, event_name, actor, arrayStringConcat(resource_ids, ', ') AS resources, read_only, error_code, summary, event_id
      FROM change_events
      WHERE $__timeFilter(ts)
      ORDER BY ts DESC
      LIMIT 500`,
    ['ts', 'kind', 'source', 'event_name', 'actor', 'resources', 'read_only', 'error_code', 'summary', 'event_id'],
  );
  d.table(
    'Most changed resources',
    { h: 8, w: 24 },
    `
      SELECT arrayJoin(resource_ids) AS resource, count() AS changes, max(ts) AS last_change, arrayStringConcat(groupUniqArray(actor), ', ') AS actors
      FROM change_events
      WHERE $__timeFilter(ts) AND NOT read_only AND error_code = ''
      GROUP BY resource
      ORDER BY changes DESC, last_change DESC
      LIMIT 50`,
    ['resource', 'changes', 'last_change', 'actors'],
  );
  return d.done('changes.json');
}

function drift(): GeneratedDashboard {
  const d = new Draft('airdig-drift', 'AirDig / Drift', 'Where the cloud differs from Terraform (drift_events), with the change found to have caused it.');
  d.annotation(
    'Drift found',
    'purple',
    annotation(`
      SELECT ts AS time, concat(drift, ' ', if(address != '', address, resource_id), if(attribute != '', concat(' ', attribute), '')) AS text, concat(drift, ',', resource_type) AS tags
      FROM drift_events
      WHERE $__timeFilter(ts)
      ORDER BY ts`),
  );
  d.stat(
    'Drift by kind',
    { h: 5, w: 24 },
    `
      SELECT countIf(drift = 'modified') AS modified, countIf(drift = 'missing') AS missing, countIf(drift = 'unmanaged') AS unmanaged
      FROM drift_events
      WHERE $__timeFilter(ts)`,
    ['modified', 'missing', 'unmanaged'],
  );
  d.table(
    'Drift',
    { h: 12, w: 24 },
    `
      SELECT
        ts,
        resource_id,
        address,
        drift,
        attribute,
        expected,
        actual,
        if(cause_event_id = '', '', concat(cause_actor, ' ', cause_event_name)) AS cause,
        cause_event_id,
        if(cause_event_id = '', NULL, cause_ts) AS cause_time
      FROM drift_events
      WHERE $__timeFilter(ts)
      ORDER BY ts DESC
      LIMIT 500`,
    ['ts', 'resource_id', 'address', 'drift', 'attribute', 'expected', 'actual', 'cause', 'cause_event_id'],
  );
  return d.done('drift.json');
}

function incidents(): GeneratedDashboard {
  const d = new Draft(
    'airdig-incidents',
    'AirDig / Incidents and correlations',
    "The engine's answers: incidents with their ranked causes, and each change linked to a signal.",
  );
  // Incidents open at any moment of the range, however long ago they opened.
  const overlapping = 'opened <= $__toTime AND (resolved IS NULL OR resolved >= $__fromTime)';
  d.annotation(
    'Incidents opened',
    'red',
    annotation(`
      SELECT opened AS time, concat(id, ': ', tupleElement(causes[1], 'explanation')) AS text, concat('incident,', status) AS tags
      FROM incidents
      WHERE $__timeFilter(opened) AND length(causes) > 0
      ORDER BY opened`),
  );
  d.table(
    'Incidents',
    { h: 8, w: 24 },
    `
      SELECT
        id,
        opened,
        resolved,
        status,
        length(impacted) AS impacted_count,
        arrayStringConcat(impacted, ', ') AS impacted_resources,
        if(length(causes) > 0, tupleElement(causes[1], 'explanation'), '') AS top_cause,
        if(length(causes) > 0, tupleElement(causes[1], 'score'), NULL) AS top_score
      FROM incidents
      WHERE ${overlapping}
      ORDER BY opened DESC`,
    ['id', 'opened', 'resolved', 'status', 'impacted_count', 'top_cause', 'top_score'],
  );
  d.table(
    'Ranked causes',
    { h: 8, w: 24 },
    `
      SELECT
        id AS incident,
        rank,
        tupleElement(cause, 'cause_kind') AS cause_kind,
        tupleElement(cause, 'cause_id') AS cause_id,
        tupleElement(cause, 'resource_id') AS cause_resource_id,
        round(tupleElement(cause, 'probability'), 3) AS probability,
        round(tupleElement(cause, 'score'), 3) AS score,
        tupleElement(cause, 'explanation') AS explanation
      FROM incidents
      ARRAY JOIN causes AS cause, arrayEnumerate(causes) AS rank
      WHERE ${overlapping}
      ORDER BY opened DESC, incident, rank`,
    ['incident', 'rank', 'cause_kind', 'cause_id', 'cause_resource_id', 'probability', 'score', 'explanation'],
  );
  d.series(
    'Correlation scores',
    { h: 8, w: 24, min: 0, max: 1 },
    `
      SELECT $__timeInterval(ts) AS time, max(score) AS top_score, avg(score) AS mean_score
      FROM correlations
      WHERE $__timeFilter(ts)
      GROUP BY time
      ORDER BY time`,
    ['time', 'top_score', 'mean_score'],
  );
  d.table(
    'Correlations',
    { h: 10, w: 24 },
    `
      SELECT
        ts,
        incident_id,
        rank,
        cause_kind,
        cause_id,
        cause_resource_id,
        impacted_resource_id,
        signal,
        round(score, 3) AS score,
        if(claim, 'claim', 'weak lead') AS verdict,
        window_s,
        arrayStringConcat(path, ' → ') AS chain
      FROM correlations
      WHERE $__timeFilter(ts)
      ORDER BY ts DESC, score DESC
      LIMIT 500`,
    ['ts', 'incident_id', 'rank', 'cause_kind', 'cause_id', 'impacted_resource_id', 'signal', 'score', 'verdict', 'chain'],
  );
  return d.done('incidents.json');
}

function traces(): GeneratedDashboard {
  const d = new Draft(
    'airdig-traces',
    'AirDig / OTel traces',
    "Spans in otel_traces (the OpenTelemetry collector's ClickHouse schema), searched and drawn as the plugin does.",
  );
  d.queryVariable(
    'trace_id',
    'Trace',
    `
    SELECT TraceId
    FROM otel_traces
    WHERE $__timeFilter(Timestamp)
    GROUP BY TraceId
    ORDER BY countIf(${ERROR_SPANS}) > 0 DESC, min(Timestamp) DESC
    LIMIT 100`,
  );
  d.row('Services');
  d.series(
    'Requests per second',
    { h: 8, w: 8, unit: 'reqps' },
    `
      SELECT $__timeInterval(Timestamp) AS time, ServiceName, count() / $__interval_s AS requests_per_second
      FROM otel_traces
      WHERE $__timeFilter(Timestamp) AND ${SERVER_SPANS}
      GROUP BY time, ServiceName
      ORDER BY time`,
    ['time', 'ServiceName', 'requests_per_second'],
  );
  d.series(
    'Error ratio',
    { h: 8, w: 8, unit: 'percentunit' },
    `
      SELECT $__timeInterval(Timestamp) AS time, ServiceName, countIf(${ERROR_SPANS}) / count() AS error_ratio
      FROM otel_traces
      WHERE $__timeFilter(Timestamp) AND ${SERVER_SPANS}
      GROUP BY time, ServiceName
      ORDER BY time`,
    ['time', 'ServiceName', 'error_ratio'],
  );
  d.series(
    'p95 duration',
    { h: 8, w: 8, unit: 'ms' },
    `
      SELECT $__timeInterval(Timestamp) AS time, ServiceName, quantile(0.95)(Duration) / 1e6 AS p95_ms
      FROM otel_traces
      WHERE $__timeFilter(Timestamp) AND ${SERVER_SPANS}
      GROUP BY time, ServiceName
      ORDER BY time`,
    ['time', 'ServiceName', 'p95_ms'],
  );
  d.row('Traces');
  d.panel(
    'table',
    new TablePanelBuilder()
      .height(10)
      .span(24)
      .overrideByName('traceID', linkTo('Show this trace', 'airdig-traces', 'trace_id')),
    'Traces',
    [
      // The plugin's trace search (sqlGenerator.ts, search mode): root spans in the range, newest first.
      query(
        'A',
        'table',
        `
      SELECT "TraceId" as traceID, "ServiceName" as serviceName, "SpanName" as operationName, "Timestamp" as startTime, multiply("Duration", 0.000001) as duration
      FROM otel_traces
      WHERE ( Timestamp >= $__fromTime AND Timestamp <= $__toTime ) AND ( ParentSpanId = '' ) AND ( Duration > 0 )
      ORDER BY Timestamp DESC, Duration DESC
      LIMIT 1000`,
        ['traceID', 'serviceName', 'operationName', 'startTime', 'duration'],
      ),
    ],
  );
  d.panel('traces', new GenericPanelBuilder().type('traces').height(14).span(24), 'Trace ${trace_id}', [
    // The plugin's trace id lookup (trace mode), narrowed by the otel_traces_trace_id_ts table.
    query(
      'A',
      'traces',
      `
      WITH '\${trace_id}' as __gf_trace_id,
        (SELECT min(Start) FROM otel_traces_trace_id_ts WHERE TraceId = __gf_trace_id) as __gf_trace_start,
        (SELECT max(End) + 1 FROM otel_traces_trace_id_ts WHERE TraceId = __gf_trace_id) as __gf_trace_end
      SELECT "TraceId" as traceID, "SpanId" as spanID, "ParentSpanId" as parentSpanID, "ServiceName" as serviceName, "SpanName" as operationName,
        multiply(toUnixTimestamp64Nano("Timestamp"), 0.000001) as startTime, multiply("Duration", 0.000001) as duration,
        arrayMap(key -> map('key', key, 'value', "SpanAttributes"[key]), mapKeys("SpanAttributes")) as tags,
        arrayMap(key -> map('key', key, 'value', "ResourceAttributes"[key]), mapKeys("ResourceAttributes")) as serviceTags,
        if(${ERROR_SPANS}, 2, 0) as statusCode,
        "SpanKind" as kind, "StatusMessage" as statusMessage, "TraceState" as traceState
      FROM otel_traces
      WHERE traceID = __gf_trace_id AND "Timestamp" >= __gf_trace_start AND "Timestamp" <= __gf_trace_end`,
      ['traceID', 'spanID', 'parentSpanID', 'serviceName', 'operationName', 'startTime', 'duration', 'tags', 'serviceTags', 'statusCode'],
    ),
  ]);
  d.table(
    'Slowest operations',
    { h: 9, w: 24 },
    `
      SELECT ServiceName AS service, SpanName AS operation, count() AS spans, countIf(${ERROR_SPANS}) AS errors,
        quantile(0.5)(Duration) / 1e6 AS p50_ms, quantile(0.99)(Duration) / 1e6 AS p99_ms
      FROM otel_traces
      WHERE $__timeFilter(Timestamp) AND ${SERVER_SPANS}
      GROUP BY service, operation
      ORDER BY p99_ms DESC
      LIMIT 20`,
    ['service', 'operation', 'spans', 'errors', 'p50_ms', 'p99_ms'],
  );
  return d.done('traces.json');
}

function logs(): GeneratedDashboard {
  const d = new Draft(
    'airdig-logs',
    'AirDig / OTel logs',
    "Log records in otel_logs (the OpenTelemetry collector's ClickHouse schema), as the plugin's log view reads them.",
  );
  // Severity ranges of the OpenTelemetry log data model (SeverityNumber 1–4 TRACE … 21–24 FATAL).
  d.series(
    'Log volume by severity',
    { h: 8, w: 24 },
    `
      SELECT
        $__timeInterval(Timestamp) AS time,
        countIf(SeverityNumber >= 21) AS fatal,
        countIf(SeverityNumber BETWEEN 17 AND 20) AS error,
        countIf(SeverityNumber BETWEEN 13 AND 16) AS warn,
        countIf(SeverityNumber BETWEEN 9 AND 12) AS info,
        countIf(SeverityNumber BETWEEN 5 AND 8) AS debug,
        countIf(SeverityNumber BETWEEN 1 AND 4) AS trace,
        countIf(SeverityNumber = 0) AS unspecified
      FROM otel_logs
      WHERE $__timeFilter(TimestampTime)
      GROUP BY time
      ORDER BY time`,
    ['time', 'fatal', 'error', 'warn', 'info', 'debug', 'trace', 'unspecified'],
  );
  d.panel('logs', new LogsPanelBuilder().height(14).span(24).showTime(true).enableLogDetails(true), 'Logs', [
    // The plugin's log query for the 1.2.9 schema (TimestampTime filters, Timestamp orders).
    query(
      'A',
      'logs',
      `
      SELECT Timestamp as "timestamp", Body as "body", SeverityText as "level", ServiceName, TraceId, SpanId, LogAttributes
      FROM otel_logs
      WHERE ( TimestampTime >= $__fromTime AND TimestampTime <= $__toTime )
      ORDER BY (TimestampTime, timestamp) DESC
      LIMIT 1000`,
      ['timestamp', 'body', 'level'],
    ),
  ]);
  d.panel(
    'table',
    new TablePanelBuilder()
      .height(8)
      .span(24)
      .overrideByName('trace', linkTo('Show this trace', 'airdig-traces', 'trace_id')),
    'Errors by service',
    [
      table(
        `
      SELECT ServiceName AS service, count() AS errors, max(Timestamp) AS last_seen, argMax(Body, Timestamp) AS last_message, argMax(TraceId, Timestamp) AS trace
      FROM otel_logs
      WHERE $__timeFilter(TimestampTime) AND SeverityNumber >= 17
      GROUP BY service
      ORDER BY errors DESC`,
        ['service', 'errors', 'last_seen', 'last_message', 'trace'],
      ),
    ],
  );
  return d.done('logs.json');
}

/** Every dashboard, in the order of the README. */
export function dashboards(): GeneratedDashboard[] {
  return [serviceMap(), health(), changes(), drift(), incidents(), traces(), logs()];
}
