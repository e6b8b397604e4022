/** google.rpc.Status, the body of an OTLP error response: code (1, int32), message (2, string). */
export function encodeRpcStatus(code: number, message: string): Buffer {
  const msg = Buffer.from(message, 'utf8');
  const parts: number[] = [];
  if (code !== 0) parts.push(0x08, ...varint(code));
  const head = Buffer.from([...parts, 0x12, ...varint(msg.length)]);
  return Buffer.concat([head, msg]);
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
