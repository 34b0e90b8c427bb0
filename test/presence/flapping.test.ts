import { jetstreamManager } from "@nats-io/jetstream";
import { describe, expect } from "vitest";
import { type RawBackend, type TestClient, waitUntil } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

/**
 * One connection that subscribes to and unsubscribes from a presence channel as fast as its frame
 * budget lets it: the other members get at most one `join` or `leave` of it per
 * `--presence-interval` (default 1 s), the registry holds at most one write of its shard per
 * interval, once it stops everyone sees where it ended, and its close is shown all the same.
 */
const INTERVAL_MS = 1000;
const MEMBERS = 10;
const FLAPPING_MS = 3000;

describe("a member flapping in a presence channel", () => {
  test.override({ gatewayOptions: { history: false, presence: true } });

  test("costs each other member at most one join or leave per interval, and ends right", async ({
    backend,
    publisher: sdk,
    client,
    raw,
  }) => {
    backend.subscribeReplies.set("channel.flap", JSON.stringify({ ok: true, presence: true }));
    const members: TestClient[] = [];
    for (let i = 0; i < MEMBERS; i++) {
      const user = `fl-member-${i}`;
      grantFlap(backend, user);
      members.push(await client(user));
    }
    await waitUntil(
      async () => (await sdk.presence("flap")).count === MEMBERS,
      "every member in the channel's presence",
    );
    const flapper = await client("fl-flapper");
    // Its own record stored before the registry's writes are counted.
    await waitUntil(async () => (await sdk.online("fl-flapper"))["fl-flapper"] === 1, "the flapper online");
    const jsm = await jetstreamManager(raw);
    const registryWrites = async () => (await jsm.streams.info("KV_HERALD_CONNECTIONS")).state.last_seq;
    const writesBefore = await registryWrites();
    const from = members.map((member) => member.frames.length);
    const aboutFlapper = (member: TestClient, at: number) =>
      member.frames
        .slice(at)
        .filter((f) => (f.type === "join" || f.type === "leave") && f.user === "fl-flapper");

    // Within the default frame budget (20 a second): a subscribe and an unsubscribe every 150 ms.
    const started = performance.now();
    let pairs = 0;
    while (performance.now() - started < FLAPPING_MS) {
      const paced = new Promise((resolve) => setTimeout(resolve, 150));
      flapper.send({ type: "subscribe", channel: "channel.flap" });
      await flapper.next("subscribed");
      flapper.send({ type: "unsubscribe", channel: "channel.flap" });
      await flapper.next("unsubscribed");
      pairs++;
      await paced;
    }
    // It ends in the channel: every member's last word about it must be a join.
    flapper.send({ type: "subscribe", channel: "channel.flap" });
    await flapper.next("subscribed");
    await waitUntil(
      () => members.every((member, i) => aboutFlapper(member, from[i] as number).at(-1)?.type === "join"),
      "every member seeing the flapper in the channel",
    );
    const elapsed = performance.now() - started;
    await waitUntil(
      async () => (await sdk.presence("flap")).count === MEMBERS + 1,
      "the flapper in the channel's presence",
    );
    const writes = (await registryWrites()) - writesBefore;
    // One more arrival, after the flapper's last change: once every member saw it join, the
    // gateway has handed them everything about the flapper it had then.
    grantFlap(backend, "fl-last");
    await client("fl-last");
    for (const member of members) await joinOf(member, "fl-last");

    const bound = Math.ceil(elapsed / INTERVAL_MS) + 1;
    const perMember = members.map((member, i) => aboutFlapper(member, from[i] as number).length);
    console.log(
      `flapping: ${pairs} subscribe/unsubscribe pairs in ${Math.round(elapsed)} ms; frames about the flapper per member ${Math.max(...perMember)} (bound ${bound}), ${perMember.reduce((a, b) => a + b, 0)} in all; registry writes ${writes}`,
    );
    expect(pairs).toBeGreaterThanOrEqual(10);
    for (const count of perMember) expect(count).toBeLessThanOrEqual(bound);
    expect(writes).toBeLessThanOrEqual(bound);

    // A real leave right after a change: held to the interval's end at most, then shown.
    flapper.send({ type: "unsubscribe", channel: "channel.flap" });
    flapper.send({ type: "subscribe", channel: "channel.flap" });
    await flapper.next("subscribed");
    const closedAt = performance.now();
    flapper.socket.close(1000);
    const seen = members.map((member) => member.frames.length);
    await waitUntil(
      () => members.every((member, i) => aboutFlapper(member, seen[i] as number).at(-1)?.type === "leave"),
      "every member seeing the flapper leave after it closed",
    );
    console.log(
      `the flapper's close shown to every member after ${Math.round(performance.now() - closedAt)} ms`,
    );
    await waitUntil(
      async () => (await sdk.presence("flap")).count === MEMBERS + 1,
      "the flapper out of the channel's presence",
    );
  });
});

/** The auth reply of a member: `channel.flap` with presence. */
function grantFlap(backend: RawBackend, user: string): void {
  backend.replies.set(user, JSON.stringify({ ok: true, user, channels: ["flap"], presence: ["flap"] }));
}

async function joinOf(member: TestClient, user: string): Promise<void> {
  for (;;) if ((await member.next("join")).user === user) return;
}
