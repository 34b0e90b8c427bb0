import { describe, expect } from "vitest";
import { accept, refuse } from "../../src/backend/index.js";
import { CloseCode } from "../../src/protocol/index.js";
import type { TestClient } from "../../src/testing/index.js";
import { test } from "../fixtures.js";

/** Token expiry and refresh, heartbeats, and slow consumers. */
describe("liveness", () => {
  test.override({
    backendOptions: {
      history: false,
      // tokens: "<user>:<ms valid>" ; "<user>:refused" is refused
      authorize: (token) => {
        const [user = "", valid = ""] = token.split(":");
        if (valid === "refused") return refuse("revoked", "token revoked");
        return accept({ user, ...(valid ? { expiresAt: Date.now() + Number(valid) } : {}) });
      },
    },
    gatewayOptions: {
      history: false,
      refreshBefore: 600,
      heartbeatInterval: 200,
      heartbeatTimeout: 700,
      maxBufferedBytes: 256 * 1024,
    },
  });

  /** Answers every heartbeat ping, as the client SDK does. */
  function keepAlive(client: TestClient): void {
    client.answerPings();
  }

  test("asks for a refresh before expiry and keeps the connection and its messages", async ({
    client: ready,
    backend,
  }) => {
    const client = await ready("ann:900");
    keepAlive(client);
    const expiring = await client.next("token_expiring");
    expect(typeof expiring.expiresAt).toBe("number");
    client.send({ type: "refresh", token: "ann:5000" });
    const refreshed = await client.next("refreshed");
    expect(refreshed.expiresAt as number).toBeGreaterThan(expiring.expiresAt as number);
    await new Promise((r) => setTimeout(r, 500)); // past the first token's expiry
    await backend.publish("ann", { still: "here" });
    expect((await client.waitForMessages(1))[0]).toMatchObject({ data: { still: "here" } });
    expect(client.closed).toBeUndefined();
  });

  test("closes 4401 when a refresh is refused", async ({ client: ready }) => {
    const client = await ready("ben:900");
    keepAlive(client);
    await client.next("token_expiring");
    client.send({ type: "refresh", token: "ben:refused" });
    expect(await client.next("error")).toMatchObject({ code: "REFRESH_REFUSED", reason: "revoked" });
    expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
  });

  test("refuses a refreshed token of another user", async ({ client: ready }) => {
    const client = await ready("cid:900");
    keepAlive(client);
    await client.next("token_expiring");
    client.send({ type: "refresh", token: "someone-else:5000" });
    expect(await client.next("error")).toMatchObject({ code: "REFRESH_REFUSED", reason: "user_changed" });
    expect((await client.waitClose()).code).toBe(CloseCode.AuthRefused);
  });

  test("closes 4410 at expiry when no refresh came", async ({ client: ready }) => {
    const client = await ready("dee:800");
    keepAlive(client);
    await client.next("token_expiring");
    expect(await client.next("error", 3000)).toMatchObject({ code: "TOKEN_EXPIRED" });
    expect((await client.waitClose()).code).toBe(CloseCode.TokenExpired);
  });

  test("pings clients and closes 4411 those that stay silent", async ({ client: ready }) => {
    const lively = await ready("eve");
    keepAlive(lively);
    const silent = await ready("fay");
    expect((await silent.waitClose(3000)).code).toBe(CloseCode.HeartbeatTimeout);
    expect(silent.frames.some((f) => f.type === "ping")).toBe(true);
    expect(lively.closed).toBeUndefined();
  });

  describe("with heartbeats that a loaded machine cannot miss", () => {
    // This test is about the outbound bound, not heartbeats: with the 700 ms timeout above, a test
    // process starved of CPU while 16 MB go through it answered late and the reader (or the stalled
    // client, before its bound was reached) was cut for silence instead.
    test.override({
      gatewayOptions: {
        history: false,
        heartbeatInterval: 5_000,
        heartbeatTimeout: 60_000,
        maxBufferedBytes: 256 * 1024,
      },
    });

    test("cuts off a client that stops reading while another keeps receiving everything", async ({
      client: ready,
      backend,
      gateway,
    }) => {
      const reader = await ready("gus");
      keepAlive(reader);
      const stalled = await ready("gus");
      stalled.socket.pause();
      const before = gateway.sessionCount;
      const payload = { blob: "x".repeat(8 * 1024) };
      const total = 2000;
      for (let i = 0; i < total; i++) {
        await backend.publish("gus", { ...payload, i });
        if (i % 100 === 0) await backend.flush();
      }
      await backend.flush();
      // 16 MB through NATS, the gateway and a client in one process: generous for a loaded CI machine
      const got = await reader.waitForMessages(total, 60_000);
      expect(got.map((m) => (m.data as { i: number }).i)).toEqual(Array.from({ length: total }, (_, i) => i));
      expect(gateway.sessionCount).toBe(before - 1);
      stalled.socket.resume();
      const close = await stalled.waitClose(10_000);
      expect([CloseCode.SlowConsumer, 1006]).toContain(close.code);
      expect(stalled.messages().length).toBeLessThan(total);
    }, 90_000);
  });
});
