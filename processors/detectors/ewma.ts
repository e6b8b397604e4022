/*
 * Baseline detectors shared by the processors that judge a series against its own past (health's
 * per-series anomaly detection, edge_signals' per-edge error ratio and p95 latency). Logic only: no
 * config schema, no topic; each processor validates its own options and passes them here.
 */

/** What an EwmaDetector needs; a processor's validated anomaly config is one (extra keys are ignored). */
export interface EwmaOptions {
  /** Weight of the newest value in the mean and variance (0 < alpha < 1). */
  alpha: number;
  /** Values a series needs before it can be anomalous. */
  warmup: number;
  /** |z| at which a series becomes anomalous, and below which it is normal again (hysteresis). */
  enter_z: number;
  exit_z: number;
  /** Least standard deviation a z-score is taken against (default 0: the variance as it is). */
  min_sd?: number;
  /** Least standard deviation as a fraction of |mean| (default 0). */
  min_sd_ratio?: number;
  /** Only values above the mean are anomalous; values below move the baseline (default false: both ways). */
  upward_only?: boolean;
}

/** What a detector keeps: enough to put it back (a changelog stores it). */
export interface EwmaState {
  n: number;
  mean: number;
  variance: number;
  anomalous: boolean;
}

/** Exponentially weighted mean and variance of one series, with hysteresis on its z-score. */
export class EwmaDetector implements EwmaState {
  n = 0;
  mean = 0;
  variance = 0;
  anomalous = false;
  constructor(readonly cfg: EwmaOptions) {}

  /** The standard deviation z-scores are taken against: the variance's, raised to the configured floors. */
  get sd(): number {
    return Math.max(Math.sqrt(this.variance), this.cfg.min_sd ?? 0, (this.cfg.min_sd_ratio ?? 0) * Math.abs(this.mean));
  }

  /** Feeds one value; returns 'enter' or 'exit' when the series changes state, else undefined. */
  observe(value: number): { change: 'enter' | 'exit' | undefined; z: number } {
    const { alpha, warmup, enter_z, exit_z } = this.cfg;
    const sd = this.sd;
    const z = this.n >= warmup ? (sd > 0 ? (value - this.mean) / sd : value === this.mean ? 0 : value > this.mean ? Infinity : -Infinity) : 0;
    const score = this.cfg.upward_only ? z : Math.abs(z);
    let change: 'enter' | 'exit' | undefined;
    if (!this.anomalous && score >= enter_z) {
      this.anomalous = true;
      change = 'enter';
    } else if (this.anomalous && score < exit_z) {
      this.anomalous = false;
      change = 'exit';
    }
    // An anomalous value does not move the baseline, so one spike does not hide the next.
    if (!this.anomalous || this.n < warmup) {
      if (this.n === 0) this.mean = value;
      const diff = value - this.mean;
      this.mean += alpha * diff;
      this.variance = (1 - alpha) * (this.variance + alpha * diff * diff);
    }
    this.n++;
    return { change, z };
  }

  state(): EwmaState {
    return { n: this.n, mean: this.mean, variance: this.variance, anomalous: this.anomalous };
  }

  /** A detector put back from its state. */
  static from(cfg: EwmaOptions, s: EwmaState): EwmaDetector {
    const d = new EwmaDetector(cfg);
    d.n = s.n;
    d.mean = s.mean;
    d.variance = s.variance;
    d.anomalous = s.anomalous;
    return d;
  }
}
