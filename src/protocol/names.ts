import * as v from "valibot";
import { SAFE_NAME_DESCRIPTION, SAFE_NAME_PATTERN } from "./name-pattern.js";

export { isSafeName, SAFE_NAME_DESCRIPTION, SAFE_NAME_PATTERN } from "./name-pattern.js";

/**
 * The one safe alphabet for every name that becomes a NATS subject token (user ids, channel names,
 * RPC methods). A token from it can never contain `.`, `*`, `>`, whitespace or control characters, so
 * it can never widen a subscription or inject protocol lines. Checked here and nowhere else.
 */
export const SafeName = v.pipe(v.string(), v.regex(SAFE_NAME_PATTERN, `must be ${SAFE_NAME_DESCRIPTION}`));

/** The subject prefix every part uses unless told otherwise (`--prefix`, `HERALD_PREFIX`). */
export const DEFAULT_PREFIX = "herald";

/** A subject prefix: one or more safe tokens joined by dots, e.g. `herald` or `acme.prod.herald`. */
export const SUBJECT_PREFIX_PATTERN = /^[A-Za-z0-9_\-:@=+]{1,64}(\.[A-Za-z0-9_\-:@=+]{1,64}){0,7}$/;

export const SubjectPrefix = v.pipe(
  v.string(),
  v.regex(SUBJECT_PREFIX_PATTERN, "must be dot-separated tokens of A-Z a-z 0-9 _ - : @ = +"),
);
