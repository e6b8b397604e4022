import assert from 'node:assert/strict';
import { test } from 'node:test';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import { loadFactories, readConfigFile, resolveConfig, withServiceOverrides } from './load.js';
import { FactoryRegistry } from '../pipeline/registry.js';
import { ConfigError } from '../errors.js';
import { defaultRegistry } from '../../components.js';

import { repoRoot } from '../../../tests/helpers/kafka.js';

const registry = await defaultRegistry().loadAll();

const testdata = path.join(repoRoot, 'processors/runtime/config/testdata');

function issuesOf(file: string): string[] {
  try {
    resolveConfig(readConfigFile(file), registry);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return [...err.issues];
  }
  assert.fail(`${file} was accepted`);
}

// The runtime's own cases here, and each component's beside it: processors/<component>/testdata/bad-*.yaml.
const componentDirs = readdirSync(path.join(repoRoot, 'processors'))
  .map((d) => path.join(repoRoot, 'processors', d, 'testdata'))
  .filter((d) => {
    try {
      return readdirSync(d).some((f) => /^bad-.*\.yaml$/.test(f));
    } catch {
      return false;
    }
  });
const cases = [
  ...readdirSync(testdata)
    .filter((f) => f.endsWith('.expected.txt'))
    .map((f) => path.join(testdata, f)),
  ...componentDirs.flatMap((d) =>
    readdirSync(d)
      .filter((f) => /^bad-.*\.expected\.txt$/.test(f))
      .map((f) => path.join(d, f)),
  ),
];
assert.ok(componentDirs.length >= 8, 'component bad configs found');
for (const expectedFile of cases) {
  const name = path.relative(path.join(repoRoot, 'processors'), expectedFile).replace('.expected.txt', '');
  test(`invalid config ${name}: every problem is reported with its key path`, () => {
    const expected = readFileSync(expectedFile, 'utf8').trim().split('\n');
    assert.deepEqual(issuesOf(expectedFile.replace('.expected.txt', '.yaml')).sort(), expected.sort());
  });
}
for (const d of componentDirs) {
  for (const f of readdirSync(d).filter((f) => /^bad-.*\.yaml$/.test(f))) {
    test(`${path.relative(repoRoot, path.join(d, f))} has its expected messages`, () => {
      assert.ok(readdirSync(d).includes(f.replace('.yaml', '.expected.txt')), `${f} needs ${f.replace('.yaml', '.expected.txt')}`);
    });
  }
}

test('invalid YAML is reported with file, line and column', () => {
  const [issue] = issuesOf(path.join(testdata, 'not-yaml.yaml'));
  assert.match(issue!, /not-yaml\.yaml:\d+:\d+: invalid YAML/);
});

test('a valid config: defaults filled in, components selected by pipelines and --only, frozen', () => {
  const cfg = resolveConfig(readConfigFile(path.join(testdata, 'valid.yaml')), registry);
  assert.equal(cfg.service.query, '127.0.0.1:8123');
  assert.equal(cfg.service.data_dir, './airdig-data');
  assert.equal(cfg.topics['airdig.dlq']!.partitions, 4);
  assert.deepEqual(
    cfg.components.map((c) => c.id),
    ['dead_letters/b'],
  );
  assert.deepEqual(cfg.components[0]!.consumes, ['other']);
  assert.deepEqual(cfg.unused, ['sink dead_letters/unused']);
  assert.ok(Object.isFrozen(cfg.service) && Object.isFrozen(cfg.components[0]!.config));
  assert.throws(() => ((cfg.service as { query: string }).query = 'x'));
});

test('the shipped pipelines are valid, and flags override the service section', () => {
  for (const f of ['embedded.yaml', 'distributed.yaml']) {
    const cfg = resolveConfig(readConfigFile(path.join(repoRoot, 'pipelines', f)), registry);
    assert.ok(cfg.components.length > 0, `${f} runs something`);
  }
  const raw = withServiceOverrides(readConfigFile(path.join(repoRoot, 'pipelines/embedded.yaml')), {
    query: '127.0.0.1:9999',
    kafka: { brokers: '127.0.0.1:1' },
    admin: undefined,
  });
  const cfg = resolveConfig(raw, registry);
  assert.equal(cfg.service.query, '127.0.0.1:9999');
  assert.equal(cfg.service.admin, '127.0.0.1:8888');
  assert.equal(cfg.service.kafka.brokers, '127.0.0.1:1');
  assert.equal(cfg.service.kafka.compression, 'lz4');
  assert.throws(() => resolveConfig(withServiceOverrides({}, { only: ['nosuch'] }), registry), /service\.only: "nosuch" names no configured component/);
});

test('a process loads the factories it runs: with service.only, the others stay unloaded and unchecked', async () => {
  const raw = withServiceOverrides(readConfigFile(path.join(repoRoot, 'pipelines/distributed.yaml')), { only: ['otlp'] });
  const lazy = await loadFactories(raw, defaultRegistry());
  assert.ok(lazy.get('receiver', 'otlp'), 'the selected factory is loaded');
  assert.equal(lazy.get('sink', 'api'), undefined, 'a factory it does not run is not');
  assert.equal(lazy.get('receiver', 'remote_write'), undefined);
  const cfg = resolveConfig(raw, lazy);
  assert.deepEqual(
    cfg.components.map((c) => c.id),
    ['otlp'],
  );
  // Without service.only every configured component is checked, so each needs its factory loaded.
  const all = readConfigFile(path.join(repoRoot, 'pipelines/distributed.yaml'));
  assert.throws(() => resolveConfig(all, defaultRegistry()), /factory is not loaded \(call loadFactories first\)/);
  assert.ok(resolveConfig(all, await loadFactories(all, defaultRegistry())).components.length > 10);
  // An unknown type is still reported by name, loaded or not.
  assert.throws(
    () => resolveConfig({ receivers: { nosuch: {} }, pipelines: { p: { receivers: ['nosuch'] } } }, defaultRegistry()),
    /receivers\.nosuch: unknown receiver type "nosuch"/,
  );
});

test('a lazy registry entry whose module holds another factory is refused when loaded', async () => {
  const { deadLettersFactory } = await import('../../deadletters/sink.js');
  const wrong = new FactoryRegistry([{ kind: 'sink', type: 'otel_traces', load: async () => deadLettersFactory }]);
  await assert.rejects(wrong.load('sink', 'otel_traces'), /the module registered as sink "otel_traces" holds sink "dead_letters"/);
  assert.equal(await wrong.load('sink', 'nosuch'), undefined);
});

test('the registry refuses two factories of one kind and type', async () => {
  const { deadLettersFactory } = await import('../../deadletters/sink.js');
  assert.throws(() => defaultRegistry().add(deadLettersFactory), /duplicate sink factory "dead_letters"/);
});

test('the shipped pipelines are valid and set no component key to its default (a default lives once, in the schema)', () => {
  for (const name of ['embedded.yaml', 'distributed.yaml']) {
    const file = path.join(repoRoot, 'pipelines', name);
    resolveConfig(readConfigFile(file), registry);
    const raw = readConfigFile(file) as Record<string, Record<string, Record<string, unknown> | null>>;
    const repeated: string[] = [];
    for (const [section, kind] of [
      ['receivers', 'receiver'],
      ['processors', 'processor'],
      ['sinks', 'sink'],
    ] as const) {
      for (const [id, cfg] of Object.entries(raw[section] ?? {})) {
        const defaults = registry.get(kind, id.split('/')[0]!)!.configSchema.parse({}) as Record<string, unknown>;
        for (const [k, v] of Object.entries(cfg ?? {})) if (isDeepStrictEqual(defaults[k], v)) repeated.push(`${name}: ${section}.${id}.${k}`);
      }
    }
    assert.deepEqual(repeated, []);
  }
});
