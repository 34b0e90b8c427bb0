import type { TrackedConnection } from "../gateway-context.js";
import { OutboundFrame } from "../outbound-frame.js";
import type { PresenceChange, PresenceIndex } from "./presence-index.js";

export interface PresenceHubOptions {
  readonly index: PresenceIndex;
  /** Whether the index holds the bucket's state yet (see `PresenceReplica.start`). */
  readonly isLoaded: () => boolean;
  /** `--presence-join-leave-limit` */
  readonly joinLeaveLimit: number;
  /** `--presence-max-listed` */
  readonly maxListed: number;
}

/**
 * This gateway's connections with presence, per channel: they get the channel's `join` and
 * `leave` frames (each built once for all of them) and their `presence` requests answered from
 * the index. Join and leave frames stop while a channel has more than `joinLeaveLimit` members:
 * a join is sent when the channel has at most that many with it, a leave when it had at most that
 * many with the user who left. Members count as this gateway knows them: the index's, or, when
 * more, the users of its own connections there (ready before their records come back through the
 * registry: in a connect storm they would otherwise each get every early join).
 */
export class PresenceHub {
  private readonly listeners = new Map<string, Set<TrackedConnection>>();
  /** Per channel, the users of this gateway's connections there, with their connections. */
  private readonly localUsers = new Map<string, Map<string, number>>();

  private readonly index: PresenceIndex;
  private readonly isLoaded: () => boolean;
  private readonly joinLeaveLimit: number;
  private readonly maxListed: number;

  constructor({ index, isLoaded, joinLeaveLimit, maxListed }: PresenceHubOptions) {
    this.index = index;
    this.isLoaded = isLoaded;
    this.joinLeaveLimit = joinLeaveLimit;
    this.maxListed = maxListed;
  }

  add(connection: TrackedConnection, user: string, channel: string): void {
    let set = this.listeners.get(channel);
    let users = this.localUsers.get(channel);
    if (!set || !users) {
      set = new Set();
      users = new Map();
      this.listeners.set(channel, set);
      this.localUsers.set(channel, users);
    }
    if (set.has(connection)) return;
    set.add(connection);
    users.set(user, (users.get(user) ?? 0) + 1);
  }

  remove(connection: TrackedConnection, user: string, channel: string): void {
    const set = this.listeners.get(channel);
    const users = this.localUsers.get(channel);
    if (!set?.delete(connection) || !users) return;
    const left = (users.get(user) ?? 1) - 1;
    if (left > 0) users.set(user, left);
    else users.delete(user);
    if (set.size > 0) return;
    this.listeners.delete(channel);
    this.localUsers.delete(channel);
  }

  changed(changes: readonly PresenceChange[]): void {
    for (const change of changes) {
      const listeners = this.listeners.get(change.channel);
      if (!listeners) continue;
      const known = Math.max(change.members, this.localUsers.get(change.channel)?.size ?? 0);
      const members = change.kind === "join" ? known : known + 1;
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
