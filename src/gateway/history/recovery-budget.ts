import type { Gauge } from "prom-client";

interface Waiter {
  readonly bytes: number;
  readonly resolve: () => void;
}

/**
 * The bytes of history that all recovering clients of a gateway hold in memory at once: pages read
 * and not yet handed to their sockets. A page is reserved at its largest before it is read, trimmed
 * to what arrived, and given back frame by frame as it is written. Readers past the budget wait
 * their turn, first come first served; one reader may pass it alone when nothing else is held, so a
 * page larger than the whole budget still gets read.
 */
export class RecoveryBudget {
  private held = 0;
  private peak = 0;
  private readonly waiters: Waiter[] = [];

  constructor(
    readonly limit: number,
    private readonly heldGauge: Gauge,
    private readonly peakGauge: Gauge,
  ) {}

  /** Bytes held now. */
  get bytes(): number {
    return this.held;
  }

  /** Resolves once `bytes` are reserved. */
  reserve(bytes: number): Promise<void> {
    if (this.waiters.length === 0 && this.fits(bytes)) {
      this.take(bytes);
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiters.push({ bytes, resolve }));
  }

  release(bytes: number): void {
    if (bytes <= 0) return;
    this.held -= bytes;
    this.heldGauge.set(this.held);
    while (this.waiters.length > 0 && this.fits(this.waiters[0]!.bytes)) {
      const waiter = this.waiters.shift()!;
      this.take(waiter.bytes);
      waiter.resolve();
    }
  }

  private fits(bytes: number): boolean {
    return this.held === 0 || this.held + bytes <= this.limit;
  }

  private take(bytes: number): void {
    this.held += bytes;
    this.heldGauge.set(this.held);
    if (this.held > this.peak) {
      this.peak = this.held;
      this.peakGauge.set(this.peak);
    }
  }
}
