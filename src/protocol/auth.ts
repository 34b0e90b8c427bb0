import * as v from "valibot";
import { SafeName } from "./names.js";
import { PresenceInfo } from "./presence.js";

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

/** The latest instant a Date can hold (ms since the epoch); later `expiresAt` values are not times. */
const MAX_TIME_MS = 8.64e15;

/**
 * When a grant ends, in ms since the epoch; `null` is never. A fraction is cut off (valid until
 * x.5 ms is valid until x). Whether it is in the future, and whether it looks like seconds, the
 * gateway checks when the reply arrives (see `checkExpiry`).
 */
export const ExpiresAt = v.optional(
  v.pipe(
    v.nullable(v.pipe(v.number(), v.finite(), v.maxValue(MAX_TIME_MS), v.transform(Math.trunc))),
    v.transform((expiresAt) => expiresAt ?? undefined),
  ),
);

export const AuthAccepted = v.object({
  ok: v.literal(true),
  user: SafeName,
  /** Shared channels this user receives, by name (subject `<prefix>.channel.<name>`). `null` is none. */
  channels: v.optional(
    v.pipe(
      v.nullable(v.pipe(v.array(SafeName), v.maxLength(64))),
      v.transform((channels) => channels ?? undefined),
    ),
  ),
  /** When the token stops being valid (see `ExpiresAt`). */
  expiresAt: ExpiresAt,
  /**
   * Shared channels, among `channels`, whose presence this connection takes part in: it is listed as
   * a member, sees `join` and `leave`, and may ask `presence` (see docs/protocol.md). `null` is none.
   */
  presence: v.optional(
    v.pipe(
      v.nullable(v.pipe(v.array(SafeName), v.maxLength(64))),
      v.transform((presence) => presence ?? undefined),
    ),
  ),
  /** What other members see of this connection in presence: a small JSON object. `null` is none. */
  info: v.optional(
    v.pipe(
      v.nullable(PresenceInfo),
      v.transform((info) => info ?? undefined),
    ),
  ),
});

export const AuthRefused = v.object({
  ok: v.literal(false),
  error: v.object({
    code: v.pipe(v.string(), v.maxLength(64)),
    message: v.pipe(v.string(), v.maxLength(512)),
    /**
     * "I cannot decide now" (a database down, a dependency timing out): the client is told the
     * backend is unavailable (1013) and retries, instead of being refused (4401).
     */
    temporary: v.optional(v.boolean()),
  }),
});

export const AuthReply = v.pipe(
  v.variant("ok", [AuthAccepted, AuthRefused]),
  v.check(
    (reply) => !reply.ok || (reply.presence ?? []).every((name) => reply.channels?.includes(name)),
    "presence may only name channels the reply grants in channels",
  ),
);

export type AuthRequest = v.InferOutput<typeof AuthRequest>;
export type AuthAccepted = v.InferOutput<typeof AuthAccepted>;
export type AuthRefused = v.InferOutput<typeof AuthRefused>;
export type AuthReply = v.InferOutput<typeof AuthReply>;

/**
 * `expiresAt` values below this (March 1973 in ms) are taken for seconds since the epoch, a common
 * slip: 1.7e9 s is 2023, but 1.7e9 ms is January 1970.
 */
export const EXPIRES_AT_SECONDS_BELOW = 1e11;

export type ExpiryCheck = "valid" | "expired" | "looks_like_seconds";

/** Whether an accepted token's `expiresAt` can start (or continue) a connection at `now`. */
export function checkExpiry(expiresAt: number | undefined, now: number): ExpiryCheck {
  if (expiresAt === undefined) return "valid";
  if (expiresAt < EXPIRES_AT_SECONDS_BELOW) return "looks_like_seconds";
  return expiresAt > now ? "valid" : "expired";
}
