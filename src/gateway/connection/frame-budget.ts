/**
 * A token bucket for one connection's frames: `burst` frames at once, refilled at `rate` per second.
 * Two numbers per connection, refilled lazily on each frame, so idle connections cost no timer.
 */
export class FrameBudget {
  private tokens: number;
  private refilledAt: number;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
    now = Date.now(),
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** Takes one frame's token; false when the connection is over its rate. */
  take(now = Date.now()): boolean {
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.rate) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
