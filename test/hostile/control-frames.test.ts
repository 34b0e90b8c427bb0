import { describe, expect } from "vitest";
import { WebSocket } from "ws";
import { CloseCode } from "../../src/protocol/index.js";
import type { TestClient } from "../../src/testing/index.js";
import { rawTest as test } from "../fixtures.js";

/**
 * WebSocket ping and pong control frames are frames like any other for a connection's frame budget
 * (`--client-frame-rate`, `--client-frame-burst`): a flood of them is cut with RATE_LIMITED (1008)
 * like a flood of JSON frames, after at most about the burst, however well the flooder paces itself.
 */
describe("WebSocket control frames", () => {
  /** Pings past which a flood that was never cut fails the test (the gateway answered ~120k a second). */
  const GIVE_UP_AFTER = 5000;

  /** Pings `c` with at most `unanswered` waiting for their pong, until it is closed or GIVE_UP_AFTER. */
  function pingFlood(c: TestClient, unanswered: number): Promise<{ sent: number; answered: number }> {
    const ws = c.socket;
    let sent = 0;
    let answered = 0;
    return new Promise((resolve) => {
      const done = () => resolve({ sent, answered });
      const topUp = () => {
        if (ws.readyState !== WebSocket.OPEN || sent >= GIVE_UP_AFTER) return done();
        while (sent - answered < unanswered && sent < GIVE_UP_AFTER) {
          ws.ping();
          sent++;
        }
      };
      ws.on("pong", () => {
        answered++;
        topUp();
      });
      ws.on("close", done);
      topUp();
    });
  }

  test("cuts an unauthenticated socket that keeps 20 pings unanswered, within the burst", async ({
    socket,
    client,
  }) => {
    const flooder = await socket();
    const { sent, answered } = await pingFlood(flooder, 20);
    expect(flooder.closed, `still open after ${sent} pings (${answered} answered)`).toEqual({
      code: CloseCode.PolicyViolation,
      reason: "RATE_LIMITED",
    });
    expect(flooder.frames.at(-1)).toMatchObject({ type: "error", code: "RATE_LIMITED" });
    // the burst of 40, and what the rate of 20 a second refilled while the flood ran
    expect(answered).toBeLessThanOrEqual(100);
    expect(sent).toBeLessThan(GIVE_UP_AFTER);
    const bystander = await client("bystander");
    bystander.send({ type: "ping" });
    expect(await bystander.next("pong")).toMatchObject({ type: "pong" });
  });

  test("cuts a socket that sends unsolicited pongs", async ({ client }) => {
    const flooder = await client("ponger");
    for (let i = 0; i < 1000 && flooder.socket.readyState === WebSocket.OPEN; i++) flooder.socket.pong();
    expect(await flooder.waitClose()).toEqual({ code: CloseCode.PolicyViolation, reason: "RATE_LIMITED" });
  });

  test("answers pings within the budget, and the connection stays", async ({ client }) => {
    const c = await client("keepalive");
    const { answered } = await new Promise<{ answered: number }>((resolve) => {
      let count = 0;
      c.socket.on("pong", (data) => {
        expect(data.toString()).toBe(`p${count}`);
        if (++count === 10) resolve({ answered: count });
      });
      for (let i = 0; i < 10; i++) c.socket.ping(`p${i}`);
    });
    expect(answered).toBe(10);
    c.send({ type: "ping" });
    expect(await c.next("pong")).toMatchObject({ type: "pong" });
    expect(c.closed).toBeUndefined();
  });
});
