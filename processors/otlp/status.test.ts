import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachField } from '../wire/protobuf.js';
import { encodeRetryStatus, GrpcCode } from './status.js';

function varintAt(buf: Uint8Array, start: number): number {
  let n = 0;
  let mul = 1;
  for (let i = start; ; i++) {
    n += (buf[i]! & 0x7f) * mul;
    if (buf[i]! < 0x80) return n;
    mul *= 128;
  }
}

/** Reads google.rpc.Status back: code, message, and the RetryInfo delay in seconds. */
function decode(buf: Uint8Array): { code: number; message: string; typeUrl: string; seconds: number } {
  const out = { code: 0, message: '', typeUrl: '', seconds: -1 };
  forEachField(buf, 0, buf.length, (field, _wire, start, end) => {
    if (field === 1) out.code = varintAt(buf, start);
    else if (field === 2) out.message = Buffer.from(buf.subarray(start, end)).toString();
    else if (field === 3) {
      forEachField(buf, start, end, (f, _w, s, e) => {
        if (f === 1) out.typeUrl = Buffer.from(buf.subarray(s, e)).toString();
        else if (f === 2)
          forEachField(buf, s, e, (rf, _rw, rs, re) => rf === 1 && forEachField(buf, rs, re, (df, _dw, ds) => df === 1 && (out.seconds = varintAt(buf, ds))));
      });
    }
  });
  return out;
}

test('gRPC RetryInfo carries retry_after_s as a proper varint, with messages of any length', () => {
  for (const seconds of [1, 127, 128, 300, 86_400]) {
    for (const message of ['bus full', 'x'.repeat(300)]) {
      const got = decode(encodeRetryStatus(GrpcCode.UNAVAILABLE, message, seconds));
      assert.deepEqual(got, { code: GrpcCode.UNAVAILABLE, message, typeUrl: 'type.googleapis.com/google.rpc.RetryInfo', seconds });
    }
  }
});
