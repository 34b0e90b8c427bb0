import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import type { NatsConnectionImpl } from "@nats-io/nats-core/internal";
import { connect } from "@nats-io/transport-node";
import { natsAccess, natsClientOptions } from "../../nats/connection-options.js";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import { NatsLink } from "./nats-link.js";

/**
 * The gateway's one NATS connection, shared by all its sockets. It reconnects forever: while NATS
 * is away, /readyz says so and sockets stay open; subscriptions are restored by the client library.
 * It pings the server every `--nats-ping-interval` ms and, after `--nats-max-pings-out` unanswered
 * pings, leaves it for another: a hung server (alive to TCP, answering nothing) is noticed in
 * seconds, not at the next TCP timeout. Its status is read by the returned `NatsLink` alone.
 */
export async function connectNats(config: GatewayConfig, logger: Logger): Promise<NatsLink> {
  const options: ConnectionOptions = {
    // servers, credentials and TLS
    ...(await natsClientOptions(natsAccess(config))),
    name: `herald-gateway-${config.gatewayId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    pingInterval: config.natsPingInterval,
    maxPingOut: config.natsMaxPingsOut,
    waitOnFirstConnect: false,
    timeout: 5000,
    // Without it every request (JetStream API calls: a recovery makes several) builds two Errors
    // with stack traces up front in case it fails: a fifth of the gateway's CPU in a reconnect storm.
    noAsyncTraces: true,
  };
  const nc = await connect(options);
  dialOthersFirst(nc);
  logger.info({ server: nc.getServer() }, "connected to NATS");
  const link = new NatsLink(nc, logger);
  // Servers the cluster advertises join the ring after the one in use.
  link.onUpdate(() => dialOthersFirst(nc));
  return link;
}

/**
 * The client library keeps its servers in a ring and, when a connection drops, dials the next one
 * in it. After the first connect that is the very server just lost (it stays at the head of the
 * ring; each reconnect then leaves the server in use at the tail). Against a hung server that first
 * attempt waits out the whole handshake timeout. Moving the server in use to the tail (at connect,
 * and when the cluster advertises more servers) makes every reconnect try the others first, and the
 * one just left last. The ring is not public API: on a client version without it, the library's
 * own order is kept.
 */
function dialOthersFirst(nc: NatsConnection): void {
  const servers = (nc as Partial<NatsConnectionImpl>).protocol?.servers;
  const ring = servers?.getServers?.();
  const current = servers?.getCurrentServer?.();
  if (!Array.isArray(ring) || !current) return;
  const at = ring.indexOf(current);
  if (at < 0 || ring.length < 2) return;
  ring.splice(at, 1);
  ring.push(current);
}
