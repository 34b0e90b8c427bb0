import * as v from "valibot";
import { NatsUrl } from "../nats/connection-options.js";
import { SAFE_NAME_DESCRIPTION, SAFE_NAME_PATTERN } from "../protocol/index.js";

/** `--nats a,b`: a comma-separated list of NATS server URLs, as every command takes it. */
export const NatsServerList = v.pipe(
  v.string(),
  v.transform((list) =>
    list
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  ),
  v.minLength(1, "needs at least one server"),
  v.array(NatsUrl),
);

/** A user id or channel name argument: the protocol's safe names only. */
export const SafeNameArgument = v.pipe(
  v.string(),
  v.regex(SAFE_NAME_PATTERN, `must be ${SAFE_NAME_DESCRIPTION}`),
);

/** `--timeout ms`: how long a command waits for NATS, 100 ms to 10 minutes. */
export const TimeoutMsFlag = v.pipe(
  v.string(),
  v.regex(/^\d+$/, "must be a whole number of ms"),
  v.transform(Number),
  v.minValue(100, "must be at least 100 ms"),
  v.maxValue(600_000, "must be at most 600000 ms"),
);
