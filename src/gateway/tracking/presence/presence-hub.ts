import type { PresenceInfo } from "../../../protocol/index.js";
import { OutboundFrame } from "../../delivery/outbound-frame.js";
import type { TrackedConnection } from "../../gateway-context.js";
import type { PresenceChange, PresenceIndex } from "./presence-index.js";

/** What this gateway's members were last told of a user in a channel, less than an interval ago. */
interface Told {
  /** The last frame was a join (else a leave). */
  readonly joined: boolean;
  /** The interval's end: where the user is then is told, if it is not what was. */
  readonly timer: NodeJS.Timeout;
}

export interface PresenceHubOptions {
  readonly index: PresenceIndex;
  /** Whether the index holds the bucket's state yet (see `PresenceReplica.start`). */
  readonly isLoaded: () => boolean;
  /** `--presence-join-leave-limit` */
  readonly joinLeaveLimit: number;
  /** `--presence-max-listed` */
  readonly maxListed: number;
  /** `--presence-interval`: least ms between two join/leave frames of one user in one channel. */
  readonly intervalMs: number;
  /** Told of each change not sent on its own because its user changed less than an interval ago. */
  readonly onHeldBack: () => void;
}

/**
 * This gateway's connections with presence, per channel: they get the channel's `join` and
 * `leave` frames (each built once for all of them) and their `presence` requests answered from
 * the index. Join and leave frames stop while a channel has more than `joinLeaveLimit` members:
 * a join is sent when the channel has at most that many with it, a leave when it had at most that
 * many with the user who left. Members count as this gateway knows them: the index's, or, when
 * more, the users of its own connections there (ready before their records come back through the
 * registry: in a connect storm they would otherwise each get every early join).
 *
 * A user that comes and goes (a connection subscribing and unsubscribing as fast as it may) would
 * cost every member a frame per change: after a join or leave of a user in a channel, the next
 * one waits for the end of `intervalMs`, and then says only where the user is at that moment (or
 * nothing, when that is what the last frame said). So members get at most one join or leave of a
 * user per interval, and the last one they get matches the index within an interval.
 */
export class PresenceHub {
  private readonly listeners = new Map<string, Set<TrackedConnection>>();
  /** Per channel, the users of this gateway's connections there, with their connections. */
  private readonly localUsers = new Map<string, Map<string, number>>();
  /** Per channel, the users whose last join or leave went out less than an interval ago. */
  private readonly told = new Map<string, Map<string, Told>>();

  private readonly index: PresenceIndex;
  private readonly isLoaded: () => boolean;
  private readonly joinLeaveLimit: number;
  private readonly maxListed: number;
  private readonly intervalMs: number;
  private readonly onHeldBack: () => void;

  constructor({ index, isLoaded, joinLeaveLimit, maxListed, intervalMs, onHeldBack }: PresenceHubOptions) {
    this.index = index;
    this.isLoaded = isLoaded;
    this.joinLeaveLimit = joinLeaveLimit;
    this.maxListed = maxListed;
    this.intervalMs = intervalMs;
    this.onHeldBack = onHeldBack;
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
    for (const told of this.told.get(channel)?.values() ?? []) clearTimeout(told.timer);
    this.told.delete(channel);
  }

  changed(changes: readonly PresenceChange[]): void {
    for (const change of changes) {
      if (!this.listeners.has(change.channel)) continue;
      if (this.told.get(change.channel)?.has(change.user)) {
        this.onHeldBack();
        continue;
      }
      this.tell(change.channel, change.user, change.kind === "join", change.info, change.members);
    }
  }

  /** Ends the intervals under way: nothing more is sent. */
  stop(): void {
    for (const users of this.told.values()) for (const told of users.values()) clearTimeout(told.timer);
    this.told.clear();
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

  /**
   * Sends a join or leave to the channel's members here, unless the channel is over the cap;
   * `members`: the channel's members in the index after the change.
   */
  private tell(
    channel: string,
    user: string,
    joined: boolean,
    info: PresenceInfo | undefined,
    members: number,
  ): void {
    const listeners = this.listeners.get(channel);
    if (!listeners) return;
    const known = Math.max(members, this.localUsers.get(channel)?.size ?? 0);
    if ((joined ? known : known + 1) > this.joinLeaveLimit) return;
    const frame = OutboundFrame.of(
      !joined
        ? { type: "leave", channel, user }
        : info === undefined
          ? { type: "join", channel, user }
          : { type: "join", channel, user, info },
    );
    for (const listener of listeners) listener.send(frame);
    if (this.intervalMs === 0) return;
    let users = this.told.get(channel);
    if (!users) {
      users = new Map();
      this.told.set(channel, users);
    }
    const timer = setTimeout(() => this.intervalOver(channel, user), this.intervalMs);
    timer.unref();
    users.set(user, { joined, timer });
  }

  /** A user's interval ended: where it is now goes out if the last frame said otherwise. */
  private intervalOver(channel: string, user: string): void {
    const users = this.told.get(channel);
    const told = users?.get(user);
    if (!users || !told) return;
    users.delete(user);
    if (users.size === 0) this.told.delete(channel);
    const member = this.index.member(channel, user);
    if ((member !== undefined) === told.joined) return;
    this.tell(channel, user, member !== undefined, member?.info, this.index.memberCount(channel));
  }
}
