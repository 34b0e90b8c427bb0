import {
  type AuthAccepted,
  type ErrorCodeName,
  type ReadyFrame,
  type RecoverRequest,
  sharedChannel,
  userChannel,
} from "../protocol/index.js";
import { readyFrame } from "./auth-exchange.js";
import type { ChannelMember } from "./channel-hub.js";
import type { GatewayContext } from "./gateway-context.js";
import type { ChannelReplay } from "./recovery.js";
import type { Subscriptions } from "./subscriptions.js";

/** The connection a join is for (the session). */
export interface JoiningConnection extends ChannelMember {
  readonly id: string;
  readonly isOpen: boolean;
  readonly subscriptions: Subscriptions;
}

/** What an accepted connect joined: the `ready` frame to send and what to replay after it. */
export interface Joined {
  readonly kind: "joined";
  readonly ready: ReadyFrame;
  /** The granted shared channels, as clients name them (the user's own channel left out). */
  readonly shared: string[];
  readonly presence: string[];
  readonly replays: readonly ChannelReplay[];
}

export type JoinResult =
  | Joined
  | { readonly kind: "failed"; readonly code: ErrorCodeName; readonly message: string }
  /** The connection closed meanwhile: it already let go of its channels. */
  | { readonly kind: "closed" };

/**
 * Step 5 of a connect: subscribes the connection to its granted channels and, when it asked to
 * recover, decides what it gets replayed. Live frames that arrive meanwhile wait in the session's
 * replay; the session sends `ready` and runs the replay with what this returns.
 */
export async function joinGranted(
  connection: JoiningConnection,
  ctx: Pick<GatewayContext, "hub" | "recovery" | "config" | "logger">,
  reply: AuthAccepted,
  recover: RecoverRequest | undefined,
): Promise<JoinResult> {
  const { hub, recovery, config, logger } = ctx;
  // The schema already checked the alphabet; building the names checks it again, in one place.
  // Spread from a Set: an array of exactly this length (one built by appending keeps spare slots).
  const channels = connection.subscriptions.grant([
    ...new Set([userChannel(reply.user), ...(reply.channels ?? []).map(sharedChannel)]),
  ]);
  let joined: (number | undefined)[];
  try {
    joined = await Promise.all(channels.map((channel) => hub.join(channel, connection)));
  } catch (err) {
    logger.error({ connection: connection.id, err: (err as Error).message }, "subscribing failed");
    return unavailable("NATS is not reachable right now");
  }
  if (!connection.isOpen) return { kind: "closed" };
  const presence = config.presence ? (reply.presence ?? []).map(sharedChannel) : [];
  const ready = readyFrame(reply, connection.id, channels, presence, config);
  let replays: readonly ChannelReplay[] = [];
  if (recovery) {
    const positions = new Map(channels.map((channel, i) => [channel, joined[i] ?? 0]));
    try {
      const result = await recovery.prepare(positions, recover);
      ready.epoch = result.epoch;
      ready.positions = result.positions;
      if (result.recovered !== undefined) ready.recovered = result.recovered;
      replays = result.replays;
    } catch (err) {
      logger.error({ connection: connection.id, err: (err as Error).message }, "history lookup failed");
      return unavailable("history is not reachable right now");
    }
    if (!connection.isOpen) {
      recovery.discard(replays);
      return { kind: "closed" };
    }
  }
  return { kind: "joined", ready, shared: channels.slice(1), presence, replays };
}

function unavailable(what: string): JoinResult {
  return { kind: "failed", code: "BACKEND_UNAVAILABLE", message: `${what}; try again later` };
}
