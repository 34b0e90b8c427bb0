import { describe, expect } from "vitest";
import { accept, refuse } from "../../src/backend/index.js";
import { test } from "../fixtures.js";

// The six steps on a real nats-server: auth over WebSocket, backend decides over NATS, ready,
// backend publishes, every gateway holding the user's sockets delivers.
describe.each([false, true])("gateway flow (history %s)", (history) => {
  test.override({
    backendOptions: {
      history,
      authorize: (token, context) => {
        if (token === "refuse-me") return refuse("invalid_token", "unknown token");
        if (token.startsWith("tok-")) {
          return accept({
            user: token.slice(4),
            channels: context.headers.origin === "https://team" ? ["team"] : [],
          });
        }
        return refuse("invalid_token", "unknown token");
      },
    },
  });
  const options = { history, historyStorage: "memory" } as const;

  test("authenticates, subscribes the user's channel and delivers JSON and text", async ({
    backend,
    startGateway,
    socket,
  }) => {
    const g = await startGateway(options);
    const client = await socket({ at: g });
    client.send({ type: "auth", token: "tok-alice" });
    const readyFrame = await client.next();
    expect(readyFrame).toMatchObject({
      type: "ready",
      user: "alice",
      channels: ["user.alice"],
      gateway: g.id,
    });
    if (history) expect(readyFrame).toHaveProperty("positions");

    await backend.publish("alice", { order: 42 });
    await backend.publish("alice", new TextEncoder().encode("hello!"));
    const [json, text] = await client.waitForMessages(2);
    expect(json).toMatchObject({ type: "message", channel: "user.alice", data: { order: 42 } });
    expect(text).toMatchObject({ type: "message", channel: "user.alice", data: "hello!" });
    if (history) {
      expect(typeof json?.seq).toBe("number");
      expect(text?.prev).toBe(json?.seq);
    } else {
      expect(json).not.toHaveProperty("seq");
    }
  });

  test("delivers payloads of every WebSocket length class intact", async ({
    backend,
    startGateway,
    client,
  }) => {
    const g = await startGateway(options);
    const receiver = await client("tok-len", { at: g });
    // frame lengths below 126 (7-bit), up to 65,535 (16-bit) and beyond (64-bit), in UTF-8
    const sizes = [0, 40, 100, 120, 30_000, 65_500, 300_000];
    for (const size of sizes) await backend.publish("len", { s: "é".repeat(size) });
    const got = await receiver.waitForMessages(sizes.length);
    expect(got.map((m) => (m.data as { s: string }).s)).toEqual(sizes.map((n) => "é".repeat(n)));
  });

  test("delivers to every tab of the user on two gateways, and to nobody else", async ({
    backend,
    startGateway,
    client,
  }) => {
    const [g1, g2] = [await startGateway(options), await startGateway(options)];
    const tabs = [
      await client("tok-bob", { at: g1 }),
      await client("tok-bob", { at: g1 }),
      await client("tok-bob", { at: g2 }),
    ];
    const carol = await client("tok-carol", { at: g2 });
    await backend.publish("bob", { n: 1 });
    await backend.publish("carol", { n: 2 });
    for (const tab of tabs) {
      const [m] = await tab.waitForMessages(1);
      expect(m).toMatchObject({ channel: "user.bob", data: { n: 1 } });
    }
    const [c] = await carol.waitForMessages(1);
    expect(c).toMatchObject({ channel: "user.carol", data: { n: 2 } });
    await new Promise((r) => setTimeout(r, 100));
    for (const tab of tabs) expect(tab.messages()).toHaveLength(1);
    expect(carol.messages()).toHaveLength(1);
    // one NATS subscription per channel per gateway
    expect(g1.subjectCount).toBe(1);
    expect(g2.subjectCount).toBe(2);
  });

  test("grants shared channels named in the backend's reply", async ({ backend, startGateway, socket }) => {
    const g = await startGateway(options);
    const client = await socket({ at: g, headers: { origin: "https://team" } });
    client.send({ type: "auth", token: "tok-dave" });
    expect(await client.next()).toMatchObject({ type: "ready", channels: ["user.dave", "channel.team"] });
    await backend.publishToChannel("team", "standup in 5");
    const [m] = await client.waitForMessages(1);
    expect(m).toMatchObject({ channel: "channel.team", data: "standup in 5" });
  });

  test("says so when its port is taken, and leaves nothing running", async ({ startGateway }) => {
    const g = await startGateway(options);
    await expect(startGateway({ ...options, port: g.port })).rejects.toThrow(
      `cannot listen on 127.0.0.1:${g.port}: port ${g.port} is in use`,
    );
  });

  test("refuses a token with an error frame and 4401", async ({ startGateway, socket }) => {
    const g = await startGateway(options);
    const client = await socket({ at: g });
    client.send({ type: "auth", token: "refuse-me" });
    expect(await client.next()).toMatchObject({
      type: "error",
      code: "AUTH_REFUSED",
      reason: "invalid_token",
    });
    expect((await client.waitClose()).code).toBe(4401);
  });
});
