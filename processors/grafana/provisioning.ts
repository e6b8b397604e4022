/**
 * The keys a Grafana provisioning file for AirDig may use, each list taken from where it is
 * documented, and a check that names every key outside them (a misspelt key is silently ignored by
 * Grafana, so the data source would quietly lose its OTel settings).
 */

/**
 * Grafana's data source provisioning file (grafana.com/docs/grafana/latest/administration/
 * provisioning/#data-sources, "Example data source configuration file").
 */
export const DATASOURCE_FILE_KEYS = ['apiVersion', 'datasources', 'deleteDatasources', 'prune'] as const;
export const DATASOURCE_KEYS = [
  'name',
  'type',
  'access',
  'orgId',
  'uid',
  'url',
  'user',
  'database',
  'basicAuth',
  'basicAuthUser',
  'withCredentials',
  'isDefault',
  'jsonData',
  'secureJsonData',
  'version',
  'editable',
] as const;

/**
 * grafana-clickhouse-datasource's jsonData: CHConfig in src/types/config.ts (at 1d04063a), the
 * keys its docs/sources/configure.md "Provision the data source" lists, and pkg/plugin/settings.go.
 */
export const CLICKHOUSE_JSON_DATA_KEYS = [
  'version',
  'host',
  'port',
  'protocol',
  'secure',
  'path',
  'tlsSkipVerify',
  'tlsAuth',
  'tlsAuthWithCACert',
  'username',
  'defaultDatabase',
  'defaultTable',
  'connMaxLifetime',
  'dialTimeout',
  'maxIdleConns',
  'maxOpenConns',
  'queryTimeout',
  'validateSql',
  'logs',
  'traces',
  'aliasTables',
  'httpHeaders',
  'forwardGrafanaHeaders',
  'oauthPassThru',
  'oauthPassThruAllowFallback',
  'customSettings',
  'enableSecureSocksProxy',
  'enableRowLimit',
  'rowCapacityHint',
  'hideTableNameInAdhocFilters',
  'enableMapKeysDiscovery',
  'configMode',
  'signalType',
] as const;
/** CHLogsConfig (src/types/config.ts). */
export const CLICKHOUSE_LOGS_KEYS = [
  'defaultDatabase',
  'defaultTable',
  'otelEnabled',
  'otelVersion',
  'filterTimeColumn',
  'timeColumn',
  'levelColumn',
  'messageColumn',
  'selectContextColumns',
  'contextColumns',
  'showLogLinks',
] as const;
/** CHTracesConfig (src/types/config.ts). */
export const CLICKHOUSE_TRACES_KEYS = [
  'defaultDatabase',
  'defaultTable',
  'otelEnabled',
  'otelVersion',
  'traceIdColumn',
  'spanIdColumn',
  'operationNameColumn',
  'parentSpanIdColumn',
  'serviceNameColumn',
  'durationColumn',
  'durationUnit',
  'startTimeColumn',
  'tagsColumn',
  'serviceTagsColumn',
  'kindColumn',
  'statusCodeColumn',
  'statusMessageColumn',
  'stateColumn',
  'instrumentationLibraryNameColumn',
  'instrumentationLibraryVersionColumn',
  'flattenNested',
  'traceEventsColumnPrefix',
  'traceLinksColumnPrefix',
  'showTraceLinks',
  'traceTimestampTableSuffix',
] as const;
/** CHSecureConfig (src/types/config.ts). */
export const CLICKHOUSE_SECURE_KEYS = ['password', 'tlsCACert', 'tlsClientCert', 'tlsClientKey'] as const;
/** The plugin's OTel schema versions (src/otel.ts): 'latest' detects the logs schema from the table. */
export const CLICKHOUSE_OTEL_VERSIONS = ['latest', '1.30.0', '1.29.0'] as const;
/** TimeUnit (src/types/queryBuilder.ts). */
export const CLICKHOUSE_DURATION_UNITS = ['seconds', 'milliseconds', 'microseconds', 'nanoseconds'] as const;

/**
 * Grafana's dashboard provider file (grafana.com/docs/grafana/latest/administration/provisioning/
 * #dashboards).
 */
export const DASHBOARD_FILE_KEYS = ['apiVersion', 'providers'] as const;
export const DASHBOARD_PROVIDER_KEYS = [
  'name',
  'orgId',
  'folder',
  'folderUid',
  'type',
  'disableDeletion',
  'updateIntervalSeconds',
  'allowUiUpdates',
  'options',
] as const;
export const DASHBOARD_PROVIDER_OPTION_KEYS = ['path', 'foldersFromFilesStructure'] as const;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Each key of value (at path) not in allowed, as "path.key: not a documented key". */
function unknownKeys(value: unknown, allowed: readonly string[], path: string, problems: string[]): Record<string, unknown> {
  if (!isObject(value)) {
    problems.push(`${path}: expected a mapping`);
    return {};
  }
  for (const key of Object.keys(value)) if (!allowed.includes(key)) problems.push(`${path}.${key}: not a documented key`);
  return value;
}

function oneOf(value: unknown, allowed: readonly string[], path: string, problems: string[]): void {
  if (value !== undefined && !allowed.includes(value as string)) problems.push(`${path}: ${JSON.stringify(value)} is not one of ${allowed.join(', ')}`);
}

/** What is wrong with a parsed data source provisioning file; empty when nothing is. */
export function datasourceFileProblems(doc: unknown): string[] {
  const problems: string[] = [];
  const file = unknownKeys(doc, DATASOURCE_FILE_KEYS, '(file)', problems);
  if (file.apiVersion !== 1) problems.push('(file).apiVersion: must be 1');
  if (!Array.isArray(file.datasources)) problems.push('(file).datasources: expected a list');
  for (const [i, ds] of ((file.datasources as unknown[]) ?? []).entries()) {
    const at = `datasources[${i}]`;
    const source = unknownKeys(ds, DATASOURCE_KEYS, at, problems);
    if (typeof source.name !== 'string' || !source.name) problems.push(`${at}.name: required`);
    if (source.type !== 'grafana-clickhouse-datasource') continue;
    const json = unknownKeys(source.jsonData ?? {}, CLICKHOUSE_JSON_DATA_KEYS, `${at}.jsonData`, problems);
    oneOf(json.protocol, ['native', 'http'], `${at}.jsonData.protocol`, problems);
    if (json.port !== undefined && !Number.isInteger(json.port)) problems.push(`${at}.jsonData.port: expected a whole number`);
    if (json.logs !== undefined) {
      const logs = unknownKeys(json.logs, CLICKHOUSE_LOGS_KEYS, `${at}.jsonData.logs`, problems);
      oneOf(logs.otelVersion, CLICKHOUSE_OTEL_VERSIONS, `${at}.jsonData.logs.otelVersion`, problems);
    }
    if (json.traces !== undefined) {
      const traces = unknownKeys(json.traces, CLICKHOUSE_TRACES_KEYS, `${at}.jsonData.traces`, problems);
      oneOf(traces.otelVersion, CLICKHOUSE_OTEL_VERSIONS, `${at}.jsonData.traces.otelVersion`, problems);
      oneOf(traces.durationUnit, CLICKHOUSE_DURATION_UNITS, `${at}.jsonData.traces.durationUnit`, problems);
    }
    if (source.secureJsonData !== undefined) unknownKeys(source.secureJsonData, CLICKHOUSE_SECURE_KEYS, `${at}.secureJsonData`, problems);
  }
  return problems;
}

/** What is wrong with a parsed dashboard provider file; empty when nothing is. */
export function dashboardFileProblems(doc: unknown): string[] {
  const problems: string[] = [];
  const file = unknownKeys(doc, DASHBOARD_FILE_KEYS, '(file)', problems);
  if (file.apiVersion !== 1) problems.push('(file).apiVersion: must be 1');
  if (!Array.isArray(file.providers)) problems.push('(file).providers: expected a list');
  for (const [i, p] of ((file.providers as unknown[]) ?? []).entries()) {
    const provider = unknownKeys(p, DASHBOARD_PROVIDER_KEYS, `providers[${i}]`, problems);
    oneOf(provider.type, ['file'], `providers[${i}].type`, problems);
    const options = unknownKeys(provider.options, DASHBOARD_PROVIDER_OPTION_KEYS, `providers[${i}].options`, problems);
    if (typeof options.path !== 'string' || !options.path) problems.push(`providers[${i}].options.path: required`);
  }
  return problems;
}
