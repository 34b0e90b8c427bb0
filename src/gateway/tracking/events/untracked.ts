import { OutboundFrame } from "../../delivery/outbound-frame.js";
import type { ConnectionEvents } from "../../gateway-context.js";

/** Connection events and presence off (the gateway's defaults): nothing is tracked. */
export const UNTRACKED: ConnectionEvents = {
  ready() {},
  subscribed() {},
  unsubscribed() {},
  closed() {},
  presenceRequested(connection, channel) {
    connection.send(
      OutboundFrame.of({
        type: "presence_error",
        channel,
        code: "UNAVAILABLE",
        message: "presence is off on this gateway",
      }),
    );
  },
};
