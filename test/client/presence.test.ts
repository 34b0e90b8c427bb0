import { afterEach, describe, expect } from "vitest";
import { accept } from "../../src/backend/index.js";
import type { JoinFrame, LeaveFrame } from "../../src/client/index.js";
import { test } from "../fixtures.js";
import { closeClients, observeClient } from "./observed-client.js";
import { until } from "./scripted-gateway.js";

/** The SDK's presence against a real gateway: `presence()`, `join` and `leave`. */
describe("client SDK presence", () => {
  test.override({
    backendOptions: {
      authorize: (token) =>
        accept({ user: token, channels: ["room", "news"], presence: ["room"], info: { name: token } }),
    },
    gatewayOptions: { history: false, presence: true, livenessTimeout: 2000 },
  });
  afterEach(() => closeClients());

  test("asks who is in a channel, and hears users join and leave", async ({ gateway }) => {
    const ann = observeClient(gateway.url, { getToken: async () => "ann" });
    await expect(ann.client.presence("channel.room")).rejects.toMatchObject({ code: "NOT_READY" });
    await until(() => ann.client.state === "ready", "ann ready", 10_000);
    expect(ann.client.session?.presence).toEqual(["channel.room"]);
    const joins: JoinFrame[] = [];
    const leaves: LeaveFrame[] = [];
    ann.client.on("join", (frame) => joins.push(frame));
    ann.client.on("leave", (frame) => leaves.push(frame));

    const bob = observeClient(gateway.url, { getToken: async () => "bob" });
    await until(() => joins.some((j) => j.user === "bob"), "bob's join", 10_000);
    expect(joins.find((j) => j.user === "bob")).toEqual({
      type: "join",
      channel: "channel.room",
      user: "bob",
      info: { name: "bob" },
    });
    const [one, two] = await Promise.all([
      ann.client.presence("channel.room"),
      ann.client.presence("channel.room"),
    ]);
    expect(one).toEqual(two);
    expect(one.count).toBe(2);
    expect(one.members.map((m) => m.user).sort()).toEqual(["ann", "bob"]);

    await expect(ann.client.presence("channel.news")).rejects.toMatchObject({
      code: "NOT_GRANTED",
      retryable: false,
    });
    bob.client.close();
    await until(() => leaves.some((l) => l.user === "bob"), "bob's leave", 10_000);
    expect((await ann.client.presence("channel.room")).members.map((m) => m.user)).toEqual(["ann"]);
  });
});
