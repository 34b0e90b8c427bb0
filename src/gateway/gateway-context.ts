import type { AuthClient } from "./auth-client.js";
import type { ChannelHub } from "./channel-hub.js";
import type { GatewayConfig } from "./config.js";
import type { ControlListener } from "./control-listener.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Recovery } from "./recovery.js";
import type { RpcRelay } from "./rpc-relay.js";

/**
 * What every session of one gateway shares: only the parts a session calls, so a session can be
 * driven in a unit test with stand-ins for NATS.
 */
export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly auth: Pick<AuthClient, "authenticate">;
  readonly hub: Pick<ChannelHub, "join" | "leave">;
  /** Replays what reconnecting clients missed; undefined when history is off. */
  readonly recovery: Recovery | undefined;
  /** Forwards clients' `rpc` frames to the backend. */
  readonly rpc: Pick<RpcRelay, "answer" | "refusal">;
  /** Disconnects that arrived while a connection's auth was being answered. */
  readonly control: Pick<ControlListener, "disconnectedSince">;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
}
