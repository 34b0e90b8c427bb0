import { describe, expect, it } from "vitest";
import { PresenceIndex } from "../../src/gateway/tracking/presence/presence-index.js";
import type { ConnectionEntry } from "../../src/gateway/tracking/registry/record.js";

/** The index as shards change: user-level joins and leaves, counts, closing connections. */
const room = (user: string, extra: Partial<ConnectionEntry> = {}): ConnectionEntry => ({
  u: user,
  p: ["channel.room"],
  ...extra,
});

describe("presence index", () => {
  it("joins a user with its first connection on any shard and leaves it with its last", () => {
    const index = new PresenceIndex();
    expect(index.apply("gw-a.1", { c1: room("ann", { i: { name: "Ann" } }) })).toEqual([
      { kind: "join", channel: "channel.room", user: "ann", info: { name: "Ann" }, members: 1 },
    ]);
    // A second connection, on another gateway's shard: no join.
    expect(index.apply("gw-b.7", { c2: room("ann") })).toEqual([]);
    expect(index.onlineOf(["ann", "bob"])).toEqual({ ann: 2 });
    expect(index.membersOf("channel.room", 10)).toEqual({
      count: 1,
      members: [{ user: "ann", connections: 2, info: { name: "Ann" } }],
    });
    expect(index.apply("gw-a.1", undefined)).toEqual([]);
    expect(index.apply("gw-b.7", {})).toEqual([
      { kind: "leave", channel: "channel.room", user: "ann", info: undefined, members: 0 },
    ]);
    expect(index.onlineOf(["ann"])).toEqual({});
    expect(index.connectionCount).toBe(0);
  });

  it("counts a closing connection as gone, and a rewrite of the same shard changes nothing twice", () => {
    const index = new PresenceIndex();
    index.apply("gw-a.1", { c1: room("ann"), c2: room("bob") });
    expect(index.apply("gw-a.1", { c1: room("ann"), c2: room("bob") })).toEqual([]);
    const closing = room("bob", { x: { code: 1000, clean: true, time: 1 } });
    expect(index.apply("gw-a.1", { c1: room("ann"), c2: closing }).map((c) => [c.kind, c.user])).toEqual([
      ["leave", "bob"],
    ]);
    expect(index.apply("gw-a.1", { c1: room("ann") })).toEqual([]);
    expect(index.onlineOf(["ann", "bob"])).toEqual({ ann: 1 });
  });

  it("follows presence granted and taken away on a connection that stays", () => {
    const index = new PresenceIndex();
    index.apply("gw-a.1", { c1: { u: "ann" } });
    expect(index.apply("gw-a.1", { c1: room("ann") }).map((c) => c.kind)).toEqual(["join"]);
    expect(index.apply("gw-a.1", { c1: { u: "ann" } }).map((c) => c.kind)).toEqual(["leave"]);
    expect(index.onlineOf(["ann"])).toEqual({ ann: 1 });
  });

  it("lists at most the number asked, saying there are more", () => {
    const index = new PresenceIndex();
    index.apply("gw-a.1", Object.fromEntries(Array.from({ length: 5 }, (_, i) => [`c${i}`, room(`u${i}`)])));
    const listed = index.membersOf("channel.room", 2);
    expect([listed.count, listed.members.length, listed.truncated]).toEqual([5, 2, true]);
    expect(index.membersOf("channel.none", 2)).toEqual({ count: 0, members: [] });
  });
});
