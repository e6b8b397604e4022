import { BusUnavailableError } from '../errors.js';

/** How often the broker is asked for metadata, and how long an answer may take before it counts as down. */
export const BROKER_PROBE_INTERVAL_MS = 200;
export const BROKER_PROBE_TIMEOUT_MS = 700;

export interface BrokerWatchOptions {
  /** One metadata round trip to the broker, rejecting after timeoutMs. Must not block the event loop. */
  probe(timeoutMs: number): Promise<void>;
  intervalMs?: number;
  timeoutMs?: number;
  /** Called on each change: the reason when it went down, undefined when it is back. */
  onChange?(down: string | undefined): void;
}

/**
 * Tells whether the Kafka broker answers, by a small metadata request every 200 ms that must be
 * answered within 700 ms: a stopped broker (connection refused) and a frozen one (connection open,
 * nothing answered) look the same here. While it is down, a send is refused at once and one in
 * flight is given up, both with a retryable BusUnavailableError (503 / UNAVAILABLE to the sender),
 * instead of waiting out librdkafka's 30 s message timeout.
 */
export class BrokerWatch {
  readonly #o: Required<Omit<BrokerWatchOptions, 'onChange'>> & Pick<BrokerWatchOptions, 'onChange'>;
  #down: string | undefined;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  readonly #waiting = new Set<(reason: string) => void>();

  constructor(options: BrokerWatchOptions) {
    this.#o = { intervalMs: BROKER_PROBE_INTERVAL_MS, timeoutMs: BROKER_PROBE_TIMEOUT_MS, ...options };
  }

  /** Why the broker counts as down, or undefined while it answers. */
  get down(): string | undefined {
    return this.#down;
  }

  start(): void {
    if (this.#timer || this.#stopped) return;
    const tick = async () => {
      const started = Date.now();
      let failure: string | undefined;
      try {
        await withTimeout(this.#o.probe(this.#o.timeoutMs), this.#o.timeoutMs + 100);
      } catch (err) {
        failure = `the Kafka broker did not answer a metadata request within ${this.#o.timeoutMs} ms: ${(err as Error).message}`;
      }
      if (this.#stopped) return;
      this.#set(failure);
      this.#timer = setTimeout(tick, Math.max(0, this.#o.intervalMs - (Date.now() - started)));
      this.#timer.unref();
    };
    this.#timer = setTimeout(tick, 0);
    this.#timer.unref();
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /**
   * Runs a send unless the broker is down; gives it up (it may still be delivered later) when the
   * broker goes down while it waits for its acknowledgement.
   */
  guard<T>(send: () => Promise<T>): Promise<T> {
    if (this.#down !== undefined) return Promise.reject(new BusUnavailableError(this.#down));
    let giveUp!: (reason: string) => void;
    const wentDown = new Promise<never>((_, reject) => {
      giveUp = (reason) => reject(new BusUnavailableError(`${reason} (the records were not acknowledged)`));
    });
    this.#waiting.add(giveUp);
    return Promise.race([send(), wentDown]).finally(() => this.#waiting.delete(giveUp));
  }

  #set(down: string | undefined): void {
    if ((down === undefined) === (this.#down === undefined)) return;
    this.#down = down;
    this.#o.onChange?.(down);
    if (down !== undefined) {
      for (const giveUp of this.#waiting) giveUp(down);
      this.#waiting.clear();
    }
  }
}

function withTimeout(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<void>((_, reject) => {
      timer = setTimeout(() => reject(new Error('timed out')), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}
