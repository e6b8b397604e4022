import assert from 'node:assert/strict';
import { test } from 'node:test';
import http from 'node:http';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import type { BusRecord } from '../runtime/bus/types.js';
import { Pacer, pollOnce, cloudtrailLookupFactory, type LookupPage, type Position } from './lookup.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const T0 = Date.parse('2026-11-23T10:00:00Z');

function event(i: number, t: number): { id: string; json: string; t: number } {
  const id = `e-${String(i).padStart(4, '0')}`;
  const record = {
    eventVersion: '1.09',
    eventID: id,
    eventTime: new Date(t).toISOString().replace(/\.\d+Z$/, 'Z'),
    eventSource: 'ec2.amazonaws.com',
    eventName: 'AuthorizeSecurityGroupIngress',
    awsRegion: 'eu-west-1',
    recipientAccountId: '123456789012',
    requestParameters: { groupId: `sg-${i}` },
    readOnly: false,
    userIdentity: { type: 'IAMUser', arn: 'arn:aws:iam::123456789012:user/alice' },
  };
  return { id, json: JSON.stringify(record), t };
}

/** LookupEvents over a list of events: newest first, between StartTime and EndTime (whole seconds, inclusive), 50 a page. */
function lookupOver(events: { id: string; json: string; t: number }[]): LookupPage & { calls: number } {
  const fn = (async ({ start, end, nextToken }) => {
    fn.calls++;
    const s = Math.floor(start.getTime() / 1000) * 1000;
    const e = end.getTime();
    const hits = events.filter((x) => x.t >= s && x.t <= e).sort((a, b) => b.t - a.t);
    const from = nextToken ? Number(nextToken) : 0;
    const page = hits.slice(from, from + 50);
    return { events: page.map(({ id, json }) => ({ id, json })), nextToken: from + 50 < hits.length ? String(from + 50) : undefined };
  }) as LookupPage & { calls: number };
  fn.calls = 0;
  return fn;
}

test('pollOnce: pages through NextToken, oldest first; the next poll repeats nothing and still finds a late event', async () => {
  const events = Array.from({ length: 120 }, (_, i) => event(i, T0 + i * 1000));
  const lookup = lookupOver(events);
  const first = await pollOnce(lookup, { watermark: T0 - 3_600_000, seen: {} }, T0 + 200_000, 600_000);
  assert.equal(lookup.calls, 3, '120 events: 3 pages of 50');
  assert.deepEqual(
    first.records.map((r) => r.record.eventID),
    events.map((e) => e.id),
    'all, oldest first',
  );
  assert.equal(first.position.watermark, T0 + 119_000);

  // Nothing new: nothing again, though the overlap returns the last 10 minutes once more.
  const second = await pollOnce(lookup, first.position, T0 + 300_000, 600_000);
  assert.deepEqual(second.records, []);
  // An event that shows up late (eventTime before the watermark, inside the overlap) and a new one.
  events.push(event(500, T0 + 100_500), event(501, T0 + 250_000));
  const third = await pollOnce(lookup, second.position, T0 + 300_000, 600_000);
  assert.deepEqual(
    third.records.map((r) => r.record.eventID),
    ['e-0500', 'e-0501'],
  );
  // Ids older than the overlap are forgotten; the position stays bounded.
  const later = await pollOnce(lookup, third.position, T0 + 2_000_000, 600_000);
  assert.deepEqual(later.records, []);
  assert.ok(Object.keys(later.position.seen).length <= 122);
  const far = await pollOnce(lookupOver([event(900, T0 + 5_000_000)]), later.position, T0 + 5_000_000, 600_000);
  assert.deepEqual(Object.keys(far.position.seen), ['e-0900'], 'after a quiet hour only the newest id is remembered');
});

test('pollOnce: a CloudTrailEvent that is not a record is named and the rest kept', async () => {
  const good = event(1, T0);
  const lookup: LookupPage = async () => ({ events: [good, { id: 'bad-1', json: '{"eventName": 5' }, { id: 'bad-2', json: '{"eventID": "x"}' }] });
  const r = await pollOnce(lookup, { watermark: T0 - 1000, seen: {} }, T0 + 1000, 0);
  assert.deepEqual(
    r.records.map((x) => x.record.eventID),
    ['e-0001'],
  );
  assert.equal(r.errors.length, 2);
  assert.match(r.errors[0]!, /^event bad-1: CloudTrailEvent is not JSON/);
  assert.match(r.errors[1]!, /^event bad-2: not a CloudTrail record: no "eventTime"/);
});

test('Pacer: 2 requests a second means calls at least 500 ms apart', async () => {
  let now = 0;
  const slept: number[] = [];
  const pacer = new Pacer(
    500,
    () => now,
    async (ms) => {
      slept.push(ms);
      now += ms;
    },
  );
  for (let i = 0; i < 4; i++) await pacer.wait();
  assert.deepEqual(slept, [500, 500, 500]);
  now += 2_000;
  await pacer.wait();
  assert.equal(slept.length, 3, 'no wait after a pause');
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('lookup');
});
test.after(() => store.close());

/**
 * LookupEvents as the AWS SDK speaks it (JSON 1.1, X-Amz-Target CloudTrail_20131101.LookupEvents).
 * moto, the emulator used for `scan aws`, does not implement LookupEvents; this serves the
 * protocol for the real SDK client, and answers the first call with a ThrottlingException.
 */
async function lookupServer(events: { id: string; json: string; t: number }[]) {
  const calls: { at: number; body: { StartTime: number; EndTime: number; MaxResults: number; NextToken?: string } }[] = [];
  let throttled = false;
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d) => (body += d));
    req.on('end', () => {
      assert.match(String(req.headers['x-amz-target']), /CloudTrail_20131101\.LookupEvents$/);
      const q = JSON.parse(body) as (typeof calls)[number]['body'];
      calls.push({ at: Date.now(), body: q });
      if (!throttled) {
        throttled = true;
        res.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.1' }).end(JSON.stringify({ __type: 'ThrottlingException', message: 'Rate exceeded' }));
        return;
      }
      const hits = events.filter((e) => e.t >= q.StartTime * 1000 && e.t <= q.EndTime * 1000).sort((a, b) => b.t - a.t);
      const from = q.NextToken ? Number(q.NextToken) : 0;
      const page = hits.slice(from, from + q.MaxResults);
      res.writeHead(200, { 'Content-Type': 'application/x-amz-json-1.1' }).end(
        JSON.stringify({
          Events: page.map((e) => ({
            EventId: e.id,
            EventName: 'AuthorizeSecurityGroupIngress',
            EventTime: e.t / 1000,
            EventSource: 'ec2.amazonaws.com',
            CloudTrailEvent: e.json,
          })),
          ...(from + q.MaxResults < hits.length ? { NextToken: String(from + q.MaxResults) } : {}),
        }),
      );
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, calls, close: () => new Promise<void>((r) => server.close(() => r())) };
}

test('the poller with the AWS SDK: 120 events in pages of 50 at ≤ 2 requests/s, throttling retried, a restart repeats nothing', async () => {
  process.env.AWS_ACCESS_KEY_ID = 'testing';
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  const now = Date.now();
  const events = Array.from({ length: 120 }, (_, i) => event(i, now - 600_000 + i * 1000));
  const server = await lookupServer(events);
  const bus = new MemoryBus();
  await bus.ensureTopics([{ name: 'cloudtrail_events', partitions: 2 }]);
  const received: BusRecord[] = [];
  const consumer = bus.consumer({ groupId: 'test', topics: ['cloudtrail_events'], handler: async (batch) => void received.push(...batch) });
  await consumer.start();
  const config = cloudtrailLookupFactory.configSchema.parse({
    sources: [{ region: 'eu-west-1', account: '123456789012', endpoint: server.url }],
    interval_ms: 60_000,
  });
  try {
    const settings = componentSettings(cloudtrailLookupFactory, bus, store);
    const poller = cloudtrailLookupFactory.create(settings, config);
    await poller.start();
    await waitFor(() => received.length === 120, 20_000, '120 events on cloudtrail_events');
    await poller.shutdown();
    assert.deepEqual(
      received.map((r) => JSON.parse(r.value.toString()).eventID as string).sort(),
      events.map((e) => e.id),
      'each once',
    );
    const first = received.find((r) => JSON.parse(r.value.toString()).eventID === 'e-0000')!;
    assert.equal(first.key!.toString(), 'arn:aws:ec2:eu-west-1:123456789012:security-group/sg-0', 'keyed by its resource');
    const pages = server.calls.slice(1); // the first was throttled and retried
    assert.deepEqual(
      pages.map((c) => c.body.MaxResults),
      [50, 50, 50],
    );
    assert.deepEqual(
      pages.map((c) => c.body.NextToken),
      [undefined, '50', '100'],
    );
    // Every request 500 ms or more after the one before, the throttled one and its retry included.
    assert.equal(server.calls.length, 4, 'one throttled request, its retry and two more pages');
    for (let i = 1; i < server.calls.length; i++)
      assert.ok(
        server.calls[i]!.at - server.calls[i - 1]!.at >= 480,
        `request ${i} came ${server.calls[i]!.at - server.calls[i - 1]!.at} ms after the one before`,
      );

    // Restart: from the checkpoint, nothing again; an event that arrives late is picked up.
    events.push(event(700, now - 500_000)); // older than the newest event already published: it arrived late
    const again = cloudtrailLookupFactory.create(componentSettings(cloudtrailLookupFactory, bus, store), config);
    await again.start();
    await waitFor(() => received.length === 121, 20_000, 'the late event');
    await new Promise((r) => setTimeout(r, 300));
    await again.shutdown();
    assert.equal(received.length, 121);
    assert.equal(JSON.parse(received[120]!.value.toString()).eventID, 'e-0700');
    const position = JSON.parse(
      (
        (await (
          await store.client.query({
            query: "SELECT position FROM ingest_checkpoints FINAL WHERE source = 'cloudtrail:123456789012/eu-west-1'",
            format: 'JSONEachRow',
          })
        ).json()) as { position: string }[]
      )[0]!.position,
    ) as Position;
    assert.equal(position.watermark, Math.floor(events[119]!.t / 1000) * 1000, 'eventTime has whole seconds');
  } finally {
    await consumer.stop();
    await bus.close();
    await server.close();
  }
});
