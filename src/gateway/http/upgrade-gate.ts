import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { ClientAddresses } from "./client-address.js";
import { ConnectionLimits, derivedMaxConnections } from "./connection-limits.js";
import { OriginPolicy } from "./origin-policy.js";

/** The client address whose slot a TCP socket holds, kept on the socket itself. */
const SLOT = Symbol("herald.slot");
type SlotHolder = Duplex & { [SLOT]?: string };

export type GateAnswer =
  | { readonly admitted: true; readonly address: string }
  | { readonly admitted: false; readonly status: 403 | 429 | 503; readonly text: string };

/**
 * Everything checked about an upgrade request before any WebSocket work: its origin, then the
 * connection limits for its client address. An admitted connection holds its slot until `release`.
 */
export class UpgradeGate {
  private readonly origins: OriginPolicy;
  private readonly addresses: ClientAddresses;
  readonly limits: ConnectionLimits;
  /** One `close` listener shared by every socket: no closure per connection. */
  private readonly releaseOnClose: (this: SlotHolder) => void;

  constructor(
    config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
    logger: Logger,
  ) {
    this.origins = new OriginPolicy(config.allowedOrigins);
    this.addresses = new ClientAddresses(config.trustedProxies);
    const derived = derivedMaxConnections();
    const maxTotal = config.maxConnections > 0 ? config.maxConnections : derived.limit;
    this.limits = new ConnectionLimits(maxTotal, config.maxConnectionsPerIp);
    const limits = this.limits;
    this.releaseOnClose = function (this: SlotHolder) {
      const address = this[SLOT];
      if (address === undefined) return;
      this[SLOT] = undefined;
      limits.release(address);
    };
    if (this.origins.allowsAll)
      logger.warn(
        "--allowed-origins is unset: pages of any origin may open WebSockets here; set it to your app's origins",
      );
    logger.info(
      { maxConnections: maxTotal, openFiles: derived.openFiles, perIp: config.maxConnectionsPerIp },
      "connection limits",
    );
  }

  admit(req: IncomingMessage): GateAnswer {
    const origin = req.headers.origin;
    if (!this.origins.allows(typeof origin === "string" ? origin : undefined))
      return this.refuse(403, "Forbidden", "origin");
    const address = this.addresses.of(req);
    const refusal = this.limits.admit(address);
    if (refusal?.reason === "total") return this.refuse(503, "Service Unavailable", "max_connections");
    if (refusal?.reason === "per_ip") return this.refuse(429, "Too Many Requests", "max_connections_per_ip");
    return { admitted: true, address };
  }

  /** Binds an admitted connection's slot to its TCP socket: released when it closes, handshake or not. */
  holdUntilClose(socket: Duplex, address: string): void {
    (socket as SlotHolder)[SLOT] = address;
    socket.on("close", this.releaseOnClose);
  }

  private refuse(status: 403 | 429 | 503, text: string, reason: string): GateAnswer {
    this.metrics.refusedUpgrades.inc({ reason });
    return { admitted: false, status, text };
  }
}
