import * as v from "valibot";
import { int } from "../../options/schemas.js";

/** Schemas more than one group of gateway options uses. */
export { int };

export const StreamName = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]{1,64}$/, "must be 1-64 of A-Z a-z 0-9 _ -"),
);

/** A JetStream stream's replicas: a number, or "auto" (3 on a cluster of 3 or more, else 1). */
export const Replicas = v.union(
  [v.literal("auto"), v.pipe(v.string(), v.regex(/^[1-5]$/), v.transform(Number)), int(1, 5)],
  'must be "auto" or a whole number from 1 to 5',
);

export const Storage = v.picklist(["file", "memory"]);
