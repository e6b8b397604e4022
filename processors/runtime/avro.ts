import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import avro from 'avsc';
import { MalformedInputError } from './errors.js';

const SCHEMAS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../schemas/avro');

/** An Avro type from schemas/avro/<name>.avsc, with decode errors as MalformedInputError. */
export function avroCodec<T>(name: string): { encode(v: T): Buffer; decode(b: Buffer): T } {
  const type = avro.Type.forSchema(JSON.parse(readFileSync(path.join(SCHEMAS_DIR, `${name}.avsc`), 'utf8')));
  return {
    encode: (v) => type.toBuffer(v),
    decode: (b) => {
      try {
        return type.fromBuffer(b) as T;
      } catch (err) {
        throw new MalformedInputError(`not a valid ${name} Avro record: ${(err as Error).message}`);
      }
    },
  };
}
