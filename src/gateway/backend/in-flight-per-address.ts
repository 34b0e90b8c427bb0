import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";

/** What a slot is held for: a client's `rpc` call, or a `subscribe` asked of the backend. */
export type InFlightKind = "rpc" | "subscribe";

/** Between two warnings about refusals: a flood logs a line per interval, not one per frame. */
const WARN_EVERY_MS = 10_000;

/**
 * Requests waiting for the backend per client address: RPC calls and subscribe requests, the one
 * count of them in a gateway. A slot is held from the request until the backend answers or the
 * request times out, also when the connection that made it closed meanwhile: closing and reopening
 * connections never multiplies what one address keeps waiting at the backend. A refusal is counted
 * in `herald_in_flight_per_ip_refused_total` and logged at most every 10 s, naming the address.
 */
export class InFlightPerAddress {
  private readonly held = new Map<string, number>();
  private warnedAt = Number.NEGATIVE_INFINITY;
  private refusedSinceWarning = 0;

  constructor(
    /** `--max-in-flight-per-ip`; 0: no limit, and nothing is counted. */
    readonly limit: number,
    private readonly logger: Logger,
    private readonly metrics: GatewayMetrics,
  ) {}

  /** Takes a slot for `address`, or refuses when it holds them all. A slot taken is released once. */
  take(address: string, kind: InFlightKind): boolean {
    if (this.limit === 0) return true;
    const held = this.held.get(address) ?? 0;
    if (held >= this.limit) {
      this.refused(address, kind);
      return false;
    }
    this.held.set(address, held + 1);
    return true;
  }

  release(address: string): void {
    const held = this.held.get(address);
    if (held === undefined) return;
    if (held > 1) this.held.set(address, held - 1);
    else this.held.delete(address);
  }

  private refused(address: string, kind: InFlightKind): void {
    this.metrics.inFlightRefused.inc({ kind });
    this.refusedSinceWarning++;
    const now = Date.now();
    if (now - this.warnedAt < WARN_EVERY_MS) return;
    this.logger.warn(
      { address, limit: this.limit, kind, refused: this.refusedSinceWarning },
      "a client address has --max-in-flight-per-ip calls and subscribes waiting for the backend; more are refused with TOO_MANY_FROM_ADDRESS. Many users behind one NAT or proxy: raise --max-in-flight-per-ip, or set --trusted-proxies so the proxy's clients are told apart",
    );
    this.warnedAt = now;
    this.refusedSinceWarning = 0;
  }
}
