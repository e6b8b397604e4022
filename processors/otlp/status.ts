import { lenField, varintField } from '../wire/protobuf.js';

/*
 * google.rpc.Status (code = 1, message = 2, details = 3), the body of an OTLP error response, and
 * the RetryInfo detail that tells a gRPC exporter when to try again.
 */
const enum StatusField {
  Code = 1,
  Message = 2,
  Details = 3,
}
/** google.protobuf.Any: type_url = 1, value = 2. */
const enum AnyField {
  TypeUrl = 1,
  Value = 2,
}
/** google.rpc.RetryInfo.retry_delay = 1, a google.protobuf.Duration (seconds = 1). */
const RETRY_DELAY = 1;
const DURATION_SECONDS = 1;
const RETRY_INFO_TYPE_URL = Buffer.from('type.googleapis.com/google.rpc.RetryInfo');

/** google.rpc.Status{code, message}; a zero code is left out, as proto3 does. */
export function encodeRpcStatus(code: number, message: string): Buffer {
  const msg = lenField(StatusField.Message, Buffer.from(message, 'utf8'));
  return code === 0 ? msg : Buffer.concat([varintField(StatusField.Code, code), msg]);
}

/** google.rpc.Status{code, message, details: [Any{RetryInfo{retry_delay: Duration{seconds}}}]}. */
export function encodeRetryStatus(code: number, message: string, seconds: number): Buffer {
  const retryInfo = lenField(RETRY_DELAY, varintField(DURATION_SECONDS, seconds));
  const any = Buffer.concat([lenField(AnyField.TypeUrl, RETRY_INFO_TYPE_URL), lenField(AnyField.Value, retryInfo)]);
  return Buffer.concat([encodeRpcStatus(code, message), lenField(StatusField.Details, any)]);
}

/** gRPC status codes AirDig answers with. */
export const GrpcCode = { OK: 0, INVALID_ARGUMENT: 3, RESOURCE_EXHAUSTED: 8, UNAUTHENTICATED: 16, UNAVAILABLE: 14, INTERNAL: 13 } as const;
