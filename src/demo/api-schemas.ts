import * as v from "valibot";
import { DemoRoom } from "./demo-rooms.js";
import { DemoUser } from "./demo-users.js";

/** Said for a missing field (valibot reports it on the object, as a `"<key>"` expectation) or a non-object body. */
const objectMessage = (issue: v.BaseIssue<unknown>) =>
  issue.expected?.startsWith('"') ? "is required" : "the body must be a JSON object";

/** `POST /api/login`: sign in as a demo user (no password: it is a demo). */
export const LoginBody = v.object({ user: DemoUser }, objectMessage);
export type LoginBody = v.InferOutput<typeof LoginBody>;

const Message = v.pipe(
  v.string("must be a string"),
  v.trim(),
  v.minLength(1, "must not be empty"),
  v.maxLength(1000, "must be at most 1000 characters"),
);

/** `POST /api/notify`: send a notification to a demo user's personal channel. */
export const NotifyBody = v.object({ user: DemoUser, message: Message }, objectMessage);
export type NotifyBody = v.InferOutput<typeof NotifyBody>;

/** `POST /api/inbox-notify`: store a notification in a demo user's inbox (the bell). */
export const InboxNotifyBody = v.object({ user: DemoUser, message: Message }, objectMessage);
export type InboxNotifyBody = v.InferOutput<typeof InboxNotifyBody>;

/** `POST /api/sign-out-everywhere`: end every session of a demo user, on every page and gateway. */
export const SignOutBody = v.object({ user: DemoUser }, objectMessage);
export type SignOutBody = v.InferOutput<typeof SignOutBody>;

/** `POST /api/room-message`: send a message to everyone in a room (`channel.<room>`). */
export const RoomMessageBody = v.object({ room: DemoRoom, message: Message }, objectMessage);
export type RoomMessageBody = v.InferOutput<typeof RoomMessageBody>;
