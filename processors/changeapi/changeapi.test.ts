import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MemoryBus } from '../runtime/bus/memory.js';
import type { Store } from '../runtime/store/store.js';
import type { Component } from '../runtime/pipeline/component.js';
import { changeCodec } from '../model/changes.js';
import { changeEventsFactory } from '../cloudtrail/sink.js';
import { changesApiFactory } from './receiver.js';
import { parseChangesBody } from './records.js';
import { componentSettings, openMigratedStore } from '../../tests/helpers/component.js';
import { waitFor } from '../../tests/helpers/wait.js';

const NOW = Date.parse('2026-11-23T12:00:00Z');
const parse = (body: unknown, maxDetailsBytes = 16_384) =>
  parseChangesBody(Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)), { now: NOW, maxDetailsBytes });

/** PagerDuty's own example of a change event body (Events API v2, /v2/change/enqueue), unchanged. */
const PAGERDUTY = {
  routing_key: 'samplekeyhere',
  payload: {
    summary: 'Build Success: Increase snapshot create timeout to 30 seconds',
    timestamp: '2020-07-17T08:42:58.315+0000',
    source: 'acme-build-pipeline-tool-default-i-9999',
    custom_details: { build_state: 'passed', build_number: '2', run_time: '1236s' },
  },
  links: [{ href: 'https://acme.pagerduty.dev/build/2', text: 'View more details in Acme!' }],
};

test('parse: own JSON defaults, PagerDuty resources from custom_details or source, deterministic ids, reasons per item', () => {
  const own = parse({ time: '2026-11-23T10:00:00+01:00', resources: ['service:shop/orders', 'service:shop/orders'], summary: 'orders 1.4.2 → 1.5.0' });
  assert.deepEqual(own.errors, []);
  const [c] = own.changes;
  assert.equal(c!.ts_ms, Date.parse('2026-11-23T09:00:00Z'));
  assert.deepEqual([c!.kind, c!.source, c!.details, c!.resource_ids], ['change_api', 'change_api', '{}', ['service:shop/orders']]);
  assert.match(c!.event_id, /^[0-9a-f]{32}$/);
  // The same change written another way (other offset, same instant) is the same change; another summary is not.
  const again = parse({ time: '2026-11-23T09:00:00.000Z', resources: ['service:shop/orders'], summary: 'orders 1.4.2 → 1.5.0' }).changes[0]!;
  assert.equal(again.event_id, c!.event_id);
  assert.notEqual(parse({ time: '2026-11-23T09:00:00Z', resources: ['service:shop/orders'], summary: 'orders 1.5.0' }).changes[0]!.event_id, c!.event_id);
  assert.equal(parse({ id: 'gh-run-77', time: '2026-11-23T09:00:00Z', resources: ['x'], summary: 's' }).changes[0]!.event_id, 'gh-run-77');

  const pd = parse({
    ...PAGERDUTY,
    payload: { ...PAGERDUTY.payload, custom_details: { resources: ['service:/acme', 'arn:aws:ec2:eu-west-1:1:instance/i-1'], build: 2 } },
  });
  assert.deepEqual(pd.changes[0]!.resource_ids, ['service:/acme', 'arn:aws:ec2:eu-west-1:1:instance/i-1']);
  assert.deepEqual(JSON.parse(pd.changes[0]!.details), { source: 'acme-build-pipeline-tool-default-i-9999', build: 2, links: PAGERDUTY.links });
  // No timestamp: it happened when it was received.
  const { timestamp: _t, ...untimed } = PAGERDUTY.payload;
  assert.equal(parse({ ...PAGERDUTY, payload: untimed }).changes[0]!.ts_ms, NOW);

  const { changes, errors } = parse([
    { time: 'yesterday', resources: ['a'], summary: 's' },
    { time: '2026-11-23T09:00:00Z', resources: [], summary: 's' },
    { time: '2026-11-23T09:00:00Z', resources: ['a'] },
    { time: '2026-11-23T09:00:00Z', resources: ['a'], summary: 's', kind: 'cloudtrail' },
    { time: '2026-11-23T09:00:00Z', resources: ['a'], summary: 's', details: [1] },
    { routing_key: 'k', payload: { summary: 'no resource' } },
    { routing_key: 'k', payload: { source: 'x' } },
    { routing_key: 'k', payload: { summary: 's', source: 'x' }, links: [{ text: 'no href' }] },
    'text',
    { time: '2026-11-23T09:00:00Z', resources: ['a'], summary: 'fine' },
  ]);
  assert.equal(changes.length, 1);
  assert.deepEqual(errors, [
    '[0]: "time" is "yesterday": an RFC 3339 time such as 2026-11-23T10:00:00Z',
    '[1]: "resources" is empty: name at least one resource',
    '[2]: no "summary": one line saying what changed',
    '[3]: "kind" is "cloudtrail"; use deploy or change_api',
    '[4]: "details" is not a JSON object',
    '[5]: names no resource: give "payload.custom_details.resources" (a list of ids) or "payload.source" (one id)',
    '[6]: no "payload.summary": one line saying what changed',
    '[7]: "links[0]" has no "href"',
    '[8]: not a JSON object',
  ]);
  assert.throws(() => parse('{"time": '), /change body is not JSON/);
  assert.throws(() => parse('42'), /neither a change object nor a list/);

  // Details past the bound keep the keys that fit and say so.
  const big = parse({ time: '2026-11-23T09:00:00Z', resources: ['a'], summary: 's', details: { small: 1, large: 'x'.repeat(500), after: 2 } }, 100).changes[0]!;
  assert.deepEqual(JSON.parse(big.details), { small: 1, after: 2, _truncated: true });
  assert.ok(Buffer.byteLength(big.details) <= 100);
});

let store: Store;
test.before(async () => {
  store = await openMigratedStore('changeapi');
});
test.after(() => store.close());

test('POST /v1/changes: a PagerDuty body as it is, own JSON one and a list, a bad item named, malformed 400, a resend one row', async () => {
  const bus = new MemoryBus();
  await bus.ensureTopics(['airdig.changes', 'airdig.dlq'].map((name) => ({ name, partitions: 2 })));
  const sink = changeEventsFactory.create(componentSettings(changeEventsFactory, bus, store), changeEventsFactory.configSchema.parse({}));
  const settings = componentSettings(changesApiFactory, bus, store);
  const receiver = changesApiFactory.create(settings, changesApiFactory.configSchema.parse({ listen: '127.0.0.1:0', bearer_token: 'sekret' }));
  const components: Component[] = [sink, receiver];
  for (const c of components) await c.start();
  const url = receiver.listening!().find((l) => l.name === 'changes')!.url;
  assert.match(url, /\/v1\/changes$/);
  const post = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer sekret', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  const q = async <T>(sql: string) => (await store.client.query({ query: sql, format: 'JSONEachRow' })).json<T>();
  try {
    // PagerDuty's example as it is, but for its time (2020 is past change_event_log's TTL): an hour ago, written as PagerDuty writes it.
    const pdTime = new Date(Math.floor(Date.now() / 1000) * 1000 - 3_600_000);
    const pdBody = { ...PAGERDUTY, payload: { ...PAGERDUTY.payload, timestamp: pdTime.toISOString().replace('Z', '+0000') } };
    const pd = await post(pdBody);
    assert.equal(pd.status, 200);
    assert.deepEqual(await pd.json(), { accepted: 1, rejected: 0, errors: [] });

    const deploy = {
      time: '2026-11-23T10:00:00Z',
      resources: ['service:api-shop/orders'],
      summary: 'orders 1.4.2 → 1.5.0',
      kind: 'deploy',
      source: 'github-actions',
      actor: 'alice',
      details: { 'service.version': { from: '1.4.2', to: '1.5.0' } },
      links: [{ href: 'https://github.com/acme/orders/actions/runs/1' }],
    };
    const one = await post(deploy);
    assert.deepEqual(await one.json(), { accepted: 1, rejected: 0, errors: [] });
    const list = await post([
      { id: 'flag-42', time: '2026-11-23T10:05:00Z', resources: ['service:api-shop/cart'], summary: 'feature flag new-checkout on' },
      { time: '2026-11-23T10:06:00Z', summary: 'no resources' },
    ]);
    assert.equal(list.status, 200);
    assert.deepEqual(await list.json(), { accepted: 1, rejected: 1, errors: ['[1]: "resources" is missing: a list of resource ids or aliases'] });
    // A resend of the deploy: the same id, so still one row in change_events.
    assert.equal((await post(deploy)).status, 200);

    const bad: [Response, number, RegExp][] = [
      [await post('{"resources": ['), 400, /change body is not JSON/],
      [await post({ time: '2026-11-23T10:00:00Z', resources: ['x'] }), 400, /body: no "summary"/],
      [await post([{ payload: 'text' }]), 400, /\[0\]: "payload" is not an object/],
      [await post(pdBody, { Authorization: 'Bearer wrong' }), 401, /./],
      [await post(pdBody, { 'Content-Type': 'text/plain' }), 415, /takes application\/json/],
    ];
    for (const [res, status, message] of bad) {
      assert.equal(res.status, status);
      assert.match(((await res.json()) as { message: string }).message, message);
    }

    type Row = { event_id: string; ts: string; kind: string; source: string; actor: string; resource_ids: string[]; summary: string; details: string };
    const rows = await waitFor(
      async () => {
        const r = await q<Row>(
          `SELECT event_id, ts, kind, source, actor, resource_ids, summary, details FROM change_events WHERE kind != 'cloudtrail' ORDER BY ts`,
        );
        return r.length >= 3 ? r : undefined;
      },
      10_000,
      'three changes in change_events',
    );
    assert.equal(rows.length, 3);
    assert.deepEqual(
      rows.map((r) => ({ ...r, details: JSON.parse(r.details) as unknown, event_id: r.event_id.length })),
      [
        {
          event_id: 32,
          ts: '2026-11-23 10:00:00.000',
          kind: 'deploy',
          source: 'github-actions',
          actor: 'alice',
          resource_ids: ['service:api-shop/orders'],
          summary: 'orders 1.4.2 → 1.5.0',
          details: { ...deploy.details, links: deploy.links },
        },
        {
          event_id: 'flag-42'.length,
          ts: '2026-11-23 10:05:00.000',
          kind: 'change_api',
          source: 'change_api',
          actor: '',
          resource_ids: ['service:api-shop/cart'],
          summary: 'feature flag new-checkout on',
          details: {},
        },
        {
          event_id: 32,
          ts: pdTime.toISOString().replace('T', ' ').replace('Z', ''),
          kind: 'change_api',
          source: 'pagerduty',
          actor: '',
          resource_ids: ['acme-build-pipeline-tool-default-i-9999'],
          summary: 'Build Success: Increase snapshot create timeout to 30 seconds',
          details: { ...PAGERDUTY.payload.custom_details, links: PAGERDUTY.links },
        },
      ],
    );
    // Both deliveries reached the bus (below); change_events shows the change once.
    const [once] = await q<{ n: string }>(`SELECT count() AS n FROM change_events WHERE summary = 'orders 1.4.2 → 1.5.0'`);
    assert.equal(Number(once!.n), 1);
    // The key of each record is its first resource.
    const keys: string[] = [];
    await bus.readToEnd('airdig.changes', (r) => void keys.push(`${r.key?.toString()} ${changeCodec.decode(r.value).kind}`));
    assert.deepEqual(keys.sort(), [
      'acme-build-pipeline-tool-default-i-9999 change_api',
      'service:api-shop/cart change_api',
      'service:api-shop/orders deploy',
      'service:api-shop/orders deploy',
    ]);
    const metrics = await settings.registry.metrics();
    assert.match(metrics, /airdig_component_dropped_total\{component="changes_api",kind="receiver",reason="invalid_changes_api"\} 3/);
  } finally {
    for (const c of components.reverse()) await c.shutdown();
    await bus.close();
  }
});
