import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend, refuse } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";

// The six steps on a real nats-server: auth over WebSocket, backend decides over NATS, ready,
// backend publishes, every gateway holding the user's sockets delivers.
describe.each([false, true])("gateway flow (history %s)", (history) => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let gateways: RunningGateway[] = [];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    backend = await HeraldBackend.connect({ servers: nats.url, history });
    backend.serveAuth((token, context) => {
      if (token === "refuse-me") return refuse("invalid_token", "unknown token");
      if (token.startsWith("tok-")) {
        return accept({
          user: token.slice(4),
          channels: context.headers.origin === "https://team" ? ["team"] : [],
        });
      }
      return refuse("invalid_token", "unknown token");
    });
  });
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await Promise.all(gateways.map((g) => g.close()));
    gateways = [];
  });
  afterAll(async () => {
    await backend?.close();
    await nats?.stop();
  });

  async function gateway(): Promise<RunningGateway> {
    const g = await startTestGateway(nats, { history, historyStorage: "memory" });
    gateways.push(g);
    return g;
  }
  async function ready(g: RunningGateway, token: string): Promise<TestClient> {
    const c = await TestClient.ready(g.url, token);
    clients.push(c);
    return c;
  }

  it("authenticates, subscribes the user's channel and delivers JSON and text", async () => {
    const g = await gateway();
    const client = await TestClient.open(g.url);
    clients.push(client);
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

  it("delivers payloads of every WebSocket length class intact", async () => {
    const g = await gateway();
    const client = await ready(g, "tok-len");
    // frame lengths below 126 (7-bit), up to 65,535 (16-bit) and beyond (64-bit), in UTF-8
    const sizes = [0, 40, 100, 120, 30_000, 65_500, 300_000];
    for (const size of sizes) await backend.publish("len", { s: "é".repeat(size) });
    const got = await client.waitForMessages(sizes.length);
    expect(got.map((m) => (m.data as { s: string }).s)).toEqual(sizes.map((n) => "é".repeat(n)));
  });

  it("delivers to every tab of the user on two gateways, and to nobody else", async () => {
    const [g1, g2] = [await gateway(), await gateway()];
    const tabs = [await ready(g1, "tok-bob"), await ready(g1, "tok-bob"), await ready(g2, "tok-bob")];
    const carol = await ready(g2, "tok-carol");
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

  it("grants shared channels named in the backend's reply", async () => {
    const g = await gateway();
    const client = await TestClient.open(g.url, { headers: { origin: "https://team" } });
    clients.push(client);
    client.send({ type: "auth", token: "tok-dave" });
    expect(await client.next()).toMatchObject({ type: "ready", channels: ["user.dave", "channel.team"] });
    await backend.publishToChannel("team", "standup in 5");
    const [m] = await client.waitForMessages(1);
    expect(m).toMatchObject({ channel: "channel.team", data: "standup in 5" });
  });

  it("says so when its port is taken, and leaves nothing running", async () => {
    const g = await gateway();
    await expect(startTestGateway(nats, { history, historyStorage: "memory", port: g.port })).rejects.toThrow(
      `cannot listen on 127.0.0.1:${g.port}: port ${g.port} is in use`,
    );
  });

  it("refuses a token with an error frame and 4401", async () => {
    const g = await gateway();
    const client = await TestClient.open(g.url);
    clients.push(client);
    client.send({ type: "auth", token: "refuse-me" });
    expect(await client.next()).toMatchObject({
      type: "error",
      code: "AUTH_REFUSED",
      reason: "invalid_token",
    });
    expect((await client.waitClose()).code).toBe(4401);
  });
});
