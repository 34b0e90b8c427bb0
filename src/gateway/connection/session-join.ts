import {
  type AuthAccepted,
  type ErrorCodeName,
  type ReadyFrame,
  type RecoverRequest,
  sharedChannel,
  userChannel,
} from "../../protocol/index.js";
import { readyFrame } from "../backend/auth-exchange.js";
import type { ChannelMember } from "../delivery/channel-hub.js";
import type { GatewayContext } from "../gateway-context.js";
import type { ChannelReplay, RecoveryResult } from "../history/recovery.js";
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
 * replay; the session sends `ready` and runs the replay with what this returns. A channel the
 * backend took away (`control.unsubscribe`) after the auth was asked, `askedAt`, is not joined, and
 * one taken away while joining is left out of `ready`: the removal wins over the grant it raced.
 */
export async function joinGranted(
  connection: JoiningConnection,
  ctx: Pick<GatewayContext, "hub" | "recovery" | "config" | "logger" | "control">,
  reply: AuthAccepted,
  recover: RecoverRequest | undefined,
  askedAt: number,
): Promise<JoinResult> {
  const { hub, recovery, config, logger, control } = ctx;
  const { user } = reply;
  // The schema already checked the alphabet; building the names checks it again, in one place.
  // Spread from a Set: an array of exactly this length (one built by appending keeps spare slots).
  const channels = [
    ...new Set([
      userChannel(user),
      ...(reply.channels ?? [])
        .map(sharedChannel)
        .filter((channel) => !control.removedSince(user, channel, askedAt)),
    ]),
  ];
  connection.subscriptions.grant(channels);
  let joined: (number | undefined)[];
  try {
    joined = await Promise.all(channels.map((channel) => hub.join(channel, connection)));
  } catch (err) {
    logger.error({ connection: connection.id, err: (err as Error).message }, "subscribing failed");
    return unavailable("NATS is not reachable right now");
  }
  if (!connection.isOpen) return { kind: "closed" };
  const holds = (channel: string) => connection.subscriptions.grantedChannels.includes(channel);
  let prepared: RecoveryResult | undefined;
  if (recovery) {
    const positions = new Map<string, number>();
    channels.forEach((channel, i) => {
      if (holds(channel)) positions.set(channel, joined[i] ?? 0);
    });
    try {
      prepared = await recovery.prepare(positions, recover);
    } catch (err) {
      logger.error({ connection: connection.id, err: (err as Error).message }, "history lookup failed");
      return unavailable("history is not reachable right now");
    }
    if (!connection.isOpen) {
      recovery.discard(prepared.replays);
      return { kind: "closed" };
    }
  }
  // Taken away meanwhile: left out of `ready` (the session's replay drops what it had of them).
  const kept = connection.subscriptions.grantedChannels.slice();
  const presence = config.presence ? (reply.presence ?? []).map(sharedChannel).filter(holds) : [];
  const ready = readyFrame(reply, connection.id, kept, presence, config);
  if (prepared) {
    ready.epoch = prepared.epoch;
    ready.positions = Object.fromEntries(Object.entries(prepared.positions).filter(([c]) => holds(c)));
    if (prepared.recovered !== undefined) ready.recovered = prepared.recovered;
  }
  return { kind: "joined", ready, shared: kept.slice(1), presence, replays: prepared?.replays ?? [] };
}

function unavailable(what: string): JoinResult {
  return { kind: "failed", code: "BACKEND_UNAVAILABLE", message: `${what}; try again later` };
}
