import * as v from "valibot";
import { SafeName } from "./names.js";
import { SharedChannelName } from "./subscribe.js";

/**
 * Messages a backend publishes (a plain NATS publish, from any language) on
 * `<prefix>.control.<kind>`. Every gateway subscribes to all of them, without a queue group: each
 * acts on its own connections.
 */

/** `<prefix>.control.disconnect`: close every connection of `user`, on every gateway. */
export const ControlDisconnect = v.object({
  user: SafeName,
  /**
   * true: the client may reconnect at once (to pick up a new token or new rights);
   * false or absent: it must not (sign out everywhere, a ban).
   */
  reconnect: v.optional(v.boolean()),
  /** Told to the client in the error frame's message, quoted and cut to 64 characters. */
  reason: v.optional(v.string()),
});

export type ControlDisconnect = v.InferOutput<typeof ControlDisconnect>;

/**
 * `<prefix>.control.unsubscribe`: every connection of `user` that receives `channel` (granted at
 * auth or subscribed), on every gateway, stops receiving it, and is told with `unsubscribed`
 * (`reason: "removed"`).
 */
export const ControlUnsubscribe = v.object({
  user: SafeName,
  channel: SharedChannelName,
});

export type ControlUnsubscribe = v.InferOutput<typeof ControlUnsubscribe>;

export { CONTROL_KINDS, type ControlKind } from "./subjects.js";
