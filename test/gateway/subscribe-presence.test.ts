import { describe, expect } from "vitest";
import { type TestClient, waitUntil } from "../../src/testing/index.js";
import { type OpenClient, rawTest as test } from "../fixtures.js";

/**
 * A subscribed channel in presence: the backend's grant on `<prefix>.subscribe` may give presence,
 * as the auth reply does for the channels it grants. Members then see the subscriber join, and
 * leave when it unsubscribes or the channel is taken away.
 */
describe("presence on a subscribed channel", () => {
  test.override({ gatewayOptions: { historyStorage: "memory", presence: true } });

  /** The next `join` or `leave` of one user (a member sees its own join too). */
  async function nextOf(client: TestClient, type: "join" | "leave", user: string) {
    for (;;) {
      const frame = await client.next(type);
      if (frame.user === user) return frame;
    }
  }

  async function subscribed(client: OpenClient, user: string, channel: string) {
    const opened = await client(user);
    opened.send({ type: "subscribe", channel });
    return { client: opened, frame: await opened.next("subscribed") };
  }

  test("lists, joins and leaves a subscriber the grant gave presence; the others are not in it", async ({
    backend,
    publisher: sdk,
    client,
  }) => {
    backend.subscribeReplies.set("channel.lounge", JSON.stringify({ ok: true, presence: true }));
    const amy = await subscribed(client, "s-amy", "channel.lounge");
    expect(amy.frame).toMatchObject({ channel: "channel.lounge", presence: true });
    const ben = await subscribed(client, "s-ben", "channel.lounge");
    expect(await nextOf(amy.client, "join", "s-ben")).toMatchObject({ channel: "channel.lounge" });
    await waitUntil(
      async () => (await sdk.presence("lounge")).members.length === 2,
      "both in the lounge's presence",
    );
    amy.client.send({ type: "presence", channel: "channel.lounge" });
    expect(await amy.client.next("presence")).toMatchObject({ channel: "channel.lounge", count: 2 });
    // a grant without presence: subscribed, but not in the channel's presence
    const plain = await subscribed(client, "s-cy", "channel.plain");
    expect(plain.frame).not.toHaveProperty("presence");
    plain.client.send({ type: "presence", channel: "channel.plain" });
    expect(await plain.client.next("presence_error")).toMatchObject({ code: "NOT_GRANTED" });

    ben.client.send({ type: "unsubscribe", channel: "channel.lounge" });
    await ben.client.next("unsubscribed");
    expect(await amy.client.next("leave")).toEqual({
      type: "leave",
      channel: "channel.lounge",
      user: "s-ben",
    });
    sdk.connection.publish(
      "herald.control.unsubscribe",
      JSON.stringify({ user: "s-amy", channel: "channel.lounge" }),
    );
    await amy.client.next("unsubscribed");
    await waitUntil(
      async () => (await sdk.presence("lounge")).members.length === 0,
      "nobody left in the lounge's presence",
    );
  });
});
