import * as v from "valibot";
import { int } from "../options/schemas.js";
import { SAFE_NAME_DESCRIPTION, SAFE_NAME_PATTERN } from "../protocol/index.js";

/** A user id or channel name argument: the protocol's safe names only. */
export const SafeNameArgument = v.pipe(
  v.string(),
  v.regex(SAFE_NAME_PATTERN, `must be ${SAFE_NAME_DESCRIPTION}`),
);

/** `--timeout <ms>`: how long a command waits for NATS, 100 ms to 10 minutes. */
export const TimeoutMs = int(100, 600_000, "ms");
