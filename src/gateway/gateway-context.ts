import type { Subjects } from "../protocol/index.js";
import type { AuthClient } from "./auth-client.js";
import type { ChannelHub } from "./channel-hub.js";
import type { GatewayConfig } from "./config.js";
import type { History } from "./history.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";
import type { Recovery } from "./recovery.js";

/** What every session of one gateway shares. */
export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly subjects: Subjects;
  readonly auth: AuthClient;
  readonly hub: ChannelHub;
  /** Undefined when history is off. */
  readonly history: History | undefined;
  /** Replays what reconnecting clients missed; undefined when history is off. */
  readonly recovery: Recovery | undefined;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
}
