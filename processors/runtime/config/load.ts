import { readFileSync } from 'node:fs';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { ConfigError } from '../errors.js';
import type { ComponentKind, Factory } from '../pipeline/component.js';
import type { FactoryRegistry } from '../pipeline/registry.js';
import { fileSchema, formatZodIssues, topicSchema, type PipelineFile, type ServiceConfig, type TopicConfig } from './schema.js';

export interface ResolvedComponent {
  id: string;
  kind: ComponentKind;
  type: string;
  factory: Factory<unknown>;
  config: unknown;
  consumes: readonly string[];
  produces: readonly string[];
}

/** A validated, frozen configuration: what the runtime builds from. */
export interface AirdigConfig {
  service: Readonly<ServiceConfig>;
  topics: Readonly<Record<string, Readonly<TopicConfig>>>;
  /** Components used by at least one pipeline (and selected by service.only), in start order: sinks, processors, receivers. */
  components: readonly ResolvedComponent[];
  /** Configured components that no pipeline uses. */
  unused: readonly string[];
}

const SECTIONS: { section: 'receivers' | 'processors' | 'sinks'; kind: ComponentKind }[] = [
  { section: 'sinks', kind: 'sink' },
  { section: 'processors', kind: 'processor' },
  { section: 'receivers', kind: 'receiver' },
];

export function readConfigFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot read: ${(err as Error).message}`]);
  }
  try {
    return parseYaml(text) ?? {};
  } catch (err) {
    if (err instanceof YAMLParseError) {
      const pos = err.linePos?.[0];
      throw new ConfigError([`${file}${pos ? `:${pos.line}:${pos.col}` : ''}: invalid YAML: ${err.message.split('\n')[0]}`]);
    }
    throw err;
  }
}

/** Deep-merges overrides (e.g. command-line flags) into the service section of a raw config. */
export function withServiceOverrides(raw: unknown, overrides: Record<string, unknown>): unknown {
  const base = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const service = { ...((base.service as Record<string, unknown>) ?? {}) };
  for (const [k, v] of Object.entries(overrides)) {
    if (v === undefined) continue;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      service[k] = { ...((service[k] as Record<string, unknown>) ?? {}), ...(v as Record<string, unknown>) };
    } else service[k] = v;
  }
  return { ...base, service };
}

/** The ids a service.only list selects, as the raw file gives it; undefined when it selects all (or is not a list). */
function selected(raw: unknown): ((id: string, type: string) => boolean) | undefined {
  const only = (raw as { service?: { only?: unknown } } | null)?.service?.only;
  if (!Array.isArray(only) || only.length === 0 || !only.every((s) => typeof s === 'string')) return undefined;
  return (id, type) => only.includes(id) || only.includes(type);
}

/**
 * Imports the factories a raw configuration names, so resolveConfig can check their configs: every
 * configured type, or with service.only only the selected ones (a process loads what it runs; the
 * configs of the components it leaves out are not checked then).
 */
export async function loadFactories(raw: unknown, registry: FactoryRegistry): Promise<FactoryRegistry> {
  const file = (raw && typeof raw === 'object' ? raw : {}) as Record<string, unknown>;
  const wanted = selected(raw);
  const loads: Promise<unknown>[] = [];
  for (const { section, kind } of SECTIONS) {
    const ids = file[section];
    if (!ids || typeof ids !== 'object') continue;
    for (const id of Object.keys(ids)) {
      const type = id.split('/')[0]!;
      if (!wanted || wanted(id, type)) loads.push(registry.load(kind, type));
    }
  }
  await Promise.all(loads);
  return registry;
}

/**
 * Validates a raw configuration: unknown keys, types and ranges, each component's own config,
 * references from pipelines to components and from components to topics. Every problem is
 * reported at once, each with its key path. Pure: touches neither network nor disk. The factories
 * of the components it checks must be loaded (loadFactories); one service.only leaves out is known
 * by its id alone.
 */
export function resolveConfig(raw: unknown, registry: FactoryRegistry): AirdigConfig {
  const parsed = fileSchema.safeParse(raw ?? {});
  const issues: string[] = parsed.success ? [] : formatZodIssues(parsed.error);
  if (!parsed.success && (raw === null || typeof raw !== 'object' || Array.isArray(raw))) throw new ConfigError(issues);
  // With problems in the file's own sections, the components are still checked, each part as far
  // as it parsed, so that one run reports every problem.
  const file: PipelineFile = parsed.success ? parsed.data : lenientFile(raw as Record<string, unknown>);
  const all = new Map<string, ResolvedComponent>();
  /** Components whose factory is not loaded: ones service.only leaves out, never built. */
  const notLoaded = new Map<string, { id: string; kind: ComponentKind; type: string }>();

  for (const { section, kind } of SECTIONS) {
    for (const [id, rawConfig] of Object.entries(file[section])) {
      const type = id.split('/')[0]!;
      if (!registry.has(kind, type)) {
        const known = registry.types(kind);
        issues.push(`${section}.${id}: unknown ${kind} type "${type}"${known.length ? ` (known: ${known.join(', ')})` : ''}`);
        continue;
      }
      const factory = registry.get(kind, type);
      if (!factory) {
        notLoaded.set(`${kind}:${id}`, { id, kind, type });
        continue;
      }
      const cfg = factory.configSchema.safeParse(rawConfig ?? {});
      if (!cfg.success) {
        issues.push(...formatZodIssues(cfg.error, [section, id]));
        continue;
      }
      const use = factory.topics(cfg.data);
      for (const t of [...use.consumes, ...use.produces]) {
        if (!(t in file.topics)) issues.push(`${section}.${id}: uses topic "${t}" which is not declared in topics`);
      }
      all.set(`${kind}:${id}`, { id, kind, type, factory, config: cfg.data, consumes: use.consumes, produces: use.produces });
    }
  }

  const used = new Set<string>();
  for (const [name, p] of Object.entries(file.pipelines)) {
    const refs: [ComponentKind, string[]][] = [
      ['receiver', p.receivers],
      ['processor', p.processors],
      ['sink', p.sinks],
    ];
    if (refs.every(([, ids]) => ids.length === 0)) issues.push(`pipelines.${name}: names no component`);
    for (const [kind, ids] of refs) {
      ids.forEach((id, i) => {
        const key = `${kind}:${id}`;
        const configured = file[`${kind}s` as 'receivers' | 'processors' | 'sinks'][id] !== undefined;
        if (!configured) issues.push(`pipelines.${name}.${kind}s[${i}]: references ${kind} "${id}" which is not configured`);
        else used.add(key);
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const only = file.service.only;
  const configured = [...all.entries(), ...notLoaded.entries()];
  for (const sel of only) {
    const matches = configured.some(([, c]) => c.id === sel || c.type === sel);
    if (!matches) issues.push(`service.only: "${sel}" names no configured component`);
  }
  if (issues.length > 0) throw new ConfigError(issues);

  const runs = (key: string, c: { id: string; type: string }) => used.has(key) && (only.length === 0 || only.includes(c.id) || only.includes(c.type));
  for (const [key, c] of notLoaded)
    if (runs(key, c) || only.length === 0) throw new Error(`${c.kind} "${c.type}": its factory is not loaded (call loadFactories first)`);
  const components = [...all.entries()].filter(([key, c]) => runs(key, c)).map(([, c]) => c);
  const unused = configured.filter(([key]) => !used.has(key)).map(([, c]) => `${c.kind} ${c.id}`);
  return deepFreeze({ service: file.service, topics: file.topics, components, unused });
}

/** Each top-level section of a file that failed validation, as far as it parses on its own. */
function lenientFile(raw: Record<string, unknown>): PipelineFile {
  const shape = fileSchema.shape;
  const part = <K extends keyof typeof shape>(k: K, fallback: () => PipelineFile[K]): PipelineFile[K] => {
    const r = shape[k].safeParse(raw[k]);
    return r.success ? (r.data as PipelineFile[K]) : fallback();
  };
  const rawTopics = raw.topics && typeof raw.topics === 'object' ? Object.keys(raw.topics) : [];
  return {
    service: part('service', () => shape.service.parse(undefined)),
    // Topics whose settings are wrong still exist for the components' references.
    topics: part('topics', () => Object.fromEntries(rawTopics.map((t) => [t, topicSchema.parse({})]))),
    receivers: part('receivers', () => ({})),
    processors: part('processors', () => ({})),
    sinks: part('sinks', () => ({})),
    pipelines: part('pipelines', () => ({})),
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    // Factories are shared code, not configuration: leave them as they are.
    for (const [k, v] of Object.entries(o as object)) if (typeof v === 'object' && k !== 'factory') deepFreeze(v);
  }
  return o;
}
