/**
 * Queries of the Grafana ClickHouse plugin (grafana-clickhouse-datasource) as a dashboard stores
 * them, typed for the foundation SDK (which ships no builder for this third-party plugin). The
 * fields are the plugin's CHSqlQuery (src/types/sql.ts): editorType 'sql', rawSql, format (the
 * sqlds frame format: 0 time series, 1 table, 2 logs, 3 traces), queryType (the plugin's
 * QueryType, which picks the result's visualisation in Explore).
 */
import type { Builder, Dataquery } from '@grafana/grafana-foundation-sdk/cog';
import type { DataSourceRef } from '@grafana/grafana-foundation-sdk/common';

export const PLUGIN_ID = 'grafana-clickhouse-datasource';

/** Every panel reads the data source picked in the dashboard's `datasource` variable. */
export const DATASOURCE: DataSourceRef = { type: PLUGIN_ID, uid: '${datasource}' };

export const FORMAT = { timeSeries: 0, table: 1, logs: 2, traces: 3 } as const;
export type Format = keyof typeof FORMAT;

/** What a panel needs of a query's result, checked by the tests against the demo's data. */
export interface ResultShape {
  /** Columns that must be present, by name. */
  columns: readonly string[];
  /** A time series needs a time column and at least one number beside it. */
  timeSeries?: boolean;
}

export interface ClickHouseQuery {
  refId: string;
  datasource: DataSourceRef;
  editorType: 'sql';
  rawSql: string;
  format: number;
  queryType?: 'table' | 'timeseries' | 'logs' | 'traces';
  _implementsDataqueryVariant(): void;
}

const QUERY_TYPE: Record<Format, ClickHouseQuery['queryType']> = { timeSeries: 'timeseries', table: 'table', logs: 'logs', traces: 'traces' };

export class ClickHouseQueryBuilder implements Builder<Dataquery> {
  readonly #query: ClickHouseQuery;
  /** Kept beside the query (not in the dashboard's JSON) for the tests. */
  readonly shape: ResultShape;

  constructor(refId: string, format: Format, rawSql: string, shape: ResultShape) {
    this.#query = {
      refId,
      datasource: DATASOURCE,
      editorType: 'sql',
      rawSql: sqlText(rawSql),
      format: FORMAT[format],
      queryType: QUERY_TYPE[format],
      _implementsDataqueryVariant() {},
    };
    this.shape = shape;
  }

  build(): ClickHouseQuery {
    return this.#query;
  }
}

/** SQL written indented in the source, stored without the indentation and the outer blank lines. */
export function sqlText(sql: string): string {
  const lines = sql.replace(/^\s*\n|\n\s*$/g, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => /^ */.exec(l)![0].length));
  return lines.map((l) => l.slice(indent).trimEnd()).join('\n');
}
