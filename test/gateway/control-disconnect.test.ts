import type { Msg, NatsConnection } from "@nats-io/nats-core";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { accept, HeraldBackend } from "../../src/backend/index.js";
import type { RunningGateway } from "../../src/gateway/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import {
  type NatsServer,
  startNats,
  startTestGateway,
  TestClient,
  waitUntil,
} from "../../src/testing/index.js";

/**
 * `<prefix>.control.disconnect` on a real nats-server with two gateways: every connection of the
 * user closes, on both, with the code that says whether to come back; nobody else's does.
 */
describe("control: disconnect", () => {
  let nats: NatsServer;
  let backend: HeraldBackend;
  let raw: NatsConnection;
  let gateways: RunningGateway[];
  const clients: TestClient[] = [];

  beforeAll(async () => {
    nats = await startNats();
    backend = await HeraldBackend.connect({ servers: nats.url, history: false });
    backend.serveAuth((token) => accept({ user: token }));
    raw = await connect({ servers: nats.url });
    gateways = [await startTestGateway(nats), await startTestGateway(nats)];
  });
  afterEach(() => {
    for (const c of clients.splice(0)) c.close();
  });
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.close()));
    await raw?.close();
    await backend?.close();
    await nats?.stop();
  });

  async function open(gateway: RunningGateway, user: string): Promise<TestClient> {
    const c = await TestClient.ready(gateway.url, user);
    clients.push(c);
    return c;
  }

  /** Still connected: a ping is answered, and a message for the user arrives. */
  async function stillServed(c: TestClient, user: string): Promise<void> {
    c.send({ type: "ping" });
    await c.next("pong");
    const before = c.messages().length;
    await backend.publish(user, { still: "here" });
    await c.waitForMessages(before + 1);
    expect(c.closed).toBeUndefined();
  }

  it("closes every connection of the user on both gateways with 4430, and nobody else's", async () => {
    const [g1, g2] = gateways as [RunningGateway, RunningGateway];
    const alice = [await open(g1, "alice"), await open(g1, "alice"), await open(g2, "alice")];
    const others = [await open(g1, "bob"), await open(g2, "bob"), await open(g2, "alice2")];

    await backend.disconnect("alice", { reason: "signed out everywhere" });
    for (const c of alice) {
      expect(await c.next("error")).toEqual({
        type: "error",
        code: "DISCONNECTED",
        message: 'the backend disconnected this user: "signed out everywhere"',
      });
      expect(await c.waitClose()).toEqual({ code: CloseCode.Disconnected, reason: "DISCONNECTED" });
    }
    await stillServed(others[0]!, "bob");
    await stillServed(others[1]!, "bob");
    await stillServed(others[2]!, "alice2");
  });

  it("closes with 4431 RECONNECT_REQUESTED when asked to reconnect, quoting a long reason briefly", async () => {
    const [g1, g2] = gateways as [RunningGateway, RunningGateway];
    const carol = [await open(g1, "carol"), await open(g2, "carol")];
    const reason = `rights changed\r\n${"€".repeat(300)}`;
    await backend.disconnect("carol", { reconnect: true, reason });
    for (const c of carol) {
      const error = await c.next("error");
      expect(error).toMatchObject({ code: "RECONNECT_REQUESTED" });
      expect(String(error.message)).toContain('"rights changed\\r\\n€€€');
      expect(String(error.message).length).toBeLessThan(140);
      expect(await c.waitClose()).toEqual({
        code: CloseCode.ReconnectRequested,
        reason: "RECONNECT_REQUESTED",
      });
    }
  });

  it("takes a plain NATS publish, as a backend in any language sends it, and ignores invalid ones", async () => {
    const [g1, g2] = gateways as [RunningGateway, RunningGateway];
    const dave = [await open(g1, "dave"), await open(g2, "dave")];
    const bystander = await open(g1, "erin");
    const invalid = [
      ["herald.control.disconnect", "not json"],
      ["herald.control.disconnect", JSON.stringify({ user: "dave.*" })],
      ["herald.control.disconnect", JSON.stringify({ user: ">" })],
      ["herald.control.disconnect", JSON.stringify({ user: "dave", reconnect: "yes" })],
      ["herald.control.disconnect", JSON.stringify({ user: "dave", reason: 7 })],
      ["herald.control.disconnect", JSON.stringify([{ user: "dave" }])],
      ["herald.control.disconnect.extra", JSON.stringify({ user: "dave" })],
      ["herald.control.unknown-kind", JSON.stringify({ user: "dave" })],
    ] as const;
    for (const [subject, body] of invalid) raw.publish(subject, body);
    await raw.flush();
    // then a valid one: when it has closed dave, the invalid ones before it were handled and left him
    raw.publish("herald.control.disconnect", JSON.stringify({ user: "dave", reconnect: false }));
    for (const c of dave) {
      expect(await c.next("error")).toMatchObject({
        code: "DISCONNECTED",
        message: "the backend disconnected this user",
      });
      expect((await c.waitClose()).code).toBe(CloseCode.Disconnected);
      expect(c.frames.filter((f) => f.type === "error")).toHaveLength(1);
    }
    await stillServed(bystander, "erin");
  });

  it("also closes a connection whose auth was asked before the disconnect and answered after it", async () => {
    // a gateway whose backend holds the auth answers of `late` tokens until the test lets them go
    const held: Msg[] = [];
    const sub = raw.subscribe("held.auth", {
      callback: (_err, msg) => {
        const { token } = msg.json<{ token: string }>();
        if (token.startsWith("late")) held.push(msg);
        else msg.respond(JSON.stringify({ ok: true, user: token }));
      },
    });
    await raw.flush();
    const gateway = await startTestGateway(nats, { prefix: "held" });
    try {
      const early = await TestClient.ready(gateway.url, "frank");
      clients.push(early);
      const late = await TestClient.open(gateway.url);
      clients.push(late);
      late.send({ type: "auth", token: "late-frank" });
      await waitUntil(() => held.length === 1, "the held auth request");
      raw.publish("held.control.disconnect", JSON.stringify({ user: "frank" }));
      // once the connection that was ready is closed, the gateway has taken the disconnect
      expect((await early.waitClose()).code).toBe(CloseCode.Disconnected);
      held[0]!.respond(JSON.stringify({ ok: true, user: "frank" }));
      expect(await late.next("error")).toMatchObject({ code: "DISCONNECTED" });
      expect((await late.waitClose()).code).toBe(CloseCode.Disconnected);
      expect(late.frames.some((f) => f.type === "ready")).toBe(false);
      // an auth asked after the disconnect is a new sign-in: it goes through
      const again = await TestClient.ready(gateway.url, "frank");
      clients.push(again);
      expect(again.frames[0]).toMatchObject({ type: "ready", user: "frank" });
    } finally {
      sub.unsubscribe();
      await gateway.close();
    }
  });
});
