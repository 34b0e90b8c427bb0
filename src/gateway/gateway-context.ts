import type { ErrorCodeName, PresenceInfo } from "../protocol/index.js";
import type { AuthClient } from "./backend/auth-client.js";
import type { ControlListener } from "./backend/control-listener.js";
import type { InFlightPerAddress } from "./backend/in-flight-per-address.js";
import type { RpcRelay } from "./backend/rpc-relay.js";
import type { SubscribeAuthorizer } from "./backend/subscribe-authorizer.js";
import type { GatewayConfig } from "./config/config.js";
import type { ChannelHub } from "./delivery/channel-hub.js";
import type { OutboundFrame } from "./delivery/outbound-frame.js";
import type { Recovery } from "./history/recovery.js";
import type { InboxConnections } from "./inbox/inbox-connections.js";
import type { Logger } from "./logger.js";
import type { GatewayMetrics } from "./metrics.js";

/**
 * What every session of one gateway shares: only the parts a session calls, so a session can be
 * driven in a unit test with stand-ins for NATS.
 */
export interface GatewayContext {
  readonly config: GatewayConfig;
  readonly auth: Pick<AuthClient, "authenticate">;
  readonly hub: Pick<ChannelHub, "join" | "leave">;
  /** Asks the backend whether a connection may subscribe to a channel. */
  readonly subscribe: Pick<SubscribeAuthorizer, "authorize">;
  /** Replays what reconnecting clients missed; undefined when history is off. */
  readonly recovery: Recovery | undefined;
  /** Forwards clients' `rpc` frames to the backend. */
  readonly rpc: Pick<RpcRelay, "answer" | "refusal">;
  /** RPC calls and subscribes waiting for the backend per client address (`--max-in-flight-per-ip`). */
  readonly inFlightPerAddress: Pick<InFlightPerAddress, "limit" | "take" | "release">;
  /** Disconnects and removals that arrived while a connection's auth was being answered. */
  readonly control: Pick<ControlListener, "disconnectedSince" | "removedSince">;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  /** Tracking: connection events, presence and the registry (`tracking/`); no-ops when both are off. */
  readonly tracking: Tracking;
  /** The notification inbox (src/gateway/inbox); answers `UNAVAILABLE` when it is off. */
  readonly inbox: InboxConnections;
}

/** A connection as tracking sees it (a Session). */
export interface TrackedConnection {
  readonly id: string;
  readonly user: string | undefined;
  /** Writes a frame unless the socket's outbound queue is over its limit. */
  send(frame: OutboundFrame): void;
  /** Sends an error frame and closes with the code for `code`. */
  fail(code: ErrorCodeName, message: string): void;
}

/** What the backend granted a connection at auth, as tracking needs it. */
export interface ConnectionGrant {
  readonly user: string;
  /** Shared channels granted at auth, as clients name them (`channel.<name>`). */
  readonly channels: readonly string[];
  /** Those of them with presence (`channel.<name>`). */
  readonly presence: readonly string[];
  readonly info: PresenceInfo | undefined;
}

/** How a connection ended. */
export interface ConnectionClose {
  readonly code: number;
  /** The client ended it with a close frame (not a drop, not the gateway). */
  readonly byClient: boolean;
  /** The gateway's fixed close reason (its error code) when the gateway closed it. */
  readonly reason: string | undefined;
}

/**
 * Tracking (`--events`, `--presence`): the hooks of a connection's life that connection events,
 * presence and the registry listen on. A session calls
 * `ready` once `ready` has gone out and `closed` when a ready connection ends; code that subscribes
 * or unsubscribes a ready connection to a channel later calls `subscribed` / `unsubscribed`.
 */
export interface Tracking {
  ready(connection: TrackedConnection, grant: ConnectionGrant): void;
  /** `presence`: the connection takes part in the channel's presence from now on. */
  subscribed(connection: TrackedConnection, channel: string, presence: boolean): void;
  unsubscribed(connection: TrackedConnection, channel: string): void;
  closed(connection: TrackedConnection, close: ConnectionClose): void;
  /** A client's `presence` frame: answered with a `presence` or `presence_error` frame. */
  presenceRequested(connection: TrackedConnection, channel: string): void;
}
