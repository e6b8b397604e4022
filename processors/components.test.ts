// The lifecycle contract over the whole registry: every factory in defaultRegistry(), created with
// its default config, fed one valid input from tests/helpers/samples.ts, must move its own
// airdig_component_received_total (see assertComponentContract). A type with no sample fails.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CloudTrailClient, ListTrailsCommand, LookupEventsCommand } from '@aws-sdk/client-cloudtrail';
import { defaultRegistry } from './components.js';
import { z } from 'zod';
import { createDefaultConfig, type Component, type ComponentKind, type ComponentSettings, type Factory } from './runtime/pipeline/component.js';
import { consumeTopics } from './runtime/pipeline/consume.js';
import type { Consumer } from './runtime/bus/types.js';
import { listenHttp, type Listening } from './runtime/http.js';
import type { Store } from './runtime/store/store.js';
import { assertComponentContract, openMigratedStore } from '../tests/helpers/component.js';
import { COMPONENT_SAMPLES, EMULATOR_EXCEPTIONS, TOPIC_SAMPLES, restoreEnv, type ComponentSample } from '../tests/helpers/samples.js';
import { startMoto } from '../tests/helpers/moto.js';

const KINDS: ComponentKind[] = ['receiver', 'processor', 'sink'];
const registry = await defaultRegistry().loadAll();

let store: Store;
test.before(async () => {
  store = await openMigratedStore('registry');
});
test.after(() => store?.close());

test('the catalogue covers the registry: a sample for every type, none for a type that is gone', () => {
  for (const kind of KINDS) {
    const types = registry.types(kind);
    assert.ok(types.length > 0, `the registry has ${kind}s`);
    for (const type of types) assert.ok(COMPONENT_SAMPLES[kind][type], `no sample for ${kind} ${type}: add one to tests/helpers/samples.ts`);
    for (const type of Object.keys(COMPONENT_SAMPLES[kind]))
      assert.ok(types.includes(type), `tests/helpers/samples.ts has a sample for ${kind} ${type}, which defaultRegistry() does not have`);
  }
});

test('the catalogue has a message for every topic a component consumes by default', () => {
  for (const kind of KINDS) {
    for (const type of registry.types(kind)) {
      const factory = registry.get(kind, type)!;
      for (const topic of factory.topics(createDefaultConfig(factory)).consumes) {
        assert.ok(
          TOPIC_SAMPLES[topic],
          `no sample message for topic ${topic} (consumed by ${kind} ${type}): add one to TOPIC_SAMPLES in tests/helpers/samples.ts`,
        );
      }
    }
  }
});

test('each topic sample holds at least one message for its own topic', async () => {
  for (const [topic, make] of Object.entries(TOPIC_SAMPLES)) {
    const s = await make();
    assert.equal(s.topic, topic);
    assert.ok(s.messages.length > 0 && s.items > 0, `${topic}: a sample with something in it`);
    for (const m of s.messages) assert.ok(Buffer.isBuffer(m.value) && m.value.length > 0, `${topic}: message bytes`);
  }
});

// One test per kind and type, so a failure names its component; a type without a sample fails here too.
for (const kind of KINDS) {
  for (const type of registry.types(kind)) {
    test(`${kind} ${type}: create → shutdown without start → create → start → one sample counted → shutdown → shutdown`, async () => {
      const sample = COMPONENT_SAMPLES[kind][type];
      if (!sample) assert.fail(`no sample for ${kind} ${type}: add one to tests/helpers/samples.ts`);
      await assertComponentContract(registry.get(kind, type)!, sample, store);
    });
  }
}

test('documented exceptions to the AWS emulator: exactly cloudtrail_lookup, and moto still lacks LookupEvents', async () => {
  assert.deepEqual(Object.keys(EMULATOR_EXCEPTIONS), ['cloudtrail_lookup']);
  assert.ok(registry.get('receiver', 'cloudtrail_lookup'), 'the exception names a receiver of the registry');
  // When moto learns LookupEvents this fails: feed cloudtrail_lookup from moto and drop the exception.
  const moto = await startMoto();
  const env = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_ACCESS_KEY_ID = 'testing'; // the emulator's; never whatever the environment holds
  process.env.AWS_SECRET_ACCESS_KEY = 'testing';
  const client = new CloudTrailClient({ region: 'eu-west-1', endpoint: moto.url, maxAttempts: 1 });
  try {
    const trails = await client.send(new ListTrailsCommand({}));
    assert.deepEqual(trails.Trails ?? [], [], 'moto serves CloudTrail (ListTrails)');
    await assert.rejects(client.send(new LookupEventsCommand({ MaxResults: 1 })), (err: { $metadata?: { httpStatusCode?: number } }) => {
      assert.equal(err.$metadata?.httpStatusCode, 500, 'moto answers LookupEvents with 500 (lookup_events not implemented)');
      return true;
    });
  } finally {
    client.destroy();
    restoreEnv('AWS_ACCESS_KEY_ID', env.id);
    restoreEnv('AWS_SECRET_ACCESS_KEY', env.secret);
    await moto.stop();
  }
});

// The contract itself must fail for components that do not keep it (an assertion that cannot fail proves nothing).

/** A sink-like component on airdig.dlq whose flaws are chosen: what it counts per record, what it leaves running. */
function flawed(
  type: string,
  flaw: { count?: number; leaveConsumer?: boolean; consume?: boolean; leaveListener?: boolean },
  servers: Listening[] = [],
): Factory<Record<string, never>> {
  const consumes = flaw.consume === false ? [] : ['airdig.dlq'];
  return {
    kind: flaw.leaveListener ? 'receiver' : 'sink',
    type,
    configSchema: z.object({}).strict(),
    topics: () => ({ consumes, produces: [] }),
    create(s: ComponentSettings): Component {
      let consumer: Consumer | undefined;
      let server: Listening | undefined;
      return {
        async start() {
          if (flaw.leaveListener) servers.push((server = await listenHttp('127.0.0.1:0', (_req, res) => void res.end())));
          if (consumes.length)
            consumer = await consumeTopics(s, {
              what: type,
              topics: consumes,
              maxBatch: 10,
              handler: async (b) => void (flaw.count && s.metrics.received(b.length * flaw.count)),
            });
        },
        async shutdown() {
          if (!flaw.leaveConsumer) await consumer?.stop();
          if (!flaw.leaveConsumer) s.metrics.queueDepth(undefined);
          if (!flaw.leaveListener) await server?.close();
        },
        listening: () => (server ? [{ name: 'http', url: server.url }] : []),
      };
    },
  };
}

const oneDeadLetter: ComponentSample = {
  fed: 'airdig.dlq: one record',
  received: 1,
  async feed({ bus }) {
    const s = await TOPIC_SAMPLES['airdig.dlq']!();
    await bus.producer().send(s.topic, s.messages);
  },
};

test('the contract fails for a component that does nothing: not started, not counting, nothing listed', async () => {
  await assert.rejects(
    assertComponentContract(flawed('idle', { consume: false }), oneDeadLetter, store, { timeoutMs: 300 }),
    /airdig_component_received_total\{component="idle"\} to reach 1/,
  );
});

test('the contract fails for a component that consumes but never moves its received counter', async () => {
  await assert.rejects(
    assertComponentContract(flawed('silent', {}), oneDeadLetter, store, { timeoutMs: 300 }),
    /airdig_component_received_total\{component="silent"\} to reach 1/,
  );
});

test('the contract fails for a component that counts a record twice', async () => {
  await assert.rejects(
    assertComponentContract(flawed('double', { count: 2 }), oneDeadLetter, store, { timeoutMs: 2_000 }),
    /sink double: received_total once fed/,
  );
});

test('the contract fails for a component whose shutdown leaves its consumer running', async () => {
  await assert.rejects(
    assertComponentContract(flawed('sticky', { count: 1, leaveConsumer: true }), oneDeadLetter, store, { timeoutMs: 2_000 }),
    /sink sticky: shutdown leaves no consumer running/,
  );
});

test('the contract fails for a receiver whose shutdown leaves its listener open', async () => {
  const left: Listening[] = [];
  try {
    await assert.rejects(
      assertComponentContract(flawed('leaky', { count: 1, leaveListener: true }, left), oneDeadLetter, store, { timeoutMs: 2_000 }),
      /receiver leaky: nothing accepts at http .* once shut down/,
    );
    assert.equal(left.length, 1, 'it listened');
  } finally {
    for (const l of left) await l.close();
  }
});
