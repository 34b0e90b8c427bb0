import type { NatsConnection } from "@nats-io/nats-core";
import type { Logger } from "./logger.js";

/**
 * Whether the gateway's NATS connection can serve right now: connected, and the server answering.
 * A hung server keeps the TCP connection up while answering nothing, so "connected" alone stays
 * true for as long as it takes the client to give up on it; the client's pings tell sooner. Each
 * ping tick reports how many pings are outstanding: more than one means the last ping went a whole
 * interval unanswered. Then the gateway is not ready (the load balancer sends new clients
 * elsewhere) and auth requests fail at once instead of waiting out their timeout.
 */
export class NatsHealth {
  private connected = true;
  private silent = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
  ) {
    void this.watch();
  }

  /** Why NATS cannot serve right now, or undefined when it can. */
  notReadyReason(): string | undefined {
    if (!this.connected || this.nc.isClosed()) return "NATS is not connected";
    if (this.silent) return "the NATS server is not answering";
    return undefined;
  }

  get usable(): boolean {
    return this.notReadyReason() === undefined;
  }

  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      switch (status.type) {
        case "disconnect":
          this.connected = false;
          this.silent = false;
          break;
        case "reconnect":
          this.connected = true;
          this.silent = false;
          break;
        case "ping": {
          const silent = status.pendingPings > 1;
          if (silent && !this.silent) this.logger.warn("NATS server not answering pings; not ready");
          else if (!silent && this.silent) this.logger.info("NATS server answering again; ready");
          this.silent = silent;
          break;
        }
      }
    }
  }
}
