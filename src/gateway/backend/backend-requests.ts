import type { NatsConnection } from "@nats-io/nats-core";
import { RequestMux } from "../../nats/request-mux.js";
import type { Subjects } from "../../protocol/index.js";
import type { GatewayConfig } from "../config/config.js";
import type { Logger } from "../logger.js";
import type { GatewayMetrics } from "../metrics.js";
import { AuthClient } from "./auth-client.js";
import type { BackendLine } from "./backend-request.js";
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
  /** Lets go of the inbox subscription; requests still waiting are answered as not sent. */
  close(): void;
}

export interface BackendRequestsOptions {
  readonly nc: NatsConnection;
  /** False while NATS is away: then no request waits for a reply. */
  readonly usable: () => boolean;
  readonly subjects: Subjects;
  /** Each kind's timeout and limits. */
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
}

/** Auth, subscribe and rpc requests, all sent and read by `askBackend` through one request mux. */
export function backendRequests(options: BackendRequestsOptions): BackendRequests {
  const { nc, usable, subjects, config, logger, metrics } = options;
  const mux = new RequestMux(nc);
  const line: BackendLine = {
    requests: mux,
    isConnected: usable,
    maxPayload: () => nc.info?.max_payload,
    logger,
  };
  const auth = new AuthClient({
    line,
    subject: subjects.auth,
    timeoutMs: config.authRequestTimeout,
    concurrency: config.authConcurrency,
    queueLimit: config.authQueue,
    metrics,
  });
  const subscribe = new SubscribeAuthorizer({
    line,
    subject: subjects.subscribe,
    timeoutMs: config.subscribeRequestTimeout,
  });
  const rpc = new RpcRelay({
    line,
    subjects,
    metrics,
    gatewayId: config.gatewayId,
    timeoutMs: config.rpcTimeout,
    maxReplyBytes: config.maxRpcReplyBytes,
  });
  return {
    auth,
    subscribe,
    rpc,
    close() {
      mux.close();
    },
  };
}
