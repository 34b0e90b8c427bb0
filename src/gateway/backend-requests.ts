import type { NatsConnection } from "@nats-io/nats-core";
import type { Subjects } from "../protocol/index.js";
import { AuthClient } from "./auth-client.js";
import type { GatewayConfig } from "./config.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";
import { RpcRelay } from "./rpc-relay.js";
import { SubscribeAuthorizer } from "./subscribe-authorizer.js";

/** What the gateway asks the backend over NATS request/reply, each kind with its own limits. */
export interface BackendRequests {
  /** `<prefix>.auth`: who a token is. */
  readonly auth: AuthClient;
  /** `<prefix>.subscribe`: whether a user may have a channel. */
  readonly subscribe: SubscribeAuthorizer;
  /** `<prefix>.rpc.<method>`: a client's call. */
  readonly rpc: RpcRelay;
  /** Lets go of their inbox subscriptions; requests still waiting are answered as failed. */
  close(): void;
}

export function backendRequests(
  nc: NatsConnection,
  /** False while NATS is away: then no request waits for a reply. */
  usable: () => boolean,
  subjects: Subjects,
  config: GatewayConfig,
  logger: Logger,
  metrics: GatewayMetrics,
): BackendRequests {
  const auth = new AuthClient({
    nc,
    isConnected: usable,
    subject: subjects.auth,
    timeoutMs: config.authRequestTimeout,
    concurrency: config.authConcurrency,
    queueLimit: config.authQueue,
    logger,
    metrics,
  });
  const subscribe = new SubscribeAuthorizer(
    nc,
    usable,
    subjects.subscribe,
    config.subscribeRequestTimeout,
    logger,
  );
  const rpc = new RpcRelay(
    nc,
    usable,
    subjects,
    { gatewayId: config.gatewayId, timeoutMs: config.rpcTimeout, maxReplyBytes: config.maxRpcReplyBytes },
    logger,
    metrics,
  );
  return {
    auth,
    subscribe,
    rpc,
    close() {
      auth.close();
      subscribe.close();
      rpc.close();
    },
  };
}
