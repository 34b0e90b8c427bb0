import { readFile } from "node:fs/promises";
import { type ConnectionOptions, credsAuthenticator, type NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import type { GatewayConfig } from "./config.js";
import type { Logger } from "./logger.js";

/**
 * The gateway's one NATS connection, shared by all its sockets. It reconnects forever: while NATS
 * is away, /readyz says so and sockets stay open; subscriptions are restored by the client library.
 */
export async function connectNats(config: GatewayConfig, logger: Logger): Promise<NatsConnection> {
  const options: ConnectionOptions = {
    servers: [...config.nats],
    name: `herald-gateway-${config.gatewayId}`,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    reconnectJitter: 250,
    pingInterval: 10_000,
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
  logger.info({ server: nc.getServer() }, "connected to NATS");
  void (async () => {
    for await (const status of nc.status()) {
      if (status.type === "disconnect") logger.warn({ server: status.server }, "NATS disconnected");
      else if (status.type === "reconnect") logger.info({ server: status.server }, "NATS reconnected");
      else if (status.type === "error") logger.error({ err: status.error }, "NATS error");
      else if (status.type === "slowConsumer")
        logger.warn({ sub: status.sub.getSubject() }, "NATS slow consumer");
    }
  })();
  return nc;
}
