import { readFile } from "node:fs/promises";
import {
  type ConnectionOptions,
  credsAuthenticator,
  type NatsConnection,
  type ReconnectToServerHandler,
} from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { GatewayConfig } from "./config.js";
import type { Logger } from "./logger.js";

/**
 * The gateway's one NATS connection, shared by all its sockets. It reconnects forever: while NATS
 * is away, /readyz says so and sockets stay open; subscriptions are restored by the client library.
 * It pings the server every `--nats-ping-interval` ms and, after `--nats-max-pings-out` unanswered
 * pings, leaves it for another: a hung server (alive to TCP, answering nothing) is noticed in
 * seconds, not at the next TCP timeout.
 */
export async function connectNats(config: GatewayConfig, logger: Logger): Promise<NatsConnection> {
  const preference = new ServerPreference();
  const options: ConnectionOptions = {
    servers: [...config.nats],
    name: `herald-gateway-${config.gatewayId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    pingInterval: config.natsPingInterval,
    maxPingOut: config.natsMaxPingsOut,
    reconnectToServer: preference.choose,
    waitOnFirstConnect: false,
    timeout: 5000,
  };
  if (config.natsUser !== undefined) {
    options.user = config.natsUser;
    options.pass = config.natsPassword;
  }
  if (config.natsToken !== undefined) options.token = config.natsToken;
  if (config.natsCreds !== undefined) {
    options.authenticator = credsAuthenticator(await readFile(config.natsCreds));
  }
  if (config.natsTlsCa || config.natsTlsCert || config.natsTlsKey) {
    options.tls = {};
    if (config.natsTlsCa) options.tls.caFile = config.natsTlsCa;
    if (config.natsTlsCert) options.tls.certFile = config.natsTlsCert;
    if (config.natsTlsKey) options.tls.keyFile = config.natsTlsKey;
  }
  const nc = await connect(options);
  preference.connectedTo(nc.getServer());
  logger.info({ server: nc.getServer() }, "connected to NATS");
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") logger.warn({ server: status.server }, "NATS disconnected");
      else if (status.type === "reconnect") {
        preference.connectedTo(status.server);
        logger.info({ server: status.server }, "NATS reconnected");
      } else if (status.type === "staleConnection")
        // The disconnect that follows names the server; by now the client may be dialling the next.
        logger.warn("NATS server stopped answering pings; leaving it");
      else if (status.type === "error") logger.error({ err: status.error }, "NATS error");
      else if (status.type === "slowConsumer")
        logger.warn({ sub: status.sub.getSubject() }, "NATS slow consumer");
    }
  })();
  return nc;
}

/**
 * Which server to dial next. The client library would try the server it just lost first; when that
 * one hung (alive to TCP, silent), the dial waits out the whole handshake timeout before moving on.
 * So after a disconnect every other server is tried once, least recently dialled first, before the
 * one just left; then all of them in turn, for as long as it takes.
 */
export class ServerPreference {
  private left: string | undefined;
  /** When the first dial after leaving `left` was chosen: servers dialled before it are untried. */
  private since: number | undefined;

  /** The server the connection is on now (host:port). */
  connectedTo(server: string): void {
    this.left = server;
    this.since = undefined;
  }

  readonly choose: ReconnectToServerHandler = (pool) => {
    this.since ??= Date.now();
    const since = this.since;
    const untried = pool.filter((server) => server.listen !== this.left && server.lastConnect < since);
    let best: (typeof pool)[number] | undefined;
    for (const server of untried.length > 0 ? untried : pool) {
      if (!best || server.lastConnect < best.lastConnect) best = server;
    }
    return best ?? null;
  };
}
