import * as v from "valibot";
import { NatsUrl } from "../nats/connection-options.js";

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
