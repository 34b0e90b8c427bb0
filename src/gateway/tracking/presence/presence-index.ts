import type { PresenceInfo, PresenceMember, PresenceSnapshot } from "../../../protocol/index.js";
import { type ConnectionEntry, sameEntry } from "../registry/record.js";

/** A user in a channel: its connections there (on every gateway) and the info of the latest one. */
interface Member {
  connections: number;
  info: PresenceInfo | undefined;
}

/** A user's first connection arrived in a channel, or its last one left. */
export interface PresenceChange {
  readonly kind: "join" | "leave";
  readonly channel: string;
  readonly user: string;
  readonly info: PresenceInfo | undefined;
  /** The channel's members after the change. */
  readonly members: number;
}

/**
 * Who is where, across every gateway: built from the registry's shards (one `apply` per shard
 * value, in stream order), so every gateway that applies the same values sees the same changes.
 * The one owner of online counts and channel members.
 */
export class PresenceIndex {
  private readonly shards = new Map<string, Map<string, ConnectionEntry>>();
  private readonly online = new Map<string, number>();
  private readonly channels = new Map<string, Map<string, Member>>();
  private connections = 0;

  /** Open connections counted (closing ones are not). */
  get connectionCount(): number {
    return this.connections;
  }

  /** The shard keys held now. */
  shardKeys(): string[] {
    return [...this.shards.keys()];
  }

  /**
   * A shard's new value (`undefined`: deleted). Returns the joins and leaves it makes, each user
   * once per channel whatever the shard's connections did in between.
   */
  apply(key: string, entries: Readonly<Record<string, ConnectionEntry>> | undefined): PresenceChange[] {
    const before = this.shards.get(key) ?? new Map<string, ConnectionEntry>();
    const after = new Map<string, ConnectionEntry>(entries ? Object.entries(entries) : []);
    const touched = new Map<string, { channel: string; user: string; was: boolean }>();
    const touch = (channel: string, user: string) => {
      const id = `${channel}\n${user}`;
      if (!touched.has(id)) touched.set(id, { channel, user, was: this.isMember(channel, user) });
    };
    for (const [connection, entry] of before) {
      const next = after.get(connection);
      if (next && sameEntry(entry, next)) continue;
      this.count(entry, -1, touch);
    }
    for (const [connection, entry] of after) {
      const previous = before.get(connection);
      if (previous && sameEntry(previous, entry)) continue;
      this.count(entry, 1, touch);
    }
    if (after.size > 0) this.shards.set(key, after);
    else this.shards.delete(key);
    const changes: PresenceChange[] = [];
    for (const { channel, user, was } of touched.values()) {
      const member = this.channels.get(channel)?.get(user);
      if (was === (member !== undefined)) continue;
      const members = this.channels.get(channel)?.size ?? 0;
      changes.push({ kind: member ? "join" : "leave", channel, user, info: member?.info, members });
    }
    return changes;
  }

  /** Connections of each of `users` that are online now; offline users are left out. */
  onlineOf(users: readonly string[]): Record<string, number> {
    const out: Record<string, number> = {};
    for (const user of users) {
      const connections = this.online.get(user);
      if (connections) out[user] = connections;
    }
    return out;
  }

  /** A channel's members, at most `max` of them listed. */
  membersOf(channel: string, max: number): PresenceSnapshot {
    const members = this.channels.get(channel);
    const listed: PresenceMember[] = [];
    for (const [user, member] of members ?? []) {
      if (listed.length >= max) break;
      listed.push(
        member.info === undefined
          ? { user, connections: member.connections }
          : { user, connections: member.connections, info: member.info },
      );
    }
    const count = members?.size ?? 0;
    return count > listed.length ? { count, members: listed, truncated: true } : { count, members: listed };
  }

  /** A user in a channel now, with the info of its latest connection there; undefined when not in it. */
  member(channel: string, user: string): { readonly info: PresenceInfo | undefined } | undefined {
    return this.channels.get(channel)?.get(user);
  }

  memberCount(channel: string): number {
    return this.channels.get(channel)?.size ?? 0;
  }

  private isMember(channel: string, user: string): boolean {
    return this.channels.get(channel)?.has(user) ?? false;
  }

  private count(entry: ConnectionEntry, delta: 1 | -1, touch: (channel: string, user: string) => void): void {
    if (entry.x) return; // closing: no longer present
    const user = entry.u;
    this.connections += delta;
    const online = (this.online.get(user) ?? 0) + delta;
    if (online > 0) this.online.set(user, online);
    else this.online.delete(user);
    for (const channel of entry.p ?? []) {
      touch(channel, user);
      let members = this.channels.get(channel);
      if (!members) {
        members = new Map();
        this.channels.set(channel, members);
      }
      const member = members.get(user);
      if (delta > 0) {
        if (member) {
          member.connections++;
          if (entry.i !== undefined) member.info = entry.i;
        } else members.set(user, { connections: 1, info: entry.i });
      } else if (member) {
        if (--member.connections > 0) continue;
        members.delete(user);
        if (members.size === 0) this.channels.delete(channel);
      }
    }
  }
}
