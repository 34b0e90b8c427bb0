import type { InboxListFrame, InboxMarkFrame, InboxRecover } from "../../protocol/index.js";
import type { TrackedConnection } from "../gateway-context.js";
import { inboxErrorFrame } from "./inbox-frames.js";

/**
 * The hooks of a connection's life the inbox listens on: a session calls `ready` once `ready` has
 * gone out (with the `inbox` field of its `auth` frame), `closed` when a ready connection ends,
 * and `request` for each `inbox_list` and `inbox_mark` frame.
 */
export interface InboxConnections {
  ready(connection: TrackedConnection, recover: InboxRecover | undefined): void;
  closed(connection: TrackedConnection): void;
  request(connection: TrackedConnection, frame: InboxListFrame | InboxMarkFrame): void;
}

/** The inbox off (the gateway's default): requests are answered `UNAVAILABLE`. */
export const NO_INBOX: InboxConnections = {
  ready() {},
  closed() {},
  request(connection, frame) {
    connection.send(inboxErrorFrame(frame.id, "UNAVAILABLE", "the inbox is off on this gateway"));
  },
};
