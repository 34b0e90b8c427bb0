import * as v from "valibot";
import { ERROR_CODE_NAMES } from "./error-codes.js";
import { InboxErrorFrame, InboxFrame, InboxMarkedFrame, InboxPageFrame, NotificationFrame } from "./inbox.js";
import { PresenceSnapshot } from "./presence.js";
import { RPC_ERROR_CODE_NAMES } from "./rpc-error-codes.js";
import { SUBSCRIBE_ERROR_CODES, UNSUBSCRIBE_REASONS } from "./subscribe-errors.js";

/** Frames the gateway sends to a client (JSON text frames). */

/** A stream sequence as the gateway sends it: a whole number, 0 or more. */
const Sequence = v.pipe(v.number(), v.integer(), v.minValue(0));

export const ReadyFrame = v.object({
  type: v.literal("ready"),
  user: v.string(),
  connection: v.string(),
  gateway: v.string(),
  /** Channels this connection receives: `user.<id>` first, then the shared channels granted. */
  channels: v.array(v.string()),
  /** The gateway sends `ping` this often (ms); silence for longer means the connection is dead. */
  heartbeat: v.pipe(v.number(), v.gtValue(0)),
  /** The largest frame the gateway takes (`--max-frame-bytes`): a larger one closes with 1009. */
  maxFrameBytes: v.optional(v.pipe(v.number(), v.integer(), v.gtValue(0))),
  expiresAt: v.optional(v.number()),
  /** Identity of the history stream; sent back in `recover` so a recreated stream is noticed. */
  epoch: v.optional(v.string()),
  /**
   * History on: the last stream sequence of each channel when this connection joined it. Messages
   * after it follow (replayed ones first); remember it as the channel's position for `recover`.
   */
  positions: v.optional(v.record(v.string(), v.number())),
  /** Present when the client asked to recover: true when every missed message follows. */
  recovered: v.optional(v.boolean()),
  /** Channels whose presence this connection takes part in (gateway presence on). */
  presence: v.optional(v.array(v.string())),
});

export const MessageFrame = v.object({
  type: v.literal("message"),
  channel: v.string(),
  data: v.unknown(),
  /** Stream sequence (history on). */
  seq: v.optional(Sequence),
  /** Sequence of the previous message on this channel, 0 for the first (history on, live only). */
  prev: v.optional(Sequence),
});

export const ErrorFrame = v.object({
  type: v.literal("error"),
  code: v.picklist(ERROR_CODE_NAMES),
  message: v.string(),
  /** The backend's own refusal code, when the backend refused. */
  reason: v.optional(v.string()),
});

export const TokenExpiringFrame = v.object({ type: v.literal("token_expiring"), expiresAt: v.number() });
export const RefreshedFrame = v.object({ type: v.literal("refreshed"), expiresAt: v.optional(v.number()) });
/** The answer to `subscribe`: messages of the channel follow (replayed ones first). */
export const SubscribedFrame = v.object({
  type: v.literal("subscribed"),
  channel: v.string(),
  /**
   * History on: the channel's starting point for this connection, as `ready.positions` gives it for
   * the channels granted at auth; remember it as the channel's position for `recover`.
   */
  position: v.optional(Sequence),
  /** Present when the subscribe asked to recover: true when every missed message follows. */
  recovered: v.optional(v.boolean()),
  /** true when the connection takes part in the channel's presence (`join`, `leave`, `presence`). */
  presence: v.optional(v.boolean()),
});

/** A subscribe that did not succeed; the connection stays open. */
export const SubscribeErrorFrame = v.object({
  type: v.literal("subscribe_error"),
  channel: v.string(),
  code: v.picklist(SUBSCRIBE_ERROR_CODES),
  message: v.string(),
  /** The backend's own refusal code, when the backend refused. */
  reason: v.optional(v.string()),
});

/** The channel's messages stop: the client asked (`unsubscribe`), or, with a `reason`, the gateway did. */
export const UnsubscribedFrame = v.object({
  type: v.literal("unsubscribed"),
  channel: v.string(),
  reason: v.optional(v.picklist(UNSUBSCRIBE_REASONS)),
});

export const ServerPingFrame = v.object({ type: v.literal("ping") });
export const ServerPongFrame = v.object({ type: v.literal("pong") });

/** The answer to an `rpc` frame: the backend's `data` (`null` when it gave none). */
export const RpcResultFrame = v.object({
  type: v.literal("rpc_result"),
  id: v.pipe(v.number(), v.integer(), v.minValue(0)),
  data: v.unknown(),
});

/** An `rpc` frame that got no result. The connection stays open. */
export const RpcErrorFrame = v.object({
  type: v.literal("rpc_error"),
  id: v.pipe(v.number(), v.integer(), v.minValue(0)),
  code: v.picklist(RPC_ERROR_CODE_NAMES),
  message: v.string(),
  /** With `REFUSED`: the backend's own code. */
  reason: v.optional(v.string()),
});

/** The answer to a client's `presence`: the channel's members across every gateway. */
export const PresenceFrame = v.object({
  type: v.literal("presence"),
  channel: v.string(),
  ...PresenceSnapshot.entries,
});

/** A `presence` request that cannot be answered; the connection stays open. */
export const PresenceErrorFrame = v.object({
  type: v.literal("presence_error"),
  channel: v.string(),
  /** NOT_GRANTED: no presence on that channel for this connection; UNAVAILABLE: try again later. */
  code: v.picklist(["NOT_GRANTED", "UNAVAILABLE"]),
  message: v.string(),
});

/** A user's first connection arrived in a channel this connection has presence on. */
export const JoinFrame = v.object({
  type: v.literal("join"),
  channel: v.string(),
  user: v.string(),
  info: v.optional(v.record(v.string(), v.unknown())),
});

/** A user's last connection left a channel this connection has presence on. */
export const LeaveFrame = v.object({ type: v.literal("leave"), channel: v.string(), user: v.string() });

export const ServerFrame = v.variant("type", [
  ReadyFrame,
  MessageFrame,
  ErrorFrame,
  TokenExpiringFrame,
  RefreshedFrame,
  ServerPingFrame,
  ServerPongFrame,
  RpcResultFrame,
  RpcErrorFrame,
  PresenceFrame,
  PresenceErrorFrame,
  JoinFrame,
  LeaveFrame,
  SubscribedFrame,
  SubscribeErrorFrame,
  UnsubscribedFrame,
  NotificationFrame,
  InboxPageFrame,
  InboxMarkedFrame,
  InboxFrame,
  InboxErrorFrame,
]);

export type ReadyFrame = v.InferOutput<typeof ReadyFrame>;
export type MessageFrame = v.InferOutput<typeof MessageFrame>;
export type ErrorFrame = v.InferOutput<typeof ErrorFrame>;
export type TokenExpiringFrame = v.InferOutput<typeof TokenExpiringFrame>;
export type RefreshedFrame = v.InferOutput<typeof RefreshedFrame>;
export type RpcResultFrame = v.InferOutput<typeof RpcResultFrame>;
export type RpcErrorFrame = v.InferOutput<typeof RpcErrorFrame>;
export type PresenceFrame = v.InferOutput<typeof PresenceFrame>;
export type PresenceErrorFrame = v.InferOutput<typeof PresenceErrorFrame>;
export type JoinFrame = v.InferOutput<typeof JoinFrame>;
export type LeaveFrame = v.InferOutput<typeof LeaveFrame>;
export type SubscribedFrame = v.InferOutput<typeof SubscribedFrame>;
export type SubscribeErrorFrame = v.InferOutput<typeof SubscribeErrorFrame>;
export type UnsubscribedFrame = v.InferOutput<typeof UnsubscribedFrame>;
export type ServerFrame = v.InferOutput<typeof ServerFrame>;
