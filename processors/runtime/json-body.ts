import { gunzipSync } from 'node:zlib';
import { MalformedInputError } from './errors.js';

/**
 * The JSON document in a body that may be gzip (told by its magic bytes, as files are stored:
 * CloudTrail's .json.gz in S3, a gzipped state or scan). `what` names it in errors.
 */
export function parseJsonBody(body: Buffer, what: string): unknown {
  let buf = body;
  if (buf.length >= 2 && buf[0] === 0x1f && buf[1] === 0x8b) {
    try {
      buf = gunzipSync(buf);
    } catch (err) {
      throw new MalformedInputError(`broken gzip ${what}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new MalformedInputError(`${what} is not JSON: ${(err as Error).message}`);
  }
}
