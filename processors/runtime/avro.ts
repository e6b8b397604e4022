import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { MalformedInputError } from './errors.js';

const SCHEMAS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../schemas/avro');

interface RecordSchema {
  type: string;
  fields?: { default?: unknown }[];
}

/**
 * The schemas a record was written with before its trailing fields with a default were added, one
 * field fewer each, newest first (Avro's schema evolution: a reader adds a field with a default).
 */
function earlierWriters(schema: RecordSchema): avro.Type[] {
  const fields = schema.type === 'record' ? (schema.fields ?? []) : [];
  const out: avro.Type[] = [];
  for (let n = fields.length - 1; n >= 0 && fields[n]!.default !== undefined; n--) {
    out.push(avro.Type.forSchema({ ...schema, fields: fields.slice(0, n) } as avro.Schema));
  }
  return out;
}

/**
 * An Avro type from schemas/avro/<name>.avsc, with decode errors as MalformedInputError. Values carry
 * no writer schema, so a record that does not decode with the current one is tried with the schema
 * as it was before each trailing field with a default was added (a record's bytes fit one of them
 * exactly or none); its missing fields get their defaults.
 */
export function avroCodec<T>(name: string): { encode(v: T): Buffer; decode(b: Buffer): T } {
  const schema = JSON.parse(readFileSync(path.join(SCHEMAS_DIR, `${name}.avsc`), 'utf8')) as RecordSchema;
  const type = avro.Type.forSchema(schema as avro.Schema);
  let resolvers: ReturnType<avro.Type['createResolver']>[] | undefined;
  return {
    encode: (v) => type.toBuffer(v),
    decode: (b) => {
      try {
        return type.fromBuffer(b) as T;
      } catch (err) {
        resolvers ??= earlierWriters(schema).map((w) => type.createResolver(w));
        for (const resolver of resolvers) {
          try {
            return type.fromBuffer(b, resolver) as T;
          } catch {
            // not written with this one either
          }
        }
        throw new MalformedInputError(`not a valid ${name} Avro record: ${(err as Error).message}`);
      }
    },
  };
}
