import * as v from "valibot";
import { DemoUser } from "./demo-users.js";

/** `POST /api/login`: sign in as a demo user (no password: it is a demo). */
export const LoginBody = v.object({ user: DemoUser });
export type LoginBody = v.InferOutput<typeof LoginBody>;

/** `POST /api/notify`: send a notification to a demo user's personal channel. */
export const NotifyBody = v.object({
  user: DemoUser,
  message: v.pipe(
    v.string("must be a string"),
    v.trim(),
    v.minLength(1, "must not be empty"),
    v.maxLength(1000, "must be at most 1000 characters"),
  ),
});
export type NotifyBody = v.InferOutput<typeof NotifyBody>;
