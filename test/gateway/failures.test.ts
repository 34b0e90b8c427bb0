import type { NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { type NatsServer, startNats, startTestGateway, TestClient } from "../../src/testing/index.js";

/**
 * Every failure of the auth handshake and of the frame contract, each with its error frame and
 * close code. The backend here is a raw NATS responder, so it can answer what a buggy or hostile
 * backend in any language might.
 */
describe("gateway failures", () => {
  let nats: NatsServer;
  let nc: NatsConnection;
  let gateway: RunningGateway;
  const clients: TestClient[] = [];
  /** token -> raw reply body; "slow" never answers in time. */
  const replies = new Map<string, string>();

  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
    nc.subscribe("herald.auth", {
      callback: (_err, msg) => {
        const { token } = msg.json<{ token: string }>();
        if (token === "slow") {
          setTimeout(() => msg.respond(JSON.stringify({ ok: true, user: "late" })), 1500);
          return;
        }
        msg.respond(replies.get(token) ?? JSON.stringify({ ok: true, user: token }));
      },
    });
    await nc.flush();
    gateway = await startTestGateway(nats, {
      authTimeout: 300,
      authRequestTimeout: 500,
      maxFrameBytes: 1024,
    });
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await gateway?.close();
    await nc?.close();
    await nats?.stop();
  });

  async function open(url = gateway.url): Promise<TestClient> {
    const c = await TestClient.open(url);
    clients.push(c);
    return c;
  }

  async function expectFailure(client: TestClient, code: string, closeCode: number): Promise<void> {
    expect(await client.next("error")).toMatchObject({ type: "error", code });
    expect((await client.waitClose()).code).toBe(closeCode);
  }

  it.each([
    ["not json", "{nope", "INVALID_JSON"],
    ["a JSON array", "[1,2]", "INVALID_FRAME"],
    ["no type", '{"token":"a"}', "INVALID_FRAME"],
    ["an unknown type", '{"type":"subscribe","channel":"user.2"}', "UNKNOWN_TYPE"],
    ["a token of the wrong type", '{"type":"auth","token":5}', "INVALID_FRAME"],
    ["an empty token", '{"type":"auth","token":""}', "INVALID_FRAME"],
    ["a bad recover field", '{"type":"auth","token":"a","recover":{"epoch":1}}', "INVALID_FRAME"],
  ])("closes 4400 on %s", async (_name, raw, code) => {
    const client = await open();
    client.send(raw);
    await expectFailure(client, code, CloseCode.InvalidFrame);
  });

  it("closes 4400 on a binary frame", async () => {
    const client = await open();
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await expectFailure(client, "BINARY_FRAME", CloseCode.InvalidFrame);
  });

  it("closes 1009 on a frame over the size limit", async () => {
    const client = await open();
    client.send({ type: "auth", token: "x".repeat(2000) });
    expect((await client.waitClose()).code).toBe(CloseCode.MessageTooBig);
  });

  it("closes 4403 on a frame before auth", async () => {
    const client = await open();
    client.send({ type: "ping" });
    await expectFailure(client, "NOT_AUTHENTICATED", CloseCode.NotAuthenticated);
  });

  it("closes 4409 on a second auth", async () => {
    const client = await TestClient.ready(gateway.url, "u1");
    clients.push(client);
    client.send({ type: "auth", token: "u1" });
    await expectFailure(client, "ALREADY_AUTHENTICATED", CloseCode.AlreadyAuthenticated);
  });

  it("closes 4408 when no auth frame comes in time", async () => {
    const client = await open();
    await expectFailure(client, "AUTH_TIMEOUT", CloseCode.AuthTimeout);
  });

  it("closes 1013 when the backend is too slow", async () => {
    const client = await open();
    client.send({ type: "auth", token: "slow" });
    await expectFailure(client, "BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
  });

  it("closes 1013 when no backend answers at all", async () => {
    const lonely = await startTestGateway(nats, { prefix: "nobody-home" });
    try {
      const client = await open(lonely.url);
      client.send({ type: "auth", token: "u1" });
      const error = await client.next("error");
      expect(error).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
      expect(String(error.message)).toMatch(/no backend/);
      expect((await client.waitClose()).code).toBe(CloseCode.TryAgainLater);
    } finally {
      await lonely.close();
    }
  });

  it("bounds auth requests: beyond the concurrency and the queue, 1013 at once", async () => {
    const narrow = await startTestGateway(nats, {
      authConcurrency: 1,
      authQueue: 1,
      authRequestTimeout: 5000,
    });
    try {
      const trio = await Promise.all([open(narrow.url), open(narrow.url), open(narrow.url)]);
      for (const c of trio) c.send({ type: "auth", token: "slow" });
      // one in flight, one waiting its turn, the last to arrive refused without asking the backend
      const first = await Promise.all(trio.map((c) => c.next(undefined, 6000)));
      expect(first.map((f) => f.type).sort()).toEqual(["error", "ready", "ready"]);
      const refused = trio[first.findIndex((f) => f.type === "error")]!;
      expect(refused.frames[0]).toMatchObject({ code: "OVERLOADED" });
      expect((await refused.waitClose()).code).toBe(CloseCode.TryAgainLater);
    } finally {
      await narrow.close();
    }
  });

  it.each([
    ["not JSON", "<html>"],
    ["no user", '{"ok":true}'],
    ["ok of the wrong type", '{"ok":"yes","user":"a"}'],
    ["a user id with a wildcard", '{"ok":true,"user":"1.*"}'],
    ["a user id that is a full wildcard", '{"ok":true,"user":">"}'],
    ["a user id with a space", '{"ok":true,"user":"2 q"}'],
    ["a user id with CRLF", '{"ok":true,"user":"x\\r\\nSUB >"}'],
    ["an empty user id", '{"ok":true,"user":""}'],
    ["a channel with a dot", '{"ok":true,"user":"a","channels":["a.b"]}'],
    ["a refusal without error", '{"ok":false}'],
  ])("refuses a backend reply with %s and keeps running", async (_name, body) => {
    const token = `reply-${Math.random()}`;
    replies.set(token, body);
    const client = await open();
    client.send({ type: "auth", token });
    await expectFailure(client, "BACKEND_INVALID_REPLY", CloseCode.TryAgainLater);
    // the gateway and its NATS connection are unharmed
    const healthy = await TestClient.ready(gateway.url, "still-fine");
    clients.push(healthy);
  });

  it("never lets a hostile user id receive another user's messages", async () => {
    const victim = await TestClient.ready(gateway.url, "1");
    clients.push(victim);
    for (const hostile of ["1.*", ">", "2 q", "x\r\nSUB >", "*"]) {
      const token = `hostile-${hostile}`;
      replies.set(token, JSON.stringify({ ok: true, user: hostile }));
      const attacker = await open();
      attacker.send({ type: "auth", token });
      await expectFailure(attacker, "BACKEND_INVALID_REPLY", CloseCode.TryAgainLater);
      expect(attacker.messages()).toHaveLength(0);
    }
    nc.publish("herald.user.1", JSON.stringify({ secret: true }));
    nc.publish("herald.user.1.x", "not a user subject");
    const [m] = await victim.waitForMessages(1);
    expect(m).toMatchObject({ channel: "user.1", data: { secret: true } });
    expect(gateway.subjectCount).toBe(1);
  });

  it("refuses upgrades on other paths", async () => {
    await expect(TestClient.open(gateway.url.replace("/ws", "/other"))).rejects.toThrow(/404/);
  });

  it("answers /healthz and /readyz", async () => {
    const base = gateway.url.replace("ws://", "http://").replace("/ws", "");
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready" });
    // Metrics are served on their own listener, not on the public port.
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const metrics = await fetch(`http://127.0.0.1:${gateway.metricsPort}/metrics`);
    expect(await metrics.text()).toMatch(/herald_connections/);
  });
});
