import * as v from "valibot";
import { SafeName } from "./names.js";

/**
 * The notification inbox: a persistent feed per user with read, seen and archived state shared by
 * every connection of the user (gateway option `--inbox`). A backend publishes a notification on
 * `<prefix>.notify.<user>`; its id is its sequence in the inbox stream, so ids grow with time. The
 * frames a client sends and gets are in client-frames.ts and server-frames.ts, built from the
 * schemas here; the NATS request/reply a backend uses is here too.
 */

/** A notification id: its inbox stream sequence (`1e308` is an integer, but no sequence). */
export const NotificationId = v.pipe(v.number(), v.safeInteger(), v.minValue(1));
/** A watermark such as `upTo`: a sequence, 0 for none. */
const Watermark = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

/** The states a notification can be marked with. */
export const INBOX_MARK_STATES = ["read", "unread", "seen", "archived"] as const;
export type InboxMarkState = (typeof INBOX_MARK_STATES)[number];

/** Most ids one mark names: a page's worth. */
export const INBOX_MARK_MAX_IDS = 100;
/** Most items one `inbox_list` returns, and how many when it names no `limit`. */
export const INBOX_LIST_MAX = 100;
export const INBOX_LIST_DEFAULT = 20;
/** Most users one `<prefix>.inbox.unread` request names. */
export const INBOX_UNREAD_MAX_USERS = 100;

/**
 * What a mark does: the notifications `ids`, or every notification up to and including `upTo`
 * ("mark all as read"), take `state`. `unread` takes ids only: notifications are unread until
 * marked, so "unread up to" would undo every other mark at once.
 */
const MarkEntries = {
  ids: v.optional(
    v.pipe(
      v.array(NotificationId),
      v.minLength(1, "ids is empty"),
      v.maxLength(INBOX_MARK_MAX_IDS, `at most ${INBOX_MARK_MAX_IDS} ids`),
    ),
  ),
  upTo: v.optional(Watermark),
  state: v.picklist(INBOX_MARK_STATES),
};

/** Why a mark is not whole (both or neither of ids and upTo; unread up to), or undefined. */
export function inboxMarkProblem(mark: {
  readonly ids?: readonly number[] | undefined;
  readonly upTo?: number | undefined;
  readonly state: InboxMarkState;
}): string | undefined {
  if ((mark.ids === undefined) === (mark.upTo === undefined)) return "exactly one of ids and upTo";
  if (mark.state === "unread" && mark.upTo !== undefined) return "unread takes ids, not upTo";
  return undefined;
}
const whole = <T extends { ids?: number[] | undefined; upTo?: number | undefined; state: InboxMarkState }>(
  mark: T,
) => inboxMarkProblem(mark) === undefined;
const NOT_WHOLE = "exactly one of ids and upTo, and unread with ids";

/** One change of state, as a mark asks for it and as `inbox` frames report it (`changed`). */
export const InboxChange = v.pipe(v.object(MarkEntries), v.check(whole, NOT_WHOLE));
export type InboxChange = v.InferOutput<typeof InboxChange>;

/**
 * What left the inbox by retention (`--inbox-max-age`, or `--inbox-max-per-user` when a newer one
 * was stored): every notification of the user up to and including `upTo` (ids grow with time, and
 * retention takes a user's oldest first). Only in `inbox` frames: no one marks `expired`.
 */
export const InboxExpired = v.object({
  state: v.literal("expired"),
  upTo: NotificationId,
  // Never sent: code that reads a mark's `ids` reads this entry as it reads an `upTo` mark.
  ids: v.optional(v.undefined()),
});
export type InboxExpired = v.InferOutput<typeof InboxExpired>;

/** One entry of an `inbox` frame's `changed`: a mark, or what left by retention. */
export const InboxChanged = v.union([InboxChange, InboxExpired]);
export type InboxChanged = v.InferOutput<typeof InboxChanged>;

/** The client's answer number: safe integer ≥ 0, unique among its inbox requests under way. */
const RequestId = v.pipe(v.number(), v.safeInteger(), v.minValue(0));

/** Asks for a page of the inbox, newest first: notifications before `before` (an id), `limit` of them. */
export const InboxListFrame = v.object({
  type: v.literal("inbox_list"),
  id: RequestId,
  before: v.optional(NotificationId),
  limit: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(INBOX_LIST_MAX))),
  /** true: archived notifications are listed too (they are left out otherwise). */
  archived: v.optional(v.boolean()),
});

/**
 * Marks notifications read, unread, seen or archived for every connection of the user. A plain
 * object, as every frame of the variant is: `inboxMarkProblem` is checked when it is decoded.
 */
export const InboxMarkFrame = v.object({ type: v.literal("inbox_mark"), id: RequestId, ...MarkEntries });

/** Where a reconnecting client left its inbox: the inbox stream's epoch and the last id it got. */
export const InboxRecover = v.object({ epoch: v.pipe(v.string(), v.maxLength(64)), since: Watermark });

export type InboxListFrame = v.InferOutput<typeof InboxListFrame>;
export type InboxMarkFrame = v.InferOutput<typeof InboxMarkFrame>;
export type InboxRecover = v.InferOutput<typeof InboxRecover>;

// ---- gateway → client ----

const Count = v.pipe(v.number(), v.integer(), v.minValue(0));
const Id = v.pipe(v.number(), v.integer(), v.minValue(1));

/** A new notification, live or recovered: `id` its stream sequence, `time` when it was stored (ms). */
export const NotificationFrame = v.object({
  type: v.literal("notification"),
  id: Id,
  time: v.number(),
  data: v.unknown(),
});

export const InboxItem = v.object({
  id: Id,
  time: v.number(),
  data: v.unknown(),
  read: v.boolean(),
  seen: v.boolean(),
  archived: v.boolean(),
});
export type InboxItem = v.InferOutput<typeof InboxItem>;

/** The answer to `inbox_list`. */
export const InboxPageFrame = v.object({
  type: v.literal("inbox_page"),
  id: RequestId,
  items: v.array(InboxItem),
  unread: Count,
  /** true: `unread` is the cap and there are more (a badge shows "99+"). */
  capped: v.optional(v.boolean()),
  /** true: older items follow; ask again with `before` = the last item's id. */
  more: v.boolean(),
});

/** The answer to `inbox_mark`, once the new state is stored. */
export const InboxMarkedFrame = v.object({ type: v.literal("inbox_marked"), id: RequestId });

/**
 * The unread count and what changed, pushed to every connection of the user on every gateway: after
 * `ready` (with `epoch` and `position`, and `recovered` when the client asked to recover), after each
 * notification that changes the count, after each mark, wherever it was made, and when notifications
 * leave by retention.
 */
export const InboxFrame = v.object({
  type: v.literal("inbox"),
  unread: Count,
  capped: v.optional(v.boolean()),
  changed: v.array(InboxChanged),
  /** The inbox stream's identity: send it back in `auth.inbox` to recover. */
  epoch: v.optional(v.string()),
  /** The connection's starting point: every notification after it reaches the connection. */
  position: v.optional(Count),
  /** Present when `auth.inbox` asked to recover: true when every missed notification came before. */
  recovered: v.optional(v.boolean()),
});

export const INBOX_ERROR_CODES = ["TOO_MANY_REQUESTS", "UNAVAILABLE"] as const;
export type InboxErrorCode = (typeof INBOX_ERROR_CODES)[number];

/** An inbox request that got no answer; the connection stays open. */
export const InboxErrorFrame = v.object({
  type: v.literal("inbox_error"),
  id: RequestId,
  code: v.picklist(INBOX_ERROR_CODES),
  message: v.string(),
});

export type NotificationFrame = v.InferOutput<typeof NotificationFrame>;
export type InboxPageFrame = v.InferOutput<typeof InboxPageFrame>;
export type InboxMarkedFrame = v.InferOutput<typeof InboxMarkedFrame>;
export type InboxFrame = v.InferOutput<typeof InboxFrame>;
export type InboxErrorFrame = v.InferOutput<typeof InboxErrorFrame>;

// ---- backend ↔ gateways (NATS request/reply, queue group `herald-inbox`) ----

/** `<prefix>.inbox.unread` request: the unread counts of these users. */
export const InboxUnreadRequest = v.object({
  users: v.pipe(v.array(SafeName), v.minLength(1), v.maxLength(INBOX_UNREAD_MAX_USERS)),
});

/** `<prefix>.inbox.mark` request: a mark made for a user, e.g. from an email's link. */
export const InboxMarkRequest = v.pipe(
  v.object({ user: SafeName, ...MarkEntries }),
  v.check(whole, NOT_WHOLE),
);

/** `<prefix>.inbox.list` request: a page of a user's inbox, as `inbox_list` asks for one. */
export const InboxListRequest = v.object({
  user: SafeName,
  before: v.optional(NotificationId),
  limit: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(1), v.maxValue(INBOX_LIST_MAX))),
  archived: v.optional(v.boolean()),
});

const InboxRequestError = v.object({
  ok: v.literal(false),
  error: v.object({ code: v.picklist(["INVALID_REQUEST", "UNAVAILABLE"]), message: v.string() }),
});

export const InboxUnreadReply = v.variant("ok", [
  v.object({
    ok: v.literal(true),
    /** Every user asked for, with its unread count (exact up to the cap). */
    unread: v.record(v.string(), Count),
    /** The users whose count is the cap, with more unread than it. */
    capped: v.array(v.string()),
  }),
  InboxRequestError,
]);

export const InboxMarkReply = v.variant("ok", [v.object({ ok: v.literal(true) }), InboxRequestError]);

export const InboxListReply = v.variant("ok", [
  v.object({
    ok: v.literal(true),
    items: v.array(InboxItem),
    unread: Count,
    capped: v.optional(v.boolean()),
    more: v.boolean(),
  }),
  InboxRequestError,
]);

export type InboxUnreadRequest = v.InferOutput<typeof InboxUnreadRequest>;
export type InboxMarkRequest = v.InferOutput<typeof InboxMarkRequest>;
export type InboxUnreadReply = v.InferOutput<typeof InboxUnreadReply>;
export type InboxMarkReply = v.InferOutput<typeof InboxMarkReply>;
export type InboxListRequest = v.InferOutput<typeof InboxListRequest>;
export type InboxListReply = v.InferOutput<typeof InboxListReply>;

/** The queue group gateways answer inbox requests in: each request reaches one gateway. */
export const INBOX_QUEUE = "herald-inbox";

/** The `unseen` event: a notification that no connection of its user marked seen in time. */
export const UnseenEvent = v.object({
  /** `unseen:<inbox epoch>:<notification>`, also its `Nats-Msg-Id`: stored once. */
  id: v.pipe(v.string(), v.maxLength(256)),
  kind: v.literal("unseen"),
  user: SafeName,
  /** The notification's id. */
  notification: Id,
  /** When the notification was stored (ms since the epoch). */
  notified: v.number(),
  /** When the gateway found it unseen (ms since the epoch). */
  time: v.number(),
  /** The gateway that found it. */
  gateway: v.string(),
});
export type UnseenEvent = v.InferOutput<typeof UnseenEvent>;

/** Inbox subjects; a user is a safe name (checked by the callers that take one from outside). */
export interface InboxSubjects {
  /** Where a backend publishes a notification for one user: `<prefix>.notify.<user>`. */
  notify(user: string): string;
  /** What the inbox stream stores: `<prefix>.notify.*`. */
  readonly notifyAll: string;
  /** The live (republished, sequence-stamped) copy of a user's notifications. */
  liveNotify(user: string): string;
  /** The RePublish destination of the inbox stream. */
  readonly liveNotifyAll: string;
  /** The live copy of a user's stored state record. */
  liveState(user: string): string;
  readonly liveStateAll: string;
  /** Request/reply: unread counts of users. */
  readonly unread: string;
  /** Request/reply: a mark made by the backend. */
  readonly mark: string;
  /** Request/reply: a page of a user's inbox. */
  readonly list: string;
  /** Where an `unseen` event is stored: `<prefix>.events.unseen.<user>`. */
  unseen(user: string): string;
}

export function inboxSubjects(prefix: string): InboxSubjects {
  return {
    notify: (user) => `${prefix}.notify.${user}`,
    notifyAll: `${prefix}.notify.*`,
    liveNotify: (user) => `${prefix}.live.notify.${user}`,
    liveNotifyAll: `${prefix}.live.notify.*`,
    liveState: (user) => `${prefix}.live.inboxstate.${user}`,
    liveStateAll: `${prefix}.live.inboxstate.*`,
    unread: `${prefix}.inbox.unread`,
    mark: `${prefix}.inbox.mark`,
    list: `${prefix}.inbox.list`,
    unseen: (user) => `${prefix}.events.unseen.${user}`,
  };
}
