import * as v from "valibot";
import { SafeName } from "./names.js";

/**
 * Connection events: what gateways store in their JetStream stream of connection events (gateway
 * option `--events`), on `<prefix>.events.<kind>.<user>`, for backends to read with a durable
 * consumer. One schema for the gateway that writes them and the SDK and CLI that read them.
 */
export const EVENT_KINDS = ["connected", "disconnected", "subscribed", "unsubscribed", "dropped"] as const;
export type EventKind = (typeof EVENT_KINDS)[number];

/** Why a connection ended when the gateway ended it, or the gateway died (see docs/protocol.md). */
export const GATEWAY_LOST = "GATEWAY_LOST";

export const ConnectionEvent = v.object({
  /**
   * Unique per event, and the stream's `Nats-Msg-Id`: an event published twice (a retry, or a
   * `disconnected` published both by a gateway and, after it died, by another) is stored once.
   */
  id: v.pipe(v.string(), v.maxLength(256)),
  kind: v.picklist(EVENT_KINDS),
  user: SafeName,
  connection: v.string(),
  /** The gateway that held the connection (also when another gateway published for it). */
  gateway: v.string(),
  /** ms since the epoch, on the clock of the gateway that saw it happen. */
  time: v.number(),
  /** subscribed, unsubscribed: the channel (`channel.<name>`). */
  channel: v.optional(v.string()),
  /** disconnected: the close code the connection ended with (1006: it dropped, or its gateway died). */
  code: v.optional(v.number()),
  /** disconnected: true when the client closed it with a close frame, false otherwise. */
  clean: v.optional(v.boolean()),
  /** disconnected: the error code the gateway closed it with, or `GATEWAY_LOST`. */
  reason: v.optional(v.pipe(v.string(), v.maxLength(64))),
  /**
   * dropped: how many subscribed and unsubscribed events of the connection were not stored (it
   * went over the gateway's `--events-subscribe-limit`) since its last stored event.
   */
  count: v.optional(v.number()),
  /** dropped: every shared channel the connection holds now (`channel.<name>`): its state, as it is. */
  channels: v.optional(v.array(v.string())),
});
export type ConnectionEvent = v.InferOutput<typeof ConnectionEvent>;

/** Subjects of the events stream. */
export function eventSubjects(prefix: string): {
  /** Every event: what the stream stores. */
  readonly all: string;
  /** Every event of one kind. */
  kind(kind: EventKind): string;
  /** The subject one event is stored on. */
  of(kind: EventKind, user: string): string;
} {
  return {
    all: `${prefix}.events.>`,
    kind: (kind) => `${prefix}.events.${kind}.>`,
    of: (kind, user) => `${prefix}.events.${kind}.${user}`,
  };
}
