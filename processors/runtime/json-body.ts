import { gunzipSync } from 'node:zlib';
import { MalformedInputError } from './errors.js';
import { isGzip } from './http.js';

/** The largest JSON document a .gz file may unpack to (CloudTrail's log files are far smaller). */
export const MAX_UNPACKED_JSON_BYTES = 512 * 1024 * 1024;

/**
 * The JSON document in a body that may be gzip (told by its magic bytes, as files are stored:
 * CloudTrail's .json.gz in S3, a gzipped state or scan), unpacked to at most `maxBytes`. The HTTP
 * intakes unpack with their own limit before this. `what` names it in errors.
 */
export function parseJsonBody(body: Buffer, what: string, maxBytes = MAX_UNPACKED_JSON_BYTES): unknown {
  let buf = body;
  if (isGzip(buf)) {
    try {
      buf = gunzipSync(buf, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') throw new MalformedInputError(`gzip ${what} unpacks to more than ${maxBytes} bytes`);
      throw new MalformedInputError(`broken gzip ${what}: ${(err as Error).message}`);
    }
  }
  try {
    return JSON.parse(buf.toString('utf8'));
  } catch (err) {
    throw new MalformedInputError(`${what} is not JSON: ${(err as Error).message}`);
  }
}
