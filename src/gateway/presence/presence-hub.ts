import type { TrackedConnection } from "../gateway-context.js";
import { OutboundFrame } from "../outbound-frame.js";
import type { PresenceChange, PresenceIndex } from "./presence-index.js";

/**
 * This gateway's connections with presence, per channel: they get the channel's `join` and
 * `leave` frames (each built once for all of them) and their `presence` requests answered from
 * the index. Join and leave frames stop while a channel has more than `joinLeaveLimit` members:
 * a join is sent when the channel has at most that many with it, a leave when it had at most that
 * many with the user who left.
 */
export class PresenceHub {
  private readonly listeners = new Map<string, Set<TrackedConnection>>();

  constructor(
    private readonly index: PresenceIndex,
    private readonly isLoaded: () => boolean,
    private readonly joinLeaveLimit: number,
    private readonly maxListed: number,
  ) {}

  add(connection: TrackedConnection, channel: string): void {
    let set = this.listeners.get(channel);
    if (!set) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    set.add(connection);
  }

  remove(connection: TrackedConnection, channel: string): void {
    const set = this.listeners.get(channel);
    if (!set?.delete(connection) || set.size > 0) return;
    this.listeners.delete(channel);
  }

  changed(changes: readonly PresenceChange[]): void {
    for (const change of changes) {
      const listeners = this.listeners.get(change.channel);
      if (!listeners) continue;
      const members = change.kind === "join" ? change.members : change.members + 1;
      if (members > this.joinLeaveLimit) continue;
      const frame = OutboundFrame.of(
        change.kind === "leave"
          ? { type: "leave", channel: change.channel, user: change.user }
          : change.info === undefined
            ? { type: "join", channel: change.channel, user: change.user }
            : { type: "join", channel: change.channel, user: change.user, info: change.info },
      );
      for (const listener of listeners) listener.send(frame);
    }
  }

  answer(connection: TrackedConnection, channel: string): void {
    if (!this.listeners.get(channel)?.has(connection)) {
      return connection.send(
        OutboundFrame.of({
          type: "presence_error",
          channel: channel.slice(0, 200),
          code: "NOT_GRANTED",
          message: "this connection has no presence on that channel",
        }),
      );
    }
    if (!this.isLoaded()) {
      return connection.send(
        OutboundFrame.of({
          type: "presence_error",
          channel,
          code: "UNAVAILABLE",
          message: "presence is loading; try again shortly",
        }),
      );
    }
    connection.send(
      OutboundFrame.of({ type: "presence", channel, ...this.index.membersOf(channel, this.maxListed) }),
    );
  }
}
