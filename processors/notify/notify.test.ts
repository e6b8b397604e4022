// The notifications sink through the real component and the in-process bus, posting to local HTTP
// receivers on 127.0.0.1: each format's body, retries, Retry-After, no retry on 400, the rate
// limit, dedup, a dead webhook beside a live one, the queue bound, bad config.
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { MemoryBus } from '../runtime/bus/memory.js';
import { KafkaBus } from '../runtime/bus/kafka.js';
import type { Bus } from '../runtime/bus/types.js';
import type { Store } from '../runtime/store/store.js';
import { resolveConfig } from '../runtime/config/load.js';
import { ConfigError } from '../runtime/errors.js';
import { defaultRegistry } from '../components.js';
import { chainSentence } from '../explanations/sentences.js';
import { SG, evidence } from '../../tests/helpers/evidence.js';
import { CORRELATIONS_TOPIC, INCIDENTS_TOPIC, correlationCodec, incidentCodec, type Correlation, type Incident } from '../model/correlations.js';
import { DRIFT_TOPIC, driftCodec, type DriftEvent } from '../model/drift.js';
import { HEALTH_TOPIC, healthCodec, type HealthFact } from '../model/health.js';
import { componentMetric, componentSettings } from '../../tests/helpers/component.js';
import { uniqueName, waitFor } from '../../tests/helpers/wait.js';
import { kafkaBrokers, repoRoot } from '../../tests/helpers/kafka.js';
import { notificationsFactory } from './sink.js';
import { retryAfterMs, ToldMemory } from './webhook.js';

import { fingerprint, fnv1a64 } from './notices.js';

const registry = await defaultRegistry().loadAll();

const CHECKOUT = 'service:shop/checkout';
const PAYMENTS = 'service:shop/payments';

// ---------------------------------------------------------------------------------------------
// A receiver that records every request and answers as its script says.

interface Received {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: any;
  at: number;
}

type Answer = { status: number; headers?: Record<string, string>; hang?: boolean };

async function receiver(script: (n: number, path: string) => Answer = () => ({ status: 200 })) {
  const got: Received[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (d) => (text += d));
    req.on('end', () => {
      const n = got.length;
      got.push({ path: req.url ?? '', headers: req.headers, body: JSON.parse(text), at: performance.now() });
      const a = script(n, req.url ?? '');
      if (a.hang) return; // never answers: the sender's timeout must end it
      res.writeHead(a.status, { 'content-type': 'text/plain', ...a.headers }).end(a.status < 300 ? 'ok' : 'no');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    got,
    close: () =>
      new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      }),
  };
}

/** A port nothing listens on: a server opened and closed. */
async function deadUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/dead`;
}

// The sink writes nothing to ClickHouse: a store it touches fails the test.
const noStore = new Proxy({} as Store, {
  get: (_t, p) => {
    throw new Error(`the notifications sink used the store (${String(p)})`);
  },
});

const FAST = { backoff: { initial_ms: 5, max_ms: 20 }, rate_limit_per_minute: 60_000 };

/**
 * The sink, started on a fresh bus with the given config: the in-process one, or the real Kafka
 * broker with topics of its own (send() takes the default topic names and maps them).
 */
async function startSink(config: Record<string, unknown>, kind: 'memory' | 'kafka' = 'memory', given?: Bus) {
  const bus: Bus = given ?? (kind === 'memory' ? new MemoryBus() : new KafkaBus({ brokers: kafkaBrokers(), clientId: 'airdig-test' }));
  const defaults = [INCIDENTS_TOPIC, CORRELATIONS_TOPIC, DRIFT_TOPIC, HEALTH_TOPIC];
  const topics = new Map(defaults.map((t) => [t, kind === 'memory' ? t : uniqueName(t.replace('airdig.', 'notify-'))]));
  await bus.ensureTopics([...topics.values(), 'airdig.dlq'].map((name) => ({ name, partitions: 1, compacted: false })));
  const inputs = {
    incidents: topics.get(INCIDENTS_TOPIC),
    correlations: topics.get(CORRELATIONS_TOPIC),
    drift: topics.get(DRIFT_TOPIC),
    health: topics.get(HEALTH_TOPIC),
  };
  const settings = componentSettings(notificationsFactory, bus, noStore, kind === 'memory' ? 'notifications' : `notifications/${uniqueName('kafka')}`);
  const component = notificationsFactory.create(settings, notificationsFactory.configSchema.parse({ inputs, ...config }));
  await component.start();
  const metric = async (name: string, labels: Record<string, string> = {}) => {
    const m = settings.registry.getSingleMetric(name);
    if (!m) return 0;
    const { values } = await m.get();
    return values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((n, v) => n + v.value, 0);
  };
  return {
    bus,
    settings,
    metric,
    received: () => componentMetric(settings.registry, 'airdig_component_received_total', settings.id),
    async send(topic: string, ...values: Buffer[]) {
      await bus.producer().send(
        topics.get(topic)!,
        values.map((value) => ({ key: 'k', value, timestamp: Date.now() })),
      );
    },
    async stop() {
      await component.shutdown();
      if (!given) await bus.close();
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Records as the engine, the drift processor and the health rules write them.

const now = () => Date.now();

function incident(over: Partial<Incident> = {}): Incident {
  return {
    id: 'inc-1',
    opened_ms: now() - 120_000,
    resolved_ms: 0,
    status: 'open',
    merged_into: '',
    impacted: [CHECKOUT, PAYMENTS],
    signals: ['sig-1'],
    causes: [
      {
        cause_id: 'ct-1',
        cause_kind: 'cloudtrail',
        resource_id: SG,
        probability: 0.8,
        score: 0.91,
        explanation: '10:02 alice RevokeSecurityGroupIngress on sg-0pay (2 hops away) → checkout, payments; score 0.91',
      },
    ],
    revision_ms: now(),
    ...over,
  };
}

function correlation(over: Partial<Correlation> = {}): Correlation {
  return {
    id: 'cor-1',
    ts_ms: now() - 60_000,
    cause_id: 'ct-1',
    cause_kind: 'cloudtrail',
    cause_ts_ms: now() - 120_000,
    cause_resource_id: SG,
    impacted_resource_id: CHECKOUT,
    signal: 'edge_error_ratio',
    signal_id: 'sig-1',
    score: 0.91,
    window_s: 1800,
    incident_id: 'inc-1',
    rank: 1,
    path: [SG, 'arn:aws:ec2:eu-west-1:123456789012:instance/i-0pay1', PAYMENTS, CHECKOUT],
    evidence: JSON.stringify(evidence()),
    revision_ms: now(),
    ...over,
  };
}

function drift(id: string, over: Partial<DriftEvent> = {}): DriftEvent {
  return {
    id,
    ts_ms: now() - 30_000,
    resource_id: SG,
    resource_type: 'aws_security_group',
    address: 'aws_security_group.payments',
    drift: 'modified',
    attribute: 'ingress',
    expected: '[443]',
    actual: '[]',
    lineage: 'l-1',
    serial: 3,
    scan_id: 'scan-1',
    cause_event_id: 'ct-1',
    cause_ts_ms: Date.parse('2026-12-02T10:02:00Z'),
    cause_actor: 'arn:aws:iam::123456789012:user/alice',
    cause_event_name: 'RevokeSecurityGroupIngress',
    ...over,
  };
}

function health(over: Partial<HealthFact> = {}): HealthFact {
  return {
    id: 'fact-1',
    ts_ms: now() - 10_000,
    resource_id: CHECKOUT,
    status: 'critical',
    state: 'firing',
    rule: 'edge_error_ratio',
    reason: 'as the caller: checkout → payments errors 31 % <b>',
    metric: 'edge_error_ratio',
    value: 0.31,
    threshold: 0.05,
    labels: { client_id: CHECKOUT, server_id: PAYMENTS, role: 'client', calls: '200' },
    ...over,
  };
}

// ---------------------------------------------------------------------------------------------
// Alertmanager's webhook payload as its configuration docs give it (webhook_config, version 4).

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function assertStringMap(v: unknown, what: string) {
  assert.ok(v && typeof v === 'object' && !Array.isArray(v), `${what} is an object`);
  for (const [k, x] of Object.entries(v as object)) assert.equal(typeof x, 'string', `${what}.${k} is a string`);
}

function assertAlertmanagerPayload(p: any) {
  assert.deepEqual(
    Object.keys(p).sort(),
    ['alerts', 'commonAnnotations', 'commonLabels', 'externalURL', 'groupKey', 'groupLabels', 'receiver', 'status', 'truncatedAlerts', 'version'],
    'the documented top-level fields, no others',
  );
  assert.equal(p.version, '4');
  assert.equal(typeof p.groupKey, 'string');
  assert.ok(Number.isInteger(p.truncatedAlerts) && p.truncatedAlerts >= 0);
  assert.ok(['firing', 'resolved'].includes(p.status));
  assert.equal(typeof p.receiver, 'string');
  assertStringMap(p.groupLabels, 'groupLabels');
  assertStringMap(p.commonLabels, 'commonLabels');
  assertStringMap(p.commonAnnotations, 'commonAnnotations');
  assert.equal(typeof p.externalURL, 'string');
  assert.ok(Array.isArray(p.alerts) && p.alerts.length > 0);
  for (const a of p.alerts) {
    assert.deepEqual(Object.keys(a).sort(), ['annotations', 'endsAt', 'fingerprint', 'generatorURL', 'labels', 'startsAt', 'status']);
    assert.ok(['firing', 'resolved'].includes(a.status));
    assertStringMap(a.labels, 'alert.labels');
    assertStringMap(a.annotations, 'alert.annotations');
    assert.match(a.startsAt, RFC3339);
    assert.match(a.endsAt, RFC3339);
    assert.equal(typeof a.generatorURL, 'string');
    assert.match(a.fingerprint, /^[0-9a-f]{16}$/);
  }
}

test('alertmanager: an opened incident, then its resolution, as Alertmanager posts them; the bearer token is sent', async () => {
  const r = await receiver();
  const sink = await startSink({
    webhooks: [{ name: 'am', url: `${r.url}/alerts`, format: 'alertmanager', bearer_token: 's3cret', external_url: 'http://airdig.example:8080/', ...FAST }],
  });
  try {
    const open = incident();
    await sink.send(INCIDENTS_TOPIC, incidentCodec.encode(open));
    await waitFor(() => r.got.length === 1, 5_000, 'the firing post');
    const firing = r.got[0]!;
    assert.equal(firing.path, '/alerts');
    assert.equal(firing.headers.authorization, 'Bearer s3cret');
    assert.equal(firing.headers['content-type'], 'application/json');
    assertAlertmanagerPayload(firing.body);
    const p = firing.body;
    assert.equal(p.status, 'firing');
    assert.equal(p.receiver, 'am');
    assert.equal(p.externalURL, 'http://airdig.example:8080/');
    assert.deepEqual(p.commonLabels, { alertname: 'AirDigIncident', incident_id: 'inc-1', severity: 'critical' });
    assert.equal(p.groupKey, '{}:{alertname="AirDigIncident", incident_id="inc-1", severity="critical"}');
    const [a] = p.alerts;
    assert.equal(a.startsAt, new Date(open.opened_ms).toISOString());
    assert.equal(a.endsAt, '0001-01-01T00:00:00Z', "Go's zero time while firing, as Alertmanager sends it");
    assert.equal(a.generatorURL, 'http://airdig.example:8080/#incident/inc-1');
    assert.match(a.annotations.summary, /^Incident inc-1: checkout, payments impacted; most probable cause: 10:02 alice RevokeSecurityGroupIngress on sg-0pay/);
    assert.match(a.annotations.description, /^1\. cloudtrail ct-1 on sg-0pay: probability 0\.80, score 0\.91$/);

    const resolvedAt = now();
    await sink.send(INCIDENTS_TOPIC, incidentCodec.encode(incident({ status: 'resolved', resolved_ms: resolvedAt, revision_ms: resolvedAt })));
    await waitFor(() => r.got.length === 2, 5_000, 'the resolved post');
    const resolved = r.got[1]!.body;
    assertAlertmanagerPayload(resolved);
    assert.equal(resolved.status, 'resolved');
    assert.equal(resolved.alerts[0].status, 'resolved');
    assert.equal(resolved.alerts[0].endsAt, new Date(resolvedAt).toISOString());
    assert.equal(resolved.alerts[0].fingerprint, a.fingerprint, 'the same alert: the same fingerprint');
    // Counted once the answer is read, a moment after the receiver has the request.
    await waitFor(async () => (await sink.metric('airdig_notify_sent_total', { webhook: 'am' })) === 2, 5_000, 'both counted as sent');
  } finally {
    await sink.stop();
    await r.close();
  }
});

test('slack: a critical health fact as text and mrkdwn blocks, markup escaped; warnings left out; its resolution told', async () => {
  const r = await receiver();
  const sink = await startSink({ webhooks: [{ name: 'slack', url: r.url, format: 'slack', external_url: 'http://airdig.example', ...FAST }] });
  try {
    await sink.send(HEALTH_TOPIC, healthCodec.encode(health({ id: 'w-1', resource_id: PAYMENTS, status: 'warning', labels: {} })));
    await sink.send(HEALTH_TOPIC, healthCodec.encode(health()));
    await waitFor(() => r.got.length === 1, 5_000, 'the critical post');
    const { text, blocks } = r.got[0]!.body;
    assert.equal(text, 'checkout critical: as the caller: checkout → payments errors 31 % &lt;b&gt;');
    assert.equal(blocks[0].type, 'section');
    assert.equal(blocks[0].text.type, 'mrkdwn');
    assert.equal(
      blocks[0].text.text,
      ':red_circle: *Health critical* · <http://airdig.example/#pulsesight/service%3Ashop%2Fcheckout|open in AirDig>\ncheckout critical: as the caller: checkout → payments errors 31 % &lt;b&gt;',
    );
    assert.deepEqual(blocks[1], { type: 'context', elements: [{ type: 'mrkdwn', text: 'edge_error_ratio · edge_error_ratio · value 0.31 · threshold 0.05' }] });

    // The same rule on the same edge resolves (other volatile labels): the resolution of what was told.
    await sink.send(
      HEALTH_TOPIC,
      healthCodec.encode(
        health({ id: 'fact-2', state: 'resolved', status: 'healthy', labels: { client_id: CHECKOUT, server_id: PAYMENTS, role: 'client', calls: '180' } }),
      ),
    );
    // A warning that resolves was never told: nothing.
    await sink.send(HEALTH_TOPIC, healthCodec.encode(health({ id: 'w-2', resource_id: PAYMENTS, status: 'healthy', state: 'resolved', labels: {} })));
    await waitFor(() => r.got.length === 2, 5_000, 'the resolved post');
    assert.equal(r.got[1]!.body.text, 'checkout edge_error_ratio resolved (now healthy)');
    assert.match(r.got[1]!.body.blocks[0].text.text, /^:white_check_mark: \*Health resolved\*/);
    await waitFor(async () => (await sink.received()) === 4, 5_000, 'all four read');
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(r.got.length, 2, 'the warning is not told, nor its resolution');
    // An incident in one line: what it impacts and its top cause's explanation.
    await sink.send(INCIDENTS_TOPIC, incidentCodec.encode(incident()));
    await waitFor(() => r.got.length === 3, 5_000, 'the incident post');
    assert.equal(
      r.got[2]!.body.text,
      'Incident inc-1: checkout, payments impacted; most probable cause: 10:02 alice RevokeSecurityGroupIngress on sg-0pay (2 hops away) → checkout, payments; score 0.91',
    );
    assert.match(
      r.got[2]!.body.blocks[0].text.text,
      /^:red_circle: \*Incident critical\* · <http:\/\/airdig\.example\/#incident\/inc-1\|open in AirDig>\nIncident inc-1: /,
    );
    assert.equal(r.got[2]!.body.blocks[1].elements[0].text, '1. cloudtrail ct-1 on sg-0pay: probability 0.80, score 0.91');
  } finally {
    await sink.stop();
    await r.close();
  }
});

test('json: the record as AirDig JSON with kind, id and revision; correlations from min_score, in the words of airdig explain', async () => {
  const r = await receiver();
  const sink = await startSink({ webhooks: [{ name: 'json', url: r.url, format: 'json', events: ['drift', 'correlation'], ...FAST }] });
  try {
    const d = drift('drift-1');
    await sink.send(DRIFT_TOPIC, driftCodec.encode(d));
    await waitFor(() => r.got.length === 1, 5_000, 'the drift post');
    const body = r.got[0]!.body;
    assert.deepEqual(Object.keys(body).sort(), ['change', 'id', 'kind', 'record', 'revision', 'severity', 'status', 'summary', 'url']);
    assert.equal(body.change, 'new');
    assert.equal(body.kind, 'drift');
    assert.equal(body.id, 'drift-1');
    assert.equal(body.revision, d.ts_ms);
    assert.equal(body.status, 'firing');
    assert.deepEqual(body.record, d);
    assert.equal(
      body.summary,
      'Drift on aws_security_group aws_security_group.payments: ingress changed: expected [443], actual [] (last change: 10:02:00 alice RevokeSecurityGroupIngress)',
    );

    await sink.send(CORRELATIONS_TOPIC, correlationCodec.encode(correlation({ id: 'cor-weak', score: 0.3 })), correlationCodec.encode(correlation()));
    await waitFor(() => r.got.length === 2, 5_000, 'the correlation post');
    const c = r.got[1]!.body;
    assert.equal(c.kind, 'correlation');
    assert.equal(c.id, 'cor-1', 'the weak lead (0.3 < min_score 0.5) is not sent');
    assert.equal(c.summary, chainSentence(evidence(), 0.91));
    assert.equal(c.record.score, 0.91);
  } finally {
    await sink.stop();
    await r.close();
  }
});

test('retries: two 503s, then success on the third attempt', async () => {
  const r = await receiver((n) => ({ status: n < 2 ? 503 : 204 }));
  const sink = await startSink({ webhooks: [{ name: 'flaky', url: r.url, format: 'json', ...FAST }] });
  try {
    await sink.send(DRIFT_TOPIC, driftCodec.encode(drift('drift-1')));
    await waitFor(async () => (await sink.metric('airdig_notify_sent_total', { webhook: 'flaky' })) === 1, 5_000, 'delivered');
    assert.equal(r.got.length, 3);
    assert.deepEqual(r.got[2]!.body, r.got[0]!.body, 'the same body each attempt');
    assert.equal(await sink.metric('airdig_notify_retried_total', { webhook: 'flaky' }), 2);
    assert.equal(await sink.metric('airdig_notify_failed_total', { webhook: 'flaky' }), 0);
  } finally {
    await sink.stop();
    await r.close();
  }
});

test('429 with Retry-After: 1 waits a second, not the 5 ms backoff', async () => {
  const r = await receiver((n) => (n === 0 ? { status: 429, headers: { 'retry-after': '1' } } : { status: 200 }));
  const sink = await startSink({ webhooks: [{ name: 'limited', url: r.url, format: 'json', ...FAST }] });
  try {
    await sink.send(DRIFT_TOPIC, driftCodec.encode(drift('drift-1')));
    await waitFor(() => r.got.length === 2, 5_000, 'the retry');
    const gap = r.got[1]!.at - r.got[0]!.at;
    assert.ok(gap >= 950 && gap < 3_000, `retried after ${gap.toFixed(0)} ms`);
    assert.equal(await sink.metric('airdig_notify_retried_total', { webhook: 'limited' }), 1);
  } finally {
    await sink.stop();
    await r.close();
  }
  assert.equal(retryAfterMs('120'), 120_000);
  assert.equal(retryAfterMs(new Date(10_000).toUTCString(), 4_000), 6_000, 'an HTTP date');
  assert.equal(retryAfterMs('soon'), undefined);
  assert.equal(retryAfterMs(null), undefined);
});

test('400: not retried, counted as rejected', async () => {
  const r = await receiver(() => ({ status: 400 }));
  const sink = await startSink({ webhooks: [{ name: 'picky', url: r.url, format: 'json', ...FAST }] });
  try {
    await sink.send(DRIFT_TOPIC, driftCodec.encode(drift('drift-1')));
    await waitFor(async () => (await sink.metric('airdig_notify_failed_total', { webhook: 'picky', reason: 'rejected' })) === 1, 5_000, 'rejected');
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(r.got.length, 1, 'one attempt only');
    assert.equal(await sink.metric('airdig_notify_retried_total', { webhook: 'picky' }), 0);
    assert.equal(await sink.metric('airdig_notify_sent_total', { webhook: 'picky' }), 0);
  } finally {
    await sink.stop();
    await r.close();
  }
});

test('rate limit: 120 a minute lets 2 through at once, then one every 500 ms; none lost', async () => {
  const r = await receiver();
  const sink = await startSink({ webhooks: [{ name: 'slow', url: r.url, format: 'json', ...FAST, rate_limit_per_minute: 120 }] });
  try {
    await sink.send(DRIFT_TOPIC, ...['d-1', 'd-2', 'd-3', 'd-4'].map((id) => driftCodec.encode(drift(id))));
    await waitFor(() => r.got.length === 4, 5_000, 'all four');
    const t = r.got.map((g) => g.at - r.got[0]!.at);
    assert.ok(t[1]! < 400, `the second at once (${t[1]!.toFixed(0)} ms)`);
    assert.ok(t[2]! >= 400, `the third waits for a token (${t[2]!.toFixed(0)} ms)`);
    assert.ok(t[3]! >= 900, `the fourth waits for the next (${t[3]!.toFixed(0)} ms)`);
    assert.deepEqual(
      r.got.map((g) => g.body.id),
      ['d-1', 'd-2', 'd-3', 'd-4'],
      'in order',
    );
    assert.equal(await sink.metric('airdig_notify_dropped_total', { webhook: 'slow' }), 0);
  } finally {
    await sink.stop();
    await r.close();
  }
});

test('dedup: the same fact in the same state is sent once; a new top cause and the resolution are sent', async () => {
  const r = await receiver();
  const sink = await startSink({ webhooks: [{ name: 'json', url: r.url, format: 'json', ...FAST }] });
  try {
    const first = incident();
    // The same record twice, and a revision with new scores but the same top cause: one post.
    await sink.send(
      INCIDENTS_TOPIC,
      incidentCodec.encode(first),
      incidentCodec.encode(first),
      incidentCodec.encode({ ...first, revision_ms: first.revision_ms + 1, causes: [{ ...first.causes[0]!, score: 0.95 }] }),
    );
    await sink.send(DRIFT_TOPIC, driftCodec.encode(drift('d-1')), driftCodec.encode(drift('d-1')));
    await waitFor(async () => (await sink.metric('airdig_notify_deduplicated_total', { webhook: 'json' })) === 3, 5_000, 'three deduplicated');
    await waitFor(() => r.got.length === 2, 5_000, 'one post per fact');
    // The top cause changes: news.
    const deploy = { cause_id: 'dep-1', cause_kind: 'deploy' as const, resource_id: PAYMENTS, probability: 0.9, score: 0.97, explanation: 'payments 1.5.0' };
    await sink.send(INCIDENTS_TOPIC, incidentCodec.encode({ ...first, revision_ms: first.revision_ms + 2, causes: [deploy, ...first.causes] }));
    await waitFor(() => r.got.length === 3, 5_000, 'the new top cause');
    assert.match(r.got[2]!.body.summary, /most probable cause: payments 1\.5\.0$/);
    assert.equal(r.got[2]!.body.change, 'updated');
    // Resolved: news once.
    const resolved = incidentCodec.encode({ ...first, status: 'resolved', resolved_ms: now(), revision_ms: first.revision_ms + 3 });
    await sink.send(INCIDENTS_TOPIC, resolved, resolved);
    await waitFor(() => r.got.length === 4, 5_000, 'the resolution');
    assert.equal(r.got[3]!.body.status, 'resolved');
    assert.equal(r.got[3]!.body.change, 'resolved');
    await waitFor(
      async () => (await sink.metric('airdig_notify_deduplicated_total', { webhook: 'json' })) === 4,
      5_000,
      'the repeated resolution deduplicated',
    );
    // Topics are read in no fixed order among themselves; one fact's notices keep theirs.
    assert.deepEqual(r.got.map((g) => `${g.body.kind} ${g.body.id} ${g.body.status}`).sort(), [
      'drift d-1 firing',
      'incident inc-1 firing',
      'incident inc-1 firing',
      'incident inc-1 resolved',
    ]);
  } finally {
    await sink.stop();
    await r.close();
  }
});

test('dedup survives a restart: what was told is kept in the changelog, so an open incident read again is not told twice', async () => {
  const r = await receiver();
  const bus = new MemoryBus();
  const config = { webhooks: [{ name: 'json', url: r.url, format: 'json', ...FAST }] };
  try {
    const first = await startSink(config, 'memory', bus);
    const open = incident();
    await first.send(INCIDENTS_TOPIC, incidentCodec.encode(open));
    await waitFor(() => r.got.length === 1, 5_000, 'the incident told');
    await first.stop();
    const second = await startSink(config, 'memory', bus);
    try {
      // The engine sends the same state again (say, after its own restart): no news.
      await second.send(INCIDENTS_TOPIC, incidentCodec.encode({ ...open, revision_ms: open.revision_ms + 1 }));
      await waitFor(async () => (await second.metric('airdig_notify_deduplicated_total', { webhook: 'json' })) === 1, 5_000, 'deduplicated after the restart');
      await second.send(INCIDENTS_TOPIC, incidentCodec.encode({ ...open, status: 'resolved', resolved_ms: now(), revision_ms: open.revision_ms + 2 }));
      await waitFor(() => r.got.length === 2, 5_000, 'the resolution');
      assert.deepEqual(
        r.got.map((g) => g.body.status),
        ['firing', 'resolved'],
      );
    } finally {
      await second.stop();
    }
  } finally {
    await bus.close();
    await r.close();
  }
});

test('dedup memory is bounded: past maxEntries the least recently told fact is forgotten', () => {
  const changes: [string, string | undefined][] = [];
  const m = new ToldMemory(2, (key, state) => changes.push([key, state]));
  m.set('a', '1');
  m.set('b', '1');
  m.set('a', '2'); // told again: the newest
  m.set('c', '1');
  assert.equal(m.size, 2);
  assert.equal(m.get('b'), undefined);
  assert.equal(m.get('a'), '2');
  assert.equal(m.get('c'), '1');
  // The changelog hears every change, the forgotten one as a deletion.
  assert.deepEqual(changes, [
    ['a', '1'],
    ['b', '1'],
    ['a', '2'],
    ['b', undefined],
    ['c', '1'],
  ]);
});

for (const kind of ['memory', 'kafka'] as const) {
  test(`${kind} bus: a dead and a hanging webhook stop neither the consumer nor a live webhook; past max_queue the oldest is dropped`, async () => {
    const live = await receiver();
    const hanging = await receiver(() => ({ status: 200, hang: true }));
    // Each of the dead one's notices takes two backoffs of 100–200 ms: five would spread the live one's posts over a second if it waited.
    const sink = await startSink(
      {
        drain_timeout_ms: 0,
        webhooks: [
          { name: 'dead', url: await deadUrl(), format: 'alertmanager', max_attempts: 3, ...FAST, backoff: { initial_ms: 200, max_ms: 200 } },
          { name: 'hanging', url: hanging.url, format: 'slack', timeout_ms: 10_000, max_queue: 2, ...FAST },
          { name: 'live', url: live.url, format: 'json', ...FAST },
        ],
      },
      kind,
    );
    try {
      await sink.send(DRIFT_TOPIC, ...['d-1', 'd-2', 'd-3', 'd-4', 'd-5'].map((id) => driftCodec.encode(drift(id))));
      await waitFor(() => live.got.length === 5, 20_000, 'the live webhook gets all five');
      const spread = live.got[4]!.at - live.got[0]!.at;
      assert.ok(spread < 500, `the live one's five posts within ${spread.toFixed(0)} ms: not behind the dead one`);
      await waitFor(async () => (await sink.received()) === 5, 5_000, 'all read');
      await waitFor(
        async () => (await sink.metric('airdig_notify_failed_total', { webhook: 'dead', reason: 'exhausted' })) === 5,
        5_000,
        'the dead one gives up on each',
      );
      assert.equal(await sink.metric('airdig_notify_retried_total', { webhook: 'dead' }), 10, 'two retries each');
      // The hanging one holds one in flight, queues two, and dropped the oldest of the rest.
      assert.equal(await sink.metric('airdig_notify_dropped_total', { webhook: 'hanging', reason: 'queue_full' }), 2);
      await waitFor(() => hanging.got.length === 1, 3_000, 'the one in flight at the hanging receiver');
      assert.equal(await sink.metric('airdig_notify_queue_depth', { webhook: 'hanging' }), 2);
      // The consumer committed what it read: its queue depth is only what the hanging webhook holds, no lag.
      await waitFor(
        async () => (await componentMetric(sink.settings.registry, 'airdig_component_queue_depth', sink.settings.id)) === 3,
        5_000,
        'queue depth 3: no lag',
      );
    } finally {
      await sink.stop();
      await live.close();
      await hanging.close();
    }
    assert.equal(await sink.metric('airdig_notify_dropped_total', { webhook: 'hanging', reason: 'shutdown' }), 3, 'in flight and queued at shutdown: counted');
  });
}

test('shutdown drains what is queued within drain_timeout_ms', async () => {
  const r = await receiver();
  // 300 a minute: 5 at once, then one every 200 ms; the last two are still queued when shutdown begins.
  const sink = await startSink({ drain_timeout_ms: 3_000, webhooks: [{ name: 'json', url: r.url, format: 'json', ...FAST, rate_limit_per_minute: 300 }] });
  await sink.send(DRIFT_TOPIC, ...['d-1', 'd-2', 'd-3', 'd-4', 'd-5', 'd-6', 'd-7'].map((id) => driftCodec.encode(drift(id))));
  await waitFor(async () => (await sink.received()) === 7, 3_000, 'all read');
  assert.ok(r.got.length < 7, `some still queued (${r.got.length} sent)`);
  await sink.stop();
  assert.equal(r.got.length, 7, 'all delivered before shutdown returned');
  assert.equal(await sink.metric('airdig_notify_dropped_total', { webhook: 'json' }), 0);
  await r.close();
});

test('bad config: each mistake named with its path', () => {
  const issuesOf = (webhook: object, extra: object = {}) => {
    try {
      resolveConfig(
        {
          topics: Object.fromEntries([INCIDENTS_TOPIC, CORRELATIONS_TOPIC, DRIFT_TOPIC, HEALTH_TOPIC].map((t) => [t, {}])),
          sinks: { notifications: { webhooks: [webhook], ...extra } },
          pipelines: { alerts: { sinks: ['notifications'] } },
        },
        registry,
      );
    } catch (err) {
      assert.ok(err instanceof ConfigError, String(err));
      return err.issues;
    }
    assert.fail(`accepted ${JSON.stringify(webhook)}`);
  };
  const ok = { name: 'a', url: 'http://127.0.0.1:9/x', format: 'json' };
  assert.deepEqual(issuesOf({ ...ok, url: 'not a url' }), ['sinks.notifications.webhooks[0].url: url must be an http:// or https:// URL']);
  assert.deepEqual(issuesOf({ ...ok, url: 'ftp://example.com/x' }), ['sinks.notifications.webhooks[0].url: url must be an http:// or https:// URL']);
  assert.deepEqual(issuesOf({ ...ok, format: 'teams' }), ['sinks.notifications.webhooks[0].format: format must be one of alertmanager, json, slack']);
  assert.deepEqual(issuesOf({ ...ok, events: ['incident', 'deploy'] }), [
    'sinks.notifications.webhooks[0].events[1]: events: each one of incident, correlation, drift, health',
  ]);
  assert.deepEqual(issuesOf({ ...ok, events: [] }), ['sinks.notifications.webhooks[0].events: events: name at least one']);
  assert.deepEqual(issuesOf({ ...ok, min_score: 2 }), ['sinks.notifications.webhooks[0].min_score: Number must be less than or equal to 1']);
  assert.deepEqual(issuesOf({ ...ok, health_status: 'healthy' }), [
    'sinks.notifications.webhooks[0].health_status: health_status must be warning (warning and critical) or critical',
  ]);
  assert.deepEqual(issuesOf({ ...ok, bearer_token: 't', basic_auth: { username: 'u', password: 'p' } }), [
    'sinks.notifications.webhooks[0].bearer_token: give bearer_token or basic_auth, not both',
  ]);
  assert.deepEqual(issuesOf({ ...ok, backoff: { initial_ms: 100, max_ms: 10 } }), [
    'sinks.notifications.webhooks[0].backoff: backoff.max_ms must be at least backoff.initial_ms',
  ]);
  assert.deepEqual(issuesOf({ ...ok, retries: 3 }), ['sinks.notifications.webhooks[0].retries: unknown key']);
  const { url: _url, ...noUrl } = ok;
  assert.deepEqual(issuesOf(noUrl), ['sinks.notifications.webhooks[0].url: url is required']);
  assert.deepEqual(issuesOf(ok, { webhooks: [ok, ok] }), ['sinks.notifications.webhooks[1].name: duplicate webhook name "a"']);
  // The defaults, as documented.
  const c = notificationsFactory.configSchema.parse({ webhooks: [ok] });
  assert.deepEqual(c.webhooks[0]!.events, ['incident', 'drift', 'health']);
  assert.equal(c.webhooks[0]!.min_score, 0.5);
  assert.equal(c.webhooks[0]!.health_status, 'critical');
  assert.deepEqual(c.webhooks[0]!.backoff, { initial_ms: 500, max_ms: 30_000, retry_after_max_ms: 60_000 });
  assert.deepEqual(notificationsFactory.topics(c).consumes, [INCIDENTS_TOPIC, CORRELATIONS_TOPIC, DRIFT_TOPIC, HEALTH_TOPIC]);
});

test('the commented example in pipelines/*.yaml, uncommented, is a valid config', () => {
  for (const file of ['pipelines/embedded.yaml', 'pipelines/distributed.yaml']) {
    const lines = readFileSync(path.join(repoRoot, file), 'utf8').split('\n');
    const start = lines.findIndex((l) => l.startsWith('  # notifications:'));
    assert.ok(start >= 0, `${file} has the example`);
    const block: string[] = [];
    for (const l of lines.slice(start)) {
      if (!l.startsWith('  #')) break;
      block.push(l.replace(/^ {2}# ?/, ''));
    }
    const example = parseYaml(block.join('\n')) as { notifications: unknown };
    const c = notificationsFactory.configSchema.parse(example.notifications);
    assert.equal(c.webhooks.length, 1, file);
    assert.equal(c.webhooks[0]!.format, 'alertmanager');
  }
});

test("fingerprints as Alertmanager's: FNV-1a 64 over the sorted labels, each name and value followed by 255", () => {
  const bytes = (t: string) => new TextEncoder().encode(t);
  // The published FNV-1a 64 test vectors.
  assert.equal(fnv1a64(bytes('')).toString(16), 'cbf29ce484222325');
  assert.equal(fnv1a64(bytes('a')).toString(16), 'af63dc4c8601ec8c');
  assert.equal(fnv1a64(bytes('foobar')).toString(16), '85944171f73967e8');
  assert.equal(fingerprint({}), 'cbf29ce484222325', 'an empty label set: the offset basis');
  // prometheus/common model's own test vector for LabelSet.Fingerprint (5799056148416392346).
  assert.equal(fingerprint({ name: 'garland, briggs', fear: 'love is not enough' }), 5799056148416392346n.toString(16));
  assert.equal(fingerprint({ b: '2', a: '1' }), fingerprint({ a: '1', b: '2' }), 'in name order');
  assert.notEqual(fingerprint({ a: '1', b: '2' }), fingerprint({ a: '12', b: '' }), 'the separator keeps names and values apart');
});
