import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ErrorCodes, StoreError } from '../errors.js';
import { splitStatements } from './sql.js';
import { toStoreError, type Store } from './store.js';

export const MIGRATIONS_TABLE = 'airdig_schema_migrations';
const FILE_PATTERN = /^(\d{4})_([a-z0-9_]+)\.sql$/;

export interface Migration {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: Migration[];
  skipped: Migration[];
}

/** Reads NNNN_name.sql files in order; refuses gaps, duplicates and names of another shape. */
export function loadMigrations(dir: string): Migration[] {
  const out: Migration[] = [];
  for (const file of readdirSync(dir).sort()) {
    if (!file.endsWith('.sql')) continue;
    const m = FILE_PATTERN.exec(file);
    if (!m) throw new StoreError(ErrorCodes.MIGRATION_FAILED, `migration file ${file} is not named NNNN_name.sql`);
    const sql = readFileSync(path.join(dir, file), 'utf8');
    const version = Number(m[1]);
    if (out.length > 0 && out[out.length - 1]!.version === version) {
      throw new StoreError(ErrorCodes.MIGRATION_FAILED, `two migrations have version ${version}`);
    }
    out.push({ version, name: m[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  out.forEach((mig, i) => {
    if (mig.version !== i + 1)
      throw new StoreError(ErrorCodes.MIGRATION_FAILED, `migration ${mig.version}_${mig.name} out of sequence: expected version ${i + 1}`);
  });
  return out;
}

/**
 * Applies the migrations not yet recorded, in order, each statement on its own. Safe to run again
 * and from several processes at once: statements are written IF NOT EXISTS, and a migration whose
 * file changed after it was applied is an error rather than a silent divergence.
 */
export async function migrate(store: Store, migrations: readonly Migration[], table = MIGRATIONS_TABLE): Promise<MigrationResult> {
  const { client } = store;
  try {
    await client.command({
      query: `CREATE TABLE IF NOT EXISTS ${table} (
        version UInt32, name String, checksum String, applied_at DateTime64(3) DEFAULT now64(3)
      ) ENGINE = ReplacingMergeTree ORDER BY version`,
    });
  } catch (err) {
    throw toStoreError(err, `creating ${table}`);
  }
  const rows = await (
    await client.query({ query: `SELECT version, any(checksum) AS checksum FROM ${table} GROUP BY version`, format: 'JSONEachRow' })
  ).json<{ version: number; checksum: string }>();
  const done = new Map(rows.map((r) => [Number(r.version), r.checksum]));
  const result: MigrationResult = { applied: [], skipped: [] };
  for (const mig of migrations) {
    const previous = done.get(mig.version);
    if (previous !== undefined) {
      if (previous !== mig.checksum) {
        throw new StoreError(
          ErrorCodes.MIGRATION_FAILED,
          `migration ${mig.version}_${mig.name} changed after it was applied; add a new migration instead of editing it`,
        );
      }
      result.skipped.push(mig);
      continue;
    }
    for (const statement of splitStatements(mig.sql)) {
      try {
        await client.command({ query: statement });
      } catch (err) {
        const e = toStoreError(err, `migration ${mig.version}_${mig.name}`);
        throw new StoreError(ErrorCodes.MIGRATION_FAILED, e.message, { cause: err, retryable: e.retryable });
      }
    }
    await client.insert({
      table,
      values: [{ version: mig.version, name: mig.name, checksum: mig.checksum }],
      format: 'JSONEachRow',
    });
    result.applied.push(mig);
  }
  return result;
}
