import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { defaultRegistry } from './components.js';
import type { ComponentKind, Factory } from './runtime/pipeline/component.js';
import { repoRoot } from '../tests/helpers/kafka.js';

/*
 * The defaults the component READMEs quote, checked against the config schemas where they live:
 * every "`key` (default VALUE)" or "`key` (VALUE)" whose key is a config key of a component the
 * README names must be that component's default. A README that falls behind a schema fails here.
 */

const registry = await defaultRegistry().loadAll();
const factories: Factory<unknown>[] = (['receiver', 'processor', 'sink'] as ComponentKind[]).flatMap((k) => registry.types(k).map((t) => registry.get(k, t)!));

const UNITS: Record<string, number> = { ms: 1, s: 1_000, min: 60_000, h: 3_600_000, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3 };

/** A quoted default as the value it stands for, or undefined when it is prose. `key` says whether a duration is in ms. */
export function quotedValue(text: string, key: string): unknown {
  const t = text
    .replace(/^default /, '')
    .split(/[;,]/)[0]!
    .trim();
  const name = /^`([^`]*)`$/.exec(t);
  if (name) return name[1];
  const m = /^(\d[\d  ]*(?:\.\d+)?)(?: (ms|s|min|h|KiB|MiB|GiB))?$/.exec(t);
  if (!m) return undefined;
  const n = Number(m[1]!.replace(/[  ]/g, ''));
  const unit = m[2];
  if (!unit) return n;
  const scaled = n * UNITS[unit]!;
  if (unit === 'KiB' || unit === 'MiB' || unit === 'GiB') return scaled;
  return key.endsWith('_ms') ? scaled : key.endsWith('_s') ? scaled / 1000 : undefined;
}

function componentReadmes(): string[] {
  const dir = path.join(repoRoot, 'processors');
  return readdirSync(dir)
    .map((d) => path.join(dir, d, 'README.md'))
    .filter((p) => existsSync(p));
}

test('quotedValue reads the README notations', () => {
  assert.equal(quotedValue('default 6 h', 'cause_window_ms'), 6 * 3_600_000);
  assert.equal(quotedValue('20 MiB', 'max_request_bytes'), 20 * 1024 ** 2);
  assert.equal(quotedValue('default 1 000 000', 'series_cache'), 1_000_000);
  assert.equal(quotedValue('default 5 min; 0 switches it off', 'replay_window_ms'), 300_000);
  assert.equal(quotedValue('default `falco_events`', 'output'), 'falco_events');
  assert.equal(quotedValue('5', 'retry_after_s'), 5);
  assert.equal(quotedValue('RFC 3339, nanoseconds kept', 'time'), undefined);
});

test('component READMEs quote the defaults their config schemas have', () => {
  let checked = 0;
  const wrong: string[] = [];
  for (const file of componentReadmes()) {
    const text = readFileSync(file, 'utf8');
    const named = factories.filter((f) => text.includes(`\`${f.type}\``) || text.includes(`# ${f.type} `));
    for (const m of text.matchAll(/`([a-z_]+)` \(((?:default )?[^)]{1,40})\)/g)) {
      const [, key, quoted] = m;
      const value = quotedValue(quoted!, key!);
      if (value === undefined) continue;
      const owners = named.filter((f) => key! in (f.configSchema.parse({}) as object));
      if (owners.length === 0) continue;
      checked++;
      const defaults = owners.map((f) => (f.configSchema.parse({}) as Record<string, unknown>)[key!]);
      if (!defaults.some((d) => d === value))
        wrong.push(`${path.relative(repoRoot, file)}: \`${key}\` (${quoted}) but the schema default is ${defaults.map((d) => JSON.stringify(d)).join(' / ')}`);
    }
  }
  assert.deepEqual(wrong, []);
  assert.ok(checked >= 15, `only ${checked} quoted defaults were checked: the pattern no longer matches the READMEs`);
});
