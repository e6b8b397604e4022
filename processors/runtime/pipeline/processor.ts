import type { z } from 'zod';
import type { BusRecord, Consumer } from '../bus/types.js';
import type { Component, ComponentSettings, Factory, TopicUse } from './component.js';
import { consumeTopics, stopConsuming } from './consume.js';
import type { HeldOffsets } from './holds.js';

/** What a processor is beyond consuming: processorFactory's create returns it. */
export interface ProcessorLogic {
  /**
   * One batch of the processor's input. Throwing has it logged, counted and delivered again;
   * returning lets the bus commit it (no further than holds()).
   */
  handle(batch: readonly BusRecord[]): Promise<void>;
  /**
   * The lowest offset per partition it still needs, set as the commit holds after each batch handled
   * (holds.ts), and again after idle() while the input is quiet.
   */
  holds?(): HeldOffsets;
  /** Before the consumer joins, on every start: restore changelog state (a StateStore). */
  restore?(): Promise<void>;
  /** Once the consumer has joined: start timers. */
  started?(): void;
  /**
   * Work when the input has been quiet for idleMs (windows the clock closed: expire them and send
   * their output), run in the consumer's loop, never beside handle(); holds() is asked after it and
   * what was handled is committed up to them.
   */
  idle?(): Promise<void>;
  idleMs?: number;
  /** Records it holds in memory, added to its queue depth. */
  pending?(): number;
  /** After the consumer left, on every shutdown (also one without a start): stop timers, send what is left. */
  stop?(): Promise<void>;
}

export interface ProcessorOptions<C extends { max_batch: number }> {
  type: string;
  /** Strict schema with defaults (config.ts of the processor's folder). */
  configSchema: z.ZodType<C, z.ZodTypeDef, unknown>;
  /** It consumes `consumes` (max_batch records a batch) and produces to `produces`. */
  topics(config: C): TopicUse;
  /** Names a failed batch in the log line (default "<type> batch"). */
  what?: string;
  create(settings: ComponentSettings, config: C): ProcessorLogic;
}

/** The component of a processor: restore, then consume its topics into handle(); shutdown leaves the group, then stops it. */
class Processor implements Component {
  readonly #s: ComponentSettings;
  readonly #logic: ProcessorLogic;
  readonly #topics: readonly string[];
  readonly #maxBatch: number;
  readonly #what: string;
  #consumer: Consumer | undefined;

  constructor(settings: ComponentSettings, logic: ProcessorLogic, o: { topics: readonly string[]; maxBatch: number; what: string }) {
    this.#s = settings;
    this.#logic = logic;
    this.#topics = o.topics;
    this.#maxBatch = o.maxBatch;
    this.#what = o.what;
  }

  async start(): Promise<void> {
    const logic = this.#logic;
    await logic.restore?.();
    this.#consumer = await consumeTopics(this.#s, {
      what: this.#what,
      topics: this.#topics,
      maxBatch: this.#maxBatch,
      pending: logic.pending && (() => logic.pending!()),
      ...(logic.holds
        ? {
            idle: async () => {
              await logic.idle?.();
              return logic.holds!();
            },
          }
        : {}),
      ...(logic.idleMs ? { idleMs: logic.idleMs } : {}),
      handler: async (batch, ctx) => {
        await logic.handle(batch);
        if (logic.holds) ctx.setHolds(logic.holds());
      },
    });
    logic.started?.();
  }

  async shutdown(): Promise<void> {
    await stopConsuming(this.#s, this.#consumer);
    await this.#logic.stop?.();
  }
}

/**
 * A processor factory, as tableSinkFactory is a sink's: the processor is its logic (create), this
 * is the consume / hold / shutdown skeleton around it.
 */
export function processorFactory<C extends { max_batch: number }>(o: ProcessorOptions<C>): Factory<C> {
  return {
    kind: 'processor',
    type: o.type,
    configSchema: o.configSchema,
    topics: o.topics,
    create: (settings, config) =>
      new Processor(settings, o.create(settings, config), { topics: o.topics(config).consumes, maxBatch: config.max_batch, what: o.what ?? `${o.type} batch` }),
  };
}

/**
 * Output made and not sent yet. A failed send keeps it (ahead of anything added meanwhile): the
 * batch delivered again does not make it again, since what made it is in the state already.
 */
export class Outbox<T> {
  #items: T[] = [];

  push(...items: T[]): void {
    for (const x of items) this.#items.push(x);
  }

  get length(): number {
    return this.#items.length;
  }

  /** Hands what it holds to send (nothing: no call); returns what was sent. */
  async send(send: (items: readonly T[]) => Promise<void>): Promise<readonly T[]> {
    if (this.#items.length === 0) return [];
    const items = this.#items;
    this.#items = [];
    try {
      await send(items);
    } catch (err) {
      this.#items = items.concat(this.#items);
      throw err;
    }
    return items;
  }
}
