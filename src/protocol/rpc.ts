import * as v from "valibot";
import { SafeName } from "./names.js";

/**
 * The NATS request the gateway sends on `<prefix>.rpc.<method>` for a client's `rpc` frame, and the
 * backend's reply. The caller travels in the body (an envelope), as in auth requests, so a backend in
 * any language reads it with its JSON parser alone, with or without NATS header support.
 */
export const RpcRequest = v.object({
  /** The authenticated user who called. */
  user: SafeName,
  connection: v.string(),
  gateway: v.string(),
  /** The method, also the subject's last token: one subscription on `<prefix>.rpc.>` can serve all. */
  method: SafeName,
  /** The client's `data`, as it sent it; `null` when it sent none. */
  data: v.unknown(),
});

export const RpcSuccess = v.object({
  ok: v.literal(true),
  /** Sent to the client as the `rpc_result` frame's `data`; absent is `null`. */
  data: v.optional(v.unknown()),
});

/** A refusal: the backend SDK's handlers send one by throwing its `RpcRefusal` Error. */
export const RpcRefused = v.object({
  ok: v.literal(false),
  error: v.object({
    /** Passed to the client as the `rpc_error` frame's `reason` (code `REFUSED`). */
    code: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
    /** Passed to the client as `message`, cut to 64 characters. */
    message: v.pipe(v.string(), v.maxLength(512)),
  }),
});

export const RpcReply = v.variant("ok", [RpcSuccess, RpcRefused]);

export type RpcRequest = v.InferOutput<typeof RpcRequest>;
export type RpcSuccess = v.InferOutput<typeof RpcSuccess>;
export type RpcRefused = v.InferOutput<typeof RpcRefused>;
export type RpcReply = v.InferOutput<typeof RpcReply>;

/** @deprecated The schema is `RpcRefused`; `RpcRefusal` is the backend SDK's Error that sends one. */
export const RpcRefusal = RpcRefused;
/** @deprecated Use `RpcRefused`. */
export type RpcRefusal = RpcRefused;

/** The longest a client may let the gateway wait for one answer (the frame's `timeout`, ms). */
export const MAX_RPC_TIMEOUT_MS = 600_000;
