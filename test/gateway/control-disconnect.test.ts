import type { Msg } from "@nats-io/nats-core";
import { describe, expect } from "vitest";
import type { HeraldBackend } from "../../src/backend/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import { type TestClient, waitUntil } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

// A nats-server without JetStream, and gateways and a backend without history.
test.override({ natsOptions: {} });

/**
 * `<prefix>.control.disconnect` on a real nats-server with two gateways: every connection of the
 * user closes, on both, with the code that says whether to come back; nobody else's does.
 */
describe("control: disconnect", () => {
  test.override({ backendOptions: { history: false }, gatewayOptions: { history: false } });

  /** Still connected: a ping is answered, and a message for the user arrives. */
  async function stillServed(backend: HeraldBackend, c: TestClient, user: string): Promise<void> {
    c.send({ type: "ping" });
    await c.next("pong");
    const before = c.messages().length;
    await backend.publish(user, { still: "here" });
    await c.waitForMessages(before + 1);
    expect(c.closed).toBeUndefined();
  }

  test("closes every connection of the user on both gateways with 4430, and nobody else's", async ({
    backend,
    client,
    gatewayPair,
  }) => {
    const [g1, g2] = gatewayPair;
    const alice = [await client("alice"), await client("alice"), await client("alice", { at: g2 })];
    const others = [
      await client("bob", { at: g1 }),
      await client("bob", { at: g2 }),
      await client("alice2", { at: g2 }),
    ];

    await backend.disconnect("alice", { reason: "signed out everywhere" });
    for (const c of alice) {
      expect(await c.next("error")).toEqual({
        type: "error",
        code: "DISCONNECTED",
        message: 'the backend disconnected this user: "signed out everywhere"',
      });
      expect(await c.waitClose()).toEqual({ code: CloseCode.Disconnected, reason: "DISCONNECTED" });
    }
    await stillServed(backend, others[0]!, "bob");
    await stillServed(backend, others[1]!, "bob");
    await stillServed(backend, others[2]!, "alice2");
  });

  test("closes with 4431 RECONNECT_REQUESTED when asked to reconnect, quoting a long reason briefly", async ({
    backend,
    client,
    gatewayPair,
  }) => {
    const g2 = gatewayPair[1];
    const carol = [await client("carol"), await client("carol", { at: g2 })];
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

  test("takes a plain NATS publish, as a backend in any language sends it, and ignores invalid ones", async ({
    backend,
    client,
    raw,
    gatewayPair,
  }) => {
    const g2 = gatewayPair[1];
    const dave = [await client("dave"), await client("dave", { at: g2 })];
    const bystander = await client("erin");
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
    await stillServed(backend, bystander, "erin");
  });

  test("also closes a connection whose auth was asked before the disconnect and answered after it", async ({
    raw,
    startGateway,
    client,
    socket,
  }) => {
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
    const gateway = await startGateway({ history: false, prefix: "held" });
    try {
      const early = await client("frank", { at: gateway });
      const late = await socket({ at: gateway });
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
      const again = await client("frank", { at: gateway });
      expect(again.frames[0]).toMatchObject({ type: "ready", user: "frank" });
    } finally {
      sub.unsubscribe();
    }
  });
});
