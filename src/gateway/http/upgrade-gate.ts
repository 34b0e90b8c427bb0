import type { IncomingMessage, Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { addressKey, ClientAddresses, normalizeAddress } from "./client-address.js";
import { ConnectRate } from "./connect-rate.js";
import { ConnectionLimits, derivedMaxConnections } from "./connection-limits.js";
import { OriginPolicy } from "./origin-policy.js";
import { startsLikeProxyHeader } from "./proxy-protocol.js";
import { RefusalLog } from "./refusal-log.js";
import { SocketIntake } from "./socket-intake.js";

/** The client address whose slot a TCP socket holds, kept on the socket itself. */
const SLOT = Symbol("herald.slot");
type SlotHolder = (Duplex | ServerResponse) & { [SLOT]?: string };

/** Sockets one address may hold before sending their request: this share of the connection limit. */
const PENDING_SHARE = 4;
/** …but never fewer than this, however small the limit. */
const MIN_PENDING = 16;

/** What an admitted request takes of its address's limits (see `UpgradeGate.admit`). */
export type Admission = "connection" | "attempt" | "slot";

export type GateAnswer =
  | { readonly admitted: true; readonly address: string; readonly key: string }
  | {
      readonly admitted: false;
      readonly status: 403 | 429 | 503;
      readonly text: string;
      /** Seconds a client refused for its connection rate should wait (the `Retry-After` header). */
      readonly retryAfter?: number;
    };

/**
 * Everything checked about a connection before any WebSocket work: at accept, the sockets its
 * address holds that have not sent a request yet (and a trusted balancer's PROXY header); at the
 * upgrade, its origin, then the connection limits and the connection rate of its client address.
 * An admitted connection holds its slot until `release`.
 */
export class UpgradeGate {
  private readonly origins: OriginPolicy;
  private readonly addresses: ClientAddresses;
  readonly limits: ConnectionLimits;
  private readonly rate: ConnectRate;
  private readonly refusals: RefusalLog;
  readonly intake: SocketIntake;
  /** One `close` listener shared by every socket: no closure per connection. */
  private readonly releaseOnClose: (this: SlotHolder) => void;

  constructor(
    private readonly config: GatewayConfig,
    private readonly metrics: GatewayMetrics,
    logger: Logger,
  ) {
    this.origins = new OriginPolicy(config.allowedOrigins);
    this.addresses = new ClientAddresses(config.trustedProxies);
    const derived = derivedMaxConnections();
    const maxTotal = config.maxConnections > 0 ? config.maxConnections : derived.limit;
    this.limits = new ConnectionLimits(maxTotal, config.maxConnectionsPerIp);
    this.rate = new ConnectRate(config.connectRatePerIp, config.connectBurstPerIp);
    this.refusals = new RefusalLog(logger);
    const maxPendingPerAddress = Math.max(MIN_PENDING, Math.floor(maxTotal / PENDING_SHARE));
    this.intake = new SocketIntake({
      addresses: this.addresses,
      keyOf: (address) => addressKey(address, config.ipv6Prefix),
      maxPendingPerAddress,
      proxyProtocol: config.proxyProtocol,
      headerTimeoutMs: config.upgradeTimeout,
      metrics,
      refusals: this.refusals,
    });
    const limits = this.limits;
    this.releaseOnClose = function (this: SlotHolder) {
      const key = this[SLOT];
      if (key === undefined) return;
      this[SLOT] = undefined;
      limits.release(key);
    };
    if (this.origins.allowsAll)
      logger.warn(
        "--allowed-origins is unset: pages of any origin may open WebSockets here; set it to your app's origins",
      );
    if (config.proxyProtocol && config.trustedProxies.length === 0)
      logger.warn("--proxy-protocol is on but --trusted-proxies is empty: no PROXY header will be read");
    logger.info(
      {
        maxConnections: maxTotal,
        openFiles: derived.openFiles,
        perIp: config.maxConnectionsPerIp,
        ratePerIp: config.connectRatePerIp,
        burstPerIp: config.connectBurstPerIp,
        pendingPerIp: maxPendingPerAddress,
        ipv6Prefix: config.ipv6Prefix,
        proxyProtocol: config.proxyProtocol,
      },
      "connection limits",
    );
  }

  /** Takes over the server's accepted sockets (see `SocketIntake`). */
  attach(server: Server): void {
    this.intake.attach(server);
  }

  /**
   * Checks a request against the origins and the limits of its client address. What it takes:
   * `connection` (a WebSocket upgrade, an HTTP stream) a slot and a token of the connection rate;
   * `attempt` (an SSE ticket, a POST naming no stream) only a token, as it is half of a connect or
   * a failed one; `slot` (the GET that redeems an SSE ticket, whose token its ticket took) only a slot.
   */
  admit(req: IncomingMessage, takes: Admission = "connection"): GateAnswer {
    this.intake.upgraded(req.socket);
    const origin = req.headers.origin;
    if (!this.allowsOrigin(origin)) return this.refuse(403, "Forbidden", "origin");
    const address = this.addresses.of(req);
    const key = addressKey(address, this.config.ipv6Prefix);
    if (takes !== "attempt") {
      const refusal = this.limits.admit(key);
      if (refusal?.reason === "total") return this.refuse(503, "Service Unavailable", "max_connections");
      if (refusal?.reason === "per_ip") {
        this.refusals.refused("max_connections_per_ip", key, this.config.maxConnectionsPerIp);
        return this.refuse(429, "Too Many Requests", "max_connections_per_ip");
      }
    }
    if (takes !== "slot" && !this.rate.take(key)) {
      if (takes === "connection") this.limits.release(key);
      this.refusals.refused("connect_rate_per_ip", key, this.config.connectRatePerIp);
      this.metrics.refusedUpgrades.inc({ reason: "connect_rate_per_ip" });
      return { admitted: false, status: 429, text: "Too Many Requests", retryAfter: 1 };
    }
    return { admitted: true, address, key };
  }

  /** Whether a page of this origin may connect (no `Origin`: not a browser, let through). */
  allowsOrigin(origin: string | string[] | undefined): boolean {
    return this.origins.allows(typeof origin === "string" ? origin : undefined);
  }

  /**
   * Binds an admitted connection's slot to its TCP socket (or an HTTP stream's response): released
   * when it closes, handshake or not.
   */
  holdUntilClose(socket: Duplex | ServerResponse, key: string): void {
    (socket as SlotHolder)[SLOT] = key;
    socket.on("close", this.releaseOnClose);
  }

  /**
   * A request the HTTP parser could not read. One that starts with a PROXY header came from a peer
   * the gateway does not take PROXY headers from (or with --proxy-protocol off): said so, since a
   * balancer set up on one side only refuses every client.
   */
  clientError(err: Error & { rawPacket?: Buffer }, socket: Duplex): void {
    if (!err.rawPacket || !startsLikeProxyHeader(err.rawPacket)) return;
    const peer = normalizeAddress((socket as Socket).remoteAddress ?? "");
    const why = !this.config.proxyProtocol
      ? "it sent a PROXY protocol header and --proxy-protocol is off"
      : this.addresses.isTrusted(peer)
        ? "it sent a second PROXY protocol header where its HTTP request belongs"
        : "it sent a PROXY protocol header and is not in --trusted-proxies";
    this.metrics.refusedUpgrades.inc({ reason: "proxy_header" });
    this.refusals.refused("proxy_header", peer, why);
  }

  close(): void {
    this.refusals.close();
  }

  private refuse(status: 403 | 429 | 503, text: string, reason: string): GateAnswer {
    this.metrics.refusedUpgrades.inc({ reason });
    return { admitted: false, status, text };
  }
}
