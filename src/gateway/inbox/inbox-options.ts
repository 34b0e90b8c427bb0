import * as v from "valibot";
import { option } from "../../options/option-spec.js";
import { int, Replicas, Storage, StreamName } from "../config/option-schemas.js";

/** The notification inbox: options of `OPTION_SPECS`, in their place there. */
export const INBOX_OPTIONS = {
  inbox: option({
    schema: v.boolean(),
    default: false,
    description:
      "The notification inbox: notifications on <prefix>.notify.<user>, read/seen/archived state, unread counts",
  }),
  inboxStream: option({
    schema: StreamName,
    default: "HERALD_INBOX",
    description: "JetStream stream of notifications",
  }),
  inboxStateBucket: option({
    schema: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,48}$/, "must be 1-48 of A-Z a-z 0-9 _ -")),
    default: "HERALD_INBOX_STATE",
    description: "KV bucket of each user's inbox state (one small record per user)",
  }),
  inboxMaxAge: option({
    schema: int(1, 10 * 365 * 86400),
    default: 7_776_000,
    description: "Seconds a notification is kept in the inbox (default 90 days)",
  }),
  inboxMaxPerUser: option({
    schema: int(1, 100_000),
    default: 1000,
    description: "Notifications kept per user, oldest dropped first",
  }),
  inboxUnreadCap: option({
    schema: int(1, 10_000),
    default: 99,
    description: "Unread counts are exact up to this; above it they say capped (a badge shows 99+)",
  }),
  inboxUnseenAfter: option({
    schema: int(0, 30 * 86400),
    default: 0,
    description:
      "Seconds after which a notification no connection marked seen gives one unseen event; 0: off",
  }),
  inboxRecoveryMax: option({
    schema: int(0, 10_000),
    default: 100,
    description: "Most missed notifications sent on reconnect; more gives recovered: false (list again)",
  }),
  inboxPageCache: option({
    schema: int(0, 65_536),
    default: 64,
    description:
      "MiB of notification payloads kept for the newest page of users who listed their inbox here; 0: every page read from JetStream",
  }),
  inboxStorage: option({
    schema: Storage,
    default: "file",
    description: "Storage of the inbox stream and state bucket: file or memory",
  }),
  inboxReplicas: option({
    schema: Replicas,
    default: "auto",
    description: "Replicas of the inbox stream and state bucket, 1 to 5; auto: as --history-replicas",
  }),
};
