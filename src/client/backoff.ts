export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. Default 500. */
  initialMs?: number;
  /** The bound never grows past this, in ms. Default 30 000. */
  maxMs?: number;
  /** Source of randomness in [0, 1); `Math.random` by default. Inject one to make delays predictable. */
  random?: () => number;
}

/**
 * Exponential backoff with full jitter: attempt n waits random(0, min(maxMs, initialMs * 2^n)).
 * Full jitter spreads the clients of a failed gateway evenly instead of in synchronized waves.
 */
export class Backoff {
  readonly initialMs: number;
  readonly maxMs: number;
  readonly random: () => number;
  private attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = Math.max(0, options.initialMs ?? 500);
    this.maxMs = Math.max(this.initialMs, options.maxMs ?? 30_000);
    this.random = options.random ?? Math.random;
  }

  /** The delay before the next attempt; each call counts one more attempt. */
  next(): number {
    // Capping the exponent keeps 2^n finite however long a gateway stays down.
    const ceiling = Math.min(this.maxMs, this.initialMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  /** Called once a connection is ready: the next failure starts from the smallest delay again. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
