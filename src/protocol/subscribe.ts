import * as v from "valibot";
import { AuthRefused, ExpiresAt } from "./auth.js";
import { isSharedChannel } from "./subjects.js";

/**
 * A channel a client may subscribe to and a backend may take away: `channel.<name>` with a name
 * from the safe alphabet.
 */
export const SharedChannelName = v.pipe(
  v.string(),
  v.check(
    (channel: string) => isSharedChannel(channel),
    "must be channel.<name>, the name 1 to 128 characters from A-Z a-z 0-9 _ - : @ = +",
  ),
);

/** The NATS request the gateway sends on `<prefix>.subscribe` when a client subscribes. */
export const SubscribeRequest = v.object({
  /** The user the connection is authenticated as. */
  user: v.string(),
  connection: v.string(),
  gateway: v.string(),
  /** The channel as the client named it: `channel.<name>`. */
  channel: SharedChannelName,
});

export const SubscribeGranted = v.object({
  ok: v.literal(true),
  /** When the grant ends (see `ExpiresAt`): the gateway then takes the channel away. */
  expiresAt: ExpiresAt,
  /**
   * true: the connection takes part in the channel's presence, as for a channel listed in the auth
   * reply's `presence` (with the gateway's `--presence` on).
   */
  presence: v.optional(v.boolean()),
});

/** A refusal has the auth refusal's shape: `temporary` means "cannot decide now". */
export const SubscribeRefused = AuthRefused;

export const SubscribeReply = v.variant("ok", [SubscribeGranted, SubscribeRefused]);

export type SubscribeRequest = v.InferOutput<typeof SubscribeRequest>;
export type SubscribeGranted = v.InferOutput<typeof SubscribeGranted>;
export type SubscribeRefused = v.InferOutput<typeof SubscribeRefused>;
export type SubscribeReply = v.InferOutput<typeof SubscribeReply>;
