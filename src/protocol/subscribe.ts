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

/**
 * Every `subscribe_error` code: what it means and whether the same subscribe can succeed later.
 * A `subscribe_error` never closes the connection. This table drives the frame's schema, the client
 * SDK's retry decision and the table in docs/protocol.md (`npm run docs:tables`).
 */
interface SubscribeErrorEntry {
  readonly retry: boolean;
  readonly meaning: string;
}

export const SUBSCRIBE_ERROR_CATALOGUE = {
  INVALID_CHANNEL: {
    retry: false,
    meaning: "the channel is not `channel.<name>` with a name from the safe alphabet",
  },
  ALREADY_SUBSCRIBED: {
    retry: false,
    meaning:
      "the connection already receives the channel (granted at auth, or subscribed), or is subscribing to it",
  },
  TOO_MANY_SUBSCRIPTIONS: {
    retry: false,
    meaning:
      "the connection holds `--max-subscriptions` subscriptions (those under way included); unsubscribe first",
  },
  TOO_MANY_REQUESTS: {
    retry: true,
    meaning:
      "`--max-subscribes-in-flight` subscribes of this connection are under way; retry once one is answered",
  },
  SUBSCRIBE_REFUSED: {
    retry: false,
    meaning:
      "the backend refused (`reason` holds its code), or granted with an `expiresAt` that is not in the future (`reason: expired`)",
  },
  BACKEND_UNAVAILABLE: {
    retry: true,
    meaning:
      "no backend answered `<prefix>.subscribe` (no responders, or no reply within `--subscribe-request-timeout`), it cannot decide now (`temporary: true`, or `Nats-Service-Error` headers), or NATS or the history stream is not reachable",
  },
  BACKEND_INVALID_REPLY: {
    retry: true,
    meaning: "the backend's reply broke the schema",
  },
} as const satisfies Record<string, SubscribeErrorEntry>;

export type SubscribeErrorCode = keyof typeof SUBSCRIBE_ERROR_CATALOGUE;
export const SUBSCRIBE_ERROR_CODES = Object.keys(SUBSCRIBE_ERROR_CATALOGUE) as SubscribeErrorCode[];

/** Why the gateway took a channel away without being asked (`unsubscribed.reason`). */
export const UNSUBSCRIBE_REASONS = ["removed", "expired"] as const;
export type UnsubscribeReason = (typeof UNSUBSCRIBE_REASONS)[number];
