import type { ParseArgsConfig } from 'node:util';
import { LOG_LEVELS, serviceSchema } from '../runtime/config/schema.js';

/*
 * `airdig run`'s flags, once: the `service` key each sets (so a config error or a busy port names
 * the flag the user typed), its argument and what it does. The parseArgs options, the key → flag
 * map and the help text are made from this table, and the defaults the help shows come from the
 * service schema, where they live.
 */
const RUN_FLAGS = {
  config: { arg: 'FILE', help: 'pipeline file (default: pipelines/embedded.yaml, or\npipelines/distributed.yaml with --kafka)' },
  'data-dir': { key: 'data_dir', arg: 'DIR', help: 'where the embedded ClickHouse and the in-process bus keep their data' },
  'otlp-grpc': { key: 'otlp_grpc', arg: 'ADDR', help: 'OTLP gRPC listen address' },
  'otlp-http': { key: 'otlp_http', arg: 'ADDR', help: 'OTLP HTTP listen address (and the JSON intakes)' },
  'remote-write': { key: 'remote_write', arg: 'ADDR', help: 'Prometheus remote_write listen address' },
  query: { key: 'query', arg: 'ADDR', help: `ClickHouse's HTTP interface, read-only as "default"` },
  'query-native': { key: 'query_native', arg: 'ADDR', help: `ClickHouse's native protocol, read-only as "default"` },
  admin: { key: 'admin', arg: 'ADDR', help: '/metrics, /healthz, /readyz' },
  api: { key: 'api', arg: 'ADDR', help: 'the graph API (GraphQL at /graphql) and the web view (/)' },
  kafka: { key: 'kafka.brokers', arg: 'BROKERS', help: 'use Kafka (host:port[,host:port]) instead of in-process topics' },
  clickhouse: {
    key: 'clickhouse.url',
    arg: 'URL',
    help: "use a ClickHouse server instead of the embedded engine\n(http[s]://user:password@host:8123[/database]; the query\nendpoints are then the server's own, AirDig opens none)",
  },
  only: { key: 'only', arg: 'NAME[,NAME]', help: 'run only these components (by id or type)' },
  'log-level': { key: 'log_level', arg: 'LEVEL', help: 'one of' },
  help: { short: 'h', help: 'this help' },
} as const;

export type RunFlag = keyof typeof RUN_FLAGS;
type Option<D> = D extends { arg: string } ? { type: 'string' } : { type: 'boolean'; short: string };

/** parseArgs options of `airdig run`. */
export const RUN_OPTIONS = Object.fromEntries(
  Object.entries(RUN_FLAGS).map(([flag, d]) => [flag, 'arg' in d ? { type: 'string' } : { type: 'boolean', short: d.short }]),
) as { [F in RunFlag]: Option<(typeof RUN_FLAGS)[F]> } satisfies ParseArgsConfig['options'];

type Keyed = { [F in RunFlag]: (typeof RUN_FLAGS)[F] extends { key: string } ? F : never }[RunFlag];

/** The flag that sets each `service` key ("kafka.brokers" for nested ones). */
export const SERVICE_FLAGS = Object.fromEntries(Object.entries(RUN_FLAGS).flatMap(([flag, d]) => ('key' in d ? [[d.key, flag]] : []))) as {
  [F in Keyed as (typeof RUN_FLAGS)[F]['key']]: F;
};

const SERVICE_DEFAULTS = serviceSchema.parse({});

/** A service key's default as the help shows it, '' when it has none worth showing. */
function defaultText(key: string): string {
  const v = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], SERVICE_DEFAULTS);
  if (Array.isArray(v) || v === '') return '';
  if (key === 'log_level') return '';
  return `default ${String(v)}${/^\S+:\d+$/.test(String(v)) ? '; "" = off' : ''}`;
}

/**
 * The options part of `airdig run --help`; `only` picks some of them (for a command that takes a
 * few of run's flags), `texts` says what a flag does there when that differs (its default shown then).
 */
export function runFlagsHelp(only?: readonly RunFlag[], texts: Partial<Record<RunFlag, string>> = {}): string {
  const lines: string[] = [];
  for (const [flag, d] of Object.entries(RUN_FLAGS) as [RunFlag, (typeof RUN_FLAGS)[RunFlag]][]) {
    if (only && !only.includes(flag)) continue;
    const name = 'short' in d ? `-${d.short}, --${flag}` : `--${flag} ${'arg' in d ? d.arg : ''}`.trimEnd();
    let help: string = d.help;
    const own = texts[flag];
    if (own) help = own;
    else if ('key' in d && d.key === 'log_level') help = LOG_LEVELS.map((l) => (l === SERVICE_DEFAULTS.log_level ? `${l} (default)` : l)).join(', ');
    else if ('key' in d) {
      const def = defaultText(d.key);
      if (def) help += ` (${def})`;
    }
    const [first, ...rest] = help.split('\n');
    lines.push(`  ${name.padEnd(22)}${first}`, ...rest.map((l) => `${' '.repeat(24)}${l}`));
  }
  return lines.join('\n');
}
