/** Tokens left in one address's bucket, as of `at` (ms, monotonic). */
interface Bucket {
  tokens: number;
  at: number;
}

/**
 * New connections per client address: a token bucket each, `burst` deep and refilled at `perSecond`.
 * A crowd behind one NAT reconnecting at once fits the burst; one address opening connections in a
 * loop gets the rate and no more. A bucket that has filled up again is forgotten (a full one is what
 * an unknown address gets), so the map holds only addresses seen within `burst / perSecond` seconds.
 */
export class ConnectRate {
  private readonly buckets = new Map<string, Bucket>();
  private readonly refillMs: number;
  private sweptAt = 0;

  constructor(
    /** New connections per second per address on average; 0 for no limit. */
    readonly perSecond: number,
    /** New connections one address may open at once. */
    readonly burst: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.refillMs = perSecond > 0 ? (burst / perSecond) * 1000 : 0;
  }

  get limited(): boolean {
    return this.perSecond > 0;
  }

  /** Takes one token for `address`: false when its bucket is empty. */
  take(address: string): boolean {
    if (this.perSecond === 0) return true;
    const now = this.now();
    if (now - this.sweptAt > this.refillMs) this.sweep(now);
    const bucket = this.buckets.get(address);
    if (!bucket) {
      this.buckets.set(address, { tokens: this.burst - 1, at: now });
      return true;
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    if (bucket.tokens < 1) return false;
    bucket.tokens -= 1;
    return true;
  }

  /** Addresses with a bucket now (for tests and the sweep's bound). */
  get size(): number {
    return this.buckets.size;
  }

  private sweep(now: number): void {
    this.sweptAt = now;
    for (const [address, bucket] of this.buckets)
      if (now - bucket.at >= this.refillMs) this.buckets.delete(address);
  }
}
