import type { ComponentKind, Factory } from './component.js';

/**
 * A factory known by kind and type whose module is imported only when asked for: a process loads
 * the code (and the SDKs) of the components it runs, not of every component AirDig ships.
 */
export interface LazyFactory {
  kind: ComponentKind;
  type: string;
  load(): Promise<Factory<any>>;
}

type Entry = { factory: Factory<unknown> } | { lazy: LazyFactory; loading?: Promise<Factory<unknown>> };

/** Factories by kind and type. Built explicitly from a list: importing a component registers nothing. */
export class FactoryRegistry {
  readonly #byKind = new Map<ComponentKind, Map<string, Entry>>([
    ['receiver', new Map()],
    ['processor', new Map()],
    ['sink', new Map()],
  ]);

  constructor(factories: readonly (Factory<any> | LazyFactory)[] = []) {
    for (const f of factories) this.add(f);
  }

  add(factory: Factory<any> | LazyFactory): this {
    const kind = this.#byKind.get(factory.kind)!;
    if (kind.has(factory.type)) throw new Error(`duplicate ${factory.kind} factory "${factory.type}"`);
    kind.set(factory.type, 'load' in factory ? { lazy: factory } : { factory });
    return this;
  }

  /** Whether a factory of this kind and type is registered, loaded or not. */
  has(kind: ComponentKind, type: string): boolean {
    return this.#byKind.get(kind)!.has(type);
  }

  /** The factory, once loaded (see load()); undefined for an unknown type or one not loaded yet. */
  get(kind: ComponentKind, type: string): Factory<unknown> | undefined {
    const entry = this.#byKind.get(kind)!.get(type);
    return entry && 'factory' in entry ? entry.factory : undefined;
  }

  /** Imports a factory's module (once); an unknown type resolves to undefined. */
  async load(kind: ComponentKind, type: string): Promise<Factory<unknown> | undefined> {
    const entries = this.#byKind.get(kind)!;
    const entry = entries.get(type);
    if (!entry) return undefined;
    if ('factory' in entry) return entry.factory;
    entry.loading ??= entry.lazy.load().then((factory: Factory<unknown>) => {
      // The list names a module's factory by kind and type: a mismatch is a wrong entry in that list.
      if (factory.kind !== kind || factory.type !== type) throw new Error(`the module registered as ${kind} "${type}" holds ${factory.kind} "${factory.type}"`);
      entries.set(type, { factory });
      return factory;
    });
    return entry.loading;
  }

  /** Loads every factory (for tests and tools that look at all of them). */
  async loadAll(): Promise<this> {
    for (const [kind, entries] of this.#byKind) await Promise.all([...entries.keys()].map((type) => this.load(kind, type)));
    return this;
  }

  types(kind: ComponentKind): string[] {
    return [...this.#byKind.get(kind)!.keys()].sort();
  }
}
