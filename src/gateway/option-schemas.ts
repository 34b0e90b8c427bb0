import * as v from "valibot";

/** Schemas more than one group of gateway options uses. */
export const int = (min: number, max: number) =>
  v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

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
