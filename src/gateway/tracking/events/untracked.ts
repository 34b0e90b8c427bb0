import { OutboundFrame } from "../../delivery/outbound-frame.js";
import type { Tracking } from "../../gateway-context.js";

/** Tracking off (`--events false --presence false`, the defaults): nothing is tracked. */
export const UNTRACKED: Tracking = {
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
