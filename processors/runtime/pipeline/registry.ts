import type { ComponentKind, Factory } from './component.js';

/** Factories by kind and type. Built explicitly from a list: importing a component registers nothing. */
export class FactoryRegistry {
  readonly #byKind = new Map<ComponentKind, Map<string, Factory<unknown>>>([
    ['receiver', new Map()],
    ['processor', new Map()],
    ['sink', new Map()],
  ]);

  constructor(factories: readonly Factory<any>[] = []) {
    for (const f of factories) this.add(f);
  }

  add(factory: Factory<any>): this {
    const kind = this.#byKind.get(factory.kind)!;
    if (kind.has(factory.type)) throw new Error(`duplicate ${factory.kind} factory "${factory.type}"`);
    kind.set(factory.type, factory);
    return this;
  }

  get(kind: ComponentKind, type: string): Factory<unknown> | undefined {
    return this.#byKind.get(kind)!.get(type);
  }

  types(kind: ComponentKind): string[] {
    return [...this.#byKind.get(kind)!.keys()].sort();
  }
}
