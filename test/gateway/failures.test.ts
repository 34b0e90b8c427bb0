import { describe, expect } from "vitest";
import { CloseCode } from "../../src/protocol/index.js";
import { TestClient } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

// No JetStream: the gateways here run without history.
test.override({ natsOptions: {} });

/**
 * Every failure of the auth handshake and of the frame contract, each with its error frame and
 * close code. The backend here is a raw NATS responder, so it can answer what a buggy or hostile
 * backend in any language might.
 */
describe("gateway failures", () => {
  test.override({
    gatewayOptions: { history: false, authTimeout: 300, authRequestTimeout: 500, maxFrameBytes: 1024 },
  });
  // "slow" is answered, but not in time
  test.beforeEach(({ backend }) => {
    backend.replies.set("slow", (msg) => {
      setTimeout(() => msg.respond(JSON.stringify({ ok: true, user: "late" })), 1500);
    });
  });

  async function expectFailure(client: TestClient, code: string, closeCode: number): Promise<void> {
    expect(await client.next("error")).toMatchObject({ type: "error", code });
    expect((await client.waitClose()).code).toBe(closeCode);
  }

  test.for<[string, string, string]>([
    ["not json", "{nope", "INVALID_JSON"],
    ["a JSON array", "[1,2]", "INVALID_FRAME"],
    ["no type", '{"token":"a"}', "INVALID_FRAME"],
    ["an unknown type", '{"type":"publish","channel":"user.2"}', "UNKNOWN_TYPE"],
    ["a token of the wrong type", '{"type":"auth","token":5}', "INVALID_FRAME"],
    ["an empty token", '{"type":"auth","token":""}', "INVALID_FRAME"],
    ["a bad recover field", '{"type":"auth","token":"a","recover":{"epoch":1}}', "INVALID_FRAME"],
  ])("closes 4400 on %s", async ([_name, raw, code], { socket }) => {
    const client = await socket();
    client.send(raw);
    await expectFailure(client, code, CloseCode.InvalidFrame);
  });

  test("closes 4400 on a binary frame", async ({ socket }) => {
    const client = await socket();
    client.socket.send(Buffer.from([1, 2, 3]), { binary: true });
    await expectFailure(client, "BINARY_FRAME", CloseCode.InvalidFrame);
  });

  test("closes 1009 on a frame over the size limit", async ({ socket }) => {
    const client = await socket();
    client.send({ type: "auth", token: "x".repeat(2000) });
    expect((await client.waitClose()).code).toBe(CloseCode.MessageTooBig);
  });

  test("closes 4403 on a frame before auth", async ({ socket }) => {
    const client = await socket();
    client.send({ type: "ping" });
    await expectFailure(client, "NOT_AUTHENTICATED", CloseCode.NotAuthenticated);
  });

  test("closes 4409 on a second auth", async ({ client: ready }) => {
    const client = await ready("u1");
    client.send({ type: "auth", token: "u1" });
    await expectFailure(client, "ALREADY_AUTHENTICATED", CloseCode.AlreadyAuthenticated);
  });

  test("closes 4408 when no auth frame comes in time", async ({ socket }) => {
    const client = await socket();
    await expectFailure(client, "AUTH_TIMEOUT", CloseCode.AuthTimeout);
  });

  test("closes 1013 when the backend is too slow", async ({ socket }) => {
    const client = await socket();
    client.send({ type: "auth", token: "slow" });
    await expectFailure(client, "BACKEND_UNAVAILABLE", CloseCode.TryAgainLater);
  });

  test("closes 1013 when no backend answers at all", async ({ startGateway, socket }) => {
    const lonely = await startGateway({ history: false, prefix: "nobody-home" });
    const client = await socket({ at: lonely });
    client.send({ type: "auth", token: "u1" });
    const error = await client.next("error");
    expect(error).toMatchObject({ code: "BACKEND_UNAVAILABLE" });
    expect(String(error.message)).toMatch(/no backend/);
    expect((await client.waitClose()).code).toBe(CloseCode.TryAgainLater);
  });

  test("bounds auth requests: beyond the concurrency and the queue, 1013 at once", async ({
    startGateway,
    socket,
  }) => {
    const narrow = await startGateway({
      history: false,
      authConcurrency: 1,
      authQueue: 1,
      authRequestTimeout: 5000,
    });
    const open = () => socket({ at: narrow });
    const trio = await Promise.all([open(), open(), open()]);
    for (const c of trio) c.send({ type: "auth", token: "slow" });
    // one in flight, one waiting its turn, the last to arrive refused without asking the backend
    const first = await Promise.all(trio.map((c) => c.next(undefined, 6000)));
    expect(first.map((f) => f.type).sort()).toEqual(["error", "ready", "ready"]);
    const refused = trio[first.findIndex((f) => f.type === "error")]!;
    expect(refused.frames[0]).toMatchObject({ code: "OVERLOADED" });
    expect((await refused.waitClose()).code).toBe(CloseCode.TryAgainLater);
  });

  test.for<[string, string]>([
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
  ])(
    "refuses a backend reply with %s and keeps running",
    async ([_name, body], { backend, socket, client }) => {
      const token = `reply-${Math.random()}`;
      backend.replies.set(token, body);
      const refused = await socket();
      refused.send({ type: "auth", token });
      await expectFailure(refused, "BACKEND_INVALID_REPLY", CloseCode.TryAgainLater);
      // the gateway and its NATS connection are unharmed
      await client("still-fine");
    },
  );

  test("never lets a hostile user id receive another user's messages", async ({
    backend,
    gateway,
    client,
    socket,
  }) => {
    const victim = await client("1");
    for (const hostile of ["1.*", ">", "2 q", "x\r\nSUB >", "*"]) {
      const token = `hostile-${hostile}`;
      backend.replies.set(token, JSON.stringify({ ok: true, user: hostile }));
      const attacker = await socket();
      attacker.send({ type: "auth", token });
      await expectFailure(attacker, "BACKEND_INVALID_REPLY", CloseCode.TryAgainLater);
      expect(attacker.messages()).toHaveLength(0);
    }
    backend.connection.publish("herald.user.1", JSON.stringify({ secret: true }));
    backend.connection.publish("herald.user.1.x", "not a user subject");
    const [m] = await victim.waitForMessages(1);
    expect(m).toMatchObject({ channel: "user.1", data: { secret: true } });
    expect(gateway.subjectCount).toBe(1);
  });

  test("refuses upgrades on other paths", async ({ gateway }) => {
    await expect(TestClient.open(gateway.url.replace("/ws", "/other"))).rejects.toThrow(/404/);
  });

  test("answers /healthz and /readyz", async ({ gateway }) => {
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
