import * as v from "valibot";
import { InboxListFrame, InboxMarkFrame, InboxRecover } from "./inbox.js";
import { SafeName } from "./names.js";
import { MAX_RPC_TIMEOUT_MS } from "./rpc.js";

/** Frames a client sends to the gateway (JSON text frames). */

const Token = v.pipe(v.string(), v.minLength(1, "token is empty"), v.maxLength(8192, "token is too long"));
/** A stream sequence: a safe integer (`1e308` is an integer, but no sequence). */
const Sequence = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

/** What a reconnecting client already has: the stream epoch and, per channel, the last sequence seen. */
export const RecoverRequest = v.object({
  epoch: v.pipe(v.string(), v.maxLength(64)),
  since: v.pipe(
    v.record(v.pipe(v.string(), v.maxLength(200)), Sequence),
    v.check((since) => Object.keys(since).length <= 64, "at most 64 channels"),
  ),
});

export const AuthFrame = v.object({
  type: v.literal("auth"),
  token: Token,
  recover: v.optional(RecoverRequest),
  /** Where the client left its inbox (gateway `--inbox` on): missed notifications follow `ready`. */
  inbox: v.optional(InboxRecover),
});

/** A new token for the same user, sent after `token_expiring`. */
export const RefreshFrame = v.object({ type: v.literal("refresh"), token: Token });

/** Answer to the gateway's heartbeat `ping`. */
export const PongFrame = v.object({ type: v.literal("pong") });

/** A client-side liveness probe; the gateway answers `pong`. */
export const PingFrame = v.object({ type: v.literal("ping") });

/**
 * A call to the backend: the gateway forwards `data` on `<prefix>.rpc.<method>` and answers with
 * `rpc_result` or `rpc_error` carrying the same `id`. `timeout` (ms) shortens the gateway's wait.
 */
export const RpcFrame = v.object({
  type: v.literal("rpc"),
  id: v.pipe(v.number(), v.safeInteger(), v.minValue(0)),
  method: SafeName,
  data: v.optional(v.unknown()),
  timeout: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(MAX_RPC_TIMEOUT_MS))),
});

/** Asks for the members of a channel this connection has presence on; answered by `presence`. */
export const PresenceRequestFrame = v.object({
  type: v.literal("presence"),
  channel: v.pipe(v.string(), v.maxLength(200)),
});

/**
 * A channel as a client names it in `subscribe` and `unsubscribe`. Any text up to this length is
 * a well-formed frame: a name outside the safe alphabet gets a `subscribe_error`, not a close.
 */
const ChannelField = v.pipe(v.string(), v.maxLength(256, "channel is too long"));

/** Where a resubscribing client left a channel: the stream epoch and the last sequence it saw. */
export const ChannelRecover = v.object({ epoch: v.pipe(v.string(), v.maxLength(64)), since: Sequence });

/** Asks for a channel after `ready`; the backend decides (`<prefix>.subscribe`). */
export const SubscribeFrame = v.object({
  type: v.literal("subscribe"),
  channel: ChannelField,
  recover: v.optional(ChannelRecover),
});

export const UnsubscribeFrame = v.object({ type: v.literal("unsubscribe"), channel: ChannelField });

export const ClientFrame = v.variant("type", [
  AuthFrame,
  RefreshFrame,
  PongFrame,
  PingFrame,
  RpcFrame,
  PresenceRequestFrame,
  SubscribeFrame,
  UnsubscribeFrame,
  InboxListFrame,
  InboxMarkFrame,
]);

export type RecoverRequest = v.InferOutput<typeof RecoverRequest>;
export type AuthFrame = v.InferOutput<typeof AuthFrame>;
export type RefreshFrame = v.InferOutput<typeof RefreshFrame>;
export type RpcFrame = v.InferOutput<typeof RpcFrame>;
export type PresenceRequestFrame = v.InferOutput<typeof PresenceRequestFrame>;
export type ChannelRecover = v.InferOutput<typeof ChannelRecover>;
export type SubscribeFrame = v.InferOutput<typeof SubscribeFrame>;
export type UnsubscribeFrame = v.InferOutput<typeof UnsubscribeFrame>;
export type ClientFrame = v.InferOutput<typeof ClientFrame>;
/** Every client frame type, read off the schema so the two cannot drift. */
export const CLIENT_FRAME_TYPES: readonly ClientFrame["type"][] = ClientFrame.options.map(
  (option) => option.entries.type.literal,
);
