import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** The engine's own local session; only ever used by the keep-alive statement that serves the listeners. */
export const LOCAL_USER = 'default';
/** AirDig's writer: migrations, inserts, and the only user that may stop the engine. */
export const WRITER_USER = 'airdig';
/** What a client that says "default" (or nothing) becomes on AirDig's query endpoints. */
export const READER_USER = 'airdig_reader';
export const KEEPALIVE_QUERY_ID = 'airdig-keepalive';

/** Limits of the read-only user; a query past them fails alone, ingestion goes on. */
export interface ReaderLimits {
  max_execution_time_s: number;
  max_execution_time_ceiling_s: number;
  max_memory_usage: number;
  max_result_rows: number;
  max_result_bytes: number;
  max_concurrent_queries: number;
}

export interface Credentials {
  writer: { user: string; password: string };
  reader: { user: string; password: string };
}

/** Files of the managed engine under --data-dir. */
export interface EngineLayout {
  /** The engine's data (clickhouse-local --path). */
  dataPath: string;
  /** config.xml, users.xml, credentials.json. */
  configDir: string;
}

export function engineLayout(dataDir: string): EngineLayout {
  const root = path.resolve(dataDir);
  return { dataPath: path.join(root, 'clickhouse'), configDir: path.join(root, 'clickhouse-server') };
}

/** Reads the passwords kept in configDir, generating them (mode 0600) the first time. */
export function loadCredentials(configDir: string): Credentials {
  const file = path.join(configDir, 'credentials.json');
  if (existsSync(file)) {
    const c = JSON.parse(readFileSync(file, 'utf8')) as Credentials;
    if (c.writer?.password && c.reader?.password) return c;
  }
  mkdirSync(configDir, { recursive: true, mode: 0o700 });
  const c: Credentials = {
    writer: { user: WRITER_USER, password: randomBytes(18).toString('base64url') },
    reader: { user: READER_USER, password: randomBytes(18).toString('base64url') },
  };
  writeFileSync(file, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  chmodSync(file, 0o600);
  return c;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

function xmlText(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * SELECT on tables only: table functions that reach files, other hosts or processes need source grants
 * (READ ON FILE, URL, S3, REMOTE, …) that the reader never gets, and readonly=2 refuses writes and DDL.
 */
const READER_GRANTS = ['GRANT SELECT ON *.*'];

/**
 * users.xml. The engine's local session always logs in as "default" with no password, so that user
 * is authenticated by AirDig's one-shot HTTP authenticator: it says yes once per engine start (to the
 * local session, before any listener is up) and no to every login after, so nobody can log in as it
 * over the network and stop the engine with KILL QUERY. Clients reach the reader through AirDig's
 * query endpoints, which map "default" to it.
 */
export function usersXml(c: Credentials, limits: ReaderLimits): string {
  return `<clickhouse>
  <profiles>
    <default></default>
    <${READER_USER}>
      <readonly>2</readonly>
      <max_execution_time>${limits.max_execution_time_s}</max_execution_time>
      <max_memory_usage>${limits.max_memory_usage}</max_memory_usage>
      <max_result_rows>${limits.max_result_rows}</max_result_rows>
      <max_result_bytes>${limits.max_result_bytes}</max_result_bytes>
      <max_concurrent_queries_for_user>${limits.max_concurrent_queries}</max_concurrent_queries_for_user>
      <constraints>
        <max_execution_time><max>${limits.max_execution_time_ceiling_s}</max></max_execution_time>
        <max_memory_usage><max>${limits.max_memory_usage}</max></max_memory_usage>
        <max_memory_usage_for_user><max>${limits.max_memory_usage}</max></max_memory_usage_for_user>
        <max_result_rows><max>${limits.max_result_rows}</max></max_result_rows>
        <max_result_bytes><max>${limits.max_result_bytes}</max></max_result_bytes>
        <max_concurrent_queries_for_user><max>${limits.max_concurrent_queries}</max></max_concurrent_queries_for_user>
        <result_overflow_mode><const/></result_overflow_mode>
        <timeout_overflow_mode><const/></timeout_overflow_mode>
      </constraints>
    </${READER_USER}>
  </profiles>
  <users>
    <${LOCAL_USER}>
      <http_authentication><server>airdig</server><scheme>basic</scheme></http_authentication>
      <profile>default</profile>
      <quota>default</quota>
    </${LOCAL_USER}>
    <${WRITER_USER}>
      <password_sha256_hex>${sha256(c.writer.password)}</password_sha256_hex>
      <profile>default</profile>
      <quota>default</quota>
    </${WRITER_USER}>
    <${READER_USER}>
      <password_sha256_hex>${sha256(c.reader.password)}</password_sha256_hex>
      <profile>${READER_USER}</profile>
      <quota>default</quota>
      <grants>${READER_GRANTS.map((q) => `<query>${xmlText(q)}</query>`).join('')}</grants>
    </${READER_USER}>
  </users>
  <quotas><default></default></quotas>
</clickhouse>
`;
}

export function configXml(usersPath: string, authUrl: string): string {
  return `<clickhouse>
  <users_config>${xmlText(usersPath)}</users_config>
  <http_authentication_servers>
    <airdig><uri>${xmlText(authUrl)}</uri><max_tries>1</max_tries><connection_timeout_ms>2000</connection_timeout_ms></airdig>
  </http_authentication_servers>
  <logger><level>warning</level><console>1</console></logger>
  <display_name>airdig</display_name>
</clickhouse>
`;
}

/** The statements the engine runs at start: open the listeners, then keep running so they keep serving. */
export const KEEPALIVE_SQL =
  'SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; ' +
  'SELECT sleepEachRow(1) FROM numbers(1000000000000) ' +
  'SETTINGS max_block_size = 1, function_sleep_max_microseconds_per_block = 0, max_execution_time = 0';
