import assert from 'node:assert/strict';
import { test } from 'node:test';
import { BrokerWatch } from './broker-watch.js';
import { BusUnavailableError, isRetryable } from '../errors.js';
import { waitFor } from '../../../tests/helpers/wait.js';

/** A broker stand-in for the probe only: answers, refuses, or never answers (frozen). */
function broker() {
  let state: 'up' | 'refusing' | 'frozen' = 'up';
  return {
    set: (s: typeof state) => (state = s),
    probe: () => (state === 'up' ? Promise.resolve() : state === 'refusing' ? Promise.reject(new Error('connection refused')) : new Promise<void>(() => {})),
  };
}

test('a broker that refuses or stops answering counts as down within a probe; back up after one answer', async () => {
  const b = broker();
  const changes: (string | undefined)[] = [];
  const watch = new BrokerWatch({ probe: b.probe, intervalMs: 20, timeoutMs: 50, onChange: (d) => changes.push(d) });
  watch.start();
  try {
    await new Promise((r) => setTimeout(r, 60));
    assert.equal(watch.down, undefined);
    b.set('refusing');
    await waitFor(() => watch.down, 1_000, 'down on refusal');
    assert.match(watch.down!, /connection refused/);
    b.set('up');
    await waitFor(() => watch.down === undefined, 1_000, 'up again');
    b.set('frozen');
    const t = Date.now();
    await waitFor(() => watch.down, 1_000, 'down when frozen');
    assert.ok(Date.now() - t < 500, 'a frozen broker is seen within the probe timeout');
    assert.match(watch.down!, /did not answer a metadata request within 50 ms: timed out/);
    assert.equal(changes.length, 3);
  } finally {
    watch.stop();
  }
});

test('guard: refuses a send at once while down, gives up one in flight when the broker goes down, lets one through while up', async () => {
  const b = broker();
  const watch = new BrokerWatch({ probe: b.probe, intervalMs: 20, timeoutMs: 50 });
  watch.start();
  try {
    assert.equal(await watch.guard(async () => 'sent'), 'sent');
    // In flight: a send whose acknowledgement never comes.
    let started = 0;
    const inFlight = watch.guard(() => {
      started++;
      return new Promise<never>(() => {});
    });
    b.set('frozen');
    const err = await inFlight.catch((e: unknown) => e);
    assert.ok(err instanceof BusUnavailableError && isRetryable(err), String(err));
    assert.match((err as Error).message, /the records were not acknowledged/);
    // While down: refused without being tried.
    const refused = await watch.guard(async () => started++).catch((e: unknown) => e);
    assert.ok(refused instanceof BusUnavailableError);
    assert.equal(started, 1, 'the refused send was not started');
    b.set('up');
    await waitFor(() => watch.down === undefined, 1_000, 'up again');
    assert.equal(await watch.guard(async () => 'sent again'), 'sent again');
  } finally {
    watch.stop();
  }
});
