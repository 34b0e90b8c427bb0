import type { InboxListFrame, InboxMarkFrame, InboxRecover } from "../../protocol/index.js";
import type { TrackedConnection } from "../gateway-context.js";
import { inboxErrorFrame } from "./inbox-frames.js";

/**
 * The hooks of a connection's life the inbox listens on: a session calls `joining` once it knows
 * the user, while its channels are joined (the user's inbox is loaded meanwhile), `ready` right
 * after writing `ready` (with the `inbox` field of its `auth` frame: the `inbox` frame is written
 * in the same turn when nothing is left to read), `closed` when a connection that was joining
 * ends, and `request` for each `inbox_list` and `inbox_mark` frame.
 */
export interface InboxConnections {
  joining(connection: TrackedConnection): void;
  ready(connection: TrackedConnection, recover: InboxRecover | undefined): void;
  closed(connection: TrackedConnection): void;
  request(connection: TrackedConnection, frame: InboxListFrame | InboxMarkFrame): void;
}

/** The inbox off (the gateway's default): requests are answered `UNAVAILABLE`. */
export const NO_INBOX: InboxConnections = {
  joining() {},
  ready() {},
  closed() {},
  request(connection, frame) {
    connection.send(inboxErrorFrame(frame.id, "UNAVAILABLE", "the inbox is off on this gateway"));
  },
};
