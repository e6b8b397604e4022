/** google.rpc.Status, the body of an OTLP error response: code (1, int32), message (2, string). */
export function encodeRpcStatus(code: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const parts: number[] = [];
  if (code !== 0) parts.push(0x08, ...varint(code));
  const head = Buffer.from([...parts, 0x12, ...varint(msg.length)]);
  return Buffer.concat([head, msg]);
}

/** A length-delimited field: tag (field << 3 | 2), varint length, bytes. */
function lengthDelimited(field: number, bytes: Buffer): Buffer {
  return Buffer.concat([Buffer.from([(field << 3) | 2, ...varint(bytes.length)]), bytes]);
}

const RETRY_INFO_TYPE_URL = Buffer.from('type.googleapis.com/google.rpc.RetryInfo');

/**
 * google.rpc.Status{code = 1, message = 2, details = 3: [Any{type_url = 1, value = 2:
 * RetryInfo{retry_delay = 1: Duration{seconds = 1}}}]}: tells an OTLP gRPC exporter when to try again.
 */
export function encodeRetryStatus(code: number, message: string, seconds: number): Buffer {
  const duration = Buffer.from([0x08, ...varint(seconds)]);
  const retryInfo = lengthDelimited(1, duration);
  const any = Buffer.concat([lengthDelimited(1, RETRY_INFO_TYPE_URL), lengthDelimited(2, retryInfo)]);
  return Buffer.concat([encodeRpcStatus(code, message), lengthDelimited(3, any)]);
}

function varint(n: number): number[] {
  const out: number[] = [];
  while (n >= 128) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}

/** gRPC status codes AirDig answers with. */
export const GrpcCode = { OK: 0, INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, UNAUTHENTICATED: 16, UNAVAILABLE: 14, INTERNAL: 13 } as const;
