import { z } from 'zod';

export const DEFAULT_DATA_DIR = './airdig-data';
export const DEFAULT_QUERY_ADDR = '127.0.0.1:8123';
export const DEFAULT_QUERY_NATIVE_ADDR = '127.0.0.1:9000';
export const DEFAULT_ADMIN_ADDR = '127.0.0.1:8888';
export const DEFAULT_OTLP_GRPC_ADDR = '127.0.0.1:4317';
export const DEFAULT_OTLP_HTTP_ADDR = '127.0.0.1:4318';
export const DEFAULT_REMOTE_WRITE_ADDR = '127.0.0.1:9201';
export const DEFAULT_API_ADDR = '127.0.0.1:8080';
export const DEFAULT_LOG_LEVEL = 'info';
export const DEFAULT_TOPIC_PARTITIONS = 4;
export const DEFAULT_SHUTDOWN_TIMEOUT_MS = 30_000;

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** A listen address host:port (an IPv6 host in brackets) as host and port, or why it is not one. The one parser of addresses. */
export function parseAddress(s: string): { host: string; port: number } | { error: string } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/.exec(s);
  if (!m) return { error: 'must be host:port (e.g. 127.0.0.1:8123), or "" to switch it off' };
  const port = Number(m[2]);
  if (port > 65_535) return { error: 'port must be at most 65535' };
  return { host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port };
}

/** host:port, with an IPv6 host in brackets; '' switches the listener off. */
export const listenAddress = z.string().superRefine((s, ctx) => {
  if (s === '') return;
  const a = parseAddress(s);
  if ('error' in a) ctx.addIssue({ code: z.ZodIssueCode.custom, message: a.error });
});

export const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'a Kafka topic name: letters, digits, ".", "_" and "-"');

export const kafkaSchema = z
  .object({
    brokers: z.string().default(''),
    compression: z.enum(['none', 'gzip', 'snappy', 'lz4', 'zstd']).default('lz4'),
    replication_factor: z.number().int().min(1).default(1),
    connect_timeout_ms: z.number().int().positive().default(10_000),
    /** Passed to librdkafka as they are: security.protocol, sasl.*, ssl.* … */
    librdkafka: z.record(z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict();

/** Limits of the read-only user of the embedded engine (a query past them fails alone). */
const queryLimitsSchema = z
  .object({
    /** A query's time limit unless it asks for another; it may ask for up to max_execution_time_ceiling_s (Grafana sends its timeout + 5 s). */
    max_execution_time_s: z.number().int().positive().default(60),
    max_execution_time_ceiling_s: z.number().int().positive().default(600),
    max_memory_usage: z
      .number()
      .int()
      .positive()
      .default(2 * 1024 ** 3),
    max_result_rows: z.number().int().positive().default(10_000_000),
    max_result_bytes: z
      .number()
      .int()
      .positive()
      .default(1024 ** 3),
    max_concurrent_queries: z.number().int().positive().default(16),
  })
  .strict();

export const clickhouseSchema = z
  .object({
    /** A ClickHouse server (http[s]://user:password@host:8123[/database]); '' runs the embedded engine under data_dir. */
    url: z.string().default(''),
    database: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/)
      .default('default'),
    request_timeout_ms: z.number().int().positive().default(30_000),
    query_limits: queryLimitsSchema.default({}),
  })
  .strict();

export const memoryBusSchema = z
  .object({
    max_queued_records: z.number().int().positive().default(200_000),
    max_queued_bytes: z
      .number()
      .int()
      .positive()
      .default(256 * 1024 * 1024),
    retain_records: z.number().int().min(0).default(10_000),
  })
  .strict();

/**
 * The embedded bus's log on disk under data_dir/bus (see processors/runtime/bus/README.md):
 * fsync 'batch' resolves a send once the fsync of the batch holding its records is done,
 * 'interval' once written (fsync every fsync_interval_ms), 'never' once written (the OS flushes).
 */
export const busLogSchema = z
  .object({
    /** false keeps the embedded topics in memory only (nothing survives a restart). */
    enabled: z.boolean().default(true),
    fsync: z.enum(['batch', 'interval', 'never']).default('batch'),
    fsync_interval_ms: z.number().int().positive().default(1_000),
    /** A partition's active segment is closed past this size or age. */
    segment_bytes: z
      .number()
      .int()
      .positive()
      .default(64 * 1024 ** 2),
    segment_ms: z
      .number()
      .int()
      .positive()
      .default(60 * 60 * 1_000),
    /** Closed segments older than this (topics' retention_ms wins) or past this size per partition go, once every group committed past them. */
    retention_ms: z
      .number()
      .int()
      .positive()
      .default(7 * 24 * 60 * 60 * 1_000),
    retention_bytes: z
      .number()
      .int()
      .positive()
      .default(1024 ** 3),
    /** How often segments are rolled by age, deleted by retention and compacted. */
    maintenance_interval_ms: z.number().int().positive().default(30_000),
  })
  .strict();

/** TLS on every listener: a certificate and key (PEM); with client_ca_file, clients must present a certificate it signed. */
export const tlsSchema = z
  .object({
    cert_file: z.string().min(1),
    key_file: z.string().min(1),
    client_ca_file: z.string().default(''),
    /** How often the files are checked for a renewal (0: never). */
    reload_interval_ms: z.number().int().min(0).default(60_000),
  })
  .strict();

const basicAuthSchema = z.object({ username: z.string().min(1), password: z.string().min(1) }).strict();

export const serviceSchema = z
  .object({
    data_dir: z.string().min(1).default(DEFAULT_DATA_DIR),
    log_level: z.enum(LOG_LEVELS).default(DEFAULT_LOG_LEVEL),
    query: listenAddress.default(DEFAULT_QUERY_ADDR),
    query_native: listenAddress.default(DEFAULT_QUERY_NATIVE_ADDR),
    /** The password clients give for "default" on the query endpoints ('' = none). */
    query_password: z.string().default(''),
    /** Browser origins allowed to use the query endpoints (exact, e.g. "http://localhost:3000", or "*"). */
    query_allowed_origins: z.array(z.string().min(1)).default([]),
    admin: listenAddress.default(DEFAULT_ADMIN_ADDR),
    /** Credentials /metrics needs (a bearer token, basic auth, or either); /healthz and /readyz stay open for probes. */
    admin_bearer_token: z.string().default(''),
    admin_basic_auth: basicAuthSchema.optional(),
    tls: tlsSchema.optional(),
    otlp_grpc: listenAddress.default(DEFAULT_OTLP_GRPC_ADDR),
    otlp_http: listenAddress.default(DEFAULT_OTLP_HTTP_ADDR),
    remote_write: listenAddress.default(DEFAULT_REMOTE_WRITE_ADDR),
    /** The graph API (GraphQL) and the web view. */
    api: listenAddress.default(DEFAULT_API_ADDR),
    /** The Kubernetes cluster for sources that do not name one (Falco alerts, series and spans without a cluster label): part of every pod and node id. */
    cluster_name: z.string().default(''),
    shutdown_timeout_ms: z.number().int().positive().default(DEFAULT_SHUTDOWN_TIMEOUT_MS),
    /** Run only these components (ids or types); empty runs all. */
    only: z.array(z.string()).default([]),
    kafka: kafkaSchema.default({}),
    clickhouse: clickhouseSchema.default({}),
    memory_bus: memoryBusSchema.default({}),
    bus_log: busLogSchema.default({}),
  })
  .strict();

export const topicSchema = z
  .object({
    partitions: z.number().int().min(1).max(10_000).default(DEFAULT_TOPIC_PARTITIONS),
    compacted: z.boolean().default(false),
    retention_ms: z.number().int().positive().optional(),
  })
  .strict();

const pipelineSchema = z
  .object({
    receivers: z.array(z.string()).default([]),
    processors: z.array(z.string()).default([]),
    sinks: z.array(z.string()).default([]),
  })
  .strict();

/** Component configs are checked by their factory's own schema, after this pass. */
const componentMap = z.record(z.string().regex(/^[a-z][a-z0-9_]*(\/[A-Za-z0-9_.-]+)?$/, 'type or type/name'), z.unknown().default({}));

export const fileSchema = z
  .object({
    service: serviceSchema.default({}),
    topics: z.record(topicName, topicSchema.default({})).default({}),
    receivers: componentMap.default({}),
    processors: componentMap.default({}),
    sinks: componentMap.default({}),
    pipelines: z.record(pipelineSchema).default({}),
  })
  .strict();

export type ServiceConfig = z.infer<typeof serviceSchema>;
export type TlsConfig = z.infer<typeof tlsSchema>;
export type KafkaConfig = z.infer<typeof kafkaSchema>;
export type ClickHouseConfig = z.infer<typeof clickhouseSchema>;
export type MemoryBusConfig = z.infer<typeof memoryBusSchema>;
export type BusLogConfig = z.infer<typeof busLogSchema>;
export type TopicConfig = z.infer<typeof topicSchema>;
export type PipelineFile = z.infer<typeof fileSchema>;

/** "a.b[2].c: message", one line per issue; unknown keys each get their own line. */
export function formatZodIssues(error: z.ZodError, prefix: (string | number)[] = []): string[] {
  const out: string[] = [];
  for (const issue of error.issues) {
    const base = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      for (const k of issue.keys) out.push(`${formatPath([...base, k])}: unknown key`);
    } else {
      out.push(`${formatPath(base)}: ${issue.message}`);
    }
  }
  return out;
}

export function formatPath(path: readonly (string | number)[]): string {
  let s = '';
  for (const p of path) {
    if (typeof p === 'number') s += `[${p}]`;
    else s += s ? `.${p}` : p;
  }
  return s || '(top level)';
}
