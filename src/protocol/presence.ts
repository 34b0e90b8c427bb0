import * as v from "valibot";
import { SafeName } from "./names.js";

/**
 * Presence: who is in a channel, and who is online, across every gateway. The frames a client
 * sends and gets are in client-frames.ts and server-frames.ts; this file holds what they share
 * with the NATS request/reply a backend uses (`<prefix>.presence.online`, `<prefix>.presence.members`).
 */

/** The most bytes of `info` (as JSON) the backend may attach to a connection at auth. */
export const PRESENCE_INFO_MAX_BYTES = 512;

const utf8 = new TextEncoder();

/** A small JSON object the backend attaches to a connection at auth, shown to the channel's members. */
export const PresenceInfo = v.pipe(
  v.record(v.string(), v.unknown()),
  v.check(
    (info) => utf8.encode(JSON.stringify(info)).length <= PRESENCE_INFO_MAX_BYTES,
    `must be at most ${PRESENCE_INFO_MAX_BYTES} bytes as JSON`,
  ),
);

/** One user in a channel: how many of its connections are there, and the info of one of them. */
export const PresenceMember = v.object({
  user: v.string(),
  connections: v.pipe(v.number(), v.integer(), v.minValue(1)),
  info: v.optional(v.record(v.string(), v.unknown())),
});

/** A channel's members as a gateway knows them (every gateway's connections). */
export const PresenceSnapshot = v.object({
  /** Users in the channel. */
  count: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Up to the gateway's `--presence-max-listed` of them; `truncated` when there are more. */
  members: v.array(PresenceMember),
  truncated: v.optional(v.boolean()),
});

/** At most this many users in one `<prefix>.presence.online` request. */
export const ONLINE_MAX_USERS = 1000;

/** `<prefix>.presence.online` request: which of these users are online. */
export const OnlineRequest = v.object({
  users: v.pipe(v.array(SafeName), v.minLength(1), v.maxLength(ONLINE_MAX_USERS)),
});

/** `<prefix>.presence.members` request: a shared channel by name (`room`, not `channel.room`). */
export const MembersRequest = v.object({ channel: SafeName });

const PresenceError = v.object({
  ok: v.literal(false),
  error: v.object({ code: v.picklist(["INVALID_REQUEST", "UNAVAILABLE"]), message: v.string() }),
});

/** The users of the request that are online, each with its number of open connections. */
export const OnlineReply = v.variant("ok", [
  v.object({
    ok: v.literal(true),
    online: v.record(v.string(), v.pipe(v.number(), v.integer(), v.minValue(1))),
  }),
  PresenceError,
]);

export const MembersReply = v.variant("ok", [
  v.object({ ok: v.literal(true), channel: v.string(), ...PresenceSnapshot.entries }),
  PresenceError,
]);

export type PresenceInfo = v.InferOutput<typeof PresenceInfo>;
export type PresenceMember = v.InferOutput<typeof PresenceMember>;
export type PresenceSnapshot = v.InferOutput<typeof PresenceSnapshot>;
export type OnlineRequest = v.InferOutput<typeof OnlineRequest>;
export type MembersRequest = v.InferOutput<typeof MembersRequest>;
export type OnlineReply = v.InferOutput<typeof OnlineReply>;
export type MembersReply = v.InferOutput<typeof MembersReply>;

/** The request/reply subjects gateways with presence on answer, in the queue group `herald-presence`. */
export function presenceSubjects(prefix: string): { readonly online: string; readonly members: string } {
  return { online: `${prefix}.presence.online`, members: `${prefix}.presence.members` };
}

/** The queue group gateways answer presence requests in: each request reaches one gateway. */
export const PRESENCE_QUEUE = "herald-presence";
