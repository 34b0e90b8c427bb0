import * as v from "valibot";
import { checkExpiry, formatIssues } from "../protocol/index.js";

/** A handler's decision read against its reply schema. */
export type DecisionCheck<T> =
  | {
      readonly valid: true;
      readonly reply: T;
      /** A granting reply whose expiresAt looks like seconds: the gateway treats it as expired. */
      readonly secondsLike: boolean;
    }
  | {
      readonly valid: false;
      readonly issues: string;
      /** It was meant to grant (`ok: true`): answered as a refusal, never as a grant. */
      readonly granting: boolean;
    };

/** Validates an auth or subscribe decision against the wire schema, before it is sent. */
export function readDecision<T extends { ok: boolean; expiresAt?: number }>(
  schema: v.GenericSchema<unknown, T>,
  decision: unknown,
): DecisionCheck<T> {
  const parsed = v.safeParse(schema, decision);
  if (parsed.success) {
    const reply = parsed.output;
    const secondsLike = reply.ok && checkExpiry(reply.expiresAt, Date.now()) === "looks_like_seconds";
    return { valid: true, reply, secondsLike };
  }
  const granting =
    typeof decision === "object" && decision !== null && "ok" in decision && decision.ok === true;
  return { valid: false, issues: formatIssues(parsed.issues), granting };
}
