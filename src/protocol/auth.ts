import * as v from "valibot";
import { SafeName } from "./names.js";

/** The NATS request the gateway sends on `<prefix>.auth`, and the backend's reply. */

export const AuthRequest = v.object({
  /** `connect` for a new connection, `refresh` for a token refresh on a live one. */
  kind: v.picklist(["connect", "refresh"]),
  token: v.string(),
  connection: v.string(),
  gateway: v.string(),
  remoteAddress: v.string(),
  /** Allowlisted upgrade request headers, lower-cased (origin and user-agent by default). */
  headers: v.record(v.string(), v.string()),
  /** On refresh: the user the connection is authenticated as; the reply must name the same user. */
  user: v.optional(v.string()),
});

export const AuthAccepted = v.object({
  ok: v.literal(true),
  user: SafeName,
  /** Shared channels this user receives, by name (subject `<prefix>.channel.<name>`). */
  channels: v.optional(v.pipe(v.array(SafeName), v.maxLength(64))),
  /** When the token stops being valid, in ms since the epoch. */
  expiresAt: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
});

export const AuthRefused = v.object({
  ok: v.literal(false),
  error: v.object({
    code: v.pipe(v.string(), v.maxLength(64)),
    message: v.pipe(v.string(), v.maxLength(512)),
  }),
});

export const AuthReply = v.variant("ok", [AuthAccepted, AuthRefused]);

export type AuthRequest = v.InferOutput<typeof AuthRequest>;
export type AuthAccepted = v.InferOutput<typeof AuthAccepted>;
export type AuthRefused = v.InferOutput<typeof AuthRefused>;
export type AuthReply = v.InferOutput<typeof AuthReply>;
