/**
 * Latency quantiles of one edge-minute in a small sketch: logarithmic buckets (as DDSketch's) with
 * a relative accuracy of 1 %: a quantile it gives is within 1 % of a latency of that rank. Zero and
 * negative latencies count as 0. Memory: one map entry per occupied bucket (about 230 buckets per
 * factor 10 of latency), however many calls.
 */
const ACCURACY = 0.01;
const GAMMA = (1 + ACCURACY) / (1 - ACCURACY);
const LOG_GAMMA = Math.log(GAMMA);

export class LatencySketch {
  readonly #buckets = new Map<number, number>();
  #zeros = 0;
  count = 0;

  add(ms: number): void {
    this.count++;
    if (!(ms > 0)) {
      this.#zeros++;
      return;
    }
    const i = Math.ceil(Math.log(ms) / LOG_GAMMA);
    this.#buckets.set(i, (this.#buckets.get(i) ?? 0) + 1);
  }

  /** The q-quantile by nearest rank (the ceil(q·n)-th smallest latency), within 1 %; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    if (rank <= this.#zeros) return 0;
    let seen = this.#zeros;
    for (const i of [...this.#buckets.keys()].sort((a, b) => a - b)) {
      seen += this.#buckets.get(i)!;
      if (seen >= rank) return (2 * GAMMA ** i) / (GAMMA + 1); // the bucket (γ^(i-1), γ^i]'s value within ACCURACY of all of it
    }
    return NaN; // not reached: the buckets hold count - zeros
  }

  /** Occupied buckets (for tests and memory estimates). */
  get buckets(): number {
    return this.#buckets.size + (this.#zeros ? 1 : 0);
  }
}
