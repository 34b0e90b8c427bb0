import * as v from "valibot";

/** The people one can sign in as on the demo page; each has a personal channel `user.<name>`. */
export const DEMO_USERS = ["alice", "bob"] as const;

export const DemoUser = v.picklist(DEMO_USERS, `must be one of ${DEMO_USERS.join(", ")}`);
export type DemoUser = v.InferOutput<typeof DemoUser>;
